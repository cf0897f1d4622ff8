// Unit heatmap: each NAP's mean (normalised) activation of the units that characterise the NAPs, with the
// mean over all inputs as the first row. Rows follow the grid's sort order; click a row to select the NAP.
// Up to SVG_MAX_CELLS cells: one SVG row per NAP (a tooltip per cell). Beyond: one canvas the size of the
// visible box, redrawn (once per frame) with the rows in view, hit-tested by position (heatRowAt).
import { h, s, fmt, onWidthChange } from "../dom.js";
import { perFrame } from "../virtual.js";

// cividis (perceptually uniform, colour-vision-deficiency friendly) and a blue-orange diverging scale
const CIVIDIS = ["#00204d", "#00336f", "#39486b", "#575c6d", "#707173", "#8a8779", "#a59c74", "#c3b369", "#e1cc55", "#fee838"];
const DIVERGING = ["#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b35806"];

function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function ramp(stops, t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = hexToRgb(stops[i]);
  const b = hexToRgb(stops[i + 1]);
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
}

export function colorScale(vmin, vmax) {
  if (vmin < 0) {
    const m = Math.max(Math.abs(vmin), Math.abs(vmax)) || 1;
    return (v) => ramp(DIVERGING, (v / m + 1) / 2);
  }
  return (v) => ramp(CIVIDIS, (v - vmin) / (vmax - vmin || 1));
}

const CELL_H = 13;
const LABEL_W = 56;
const HEAD_H = 26;
// SVG only while small: a cell is two nodes (rect + tooltip), and the widget's DOM budget is 3,000 nodes in all
export const SVG_MAX_CELLS = 200;
const IS_JSDOM = typeof navigator !== "undefined" && /jsdom/i.test(navigator.userAgent || "");

/** The heatmap row under canvas y (px, content coordinates): -1 = the overall row, a row index, or null. */
export function heatRowAt(y, nRows) {
  const r = Math.floor((y - HEAD_H) / CELL_H);
  if (y < HEAD_H || r < 0 || r > nRows) return null;
  return r - 1;
}

/** Which unit column is under canvas x (px), or null. */
export function heatColAt(x, nUnits, cellW) {
  const j = Math.floor((x - LABEL_W) / cellW);
  return x < LABEL_W || j < 0 || j >= nUnits ? null : j;
}

/**
 * Paint the rows of content y in [top, top + height) into a 2D context (a canvas that shows that slice).
 * `rows` = [{ label, values, id }] with the overall row first; `marks` = { selected: Set, hover }.
 */
export function paintHeat(ctx, { hm, rows, color, cellW, width, top, height, marks, css }) {
  ctx.clearRect(0, 0, width, height);
  ctx.save();
  ctx.translate(0, -top);
  const first = Math.max(0, Math.floor((top - HEAD_H) / CELL_H));
  const last = Math.min(rows.length, Math.ceil((top + height - HEAD_H) / CELL_H) + 1);
  ctx.font = `10px ${css.font}`;
  ctx.textAlign = "right";
  for (let r = first; r < last; r++) {
    const row = rows[r];
    const yTop = HEAD_H + r * CELL_H;
    if (marks.selected.has(row.id) || marks.hover === row.id) {
      ctx.fillStyle = marks.selected.has(row.id) ? css.accent : css.hover;
      ctx.fillRect(0, yTop, width, CELL_H);
    }
    ctx.fillStyle = css.fg;
    ctx.fillText(row.label, LABEL_W - 6, yTop + CELL_H - 3);
    const vals = row.values;
    for (let j = 0; j < hm.units.length; j++) {
      ctx.fillStyle = color(vals[j] ?? 0);
      ctx.fillRect(LABEL_W + j * cellW, yTop + 0.5, cellW - 1, CELL_H - 1);
    }
  }
  ctx.restore();
  if (top < HEAD_H) { // column heads: unit ids (scrolled with the rows)
    ctx.save();
    ctx.translate(0, -top);
    ctx.font = `8.5px ${css.mono}`;
    ctx.fillStyle = css.muted;
    ctx.textAlign = "left";
    hm.units.forEach((u, j) => {
      if (hm.units.length > 32 && j % 2) return;
      const x = LABEL_W + j * cellW + cellW / 2;
      ctx.save();
      ctx.translate(x, HEAD_H - 4);
      ctx.rotate(-Math.PI / 3);
      ctx.fillText(String(u), 0, 0);
      ctx.restore();
    });
    ctx.restore();
  }
}

