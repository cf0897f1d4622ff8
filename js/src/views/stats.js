// Per-NAP unit statistics (the reference tool's per-unit chart): for each unit of the layer, the members'
// mean (dot), interquartile bar and whiskers (lower = max(q1 - 1.5 IQR, min), upper =
// min(q3 + 1.5 IQR, max)), numbers in the tooltip. Several selected NAPs are overlaid side by side, one colour
// each (compare mode). "hide near-zero units" drops units whose members stay below the kernel's threshold in
// every shown NAP; units can be ordered by index or by the first NAP's mean.
//
// Data: the `nap_stats` trait (napwidget/views/detail.py unit_stats_view: the selected NAPs' float32
// NAPs.stats, unrounded); the chart is the kernel's Vega-Lite template `nap_detail.specs.stats`.
// The plotted rows are the vega view's data "stats" (`el.querySelector("[data-testid=stats-chart]").napwView`).
import "./detail.css";
import { coalesce, h } from "../dom.js";
import { sameParams } from "./mapper.js";
import { vegaSlot } from "./detail-vega.js";

export const STATS_SVG_MAX_ROWS = 160;
export const STAT_KEYS = ["min", "q1", "median", "mean", "q3", "max", "iqr", "lower_whisker", "upper_whisker"];

/** The units to draw, in display order: all, or without those near zero in every shown NAP; by index or mean. */
export function statsUnits(vm, { hideZero = false, order = "unit" } = {}) {
  const n = vm?.n_units || 0;
  const hidden = new Set(hideZero ? vm.near_zero || [] : []);
  const units = [];
  for (let u = 0; u < n; u++) if (!hidden.has(u)) units.push(u);
  if (order === "mean" && vm.naps && vm.naps.length) {
    const mean = vm.naps[0].stats.mean;
    units.sort((a, b) => (mean[b] - mean[a]) || (a - b));
  }
  return units;
}

/** Long-format rows of the chart: one per (unit, NAP) with every statistic (the kernel's numbers, untouched). */
export function statsRows(vm, units) {
  const rows = [];
  for (const u of units) {
    for (const nap of vm.naps || []) {
      const row = { unit: u, nap: `NAP ${nap.id}`, nap_id: nap.id, color: nap.color };
      for (const k of STAT_KEYS) row[k] = nap.stats[k][u];
      rows.push(row);
    }
  }
  return rows;
}

/** Whether `vm` holds the statistics of exactly these NAPs of this result. */
export function statsMatch(vm, naps, params, max = 6) {
  if (!vm || !Array.isArray(vm.naps)) return false;
  const want = naps.slice(0, max);
  return sameParams(vm.params, params) && vm.naps.length === want.length && vm.naps.every((r, i) => r.id === want[i]);
}

export default {
  id: "stats",
  area: "footer",
  mount(el, store) {
    const sub = h("span", { class: "napw-sub" });
    const hideZero = h("input", { type: "checkbox", "data-testid": "stats-hide-zero", checked: true });
    const order = h("select", { class: "napw-select napw-select-sm", "data-testid": "stats-order", "aria-label": "order units by" },
      h("option", { value: "unit", text: "unit index" }), h("option", { value: "mean", text: "mean (first NAP)" }));
    const legend = h("div", { class: "napw-stats-legend", "data-testid": "stats-legend" });
    const box = h("div", { class: "napw-stats-chart", "data-testid": "stats-chart" });
    const scroller = h("div", { class: "napw-stats-scroll" }, box);
    const empty = h("div", { class: "napw-empty", text: "Select a NAP to see its units' statistics; select several to compare them." });
    el.append(h("section", { class: "napw-panel napw-stats-panel", "data-testid": "stats-panel" },
      h("header", { class: "napw-panel-head" },
        h("h3", { text: "Unit statistics" }), sub,
        h("span", { class: "napw-spacer" }),
        h("label", { class: "napw-inline", title: "hide units whose members' activations stay near zero in every shown NAP (the reference tool's 'remove zero activations')" },
          hideZero, h("span", { text: "hide near-zero units" })),
        h("label", { class: "napw-inline" }, h("span", { class: "napw-muted", text: "order " }), order)),
      empty, legend, scroller,
      h("div", { class: "napw-stats-key napw-muted" },
        h("span", { class: "napw-key-dot" }), "mean ", h("span", { class: "napw-key-iqr" }), "interquartile range ",
h("span", { class: "napw-key-whisk" }), "whiskers (1.5 IQR, clipped to min / max) · hover a unit for every number")));

    const slot = vegaSlot(box);

    async function draw() {
      const data = store.data;
      const detail = store.get("nap_detail") || {};
      const vm = store.get("nap_stats") || {};
      const naps = store.selectedNaps();
      const max = detail.max_compare || 6;
      const ok = naps.length > 0 && statsMatch(vm, naps, data?.view.params, max) && detail.specs;
      empty.hidden = Boolean(ok);
      legend.hidden = !ok;
      scroller.hidden = !ok;
      if (!naps.length) {
        empty.textContent = "Select a NAP to see its units' statistics; select several to compare them.";
      } else if (!ok) {
        empty.textContent = store.isStatic() ? "The statistics of this selection are not part of this export (select the NAP(s) shown when it was saved, or open the notebook)." : "Computing the unit statistics…";
      }
      box.dataset.naps = ok ? vm.naps.map((r) => r.id).join(",") : "";
      if (!ok) {
        sub.textContent = "";
        slot.clear();
        return;
      }
      const units = statsUnits(vm, { hideZero: hideZero.checked, order: order.value });
      const hidden = vm.n_units - units.length;
      sub.textContent = `${vm.layer} · ${units.length} of ${vm.n_units} units${hidden ? ` (${hidden} near zero hidden)` : ""}${vm.truncated ? ` · first ${vm.naps.length} selected NAPs` : ""}`;
      legend.replaceChildren(...vm.naps.map((r) => h("span", { class: "napw-legend-item napw-stats-nap", "data-nap": r.id },
        h("span", { class: "napw-dot", style: { background: r.color } }), `NAP ${r.id}`, h("span", { class: "napw-muted", text: ` · ${r.size} members` }))));
      box.dataset.units = String(units.length);
      const avail = Math.max(240, (scroller.clientWidth || el.clientWidth || 700) - 80);
      const step = Math.max(vm.naps.length > 1 ? 4 * vm.naps.length : 3, Math.min(26, avail / Math.max(units.length, 1)));
      const width = Math.max(avail, Math.round(step * units.length));
      const rows = statsRows(vm, units);
      // hundreds of units x 3 marks: one canvas instead of thousands of SVG nodes (tooltips and data unchanged)
      await slot.draw(detail.specs.stats, { stats: rows }, { width, height: 200 }, { renderer: rows.length > STATS_SVG_MAX_ROWS ? "canvas" : "svg" });
    }

    hideZero.addEventListener("change", draw);
    order.addEventListener("change", draw);
    const { soon: drawSoon, now: drawNow } = coalesce(draw);  // one draw per new result
    const offs = [
      store.on("data", drawSoon),
      store.on("selection", drawNow),
      store.on("detail", (k) => { if (k === "nap_stats" || k === "nap_detail") drawNow(); }),
    ];
    draw();
    return () => {
      offs.forEach((off) => off());
      slot.destroy();
    };
  },
};
