// Helpers shared by the cross-layer views (layerstrip.js, pinned.js, follow.js, maxact.js) and the small hooks
// they add to the grid and the gallery: view options (the `ui_state` trait), member ordering (most / least
// typical, noise by GLOSH outlier score), item tooltips and misclassified badges, pin buttons, noise card,
// average images, and thumbnails fetched for tiles drawn before their pixels arrived.
import "./crosslayer.css";
import { h, s, fmt, int, pct, toU8, typed } from "../dom.js";
import { thumbUrl, visual } from "../thumbs.js";

export const UI_DEFAULTS = {
  n_typical: 8, n_atypical: 4, show_noise: false, show_average: true,
  gallery_filter: "all", gallery_sort: "typical", max_unit: null, max_k: 16, max_layer: null,
};
export const GALLERY_SORTS = { typical: "most typical first", atypical: "least typical first", outlier: "GLOSH outlier score", index: "input index" };
export const PIN_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#44AA99"];

/** The view options, completed with the defaults. */
export function ui(store) {
  return { ...UI_DEFAULTS, ...(store.get("ui_state") || {}) };
}

/** Change view options (one trait write; the kernel validates and recomputes what depends on them). */
export function setUi(store, patch) {
  store.setCross("ui_state", { ...ui(store), ...patch });
}

/** Members of `nap` most typical first (probability desc, index); noise (-1): GLOSH ascending, index. */
export function napOrder(data, nap) {
  // one pass over the inputs groups them all (per data object): cards ask for every NAP's order in turn
  let groups = orderCache.get(data);
  if (!groups) {
    groups = new Map();
    for (let i = 0; i < data.nap.length; i++) {
      const k = data.nap[i] < 0 ? -1 : data.nap[i];
      let g = groups.get(k);
      if (!g) {
        g = { sorted: false, items: [] };
        groups.set(k, g);
      }
      g.items.push(i);
    }
    orderCache.set(data, groups);
  }
  const g = groups.get(nap < 0 ? -1 : nap);
  if (!g) return [];
  if (!g.sorted) {
    if (nap < 0) g.items.sort((a, b) => (data.outlier[a] - data.outlier[b]) || (a - b));
    else g.items.sort((a, b) => (data.prob[b] - data.prob[a]) || (a - b));
    g.sorted = true;
  }
  return g.items.slice();
}
const orderCache = new WeakMap(); // data object -> Map(nap -> { sorted, items })

/** { typical: the n most typical, atypical: the m least typical (least first, never repeating typical ones) }. */
export function extremes(data, nap, nTypical, nAtypical) {
  const order = napOrder(data, nap);
  const typical = order.slice(0, Math.max(0, nTypical));
  const atypical = order.slice(typical.length).reverse().slice(0, Math.max(0, nAtypical));
  return { typical, atypical, size: order.length };
}

/** Sort input indices for the gallery: as selected ("typical"), least typical, GLOSH descending, index. */
export function sortIndices(indices, data, key) {
  if (!data || key === "typical" || !key) return indices;
  const arr = [...indices];
  if (key === "outlier") arr.sort((a, b) => (data.outlier[b] - data.outlier[a]) || (a - b));
  else if (key === "atypical") arr.sort((a, b) => (data.prob[a] - data.prob[b]) || (b - a));
  else if (key === "index") arr.sort((a, b) => a - b);
  return arr;
}

/** The gallery filter: "all", "wrong" (label != prediction) or "right". */
export function filterIndices(indices, store, key) {
  if (!store.data || !key || key === "all") return indices;
  const wrong = key === "wrong";
  return indices.filter((i) => {
    const it = store.item(i);
    return it.label >= 0 && it.pred >= 0 && it.misclassified === wrong;
  });
}

/** Tooltip of one input: index, label, prediction, NAP, membership probability, GLOSH outlier score. */
export function itemTitle(store, index) {
  const it = store.item(index);
  const view = store.data.view;
  const parts = [`input #${index}`];
  if (it.label >= 0) parts.push(`label: ${view.classes[it.label]}`);
  if (it.pred >= 0) parts.push(`prediction: ${view.classes[it.pred]}${it.misclassified ? " ✗ misclassified" : ""}`);
  parts.push(it.nap >= 0 ? `NAP ${it.nap} · membership probability ${fmt(it.prob, 3)}` : "noise (in no NAP)");
  parts.push(`GLOSH outlier score ${fmt(it.outlier, 3)}`);
  return parts.join("\n");
}

