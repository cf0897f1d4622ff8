// Per-NAP charts: membership-probability histogram, label bar chart and prediction bar chart of the selected
// NAPs (stacked, one colour per NAP, when several are selected; every NAP's members when none is). Clicking a
// label / prediction bar toggles that filter (the store's `filters`, which every view respects); filtered
// classes are outlined, the others dimmed.
//
// Data: the `nap_detail` trait (napwidget/views/detail.py nap_detail_view); charts: its Vega-Lite templates.
import "./detail.css";
import { coalesce, h } from "../dom.js";
import { sameParams } from "./mapper.js";
import { napColor, vegaSlot } from "./detail-vega.js";

export const TOP_CLASSES = 24;

/** The NAPs the charts describe: the selected ones (at most `max`), or all of them (`all` true). */
export function chartNaps(detail, selected, max = 6) {
  const k = detail?.n_naps || 0;
  const sel = selected.filter((i) => i >= 0 && i < k).slice(0, max);
  return sel.length ? { ids: sel, all: false } : { ids: Array.from({ length: k }, (_, i) => i), all: true };
}

/** Histogram rows {bin0, bin1, count, nap, pos, color}: per selected NAP, or summed over every NAP. */
export function histRows(detail, sel) {
  const edges = detail.prob_edges || [];
  const rows = [];
  const series = sel.all ? [{ label: "all NAPs", pos: 0, color: "#6b7a90", counts: sumCounts(sel.ids.map((i) => detail.prob_hist[i]), edges.length - 1) }]
    : sel.ids.map((id, pos) => ({ label: `NAP ${id}`, pos, color: napColor(detail, pos), counts: detail.prob_hist[id] || [] }));
  for (const s of series) {
    for (let b = 0; b + 1 < edges.length; b++) {
      const count = s.counts[b] || 0;
      if (count) rows.push({ bin0: edges[b], bin1: edges[b + 1], count, nap: s.label, pos: s.pos, color: s.color });
    }
  }
  return rows;
}

function sumCounts(lists, n) {
  const out = new Array(Math.max(n, 0)).fill(0);
  for (const l of lists) for (let b = 0; b < n; b++) out[b] += l?.[b] || 0;
  return out;
}

/**
 * Bar rows {cls, code, count, nap, pos, color, rank, active, dim} of `kind` ("labels" | "predictions") for the
 * selection; the `top` classes by total count (class order breaks ties). Single NAP / all: class colours.
 */
export function barRows(detail, kind, sel, filters, top = TOP_CLASSES) {
  const counts = kind === "labels" ? detail.label_counts : detail.pred_counts;
  const classes = detail.classes || [];
  const per = new Map(); // code -> [count per series]
  const series = sel.all || sel.ids.length === 1 ? [sel.ids] : sel.ids.map((id) => [id]);
  series.forEach((ids, s) => {
    for (const id of ids) {
      for (const [code, c] of counts?.[id] || []) {
        if (!per.has(code)) per.set(code, new Array(series.length).fill(0));
        per.get(code)[s] += c;
      }
    }
  });
  const totals = [...per.entries()].map(([code, arr]) => [code, arr.reduce((a, b) => a + b, 0)]);
  totals.sort((a, b) => (b[1] - a[1]) || (a[0] - b[0]));
  const shown = totals.slice(0, top);
  const active = new Set(filters?.[kind] || []);
  const rows = [];
  shown.forEach(([code], rank) => {
    const cls = classes[code];
    const on = active.has(cls);
    per.get(code).forEach((count, s) => {
      if (!count) return;
      const single = series.length === 1;
      rows.push({
        cls, code, count, rank, pos: s,
        nap: sel.all ? "all NAPs" : `NAP ${sel.ids[s]}`,
        color: single ? (detail.class_colors || [])[code] || "#6b7a90" : napColor(detail, s),
        active: on, dim: active.size > 0 && !on,
      });
    });
  });
  return { rows, total: totals.length, shown: shown.length };
}

