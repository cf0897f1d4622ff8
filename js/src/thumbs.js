// Draw one input: a thumbnail canvas (raw uint8 pixels), a text snippet, or its index.
import { h } from "./dom.js";
import { indexTile, textSnippet } from "./text.js";

const IS_JSDOM = typeof navigator !== "undefined" && /jsdom/i.test(navigator.userAgent || "");

/** Paint raw uint8 pixels (h x w x c, c = 1 or 3) into a canvas. */
export function paint(canvas, thumb) {
  canvas.width = thumb.w;
  canvas.height = thumb.h;
  if (IS_JSDOM) return; // no canvas backend in tests
  const ctx = canvas.getContext?.("2d");
  if (!ctx) return;
  const img = ctx.createImageData(thumb.w, thumb.h);
  const px = thumb.pixels;
  const n = thumb.w * thumb.h;
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    if (thumb.c === 1) {
      const v = px[i];
      img.data[o] = v;
      img.data[o + 1] = v;
      img.data[o + 2] = v;
    } else {
      img.data[o] = px[3 * i];
      img.data[o + 1] = px[3 * i + 1];
      img.data[o + 2] = px[3 * i + 2];
    }
    img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** The visual of input `index` from its cached thumb (or a placeholder to fill in later). */
export function visual(index, thumb, { cls = "" } = {}) {
  if (thumb && thumb.kind === "image") {
    const c = h("canvas", { class: `napw-thumb ${cls}`, "aria-hidden": "true" });
    paint(c, thumb);
    return c;
  }
  if (thumb && thumb.kind === "text") return textSnippet(thumb.text, { cls });
  if (thumb && thumb.kind === "index") return indexTile(index, { cls });
  return h("div", { class: `napw-thumb-placeholder ${cls}`, "aria-hidden": "true" });
}
