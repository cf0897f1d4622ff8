// The kernel's view models for a re-selected result, built in the browser: NAP cards (napwidget/explorer.py
// nap_rows), counts, the scatter's data, the per-sample table (_samples) and the label/prediction counts of the
// detail views (napwidget/views/detail.py nap_detail_view). What needs the activations (top units, heatmap,
// unit statistics) is computed from `features` when the page has them, else left out with a note.

import { scatterValues } from "../wire.js";

const TOP_MEMBERS = 8;

function round(x, nd) {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** nd;
  return Math.round(x * f) / f;
}

/** Members of every NAP, most typical first (float32 probability descending, then index): the kernel's order. */
export function membersByNap(naps, prob32) {
  const lists = Array.from({ length: naps.nNaps }, () => []);
  naps.labels.forEach((l, i) => { if (l >= 0) lists[l].push(i); });
  for (const m of lists) m.sort((a, b) => (prob32[b] - prob32[a]) || (a - b));
  return lists;
}

/** Per-input table the views decode: NAP (int32), probability (float32), outlier score (float32, NaN -> 0). */
export function sampleTable(naps) {
  const n = naps.labels.length;
  const buf = new ArrayBuffer(12 * n);
  new Int32Array(buf, 0, n).set(naps.labels);
  new Float32Array(buf, 4 * n, n).set(naps.probabilities);
  const out = new Float32Array(buf, 8 * n, n);
  naps.outlierScores.forEach((v, i) => { out[i] = Number.isNaN(v) ? 0 : v; });
  return new DataView(buf);
}

function composition(members, labelCodes, nClasses, top = 5) {
  if (!labelCodes || !members.length) return { comp: [], other: 0, dominant: null, purity: null };
  const counts = new Array(Math.max(nClasses, 1)).fill(0);
  for (const i of members) if (labelCodes[i] >= 0) counts[labelCodes[i]] += 1;
  const order = counts.map((_c, j) => j).filter((j) => counts[j] > 0).sort((a, b) => (counts[b] - counts[a]) || (a - b));
  if (!order.length) return { comp: [], other: 0, dominant: null, purity: null };
  const other = order.slice(top).reduce((s, j) => s + counts[j], 0);
  return { comp: order.slice(0, top).map((j) => [j, counts[j]]), other, dominant: order[0], purity: counts[order[0]] / members.length };
}

/** (k, F) NAP means and the overall mean from a row-major float32 (N, F) matrix (null without it). */
export function napMeans(naps, features, F) {
  if (!features || !F) return null;
  const k = naps.nNaps;
  const n = naps.labels.length;
  const sums = new Float64Array(k * F);
  const overall = new Float64Array(F);
  for (let i = 0; i < n; i++) {
    const row = i * F;
    const l = naps.labels[i];
    for (let u = 0; u < F; u++) overall[u] += features[row + u];
    if (l < 0) continue;
    const off = l * F;
    for (let u = 0; u < F; u++) sums[off + u] += features[row + u];
  }
  for (let j = 0; j < k; j++) for (let u = 0; u < F; u++) sums[j * F + u] = Math.fround(sums[j * F + u] / Math.max(naps.sizes[j], 1));
  for (let u = 0; u < F; u++) overall[u] /= Math.max(n, 1);
  return { means: sums, overall, F };
}

function topUnits(m, j, count = 5) {
  if (!m) return { units: [], values: [] };
  const { means, overall, F } = m;
  const units = Array.from({ length: F }, (_, u) => u);
  const score = (u) => means[j * F + u] - overall[u];
  units.sort((a, b) => (score(b) - score(a)) || (a - b));
  const top = units.slice(0, count);
  return { units: top, values: top.map((u) => round(means[j * F + u], 3)) };
}

/** One card row per NAP, as Explorer.nap_rows. */
export function napRows(naps, { prob32, labelCodes, predCodes, nClasses, means }) {
  const members = membersByNap(naps, prob32);
  return members.map((mem, j) => {
    const c = composition(mem, labelCodes, nClasses);
    let acc = null;
    if (labelCodes && predCodes && mem.length) acc = mem.reduce((s, i) => s + (labelCodes[i] === predCodes[i] ? 1 : 0), 0) / mem.length;
    const mp = mem.length ? mem.reduce((s, i) => s + prob32[i], 0) / mem.length : 0;
    const tu = topUnits(means, j);
    return {
      id: j,
      size: naps.sizes[j],
      persistence: round(naps.persistence[j], 5),
      purity: c.purity === null ? null : round(c.purity, 4),
      dominant: c.dominant,
      composition: c.comp,
      other: c.other,
      accuracy: acc === null ? null : round(acc, 4),
      mean_probability: round(mp, 4),
      top_units: tu.units,
      top_unit_values: tu.values,
      members: mem.slice(0, TOP_MEMBERS),
    };
  });
}

/** The scatter's Vega-Lite spec with the new rows (the kernel's template, its data and scales replaced). */
export function scatterSpec(base, rows, classes, classColors) {
  if (!base || typeof base !== "object") return base;
  const spec = JSON.parse(JSON.stringify(base));
  spec.data = { values: scatterValues(rows, classes) };
  const sizes = rows.length ? rows.map((r) => r.size) : [2];
  const xDomain = [Math.max(1, Math.min(...sizes) * 0.8), Math.max(Math.max(...sizes), 2) * 1.25];
  const present = [...new Set(rows.map((r) => r.dominant).filter((d) => d !== null))].sort((a, b) => a - b);
  const isText = (l) => l.mark === "text" || (l.mark && l.mark.type === "text");
  if (rows.length > 60 && Array.isArray(spec.layer)) spec.layer = spec.layer.filter((l) => !isText(l)); // as the kernel
  for (const layer of Array.isArray(spec.layer) ? spec.layer : [spec]) {
    const enc = layer.encoding || {};
    if (enc.x?.scale) enc.x.scale.domain = xDomain;
    if (enc.color?.field && enc.color.scale) {
      enc.color.scale = { domain: present.map((c) => classes[c]), range: present.map((c) => classColors[c]) };
    }
  }
  return spec;
}