export default {
  id: "napcharts",
  area: "footer-side",
  mount(el, store) {
    const sub = h("span", { class: "napw-sub" });
    const mk = (testid) => h("div", { class: "napw-chart-box", "data-testid": testid });
    const hist = mk("prob-hist");
    const labels = mk("label-bars");
    const preds = mk("pred-bars");
    const labelNote = h("span", { class: "napw-sub" });
    const predNote = h("span", { class: "napw-sub" });
    const labelBlock = h("div", { class: "napw-chart-block" }, h("div", { class: "napw-chart-title" }, h("b", { text: "Labels" }), labelNote), labels);
    const predBlock = h("div", { class: "napw-chart-block" }, h("div", { class: "napw-chart-title" }, h("b", { text: "Predictions" }), predNote), preds);
    const empty = h("div", { class: "napw-empty", hidden: true, text: "No NAPs at these settings." });
    el.append(h("section", { class: "napw-panel napw-napcharts-panel", "data-testid": "nap-charts" },
      h("header", { class: "napw-panel-head" }, h("h3", { text: "NAP make-up" }), sub),
      empty,
      h("div", { class: "napw-chart-block" }, h("div", { class: "napw-chart-title" }, h("b", { text: "Membership probability" })), hist),
      labelBlock, predBlock));

    const toggle = (kind) => (datum) => {
      if (datum && typeof datum.cls === "string") store.toggleFilter(kind, datum.cls);
    };
    const slots = { hist: vegaSlot(hist), labels: vegaSlot(labels, { onClick: toggle("labels") }), preds: vegaSlot(preds, { onClick: toggle("predictions") }) };

    function draw() {
      const detail = store.get("nap_detail") || {};
      const view = store.data?.view || {};
      const fresh = detail.specs && sameParams(detail.params, view.params);
      const k = fresh ? detail.n_naps : 0;
      empty.hidden = k > 0;
      if (!fresh || !k) {
        for (const s of Object.values(slots)) s.clear();
        sub.textContent = fresh ? "" : "computing…";
        return;
      }
      const sel = chartNaps(detail, store.selectedNaps(), detail.max_compare || 6);
      sub.textContent = sel.all ? `all ${k} NAPs · click a bar to filter` : `${sel.ids.map((i) => `NAP ${i}`).join(", ")} · click a bar to filter`;
      const width = Math.max(180, (el.clientWidth || 320) - 70);
      const f = store.filters();
      slots.hist.draw(detail.specs.hist, { hist: histRows(detail, sel) }, { width, height: 90 });
      labelBlock.hidden = !detail.has_labels;
      predBlock.hidden = !detail.has_predictions;
      for (const [kind, slot, note, on] of [["labels", slots.labels, labelNote, detail.has_labels], ["predictions", slots.preds, predNote, detail.has_predictions]]) {
        if (!on) {
          slot.clear();
          continue;
        }
        const { rows, total, shown } = barRows(detail, kind, sel, f);
        note.textContent = total > shown ? `top ${shown} of ${total} classes` : "";
        const spec = structuredClone(detail.specs.bars);
        const short = rows.every((r) => String(r.cls).length <= 3);
        if (short && spec.encoding?.x?.axis) spec.encoding.x.axis.labelAngle = 0;
        slot.draw(spec, { bars: rows }, { width: Math.min(width, Math.max(150, shown * 34 + 30)), height: 110 });
      }
    }

    const { soon: drawSoon, now: drawNow } = coalesce(draw);  // one draw per new result
    const offs = [
      store.on("data", drawSoon),
      store.on("selection", drawNow),
      store.on("filters", drawNow),
      store.on("detail", (key) => { if (key === "nap_detail") drawNow(); }),
    ];
    draw();
    return () => {
      offs.forEach((off) => off());
      Object.values(slots).forEach((s) => s.destroy());
    };
  },
};
