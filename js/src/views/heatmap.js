// Unit heatmap: each NAP's mean (normalised) activation of the units that characterise the NAPs, with the
// mean over all inputs as the first row. Rows follow the grid's sort order; click a row to select the NAP.
import { h, s, fmt, onWidthChange } from "../dom.js";

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
      // legend
      const grad = h("span", { class: "napw-heat-gradient" });
      const stops = [];
      for (let k = 0; k <= 10; k++) stops.push(color(hm.vmin + ((hm.vmax - hm.vmin) * k) / 10));
      grad.style.background = `linear-gradient(to right, ${stops.join(",")})`;
      legend.replaceChildren(h("span", { text: fmt(hm.vmin, 2) }), grad, h("span", { text: fmt(hm.vmax, 2) }),
        h("span", { class: "napw-muted", text: " normalised activation (NAP mean)" }));
      updateSelection();
    }

    function updateSelection() {
      const sel = new Set(store.selectedNaps());
      for (const [id, g] of rowsEls) g.classList.toggle("selected", sel.has(id));
    }

    function updateHover(id) {
      for (const [k, g] of rowsEls) g.classList.toggle("napw-hover", k === id);
    }

    box.addEventListener("click", (e) => {
      const g = e.target.closest ? e.target.closest(".napw-heat-row") : null;
      if (!g || g.dataset.nap === "all") return;
      const id = Number(g.dataset.nap);
      store.selectNaps([id], e.shiftKey || e.metaKey || e.ctrlKey ? "toggle" : "replace");
    });
    box.addEventListener("mouseover", (e) => {
      const g = e.target.closest ? e.target.closest(".napw-heat-row") : null;
      store.setHover(g && g.dataset.nap !== "all" ? Number(g.dataset.nap) : null);
    });
    box.addEventListener("mouseleave", () => store.setHover(null));

    const offs = [
      store.on("data", render),
      store.on("sort", render),
      store.on("selection", updateSelection),
      store.on("hover", updateHover),
    ];
    offs.push(onWidthChange(box, render, 40));
    render();
    return () => offs.forEach((off) => off());
  },
};
