// Times the front end's kernel-less re-selection (js/src/reselect/) on a packed tree written by
// benchmarks/bench_reselect.py: decode once, then reselect for each (method, min_cluster_size).
// Also times the whole kernel-less answer (./local-kernel.js apply: re-selection + NAP cards + per-input table +
// detail counts), on a model with 10 classes of labels and predictions.
// Usage: node benchmarks/bench_reselect.mjs TREE.bin REPEATS mcs,mcs,... -> one JSON line per case.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { decodeTree } from "../js/src/reselect/tree.js";
import { reselect } from "../js/src/reselect/select.js";
import { createLocalKernel } from "../js/src/reselect/local-kernel.js";

const [path, repeats = "5", list = "5,20,50,100"] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(path));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const t0 = performance.now();
const tree = decodeTree(bytes);
const decodeMs = performance.now() - t0;
const values = list.split(",").map(Number);

/** A page's model: a view over N inputs with 10 classes, the shipped tree; set() records like a model. */
function pageModel(n) {
  const truth = new Int32Array(2 * n).map((_, i) => (i * 7919) % 10);
  const state = {
    _reselect_tree: bytes, _truth: new DataView(truth.buffer), _revision: 0,
    view: { n, params: { min_cluster_size: 0, cluster_selection_method: "" }, classes: [..."0123456789"], class_colors: Array(10).fill("#000"),
      has_labels: true, has_predictions: true, scatter: null },
    nap_detail: { prob_edges: Array.from({ length: 21 }, (_, i) => i / 20) },
  };
  return { get: (k) => state[k], set: (k, v) => { state[k] = v; } };
}

// warm the JIT, as a page that has answered one change already
for (let w = 0; w < 3; w++) {
  for (const m of ["leaf", "eom"]) {
    const model = pageModel(tree.n);
    const local = createLocalKernel(model);
    model.set("min_cluster_size", values[0]);
    model.set("cluster_selection_method", m);
    local.apply();
  }
}
for (const method of ["leaf", "eom"]) {
  for (const mcs of values) {
    const times = [];
    let naps = null;
    for (let r = 0; r < Number(repeats); r++) {
      const t = performance.now();
      naps = reselect(tree, mcs, method);
      times.push(performance.now() - t);
    }
    const applyTimes = [];
    for (let r = 0; r < Number(repeats); r++) {
      const model = pageModel(tree.n);
      const local = createLocalKernel(model);
      local.tree(); // decoded once per page, not per change
      model.set("min_cluster_size", mcs);
      model.set("cluster_selection_method", method);
      const t = performance.now();
      local.apply();
      applyTimes.push(performance.now() - t);
    }
    const digest = createHash("sha1").update(new Uint8Array(naps.labels.buffer)).digest("hex");
    console.log(JSON.stringify({ n: tree.n, method, mcs, ms: median(times), apply_ms: median(applyTimes), decode_ms: decodeMs, n_naps: naps.nNaps, labels_sha1: digest }));
  }
}
