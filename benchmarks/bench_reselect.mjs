// Times the front end's kernel-less re-selection (js/src/reselect/) on a packed tree written by
// benchmarks/bench_reselect.py: decode once, then reselect for each (method, min_cluster_size).
// Usage: node benchmarks/bench_reselect.mjs TREE.bin REPEATS mcs,mcs,... -> one JSON line per case.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { decodeTree } from "../js/src/reselect/tree.js";
import { reselect } from "../js/src/reselect/select.js";

const [path, repeats = "5", list = "5,20,50,100"] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(path));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const t0 = performance.now();
const tree = decodeTree(bytes);
const decodeMs = performance.now() - t0;
reselect(tree, 5, "leaf"); // warm the JIT like a page that has re-selected once
for (const method of ["leaf", "eom"]) {
  for (const mcs of list.split(",").map(Number)) {
    const times = [];
    let naps = null;
    for (let r = 0; r < Number(repeats); r++) {
      const t = performance.now();
      naps = reselect(tree, mcs, method);
      times.push(performance.now() - t);
    }
    const digest = createHash("sha1").update(new Uint8Array(naps.labels.buffer)).digest("hex");
    console.log(JSON.stringify({ n: tree.n, method, mcs, ms: median(times), decode_ms: decodeMs, n_naps: naps.nNaps, labels_sha1: digest }));
  }
}
