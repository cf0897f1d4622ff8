// Gallery: the selected inputs (a selected NAP's members, most typical first), one page at a time; only the
// page's thumbnails are requested from the kernel. Label / prediction badges, misclassified marked, membership
// probability. Clicking an item shows its activation profile (the profile view).
// Images: one canvas per page (gallery-atlas.js) under one overlay button per item. Text and index items (no
// pixels to batch): one small tile each.
import { h, int, fmt, onWidthChange } from "../dom.js";
import { visual } from "../thumbs.js";
import { GALLERY_SORTS, filterIndices, itemTitle, setUi, sortIndices, ui } from "./crosslayer-common.js";
import { atlasLayout, cellRect, paintAtlas, thumbRGBA } from "./gallery-atlas.js";

// no canvas backend (jsdom in tests, unless the test brings one): the overlays work, nothing is painted
const canPaint = () => typeof ImageData !== "undefined";

export const PAGE_SIZE = 48;

export function pageCount(total, size = PAGE_SIZE) {
  return Math.max(1, Math.ceil(total / size));
}

export function pageSlice(indices, page, size = PAGE_SIZE) {
  const p = Math.min(Math.max(0, page), pageCount(indices.length, size) - 1);
  return { page: p, items: indices.slice(p * size, (p + 1) * size) };
}

/** A thumbnail at its own size in an offscreen canvas (never in the DOM), made once per cached thumb. */
const thumbImages = new WeakMap();
function thumbImage(thumb) {
  if (!canPaint() || !thumb || thumb.kind !== "image") return null;
  let img = thumbImages.get(thumb);
  if (!img) {
    img = document.createElement("canvas");
    img.width = thumb.w;
    img.height = thumb.h;
    const ctx = img.getContext("2d");
    if (!ctx) return null;
    ctx.putImageData(new ImageData(thumbRGBA(thumb), thumb.w, thumb.h), 0, 0);
    thumbImages.set(thumb, img);
  }
  return img;
}

function atlasColors(el) {
  const cs = getComputedStyle(el);
  const v = (name, dflt) => (cs.getPropertyValue(name) || "").trim() || dflt;
  return { fg: v("--napw-fg2", "#3b4048"), muted: v("--napw-muted", "#6b7280"), subtle: v("--napw-subtle", "#f3f4f6"),
    accent: v("--napw-accent", "#1c6bd0"), wrong: v("--napw-wrong", "#d55e00"), font: v("--napw-font", "sans-serif") };
}

/** What an item's tile says under its picture: label, prediction, NAP, GLOSH (as text parts for the atlas). */
function itemLines(store, index, { multi, glosh }, css) {
  const it = store.item(index);
  const view = store.data.view;
  const first = [];
  if (it.label >= 0) first.push({ swatch: view.class_colors[it.label] }, { text: view.classes[it.label] });
  else if (it.pred >= 0) first.push({ text: `→ ${view.classes[it.pred]}` });
  const second = [];
  if (it.misclassified) second.push({ text: `✗ ${view.classes[it.pred]}`, color: css.wrong, bold: true });
  if (multi) second.push({ text: it.nap >= 0 ? `N${it.nap}` : "noise", color: it.nap >= 0 ? css.accent : css.muted });
  if (glosh) second.push({ text: `G ${fmt(it.outlier, 2)}`, color: css.muted });
  return [first, second];
}

/** The item button's attributes (a tile, or an overlay over the atlas); `opts` = { active, sort }. */
function itemAttrs(store, index, opts, cls = "") {
  const it = store.item(index);
  const view = store.data.view;
  return {
    type: "button",
    class: `napw-item${cls}${it.misclassified ? " napw-wrong" : ""}${opts.active === index ? " napw-active" : ""}`,
    "data-testid": "gallery-item",
    "data-index": index,
    "data-nap": it.nap,
    "data-glosh": opts.sort === "outlier" ? fmt(it.outlier, 2) : null, // the GLOSH sort's score
    title: itemTitle(store, index),
    "aria-label": `input ${index}${it.label >= 0 ? `, label ${view.classes[it.label]}` : ""}${it.misclassified ? `, predicted ${view.classes[it.pred]}` : ""}, probability ${fmt(it.prob, 2)}`,
  };
}