/** numpy.histogram(values, bins=np.linspace(0, 1, bins + 1)): edges i * (1 / bins), bins [a, b), the last [a, 1]. */
export function probHist(values, bins, edges = histEdges(bins)) {
  const counts = new Array(bins).fill(0);
  for (const raw of values) {
    const x = Math.min(1, Math.max(0, raw));
    let b = Math.min(bins - 1, Math.floor(x * bins));
    while (b > 0 && x < edges[b]) b -= 1;
    while (b < bins - 1 && x >= edges[b + 1]) b += 1;
    counts[b] += 1;
  }
  return counts;
}

function histEdges(bins) {
  const step = 1 / bins;
  return Float64Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * step));
}

function sparseCounts(codes, naps, nClasses) {
  const k = naps.nNaps;
  if (!codes) return { rows: Array.from({ length: k }, () => []), noise: [] };
  const c = Math.max(nClasses, 1);
  const table = new Int32Array((k + 1) * c); // row 0: noise
  naps.labels.forEach((l, i) => { if (codes[i] >= 0) table[(l + 1) * c + codes[i]] += 1; });
  const rows = [];
  for (let j = 0; j <= k; j++) {
    const row = [];
    for (let a = 0; a < c; a++) if (table[j * c + a] > 0) row.push([a, table[j * c + a]]);
    rows.push(row);
  }
  return { rows: rows.slice(1), noise: rows[0] };
}

/** The detail views' label/prediction counts and probability histograms (nap_detail_view) for new NAPs. */
export function napDetail(base, naps, params, { labelCodes, predCodes, nClasses }) {
  if (!base?.prob_edges) return base;
  const bins = base.prob_edges.length - 1;
  const lab = sparseCounts(labelCodes, naps, nClasses);
  const pred = sparseCounts(predCodes, naps, nClasses);
  const perNap = Array.from({ length: naps.nNaps }, () => []);
  naps.labels.forEach((l, i) => { if (l >= 0) perNap[l].push(naps.probabilities[i]); });
  const edges = histEdges(bins);
  return {
    ...base, params, n_naps: naps.nNaps,
    label_counts: lab.rows, pred_counts: pred.rows, noise_label_counts: lab.noise, noise_pred_counts: pred.noise,
    prob_hist: perNap.map((p) => probHist(p, bins, edges)),
  };
}

function argsortDesc(units, score) {
  return [...units].sort((a, b) => (score(b) - score(a)) || (a - b));
}

/** The unit heatmap (Explorer.heatmap) from NAP means; without activations in the page, an empty one with a note. */
export function heatmap(m, k, maxUnits = 64) {
  if (!m || !k) {
    const note = m ? "" : "needs the activations: not part of this page";
    return { units: [], values: [], overall: [], vmin: 0, vmax: 1, n_units: m ? m.F : 0, note };
  }
  const { means, overall, F } = m;
  const mean = (j, u) => means[j * F + u];
  const contrast = (j, u) => mean(j, u) - overall[u];
  let alive = [];
  for (let u = 0; u < F; u++) {
    let amp = 0;
    for (let j = 0; j < k; j++) amp = Math.max(amp, Math.abs(mean(j, u)));
    if (amp > 1e-3) alive.push(u);
  }
  let dead = F - alive.length;
  if (!alive.length) { alive = Array.from({ length: F }, (_, u) => u); dead = 0; }
  let units;
  let note;
  if (alive.length <= maxUnits) {
    units = alive;
    note = dead ? `${dead} silent units hidden` : "";
  } else {
    const chosen = new Set();
    const per = Math.max(1, Math.floor(maxUnits / k));
    for (let j = 0; j < k && chosen.size < maxUnits; j++) {
      for (const u of argsortDesc(alive, (v) => contrast(j, v)).slice(0, per)) chosen.add(u);
    }
    if (chosen.size < maxUnits) {
      const variance = (u) => {
        let s = 0; let s2 = 0;
        for (let j = 0; j < k; j++) { s += mean(j, u); s2 += mean(j, u) ** 2; }
        return s2 / k - (s / k) ** 2;
      };
      for (const u of argsortDesc(alive, variance)) { if (chosen.size >= maxUnits) break; chosen.add(u); }
    }
    units = [...chosen].slice(0, maxUnits);
    note = `${units.length} of ${F} units: the most characteristic per NAP`;
  }
  // columns by the NAP where each unit stands out most, then by strength (a diagonal pattern)
  const peak = new Map(units.map((u) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (contrast(j, u) > contrast(best, u)) best = j;
    return [u, best];
  }));
  units = [...units].sort((a, b) => (peak.get(a) - peak.get(b)) || (contrast(peak.get(b), b) - contrast(peak.get(a), a)));
  const values = Array.from({ length: k }, (_, j) => units.map((u) => round(mean(j, u), 3)));
  let vmin = 0;
  let vmax = -Infinity;
  for (const u of units) {
    vmin = Math.min(vmin, overall[u]);
    vmax = Math.max(vmax, overall[u]);
    for (let j = 0; j < k; j++) { vmin = Math.min(vmin, mean(j, u)); vmax = Math.max(vmax, mean(j, u)); }
  }
  return {
    units, values, overall: units.map((u) => round(overall[u], 3)), vmin: round(vmin, 4),
    vmax: round(vmax > vmin ? vmax : vmin + 1, 4), n_units: F, note,
  };
}
