// Label / prediction filters (the synced `filters` trait: {labels: [class names], predictions: [class names]}).
// Pure functions used by the store (which owns the state) and by the views that draw or respect filters.
// An input passes when its label is one of `labels` (or that list is empty) AND its prediction is one of
// `predictions` (or that list is empty); the kernel applies the same rule (napwidget/views/detail.py).

export const FILTER_KINDS = ["labels", "predictions"];

/** The trait's value completed: both kinds, arrays of strings, no duplicates. */
export function normalizeFilters(f) {
  const out = {};
  for (const kind of FILTER_KINDS) out[kind] = [...new Set((f?.[kind] || []).map(String))];
  return out;
}

export function hasFilters(f) {
  return FILTER_KINDS.some((k) => (f?.[k] || []).length > 0);
}

/** `f` with `name` added to `kind`, or removed when present. */
export function toggleFilter(f, kind, name) {
  const next = normalizeFilters(f);
  const list = next[kind];
  next[kind] = list.includes(name) ? list.filter((v) => v !== name) : [...list, name];
  return next;
}

export function removeFilter(f, kind, name) {
  const next = normalizeFilters(f);
  next[kind] = next[kind].filter((v) => v !== name);
  return next;
}

/** (index) -> bool for decoded data ({label, pred} Int32Arrays, view.classes); null when no filter is active. */
export function makePredicate(f, data) {
  if (!data || !hasFilters(f)) return null;
  const classes = data.view?.classes || [];
  const codes = (names) => new Set((names || []).map((n) => classes.indexOf(n)).filter((c) => c >= 0));
  const lab = codes(f.labels);
  const pred = codes(f.predictions);
  const useLab = (f.labels || []).length > 0;
  const usePred = (f.predictions || []).length > 0;
  return (i) => (!useLab || lab.has(data.label[i])) && (!usePred || pred.has(data.pred[i]));
}

/** `indices` (order kept) that pass `f`. */
export function applyFilters(indices, f, data) {
  const ok = makePredicate(f, data);
  return ok ? indices.filter((i) => ok(i)) : [...indices];
}

/** NAP id -> its passing members, most typical first (probability descending, then index). */
export function filteredMembersByNap(f, data) {
  const out = new Map();
  const ok = makePredicate(f, data);
  if (!data) return out;
  for (let i = 0; i < data.nap.length; i++) {
    const k = data.nap[i];
    if (k < 0 || (ok && !ok(i))) continue;
    if (!out.has(k)) out.set(k, []);
    out.get(k).push(i);
  }
  for (const list of out.values()) list.sort((a, b) => (data.prob[b] - data.prob[a]) || (a - b));
  return out;
}
