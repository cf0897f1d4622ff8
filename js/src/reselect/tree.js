// The single-linkage tree the kernel clustered, decoded from the compact binary the kernel ships
// (napwidget/reselect_export.py): N-1 merges as left int32[], right int32[], distance float64[].
// From it, every min_cluster_size and selection method can be re-selected in the browser (./condense.js,
// ./select.js) with the kernel's exact arithmetic.

/** Bytes (Uint8Array / DataView / ArrayBuffer / base64 string) -> Uint8Array. */
export function bytesOf(buf) {
  if (!buf) return new Uint8Array(0);
  if (typeof buf === "string") {
    const bin = atob(buf);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  return new Uint8Array(0);
}

function view(u8, Type, byteStart, count) {
  // copy: the bytes may sit at an unaligned offset (anywidget's DataViews), and the copy is small (16 B/merge)
  const copy = u8.slice(byteStart, byteStart + count * Type.BYTES_PER_ELEMENT);
  return new Type(copy.buffer, 0, count);
}

/**
 * Decode a shipped tree and precompute its topology (what napwidget.clustering.linkage.SingleLinkageTree
 * holds): parent, size, is_right, lambda = 1 / distance, and the breadth-first order (left child first) that
 * numbers hdbscan's condensed clusters and orders its rows.
 * @param {Uint8Array|DataView|ArrayBuffer|string} buf 16 * (N - 1) bytes, little-endian.
 */
export function decodeTree(buf) {
  const u8 = bytesOf(buf);
  if (u8.byteLength % 16 !== 0 || u8.byteLength === 0) {
    throw new Error(`a shipped tree has 16 bytes per merge, got ${u8.byteLength} bytes`);
  }
  const m = u8.byteLength / 16;
  return buildTree(view(u8, Int32Array, 0, m), view(u8, Int32Array, 4 * m, m), view(u8, Float64Array, 8 * m, m));
}

/** Topology of a scipy-style linkage (merge i makes node N + i from nodes left[i], right[i]). */
export function buildTree(left, right, distance) {
  const m = left.length;
  const n = m + 1;
  const nNodes = 2 * n - 1;
  const root = nNodes - 1;
  const parent = new Int32Array(nNodes).fill(-1);
  const size = new Int32Array(nNodes).fill(1);
  const isRight = new Uint8Array(nNodes);
  const lambdas = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const l = left[i];
    const r = right[i];
    if (l < 0 || r < 0 || l >= n + i || r >= n + i) throw new Error(`merge ${i} joins nodes that do not exist yet`);
    parent[l] = n + i;
    parent[r] = n + i;
    isRight[r] = 1;
    size[n + i] = size[l] + size[r];
    lambdas[i] = 1.0 / distance[i]; // the kernel's 1.0 / merges[:, 2] (Infinity for distance 0)
  }
  // breadth-first from the root, left before right (= napwidget's bfs_rank: by depth, then pre-order)
  const bfsOrder = new Int32Array(nNodes);
  const bfsRank = new Int32Array(nNodes);
  bfsOrder[0] = root;
  let tail = 1;
  for (let head = 0; head < nNodes; head++) {
    const node = bfsOrder[head];
    bfsRank[node] = head;
    if (node >= n) {
      bfsOrder[tail++] = left[node - n];
      bfsOrder[tail++] = right[node - n];
    }
  }
  return { n, nNodes, root, left, right, distance, parent, size, isRight, lambdas, bfsOrder, bfsRank };
}