// ---------------------------------------------------------------------------------- thumbnails
const pending = new Map(); // store -> Map(index -> Set(holder))
/** A tile for one input: thumbnail (fetched if missing), tooltip, misclassified mark. */
export function memberTile(store, index, { cls = "", testid = null, visuals = null } = {}) {
  const it = store.data ? store.item(index) : null;
  const holder = h("span", {
    class: `napw-cx-tile${it?.misclassified ? " napw-cx-wrong" : ""} ${cls}`,
    title: store.data ? itemTitle(store, index) : `input #${index}`,
    "data-index": index,
    "data-testid": testid,
  }, reusedVisual(store, index, visuals));
  if (it?.misclassified) holder.append(h("span", { class: "napw-cx-wrong-mark", "aria-label": "misclassified", text: "✗" }));
  if (!store.thumbCache.has(index)) requestThumb(store, index, holder);
  return holder;
}

/**
 * The visual of input `index`; with `visuals` (a view's Map index -> node, kept across renders) a node drawn
 * from the same cached thumb is moved instead of drawing a new one.
 */
function reusedVisual(store, index, visuals) {
  const thumb = store.thumbCache.get(index);
  if (!visuals || !thumb) return visual(index, thumb);
  // visuals = { prev, next }: nodes of the last render, and this render's (a node is used once per render)
  const old = visuals.prev.get(index);
  const node = old && old.thumb === thumb && !visuals.next.has(index) ? old.node : visual(index, thumb);
  if (!visuals.next.has(index)) visuals.next.set(index, { thumb, node });
  return node;
}

function requestThumb(store, index, holder) {
  if (!pending.has(store)) {
    pending.set(store, new Map());
    queueMicrotask(() => flush(store));
  }
  const m = pending.get(store);
  if (!m.has(index)) m.set(index, new Set());
  m.get(index).add(holder);
}

async function flush(store) {
  const m = pending.get(store);
  pending.delete(store);
  if (!m?.size) return;
  try {
    await store.thumbs([...m.keys()]);
  } catch {
    return; // tiles keep their placeholder (e.g. not embedded in a static export)
  }
  for (const [idx, holders] of m) {
    for (const holder of holders) {
      const old = holder.firstChild;
      if (old) holder.replaceChild(visual(idx, store.thumbCache.get(idx)), old);
    }
  }
}

/** The average image of `nap` (-1 = noise, stored last) from the `_avg_thumbs` sprite, or null. */
export function averageImage(store, nap) {
  const view = store.data?.view || {};
  const item = view.item || {};
  if (item.kind !== "image") return null;
  const sprite = toU8(store.get("_avg_thumbs"));
  const size = item.h * item.w * item.c;
  const j = nap < 0 ? view.n_naps : nap;
  if (!size || sprite.byteLength < (j + 1) * size) return null;
  // an <img>, not a canvas: a layer of its own per canvas costs every frame (../thumbs.js); sized by CSS
  const thumb = { kind: "image", h: item.h, w: item.w, c: item.c, pixels: sprite.subarray(j * size, (j + 1) * size) };
  return h("img", { class: "napw-thumb napw-cx-avg", "data-testid": "average-image", "data-nap": nap, alt: "", src: thumbUrl(thumb), draggable: "false", title: `average image of ${nap < 0 ? "the noise" : `NAP ${nap}`} (pixel mean of its members)` });
}

// ---------------------------------------------------------------------------------- pins
function sameParams(a = {}, b = {}) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

export function currentPin(store, nap) {
  const p = store.data?.view.params || {};
  const { layer, ...params } = p;
  return { layer, nap: Number(nap), params };
}

export function samePin(a, b) {
  return a.layer === b.layer && Number(a.nap) === Number(b.nap) && sameParams(a.params || {}, b.params || {});
}

export function isPinned(store, nap) {
  const me = currentPin(store, nap);
  return (store.get("pinned") || []).some((p) => samePin(p, me));
}

export function togglePin(store, nap) {
  const me = currentPin(store, nap);
  const pins = store.get("pinned") || [];
  store.setCross("pinned", pins.some((p) => samePin(p, me)) ? pins.filter((p) => !samePin(p, me)) : [...pins, me]);
}