function cssColors(el) {
  const cs = getComputedStyle(el);
  const v = (name, dflt) => (cs.getPropertyValue(name) || "").trim() || dflt;
  return { fg: v("--napw-fg2", "#444"), muted: v("--napw-muted", "#888"), accent: v("--napw-accent-soft", "#dbe8ff"),
    hover: v("--napw-hover", "rgba(0,0,0,0.06)"), font: v("--napw-font", "sans-serif"), mono: v("--napw-mono", "monospace") };
}

/** The canvas heatmap in `box` (scrolls; only the visible slice is painted). */
function canvasHeat(box, store) {
  const spacer = h("div", { class: "napw-heat-spacer" });
  const canvas = h("canvas", { class: "napw-heat-canvas", "data-testid": "heatmap-canvas", role: "img", "aria-label": "unit heatmap" });
  let state = null; // { hm, rows, color, cellW, width, height }
  const paint = () => {
    if (!state || !canvas.isConnected) return;
    const viewH = Math.min(state.height, box.clientHeight || 340);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${state.width}px`;
    canvas.style.height = `${viewH}px`;
    spacer.style.height = `${Math.max(0, state.height - viewH)}px`; // the canvas (sticky) + spacer = full height
    canvas.width = Math.round(state.width * dpr);
    canvas.height = Math.round(viewH * dpr);
    if (IS_JSDOM) return;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const marks = { selected: new Set(store.selectedNaps()), hover: store.hoverNap() };
    paintHeat(ctx, { ...state, top: box.scrollTop, height: viewH, marks, css: cssColors(box) });
  };
  const paintSoon = perFrame(paint);
  box.addEventListener("scroll", paintSoon, { passive: true });
  // the box's height settles after the first paint (layout, a panel opened, the output area resized): paint
  // again, once per frame, whenever it changes
  let seen = { w: -1, h: -1 };
  const ro = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => {
    const now = { w: box.clientWidth, h: box.clientHeight };
    if (now.w === seen.w && now.h === seen.h) return;
    seen = now;
    paintSoon();
  });
  ro?.observe(box);
  const rowAt = (e) => {
    if (!state) return null;
    const rect = canvas.getBoundingClientRect();
    const r = heatRowAt(e.clientY - rect.top + box.scrollTop, state.rows.length - 1);
    return r === null || r < 0 ? null : state.rows[r + 1].id;
  };
  // the SVG's per-cell tooltips, as the canvas' title for the cell under the pointer
  canvas.addEventListener("mousemove", (e) => {
    if (!state) return;
    const rect = canvas.getBoundingClientRect();
    const r = heatRowAt(e.clientY - rect.top + box.scrollTop, state.rows.length - 1);
    const j = heatColAt(e.clientX - rect.left, state.hm.units.length, state.cellW);
    const row = r === null ? null : state.rows[r + 1];
    canvas.title = row && j !== null ? `${row.label} · unit ${state.hm.units[j]} · mean ${fmt(row.values[j], 3)}` : "";
  });
  return {
    show(next) {
      state = next;
      canvas.dataset.rows = String(next.rows.length - 1);
      if (!canvas.isConnected) box.replaceChildren(canvas, spacer);
      // measure the box with the full height in it: a new canvas is 150 px tall by default, and a box
      // measured around it gave a 150 px view (~9 rows) at the top of a taller box
      canvas.style.height = "0px";
      spacer.style.height = `${next.height}px`;
      paint();
    },
    paint: paintSoon,
    destroy: () => ro?.disconnect(),
    rowAt,
    get rows() { return state ? state.rows : []; },
  };
}

export default {
  id: "heatmap",
  area: "side",
  mount(el, store) {
    const note = h("span", { class: "napw-sub" });
    const box = h("div", { class: "napw-heatmap", "data-testid": "heatmap" });
    const legend = h("div", { class: "napw-heat-legend" });
    el.append(h("section", { class: "napw-panel napw-heatmap-panel" },
      h("header", { class: "napw-panel-head" }, h("h3", { text: "Unit heatmap" }), note),
      box, legend));
    let rowsEls = new Map();
    const canvasView = canvasHeat(box, store);

    function render() {
      const view = store.data.view;
      const hm = view.heatmap || { units: [], values: [] };
      rowsEls = new Map();
      if (!hm.units.length || !(view.naps || []).length) {
        box.replaceChildren(h("div", { class: "napw-empty", text: "No NAPs: nothing to compare." }));
        legend.replaceChildren();
        note.textContent = "";
        return;
      }
      note.textContent = hm.note ? `mean activation · ${hm.note}` : `mean activation of all ${hm.n_units} units`;
      note.title = "each cell: the NAP members' mean normalised activation of one unit (column headers: unit ids)";
      const color = colorScale(hm.vmin, hm.vmax);
      const U = hm.units.length;
      const avail = (box.clientWidth || 440) - LABEL_W - 12;
      const cellW = Math.max(5, Math.min(22, Math.floor(avail / U)));
      const rows = store.sortedNaps();
      const W = LABEL_W + U * cellW + 4;
      const Hh = HEAD_H + (rows.length + 1) * CELL_H + 6;
      drawLegend(hm, color);
      if ((rows.length + 1) * U > SVG_MAX_CELLS) {
        const all = [{ label: "all", values: hm.overall, id: null }, ...rows.map((row) => ({ label: `NAP ${row.id}`, values: hm.values[row.id] || [], id: row.id }))];
        canvasView.show({ hm, rows: all, color, cellW, width: W, height: Hh });
        return;
      }
      const svg = s("svg", { viewBox: `0 0 ${W} ${Hh}`, width: W, height: Hh, class: "napw-heat-svg", role: "grid", "aria-label": "unit heatmap" });
      // column heads: unit ids
      hm.units.forEach((u, j) => {
        if (U > 32 && j % 2) return;
        const t = s("text", { x: LABEL_W + j * cellW + cellW / 2, y: HEAD_H - 4, class: "napw-heat-col", "text-anchor": "start", transform: `rotate(-60 ${LABEL_W + j * cellW + cellW / 2} ${HEAD_H - 4})`, text: String(u) });
        svg.append(t);
      });
      const addRow = (label, values, r, id) => {
        const g = s("g", { class: `napw-heat-row${id === null ? " napw-heat-overall" : ""}`, "data-nap": id === null ? "all" : id });
        const yTop = HEAD_H + r * CELL_H;
        g.append(s("rect", { x: 0, y: yTop, width: W, height: CELL_H, class: "napw-heat-rowbg" }));
        g.append(s("text", { x: LABEL_W - 6, y: yTop + CELL_H - 3, class: "napw-heat-label", "text-anchor": "end", text: label }));
        values.forEach((v, j) => {
          const cell = s("rect", { x: LABEL_W + j * cellW, y: yTop + 0.5, width: cellW - 1, height: CELL_H - 1, fill: color(v ?? 0), class: "napw-heat-cell" });
          cell.append(s("title", { text: `${label} · unit ${hm.units[j]} · mean ${fmt(v, 3)}` }));
          g.append(cell);
        });
        svg.append(g);
        if (id !== null) rowsEls.set(id, g);
      };
      addRow("all", hm.overall, 0, null);
      rows.forEach((row, r) => addRow(`NAP ${row.id}`, hm.values[row.id] || [], r + 1, row.id));
      box.replaceChildren(svg);
      updateSelection();
    }

    function drawLegend(hm, color) {
      const grad = h("span", { class: "napw-heat-gradient" });
      const stops = [];
      for (let k = 0; k <= 10; k++) stops.push(color(hm.vmin + ((hm.vmax - hm.vmin) * k) / 10));
      grad.style.background = `linear-gradient(to right, ${stops.join(",")})`;
      legend.replaceChildren(h("span", { text: fmt(hm.vmin, 2) }), grad, h("span", { text: fmt(hm.vmax, 2) }),
        h("span", { class: "napw-muted", text: " normalised activation (NAP mean)" }));
    }

    function updateSelection() {
      canvasView.paint();
      const sel = new Set(store.selectedNaps());
      for (const [id, g] of rowsEls) g.classList.toggle("selected", sel.has(id));
    }

    function updateHover(id) {
      canvasView.paint();
      for (const [k, g] of rowsEls) g.classList.toggle("napw-hover", k === id);
    }

    const napAt = (e) => {
      if (e.target && e.target.tagName === "CANVAS") return canvasView.rowAt(e);
      const g = e.target.closest ? e.target.closest(".napw-heat-row") : null;
      return g && g.dataset.nap !== "all" ? Number(g.dataset.nap) : null;
    };
    box.addEventListener("click", (e) => {
      const id = napAt(e);
      if (id === null || id === undefined) return;
      store.selectNaps([id], e.shiftKey || e.metaKey || e.ctrlKey ? "toggle" : "replace");
    });
    box.addEventListener("mousemove", (e) => {
      const id = napAt(e);
      store.setHover(id === undefined ? null : id);
    });
    box.addEventListener("mouseleave", () => store.setHover(null));

    const offs = [
      store.on("data", render),
      store.on("sort", render),
      store.on("selection", updateSelection),
      store.on("hover", updateHover),
    ];
    offs.push(onWidthChange(box, render, 40), canvasView.destroy);
    render();
    return () => offs.forEach((off) => off());
  },
};