/** One item as a tile of its own (text and index items): visual, label / prediction badges, probability. */
function tile(store, index, opts) {
  const it = store.item(index);
  const view = store.data.view;
  const badges = h("div", { class: "napw-badges" });
  if (it.label >= 0) {
    badges.append(h("span", { class: "napw-badge napw-badge-label", title: "label" },
      h("span", { class: "napw-swatch", style: { background: view.class_colors[it.label] } }),
      h("span", { class: "napw-class-name", text: view.classes[it.label] })));
  }
  if (it.misclassified) {
    badges.append(h("span", { class: "napw-badge napw-badge-wrong", title: `the model predicts ${view.classes[it.pred]}` },
      h("span", { "aria-hidden": "true", text: "✗ " }), h("span", { class: "napw-class-name", text: view.classes[it.pred] })));
  } else if (it.pred >= 0 && it.label < 0) {
    badges.append(h("span", { class: "napw-badge", title: "prediction", text: `→ ${view.classes[it.pred]}` }));
  }
  const nap = it.nap >= 0 ? `NAP ${it.nap}` : "noise";
  if (store.selectedNaps().length !== 1) {
    // several NAPs (or inputs picked directly): say which NAP each input is in
    badges.append(h("span", { class: `napw-badge napw-badge-nap${it.nap < 0 ? " napw-badge-noise" : ""}`, title: "NAP in this layer", text: it.nap >= 0 ? `N${it.nap}` : "noise" }));
  }
  if (opts.sort === "outlier") badges.append(h("span", { class: "napw-badge napw-badge-glosh", "data-testid": "glosh-badge", title: "GLOSH outlier score", text: `G ${fmt(it.outlier, 2)}` }));
  const prob = h("div", { class: "napw-prob", title: `membership probability ${fmt(it.prob, 3)} (${nap})` },
    h("span", { class: "napw-prob-bar" }, h("span", { style: { width: `${Math.round(100 * it.prob)}%` } })),
    h("span", { class: "napw-prob-text", text: it.nap >= 0 ? fmt(it.prob, 2) : "noise" }));
  return h("button", itemAttrs(store, index, opts), h("div", { class: "napw-item-visual" }, visual(index, store.thumbCache.get(index))), badges, prob);
}

/** The panel: title, selection summary, filter, order, pager, the items' box. */
function buildPanel(store) {
  const parts = {
    sub: h("span", { class: "napw-sub" }),
    prev: h("button", { type: "button", class: "napw-btn", "data-testid": "gallery-page-prev", "aria-label": "previous page", text: "‹ prev" }),
    next: h("button", { type: "button", class: "napw-btn", "data-testid": "gallery-page-next", "aria-label": "next page", text: "next ›" }),
    pageInfo: h("span", { class: "napw-page-info", "data-testid": "gallery-page-info" }),
    filter: h("select", { class: "napw-select napw-select-sm", "data-testid": "gallery-filter", "aria-label": "show" },
      h("option", { value: "all", text: "all" }),
      h("option", { value: "wrong", text: "misclassified only" }),
      h("option", { value: "right", text: "correct only" })),
    sortSel: h("select", { class: "napw-select napw-select-sm", "data-testid": "gallery-sort", "aria-label": "order" },
      Object.entries(GALLERY_SORTS).map(([v, label]) => h("option", { value: v, text: label }))),
    grid: h("div", { class: "napw-gallery", "data-testid": "gallery", "aria-label": "selected inputs" }),
    empty: h("div", { class: "napw-empty napw-gallery-empty", text: "Select a NAP (card, scatter point or heatmap row) to see its members here." }),
  };
  parts.filter.value = ui(store).gallery_filter;
  parts.sortSel.value = ui(store).gallery_sort;
  parts.section = h("section", { class: "napw-panel napw-gallery-panel" },
    h("header", { class: "napw-panel-head" },
      h("h3", { text: "Members" }), parts.sub,
      h("span", { class: "napw-spacer" }),
      parts.filter, parts.sortSel, h("span", { class: "napw-pager" }, parts.prev, parts.pageInfo, parts.next)),
    parts.empty, parts.grid);
  return parts;
}

function describeSelection(store) {
  const naps = store.selectedNaps();
  const total = store.selectedIndices().length;
  if (!total) return "";
  if (naps.length === 1) return `NAP ${naps[0]} · ${int(total)} members · most typical first`;
  if (naps.length > 1) return `NAPs ${naps.join(", ")} · ${int(total)} members · most typical first`;
  return `${int(total)} selected inputs`;
}