/** A small push-pin icon (SVG: no emoji font needed). */
export function pinIcon(on) {
  return s("svg", { viewBox: "0 0 16 16", width: 12, height: 12, class: "napw-cx-pin-icon", "aria-hidden": "true" },
    s("path", { d: "M5 1.5h6l-1 1v4.2l2.3 2.3v1.2H8.6V15L8 15.8 7.4 15v-4.8H3.7V9l2.3-2.3V2.5z", fill: on ? "currentColor" : "none", stroke: "currentColor", "stroke-width": 1.2, "stroke-linejoin": "round" }));
}

/** The pin toggle of a NAP card (its click never selects the card). */
export function pinButton(store, nap) {
  const on = isPinned(store, nap);
  const b = h("button", {
    type: "button", class: `napw-cx-pin${on ? " napw-on" : ""}`, "data-testid": "pin-button", "data-nap": nap,
    "aria-pressed": on ? "true" : "false", title: on ? "unpin: remove from the pinned tray" : "pin: keep this NAP in the tray to compare across layers",
    "aria-label": `${on ? "unpin" : "pin"} NAP ${nap}`,
  }, pinIcon(on), h("span", { class: "napw-cx-pin-text", text: on ? "pinned" : "pin" }));
  b.addEventListener("click", (e) => { e.stopPropagation(); togglePin(store, nap); });
  b.addEventListener("keydown", (e) => e.stopPropagation());
  return b;
}

// ---------------------------------------------------------------------------------- grid hooks
/** The most typical members a card shows (count from the view options). */
export function typicalOf(row, store) {
  const n = ui(store).n_typical;
  if (!store.data || n <= (row.members || []).length) return (row.members || []).slice(0, n);
  return extremes(store.data, row.id, n, 0).typical;
}

/** What the cross-layer views add to a NAP card: average image, least typical members, GLOSH, errors. */
export function cardExtras(row, store, { visuals = null } = {}) {
  const o = ui(store);
  const wrap = h("div", { class: "napw-cx-extras" });
  if (!store.data) return wrap;
  const ex = extremes(store.data, row.id, o.n_typical, o.n_atypical);
  let glosh = 0;
  let wrong = 0;
  for (const i of napOrder(store.data, row.id)) {
    glosh += store.data.outlier[i];
    if (store.item(i).misclassified) wrong++;
  }
  const avg = o.show_average ? averageImage(store, row.id) : null;
  if (avg || ex.atypical.length) {
    wrap.append(h("div", { class: "napw-cx-least" },
      avg ? h("span", { class: "napw-cx-avg-wrap" }, avg, h("span", { class: "napw-cx-cap", text: "avg" })) : null,
      ex.atypical.length ? h("span", { class: "napw-cx-cap", text: "least typical" }) : null,
      h("span", { class: "napw-cx-strip", "data-testid": "atypical-members" }, ex.atypical.map((i) => memberTile(store, i, { visuals })))));
  }
  wrap.append(h("div", { class: "napw-cx-meta" },
    h("span", { class: "napw-badge", title: "mean GLOSH outlier score of the members (higher = more outlying)", text: `GLOSH ${fmt(row.size ? glosh / row.size : 0, 2)}` }),
    wrong ? h("span", { class: "napw-badge napw-badge-wrong", title: "members the model misclassifies", text: `✗ ${wrong}` }) : null));
  return wrap;
}

/** The noise as a pseudo-NAP card (when "show noise" is on); clicking it selects the noise inputs. */
export function noiseCards(store) {
  const o = ui(store);
  if (!o.show_noise || !store.data) return [];
  const ex = extremes(store.data, -1, o.n_typical, o.n_atypical);
  if (!ex.size) return [];
  const avg = o.show_average ? averageImage(store, -1) : null;
  const card = h("div", {
    class: "napw-card napw-cx-noise-card", "data-testid": "noise-card", "data-nap": -1, role: "button", tabindex: 0,
    title: "inputs in no NAP; click to see them all (least outlying first)",
  },
  h("div", { class: "napw-card-head" }, h("span", { class: "napw-nap-id", text: "noise" }),
    h("div", { class: "napw-card-stats" }, h("span", {}, h("b", { text: int(ex.size) }), " inputs"),
      h("span", { class: "napw-muted", text: ` ${pct(ex.size / store.data.n)} of all` }))),
  h("div", { class: `napw-card-members napw-kind-${store.data.view.item?.kind || "index"}` }, ex.typical.map((i) => memberTile(store, i))),
  h("div", { class: "napw-cx-least" },
    avg ? h("span", { class: "napw-cx-avg-wrap" }, avg, h("span", { class: "napw-cx-cap", text: "avg" })) : null,
    ex.atypical.length ? h("span", { class: "napw-cx-cap", text: "most outlying" }) : null,
    h("span", { class: "napw-cx-strip" }, ex.atypical.map((i) => memberTile(store, i)))));
  const select = (e) => {
    e.stopPropagation();
    store.selectIndices(napOrder(store.data, -1));
  };
  card.addEventListener("click", select);
  card.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(e); } else e.stopPropagation(); });
  return [card];
}

