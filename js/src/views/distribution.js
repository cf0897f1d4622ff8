// Label x NAP distribution matrix (the reference tool's "distribution"): one row per label, one column per NAP
// (in the grid's sort order), bubble area = number of the NAP's members with that label. Click a bubble: select
// that NAP and filter that label (Shift / Ctrl / ⌘: add both); click a row's label: toggle that label filter;
// click a column (its NAP id or background): select that NAP (Shift: toggle). Keyboard: labels and NAP ids are
// focusable, Enter / Space act like a click.
//
// Data: `nap_detail.label_counts` (napwidget/views/detail.py), sparse per NAP [[class code, count]].
import "./detail.css";
import { h, s, int, pct } from "../dom.js";
import { sameParams } from "./mapper.js";

export const MAX_ROWS = 40;
// hundreds of NAPs: the first MAX_COLS in the grid's order (plus any selected NAP), so the DOM stays small
export const MAX_COLS = 60;

/** The NAP columns to draw: the first `max` of `order`, then the selected NAPs that are not among them. */
export function distributionCols(order, selected, max = MAX_COLS) {
  const cols = order.slice(0, max);
  const inCols = new Set(cols);
  const all = new Set(order);
  for (const id of selected) if (!inCols.has(id) && all.has(id)) { cols.push(id); inCols.add(id); }
  return cols;
}

/**
 * {rows: [{code, name, color, total}], cols: [nap ids], cells: [{code, nap, count, share}], max, hiddenRows}
 * for the NAPs `order` (display order). Rows: classes present in some NAP, in class order; with more than
 * `maxRows`, the most frequent ones.
 */
export function distributionModel(detail, order, { maxRows = MAX_ROWS } = {}) {
  const counts = detail.label_counts || [];
  const classes = detail.classes || [];
  const total = new Map();
  const cells = [];
  let max = 0;
  for (const nap of order) {
    const list = counts[nap] || [];
    const size = list.reduce((a, [, c]) => a + c, 0) || 1;
    for (const [code, count] of list) {
      total.set(code, (total.get(code) || 0) + count);
      cells.push({ code, nap, count, share: count / size });
      if (count > max) max = count;
    }
  }
  let codes = [...total.keys()].sort((a, b) => a - b);
  let hiddenRows = 0;
  if (codes.length > maxRows) {
    const keep = new Set([...codes].sort((a, b) => (total.get(b) - total.get(a)) || (a - b)).slice(0, maxRows));
    hiddenRows = codes.length - keep.size;
    codes = codes.filter((c) => keep.has(c));
  }
  const shown = new Set(codes);
  return {
    rows: codes.map((code) => ({ code, name: classes[code], color: (detail.class_colors || [])[code] || "#888", total: total.get(code) })),
    cols: [...order],
    cells: cells.filter((c) => shown.has(c.code)),
    max,
    hiddenRows,
  };
}

/** Bubble radius for `count` in a cell of size `cs` (area proportional to the count). */
export function bubbleRadius(count, max, cs) {
  if (!count || !max) return 0;
  return Math.max(1.6, (cs / 2 - 1.5) * Math.sqrt(count / max));
}