export default {
  id: "gallery",
  area: "footer",
  mount(el, store, { pageSize = PAGE_SIZE } = {}) {
    const panel = buildPanel(store);
    const { sub, prev, next, pageInfo, filter, sortSel, grid, empty } = panel;
    el.append(panel.section);
    const itemOpts = () => ({ active, sort: sortSel.value });

    let page = 0;
    let token = 0;
    let active = null;
    let atlas = null; // { layout, items, canvas } of the page on screen (images)

    function indices() {
      return sortIndices(filterIndices(store.selectedIndices(), store, filter.value), store.data, sortSel.value);
    }

    /** A page of images: one atlas canvas and one positioned overlay button per item. */
    function atlasPage(items) {
      const layout = atlasLayout(items.length, grid.clientWidth);
      const canvas = h("canvas", { class: "napw-atlas-canvas", "data-testid": "gallery-atlas", "aria-hidden": "true" });
      const overlays = items.map((index, i) => {
        const r = cellRect(layout, i);
        const attrs = itemAttrs(store, index, itemOpts(), " napw-atlas-item");
        attrs.style = { left: `${r.x}px`, top: `${r.y}px`, width: `${r.w}px`, height: `${r.h}px` };
        return h("button", attrs);
      });
      grid.classList.add("napw-gallery-atlas");
      grid.style.height = `${layout.height}px`;
      grid.replaceChildren(canvas, ...overlays);
      atlas = { layout, items, canvas };
      paintPage();
    }

    function paintPage() {
      if (!atlas) return;
      const { layout, items, canvas } = atlas;
      const dpr = window.devicePixelRatio || 1;
      canvas.width = Math.round(layout.width * dpr);
      canvas.height = Math.round(layout.height * dpr);
      canvas.style.width = `${layout.width}px`;
      canvas.style.height = `${layout.height}px`;
      const ctx = canPaint() ? canvas.getContext("2d") : null;
      if (!ctx) return;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      const css = atlasColors(grid);
      const opts = { multi: store.selectedNaps().length !== 1, glosh: sortSel.value === "outlier" };
      paintAtlas(ctx, layout, items.map((index) => {
        const thumb = store.thumbCache.get(index);
        const it = store.item(index);
        return { image: thumbImage(thumb), w: thumb?.w, h: thumb?.h, lines: itemLines(store, index, opts, css),
          prob: it.nap >= 0 ? it.prob : null, probText: it.nap >= 0 ? fmt(it.prob, 2) : "noise" };
      }), css);
    }

    /** Tiles (text, index items): one element each. */
    function tilePage(items) {
      atlas = null;
      grid.classList.remove("napw-gallery-atlas");
      grid.style.height = "";
      grid.replaceChildren(...items.map((index) => tile(store, index, itemOpts())));
    }

    let drawn = null; // what the last render drew: { data, indices, naps }
    async function render() {
      const my = ++token;
      drawn = { data: store.data, indices: store.selectedIndices(), naps: store.selectedNaps() };
      const all = indices();
      const { page: p, items } = pageSlice(all, page, pageSize);
      page = p;
      const pages = pageCount(all.length, pageSize);
      sub.textContent = describeSelection(store);
      empty.hidden = all.length > 0;
      if (!all.length && store.selectedIndices().length) {
        empty.hidden = false;
        empty.textContent = "No misclassified inputs in this selection.";
      } else {
        empty.textContent = "Select a NAP (card, scatter point or heatmap row) to see its members here.";
      }
      pageInfo.textContent = all.length ? `${int(p * pageSize + 1)}–${int(p * pageSize + items.length)} of ${int(all.length)}` : "";
      prev.disabled = p === 0;
      next.disabled = p >= pages - 1;
      const images = (store.data?.view?.item?.kind || "index") === "image";
      if (images) atlasPage(items);
      else tilePage(items);
      grid.dataset.page = String(p);
      const missing = items.filter((i) => !store.thumbCache.has(i));
      if (missing.length) {
        try {
          await store.thumbs(items);
        } catch (err) {
          if (my === token) console.warn("napwidget: thumbnails failed", err);
          return;
        }
        if (my !== token) return;
        if (images) paintPage();
        else for (const node of grid.querySelectorAll("[data-testid=gallery-item]")) {
          const idx = Number(node.dataset.index);
          const holder = node.querySelector(".napw-item-visual");
          if (holder && missing.includes(idx)) holder.replaceChildren(visual(idx, store.thumbCache.get(idx)));
        }
      }
      grid.dataset.loaded = String(p);
    }

    prev.addEventListener("click", () => { page -= 1; render(); });
    next.addEventListener("click", () => { page += 1; render(); });
    filter.addEventListener("change", () => { page = 0; setUi(store, { gallery_filter: filter.value }); render(); });
    sortSel.addEventListener("change", () => { page = 0; setUi(store, { gallery_sort: sortSel.value }); render(); });
    grid.addEventListener("click", (e) => {
      const item = e.target.closest ? e.target.closest("[data-testid=gallery-item]") : null;
      if (!item) return;
      active = Number(item.dataset.index);
      for (const node of grid.querySelectorAll("[data-testid=gallery-item]")) node.classList.toggle("napw-active", node === item);
      store.showProfile(active);
    });
    grid.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const items = [...grid.querySelectorAll("[data-testid=gallery-item]")];
      const i = items.indexOf(document.activeElement);
      if (i < 0) return;
      const j = e.key === "ArrowRight" ? Math.min(items.length - 1, i + 1) : Math.max(0, i - 1);
      items[j].focus();
      e.preventDefault();
    });

    let lastSelection = null;
    const onSelection = () => {
      const key = store.selectedIndices();
      // a new result fires "data" then "selection": the page drawn on "data" shows this selection already
      // (the store decodes each selection value once, so an unchanged selection is the same array)
      if (drawn && drawn.data === store.data && drawn.indices === key && drawn.naps === store.selectedNaps()) return;
      if (key !== lastSelection) page = 0;
      lastSelection = key;
      render();
    };
    const offs = [
      onWidthChange(grid, () => { if (atlas) atlasPage(atlas.items); }, 24), // columns follow the width
      store.on("selection", onSelection),
      store.on("data", render),
      store.on("crosslayer", (k) => {
        const o = ui(store);
        if (k !== "ui_state" || (filter.value === o.gallery_filter && sortSel.value === o.gallery_sort)) return;
        filter.value = o.gallery_filter;
        sortSel.value = o.gallery_sort;
        page = 0;
        render();
      }),
    ];
    onSelection();
    return () => {
      token++; // answers still in flight are dropped silently
      offs.forEach((off) => off());
    };
  },
};
