// Mid-range activations, the data side: the logit histogram, band membership, axis ticks and the curation
// export (CSV / JSON, the same text as the kernel's `w.export_curation`). No DOM except `download`.
import { h } from "../dom.js";

export const BINS = 40;

/** Stacked histogram of `logits` over `[lo, hi]` with `bins` bins: { edges, counts: [bin][group], totals }. */
export function histogram(logits, groups, nGroups, { bins = BINS, range } = {}) {
  const [lo, hi] = range || [Math.min(...logits), Math.max(...logits)];
  const span = hi - lo || 1;
  const g = Math.max(1, nGroups || 1);
  const counts = Array.from({ length: bins }, () => new Array(g).fill(0));
  for (let i = 0; i < logits.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(((logits[i] - lo) / span) * bins)));
    counts[b][groups ? groups[i] : 0] += 1;
  }
  const edges = Array.from({ length: bins + 1 }, (_, j) => lo + (j * span) / bins);
  return { edges, counts, totals: counts.map((c) => c.reduce((a, b) => a + b, 0)) };
}

/** Indices whose logit lies in the band: lo <= logit < hi (the kernel's logit_bands(mode="value") "mid"). */
export function bandMembers(logits, lo, hi) {
  const out = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] >= lo && logits[i] < hi) out.push(i);
  return out;
}

/** The x domain of the chart: the logit range padded by one bin on each side (a band can hold the extremes). */
export function xDomain(range, bins = BINS) {
  const [a, b] = range;
  const pad = (b - a || 1) / bins;
  return [a - pad, b + pad];
}

/** "Nice" tick values covering [a, b]. */
export function ticks(a, b, count = 6) {
  const span = b - a || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(a / step) * step; v <= b + 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function csvField(v) {
  const t = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** The curation as CSV: the same text as the kernel's `w.export_curation("x.csv")`. */
export function curationCSV(records) {
  const lines = ["index,label,prediction,group,curated_for,logit,weight"];
  for (const r of records) {
    const logit = r.logit === null || r.logit === undefined ? "" : Number(r.logit).toFixed(4);
    const weight = r.weight === null || r.weight === undefined ? "" : Number(r.weight).toFixed(6);
    lines.push([r.index, r.label, r.prediction, r.group, r.curated_for, logit, weight].map(csvField).join(","));
  }
  return `${lines.join("\n")}\n`;
}

/** The curation as JSON (the kernel's `w.export_curation("x.json")` content). */
export function curationJSON(records, nInputs) {
  const doc = { format: "napwidget-curation", version: 1, n_inputs: nInputs, count: records.length,
    indices: records.map((r) => r.index), weights: records.map((r) => r.weight ?? 1), records };
  return `${JSON.stringify(doc, null, 1)}\n`;
}

/** Records of the curated inputs: the kernel's (vm.curation) where it has them, else built here (static
 * exports, or a curate click the kernel has not answered yet), curated for the shown class. */
export function curationRecords(curated, vm, store) {
  const known = new Map((vm.curation || []).map((r) => [r.index, r]));
  const view = store.data ? store.data.view : { classes: [] };
  return [...new Set(curated)].sort((a, b) => a - b).map((i) => {
    if (known.has(i)) return known.get(i);
    const it = store.data && i < store.data.n ? store.item(i) : { label: -1, pred: -1 };
    return {
      index: i,
      label: it.label >= 0 ? view.classes[it.label] : "",
      prediction: it.pred >= 0 ? view.classes[it.pred] : "",
      group: vm.groups ? vm.group_names[vm.groups[i]] : "",
      curated_for: vm.class_name ?? "",
      logit: vm.logits ? vm.logits[i] : null,
      weight: 1,
    };
  });
}

export function download(filename, text, type) {
  if (typeof URL === "undefined" || !URL.createObjectURL) return false;
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  return true;
}

