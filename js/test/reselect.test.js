// JS re-selection (src/reselect/) against the kernel: fixtures written by tests/reselect_fixtures.py hold a
// packed tree and what napwidget's engine computes from it; the JS must agree bit for bit.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decodeTree, buildTree } from "../src/reselect/tree.js";
import { reselect, selectClusters } from "../src/reselect/select.js";
import { condense } from "../src/reselect/condense.js";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "reselect");
const FIXTURES = readdirSync(DIR).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync(join(DIR, f), "utf8")));

function decode(b64, Type) {
  const buf = Buffer.from(b64, "base64");
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Type(copy.buffer);
}

/** Same bits (NaN equal to NaN): the kernel's float64 values, not approximations of them. */
function sameBits(actual, expected) {
  expect(actual.length).toBe(expected.length);
  const a = new Uint8Array(Float64Array.from(actual).buffer);
  const b = new Uint8Array(Float64Array.from(expected).buffer);
  const bad = [];
  for (let i = 0; i < expected.length && bad.length < 5; i++) {
    const x = actual[i];
    const y = expected[i];
    if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) bad.push([i, x, y]);
  }
  expect(bad).toEqual([]);
  expect(a.length).toBe(b.length);
}

describe("fixtures", () => {
  it("cover five data sets, both methods and several min_cluster_size values", () => {
    expect(FIXTURES.map((f) => f.name).sort()).toEqual(["blobs", "chain", "duplicates", "grid", "many"]);
    for (const fx of FIXTURES) {
      expect(new Set(fx.cases.map((c) => c.method))).toEqual(new Set(["leaf", "eom"]));
      expect(new Set(fx.cases.map((c) => c.min_cluster_size)).size).toBeGreaterThanOrEqual(5);
    }
  });
});

for (const fx of FIXTURES) {
  describe(`re-selection equals the kernel: ${fx.name} (N=${fx.n})`, () => {
    const tree = decodeTree(fx.tree);
    for (const c of fx.cases) {
      it(`${c.method}, min_cluster_size=${c.min_cluster_size}: ${c.n_naps} NAPs`, () => {
        const raw = selectClusters(tree, c.min_cluster_size, c.method);
        expect(Array.from(raw.labels)).toEqual(Array.from(decode(c.raw_labels, Int32Array)));
        const naps = reselect(tree, c.min_cluster_size, c.method);
        expect(naps.nNaps).toBe(c.n_naps);
        expect(Array.from(naps.sizes)).toEqual(c.sizes);
        expect(Array.from(naps.labels)).toEqual(Array.from(decode(c.labels, Int32Array)));
        sameBits(naps.probabilities, decode(c.probabilities, Float64Array));
        sameBits(naps.outlierScores, decode(c.outlier_scores, Float64Array));
        sameBits(naps.persistence, decode(c.persistence, Float64Array));
        sameBits(naps.stability, decode(c.stability, Float64Array));
      });
    }
  });
}

describe("tree decoding and condensing", () => {
  it("computes hdbscan's breadth-first ranks (left child first)", () => {
    // napwidget.clustering.linkage doctest: merges [[0,1],[3,2]] -> bfs_rank [3, 4, 2, 1, 0]
    const t = buildTree(Int32Array.from([0, 3]), Int32Array.from([1, 2]), Float64Array.from([1, 2]));
    expect(Array.from(t.bfsRank)).toEqual([3, 4, 2, 1, 0]);
    expect(Array.from(t.size)).toEqual([1, 1, 1, 2, 3]);
  });

  it("condenses every point into exactly one row, and each split into two cluster rows", () => {
    const fx = FIXTURES.find((f) => f.name === "chain");
    const tree = decodeTree(fx.tree);
    const ct = condense(tree, 5);
    const points = Array.from(ct.rowChild).filter((c) => c < fx.n).sort((a, b) => a - b);
    expect(points).toEqual(Array.from({ length: fx.n }, (_, i) => i));
    expect(ct.rowChild.length - fx.n).toBe(ct.nClusters - 1);
  });

  it("rejects a truncated tree and out-of-range parameters with the fix", () => {
    expect(() => decodeTree(new Uint8Array(17))).toThrow(/16 bytes per merge/);
    const tree = decodeTree(FIXTURES[0].tree);
    expect(() => selectClusters(tree, 1, "leaf")).toThrow(/between 2 and/);
    expect(() => selectClusters(tree, 5, "dbscan")).toThrow(/leaf.*eom/);
  });
});
