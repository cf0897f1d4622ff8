// Test helpers: a fake anywidget model and a synthetic widget state (no kernel, no Python).
// The trait families (`_groups`) are the kernel's, written from the trait tags: tests/test_widget.py checks
// fixtures/trait-groups.json against napwidget.views.trait_groups.
import TRAIT_GROUPS from "./fixtures/trait-groups.json";
import { createLocalSelection, INTENTS } from "../src/selection-local.js";

export { TRAIT_GROUPS };

/**
 * An anywidget-like model: get/set/on/off/save_changes/send, recording what the views do. Selection and filter
 * intents are answered as the kernel answers them (../src/selection-local.js: the traits change before send
 * returns, the reply follows), unless `owner: false` (then nothing answers them).
 */
export function fakeModel(initial = {}, { respond, owner = true } = {}) {
  const state = { _groups: TRAIT_GROUPS, ...initial };
  const handlers = new Map();
  const model = {
    saved: [],
    sent: [],
    sentBuffers: [],
    get: (key) => state[key],
    set(key, value) {
      state[key] = value;
      for (const fn of handlers.get(`change:${key}`) || []) fn(value);
    },
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, []);
      handlers.get(event).push(fn);
    },
    off(event, fn) {
      handlers.set(event, (handlers.get(event) || []).filter((f) => f !== fn));
    },
    save_changes() {
      model.saved.push({ ...state });
    },
    send(msg, _callbacks, buffers) {
      model.sent.push(msg);
      model.sentBuffers.push(buffers || []);
      if (owner && INTENTS.includes(msg.type)) {
        const answer = selection.apply(msg, buffers);
        queueMicrotask(() => model.reply(answer));
        return;
      }
      if (respond) {
        const answer = respond(msg, buffers);
        if (answer) queueMicrotask(() => model.reply(answer.content, answer.buffers || []));
      }
    },
    /** Deliver a custom message from the "kernel". */
    reply(content, buffers = []) {
      for (const fn of handlers.get("msg:custom") || []) fn(content, buffers);
    },
    listenerCount: (event) => (handlers.get(event) || []).length,
  };
  const selection = createLocalSelection(model);
  return model;
}

function dv(typedArray) {
  return new DataView(typedArray.buffer, typedArray.byteOffset, typedArray.byteLength);
}

/**
 * A synthetic widget state: `k` NAPs over `n` inputs (NAP j gets sizes[j] members, the rest is noise),
 * labels = NAP id % classes.length (so NAPs are pure), one misclassified input per NAP.
 */
