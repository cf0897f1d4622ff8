// The kernel's compact wire form of large synced values (napwidget/views/wire.py): binary buffers instead of
// JSON lists. These functions turn them back into the plain values the views read (NAP rows, heatmap rows,
// the scatter's points, selection lists). Values already plain (a save_html page, the browser's own
// re-selection) pass through unchanged.
import { toU8, typed } from "./dom.js";

const unpacked = new WeakMap(); // wire view -> plain view (one decode per kernel message)

function column(buf, Type, count) {
  return typed(toU8(buf), Type, 0, count);
}

function orNull(x) {
  return Number.isNaN(x) ? null : x;
}

function rowsOf(packed) {
  const k = packed.__rows__;
  const w = packed.w || {};
  const f8 = Object.fromEntries(Object.entries(packed.f8 || {}).map(([name, b]) => [name, column(b, Float64Array, k * (w[name] ?? 1))]));
  const i4 = Object.fromEntries(Object.entries(packed.i4 || {}).map(([name, b]) => [name, column(b, Int32Array, k * (w[name] ?? 1))]));
  const list = (name, j) => {
    const width = w[name] || 0;
    const out = [];
    for (let c = 0; c < width; c++) {
      const v = i4[name][j * width + c];
      if (v < 0) break;
      out.push(v);
    }
    return out;
  };
  const rows = new Array(k);
  for (let j = 0; j < k; j++) {
    const flat = list("composition", j);
    const units = list("top_units", j);
    const tw = w.top_unit_values || 0;
    rows[j] = {
      id: j,
      size: i4.size[j],
      persistence: orNull(f8.persistence[j]),
      purity: orNull(f8.purity[j]),
      dominant: i4.dominant[j] < 0 ? null : i4.dominant[j],
      composition: Array.from({ length: flat.length / 2 }, (_, p) => [flat[2 * p], flat[2 * p + 1]]),
      other: i4.other[j],
      accuracy: orNull(f8.accuracy[j]),
      mean_probability: orNull(f8.mean_probability[j]),
      top_units: units,
      top_unit_values: units.map((_u, c) => orNull(f8.top_unit_values[j * tw + c])),
      members: list("members", j),
    };
  }
  return rows;
}

function heatmapValues(packed) {
  const [k, units] = packed.__f32__;
  const vals = column(packed.b, Float32Array, k * units);
  const out = new Array(k);
  for (let j = 0; j < k; j++) {
    const row = new Array(units);
    for (let u = 0; u < units; u++) {
      const v = vals[j * units + u];
      row[u] = Number.isNaN(v) ? null : Math.round(v * 1000) / 1000; // the float32 of a 3-decimal value
    }
    out[j] = row;
  }
  return out;
}

/** The scatter's points from the NAP rows, as Explorer.scatter_spec makes them. */
export function scatterValues(rows, classes) {
  return rows.map((r) => ({
    nap: r.id, size: r.size, persistence: r.persistence ?? 0, purity: r.purity ?? 0,
    dominant: r.dominant !== null ? classes[r.dominant] : "", accuracy: r.accuracy ?? 0,
  }));
}

/** The plain view model of a `view` trait value (decoded once per value). */
export function unpackView(view) {
  if (!view || typeof view !== "object" || !view.naps || Array.isArray(view.naps)) return view;
  if (unpacked.has(view)) return unpacked.get(view);
  const out = { ...view, naps: rowsOf(view.naps) };
  if (view.heatmap?.values?.__f32__) out.heatmap = { ...view.heatmap, values: heatmapValues(view.heatmap.values) };
  if (view.scatter?.data?.__from_naps__) out.scatter = { ...view.scatter, data: { values: scatterValues(out.naps, view.classes || []) } };
  unpacked.set(view, out);
  return out;
}

/** A selection trait's value as a list of ids: JSON lists pass through, int32 buffers are decoded. */
export function idList(value) {
  if (Array.isArray(value)) return value;
  if (value && typeof value === "object" && value.__i32__ !== undefined) return Array.from(column(value.b, Int32Array, value.__i32__));
  return [];
}

/** A list of ids in the kernel's wire form (an int32 buffer from `min` ids on), for intents and local state. */
export function idsToWire(ids, min = 64) {
  if (ids.length < min) return [...ids];
  const a = Int32Array.from(ids);
  return { __i32__: a.length, b: new DataView(a.buffer) };
}