/** Trait keys whose change redraws the NAP cards. */
export const CARD_KEYS = new Set(["pinned", "ui_state", "_avg_thumbs"]);

// ---------------------------------------------------------------------------------- follow
/** The NAP of every input in layer `j` of the follow data (Int32Array view). */
export function followLabels(store, j) {
  const n = store.data?.n || 0;
  const u8 = toU8(store.get("_follow_labels"));
  if (u8.byteLength < (j + 1) * 4 * n) return null;
  return typed(u8, Int32Array, j * n, n);
}

/** { layer: Map(nap -> count) } for `indices` (noise = -1), counted from the follow data. */
export function followCounts(store, indices) {
  const out = {};
  (store.get("follow_layers") || []).forEach((row, j) => {
    const lab = followLabels(store, j);
    if (!lab) return;
    const m = new Map();
    for (const i of indices) m.set(lab[i], (m.get(lab[i]) || 0) + 1);
    out[row.layer] = new Map([...m].sort((a, b) => (b[1] - a[1]) || (a[0] - b[0])));
  });
  return out;
}

/** Switch to `layer` and select NAP `nap` there (once its NAPs have arrived). */
const gotoWaiting = new WeakMap();
export function gotoNap(store, layer, nap) {
  const view = store.data?.view;
  if (view && view.layer === layer) {
    store.selectNaps([nap]);
    return true;
  }
  if (store.isStatic()) return false;
  const prev = gotoWaiting.get(store);
  if (prev) prev.off();
  const off = store.on("data", (data) => {
    if (data.view.layer !== layer) return;
    off();
    gotoWaiting.delete(store);
    queueMicrotask(() => store.selectNaps([nap]));
  });
  gotoWaiting.set(store, { off });
  store.setParam("layer", layer, { immediate: true });
  return true;
}

/** A collapsible panel whose open state is in the `cross_open` trait (the kernel computes open panels only). */
export function crossPanel(el, store, { panel, title, testid, hint, area = "" }) {
  const sub = h("span", { class: "napw-sub" });
  const toggle = h("button", { type: "button", class: "napw-btn napw-topo-toggle", "data-testid": `${testid}-toggle`, "aria-expanded": "false" });
  const body = h("div", { class: "napw-cx-body", hidden: true });
  const hintEl = h("p", { class: "napw-topo-hint", text: hint });
  const head = h("header", { class: "napw-panel-head napw-topo-head" },
    h("span", { class: "napw-chevron", "aria-hidden": "true" }), h("h3", { text: title }), sub, h("span", { class: "napw-spacer" }), toggle);
  const section = h("section", { class: `napw-panel napw-topo-panel napw-cx-panel ${area}`, "data-testid": testid }, head, hintEl, body);
  el.append(section);
  const isOpen = () => (store.get("cross_open") || []).includes(panel);
  function setOpen(open) {
    const cur = store.get("cross_open") || [];
    if (open === cur.includes(panel)) return;
    store.setCross("cross_open", open ? [...cur, panel] : cur.filter((p) => p !== panel));
  }
  function sync() {
    const open = isOpen();
    body.hidden = !open;
    hintEl.hidden = open;
    section.classList.toggle("napw-open", open);
    toggle.textContent = open ? "hide" : "show";
    toggle.setAttribute("aria-expanded", String(open));
  }
  toggle.addEventListener("click", (e) => { e.stopPropagation(); setOpen(!isOpen()); });
  head.addEventListener("click", () => setOpen(!isOpen()));
  sync();
  return { section, body, sub, isOpen, setOpen, sync };
}

/** The members a NAP card shows: the colleague filters' (store.cardMembers) when active, else the n most typical. */
export function cardTypical(row, store) {
  const n = ui(store).n_typical;
  const m = store.cardMembers ? store.cardMembers(row, n) : null;
  if (m && m.total !== undefined) return m; // label / prediction filters are on
  return typicalOf(row, store);
}