export default {
  id: "distribution",
  area: "footer",
  mount(el, store) {
    const sub = h("span", { class: "napw-sub" });
    const box = h("div", { class: "napw-dist-scroll" });
    const empty = h("div", { class: "napw-empty", hidden: true });
    el.append(h("section", { class: "napw-panel napw-dist-panel" },
      h("header", { class: "napw-panel-head" }, h("h3", { text: "Label distribution" }), sub),
      empty, box,
      h("div", { class: "napw-dist-help napw-muted", text: "bubble area = inputs · click a bubble: select the NAP and filter its label · a label: filter · a NAP id: select · shift: add" })));

    let svg = null;
    let drawnCols = new Set();
    let drawnFor = null; // { data, detail }: the result and nap_detail value of the last draw

    function draw() {
      drawnFor = { data: store.data, detail: store.get("nap_detail") };
      const detail = store.get("nap_detail") || {};
      const view = store.data?.view || {};
      const fresh = detail.label_counts && sameParams(detail.params, view.params);
      box.replaceChildren();
      svg = null;
      if (!fresh || !detail.has_labels || !detail.n_naps) {
        empty.hidden = false;
        empty.textContent = !fresh ? "Computing…" : !detail.has_labels ? "Pass labels=... to see how labels spread over the NAPs." : "No NAPs at these settings.";
        sub.textContent = "";
        return;
      }
      empty.hidden = true;
      const all = store.sortedNaps().map((r) => r.id).filter((id) => id < detail.n_naps);
      const order = distributionCols(all, store.selectedNaps());
      drawnCols = new Set(order);
      const m = distributionModel(detail, order);
      const part = order.length < all.length ? ` (the first ${MAX_COLS} of ${all.length} in the grid's order, and the selected)` : "";
      sub.textContent = `${m.rows.length} labels × ${m.cols.length} NAPs${part}${m.hiddenRows ? ` · ${m.hiddenRows} rare labels hidden` : ""}`;
      const labelW = 116;
      const headH = 22;
      const avail = Math.max(200, (box.clientWidth || el.clientWidth || 700) - labelW - 8);
      const cs = Math.max(16, Math.min(30, Math.floor(avail / Math.max(m.cols.length, 1))));
      const W = labelW + cs * m.cols.length + 4;
      const H = headH + cs * m.rows.length + 4;
      const colX = new Map(m.cols.map((id, j) => [id, labelW + j * cs]));
      const rowY = new Map(m.rows.map((r, i) => [r.code, headH + i * cs]));
      svg = s("svg", { class: "napw-dist-svg", "data-testid": "distribution", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "group", "aria-label": "label by NAP distribution" });
      const rowsG = s("g", {});
      m.rows.forEach((r) => {
        const y = rowY.get(r.code);
        const g = s("g", { class: "napw-dist-row", "data-testid": "dist-row", "data-label": r.name, "data-code": r.code, role: "button", tabindex: 0, "aria-label": `filter label ${r.name}` },
          s("rect", { class: "napw-dist-rowbg", x: 0, y, width: W, height: cs }),
          s("rect", { class: "napw-dist-swatch", x: 4, y: y + cs / 2 - 4, width: 8, height: 8, rx: 2, fill: r.color }),
          s("text", { class: "napw-dist-label", x: 17, y: y + cs / 2 + 3.5, text: r.name.length > 16 ? `${r.name.slice(0, 15)}…` : r.name }),
          s("title", { text: `${r.name}: ${int(r.total)} inputs in NAPs · click to filter` }));
        rowsG.append(g);
      });
      const colsG = s("g", {});
      m.cols.forEach((id) => {
        const x = colX.get(id);
        colsG.append(s("g", { class: "napw-dist-col", "data-testid": "dist-col", "data-nap": id, role: "button", tabindex: 0, "aria-label": `select NAP ${id}` },
          s("rect", { class: "napw-dist-colbg", x, y: 0, width: cs, height: H }),
          s("text", { class: "napw-dist-colhead", x: x + cs / 2, y: headH - 7, "text-anchor": "middle", text: String(id) }),
          s("title", { text: `NAP ${id} · click to select` })));
      });
      const cellsG = s("g", {});
      for (const c of m.cells) {
        const r = m.rows.find((row) => row.code === c.code);
        cellsG.append(s("circle", {
          class: "napw-dist-cell", "data-testid": "dist-cell", "data-nap": c.nap, "data-label": r.name, "data-count": c.count,
          cx: colX.get(c.nap) + cs / 2, cy: rowY.get(c.code) + cs / 2, r: bubbleRadius(c.count, m.max, cs), fill: r.color,
        }, s("title", { text: `NAP ${c.nap} · ${r.name}: ${int(c.count)} inputs (${pct(c.share)} of the NAP)` })));
      }
      svg.append(colsG, rowsG, cellsG);
      box.append(svg);
      highlight();
    }

    function highlight() {
      if (!svg) return;
      const sel = new Set(store.selectedNaps());
      const f = store.filters();
      const labels = new Set(f.labels);
      const hover = store.hoverNap();
      const any = sel.size > 0 || labels.size > 0;
      for (const g of svg.querySelectorAll("[data-testid=dist-col]")) {
        const id = Number(g.dataset.nap);
        g.classList.toggle("selected", sel.has(id));
        g.classList.toggle("napw-hover", id === hover);
      }
      for (const g of svg.querySelectorAll("[data-testid=dist-row]")) g.classList.toggle("napw-filtered", labels.has(g.dataset.label));
      for (const c of svg.querySelectorAll("[data-testid=dist-cell]")) {
        const lit = (!sel.size || sel.has(Number(c.dataset.nap))) && (!labels.size || labels.has(c.dataset.label));
        c.classList.toggle("napw-dim", any && !lit);
      }
    }

    function act(target, e) {
      const additive = e.shiftKey || e.metaKey || e.ctrlKey;
      const cell = target.closest("[data-testid=dist-cell]");
      if (cell) {
        const id = Number(cell.dataset.nap);
        const f = store.filters();
        store.selectNaps([id], additive ? "add" : "replace");
        store.setFilters({ ...f, labels: additive ? [...new Set([...f.labels, cell.dataset.label])] : [cell.dataset.label] });
        return true;
      }
      const row = target.closest("[data-testid=dist-row]");
      if (row) {
        store.toggleFilter("labels", row.dataset.label);
        return true;
      }
      const col = target.closest("[data-testid=dist-col]");
      if (col) {
        store.selectNaps([Number(col.dataset.nap)], additive ? "toggle" : "replace");
        return true;
      }
      return false;
    }

    box.addEventListener("click", (e) => { if (e.target.closest) act(e.target, e); });
    box.addEventListener("keydown", (e) => {
      if ((e.key === "Enter" || e.key === " ") && e.target.closest && act(e.target, e)) e.preventDefault();
    });
    box.addEventListener("mouseover", (e) => {
      const t = e.target.closest ? e.target.closest("[data-nap]") : null;
      store.setHover(t ? Number(t.dataset.nap) : null);
    });
    box.addEventListener("mouseleave", () => store.setHover(null));

    const offs = [
      store.on("data", draw),
      store.on("sort", draw),
      // a new result's nap_detail arrives with it: its event follows "data", whose draw showed it already
      store.on("detail", (key) => {
        if (key === "nap_detail" && !(drawnFor && drawnFor.data === store.data && drawnFor.detail === store.get("nap_detail"))) draw();
      }),
      store.on("selection", () => (store.selectedNaps().every((id) => drawnCols.has(id)) ? highlight() : draw())),
      store.on("filters", highlight),
      store.on("hover", highlight),
    ];
    draw();
    return () => offs.forEach((off) => off());
  },
};