export function makeState({ sizes = [30, 20, 12], n = 80, classes = ["zero", "one", "two"], kind = "image", extra = {} } = {}) {
  const k = sizes.length;
  const nap = new Int32Array(n).fill(-1);
  const prob = new Float32Array(n);
  const outlier = new Float32Array(n);
  let i = 0;
  sizes.forEach((size, j) => {
    for (let m = 0; m < size; m++, i++) {
      nap[i] = j;
      prob[i] = 1 - ((m * 7) % size) / size; // a shuffled order of typicality
    }
  });
  const label = new Int32Array(n);
  const pred = new Int32Array(n);
  for (let q = 0; q < n; q++) {
    label[q] = nap[q] >= 0 ? nap[q] % classes.length : q % classes.length;
    pred[q] = label[q];
  }
  let start = 0;
  for (const size of sizes) {
    pred[start] = (label[start] + 1) % classes.length; // one misclassified input per NAP
    start += size;
  }
  const samples = new Uint8Array(12 * n);
  samples.set(new Uint8Array(nap.buffer), 0);
  samples.set(new Uint8Array(prob.buffer), 4 * n);
  samples.set(new Uint8Array(outlier.buffer), 8 * n);
  const truth = new Uint8Array(8 * n);
  truth.set(new Uint8Array(label.buffer), 0);
  truth.set(new Uint8Array(pred.buffer), 4 * n);
  const members = (j) => {
    const idx = [];
    for (let q = 0; q < n; q++) if (nap[q] === j) idx.push(q);
    return idx.sort((a, b) => prob[b] - prob[a] || a - b);
  };
  const naps = sizes.map((size, j) => ({
    id: j,
    size,
    persistence: 0.5 / (j + 1),
    purity: 1 - 0.1 * ((j * 3) % k) / k,
    dominant: j % classes.length,
    composition: [[j % classes.length, size]],
    other: 0,
    accuracy: (size - 1) / size,
    mean_probability: 0.8,
    top_units: [j, j + 1, j + 2],
    top_unit_values: [0.9, 0.8, 0.7],
    members: members(j).slice(0, 8),
  }));
  const units = [0, 1, 2, 3, 4];
  const item = kind === "image" ? { kind: "image", h: 2, w: 2, c: 1, count: 0 } : { kind };
  const cardMembers = naps.flatMap((r) => r.members);
  const sprite = new Uint8Array(kind === "image" ? 4 * cardMembers.length : 0).fill(128);
  const view = {
    layer: "fc1",
    params: { layer: "fc1", min_cluster_size: 5, min_samples: 5, cluster_selection_method: "leaf", normalize: "unit" },
    n,
    n_features: 5,
    n_naps: k,
    noise: n - sizes.reduce((a, b) => a + b, 0),
    noise_fraction: 0.2,
    classes,
    class_colors: classes.map((_, c) => ["#E69F00", "#56B4E9", "#009E73", "#F0E442"][c % 4]),
    other_color: "#9E9E9E",
    has_labels: true,
    has_predictions: true,
    naps,
    heatmap: {
      units,
      values: naps.map((_, j) => units.map((u) => (u === j ? 0.9 : 0.1))),
      overall: units.map(() => 0.3),
      vmin: 0,
      vmax: 0.9,
      n_units: 5,
      note: "",
    },
    scatter: scatterSpec(naps, classes),
    item,
    hint: "",
    ...(kind === "text" ? { card_texts: cardMembers.map((q) => `text of ${q}`) } : {}),
  };
  return {
    layer: "fc1",
    min_cluster_size: 5,
    min_samples: 5,
    cluster_selection_method: "leaf",
    normalize: "unit",
    selected_naps: [],
    selected_indices: [],
    sort_by: "persistence",
    busy: false,
    error: "",
    static: false,
    _revision: 0,
    layers: [{ name: "conv", type: "Conv2d", shape: [4, 2, 2], n_features: 4 }, { name: "fc1", type: "Linear", shape: [5], n_features: 5 }],
    options: { methods: ["leaf", "eom"], normalizations: ["unit", "layer", "none"], sort_keys: ["persistence", "size", "purity"] },
    view,
    _samples: dv(samples),
    _truth: dv(truth),
    _card_thumbs: dv(sprite),
    _groups: TRAIT_GROUPS,
    ...extra,
  };
}

/** A Vega-Lite spec shaped like the kernel's (napsel / napHover params, brush, one point per NAP). */
export function scatterSpec(naps, classes) {
  return {
    params: [
      { name: "napsel", value: [] },
      { name: "napHover", value: -1 },
      { name: "brush", select: { type: "interval", encodings: ["x", "y"] } },
    ],
    data: { values: naps.map((r) => ({ nap: r.id, size: r.size, persistence: r.persistence, dominant: classes[r.dominant] })) },
    mark: { type: "point", filled: true },
    encoding: {
      x: { field: "size", type: "quantitative" },
      y: { field: "persistence", type: "quantitative" },
      color: { field: "dominant", type: "nominal", legend: null },
      tooltip: [{ field: "nap", type: "quantitative" }, { field: "dominant", type: "nominal" }],
      opacity: { condition: { test: "indexof(napsel, datum.nap) >= 0", value: 1 }, value: 0.5 },
    },
    width: 200,
    height: 150,
  };
}

export const tick = () => new Promise((r) => setTimeout(r, 0));
