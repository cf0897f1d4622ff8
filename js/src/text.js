// Text and index items: how one input without pixels is drawn, whatever view holds it (cards, least-typical
// strips, gallery, pinned and max-activating panels, static export). Kept apart from the views so their
// layout code can change without touching how a snippet reads.
import "./text.css";
import { h } from "./dom.js";

const KINDS = ["image", "text", "index"];

/**
 * One text input as a one-line snippet, clipped with an ellipsis by CSS (never cut in JS, so the clip follows
 * the width it gets). The whole text is the tooltip (hover) and shows in place on keyboard focus.
 */
export function textSnippet(text, { cls = "" } = {}) {
  const full = String(text ?? "");
  return h("div", {
    class: `napw-snippet napw-text-snippet ${cls}`.trim(),
    "data-testid": "text-snippet",
    tabindex: 0,
    title: full,
    text: full,
  });
}

/** An input shown by its index only; the whole "#index" always shows (the tile grows to fit it). */
export function indexTile(index, { cls = "" } = {}) {
  return h("div", { class: `napw-index-tile ${cls}`.trim(), title: `input #${index}`, text: `#${index}` });
}

/** Mark `root` with the item kind ("napw-items-text" ...): strips and tile grids lay text out one per line. */
export function markItemKind(root, item) {
  const kind = KINDS.includes(item?.kind) ? item.kind : "index";
  for (const k of KINDS) root.classList.toggle(`napw-items-${k}`, k === kind);
}
