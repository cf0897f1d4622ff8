// hdbscan's condensed tree and cluster stabilities for one min_cluster_size, in the browser.
// A line-by-line mirror of napwidget/clustering/condense.py (same cluster numbering, same row order, the
// stabilities summed in the same order, so the floating-point bits agree with the kernel's).

/**
 * Condense `tree` (from ./tree.js) for `minClusterSize`.
 * Returns per-cluster arrays (cluster c is condensed id n + c; 0 is the root): clusterParent, firstChild,
 * stability; per point: pointCluster, pointLambda; per row (hdbscan's row order): rowCluster, rowLambda.
 */
export function condense(tree, minClusterSize) {
  const { n, nNodes, root, left, right, parent, size, isRight, lambdas, bfsOrder, bfsRank } = tree;
  const big = (node) => size[node] >= minClusterSize;

  // Splits (both children big), numbered in breadth-first order; their children head new clusters.
  const head = new Int32Array(nNodes).fill(-1);
  head[root] = 0;
  const splits = [];
  for (let r = 0; r < nNodes; r++) {
    const node = bfsOrder[r];
    if (node < n) continue;
    const i = node - n;
    if (big(left[i]) && big(right[i])) {
      head[left[i]] = 1 + 2 * splits.length;
      head[right[i]] = 2 + 2 * splits.length;
      splits.push(node);
    }
  }
  const nClusters = 1 + 2 * splits.length;

  // Top-down (parents come first in BFS order): the cluster of every big node, and for every small node the
  // highest small ancestor-or-self (`top`), whose parent is the lowest big ancestor the points fall out of.
  const nodeCluster = new Int32Array(nNodes).fill(-1);
  const top = new Int32Array(nNodes).fill(-1);
  for (let r = 0; r < nNodes; r++) {
    const node = bfsOrder[r];
    const p = parent[node];
    if (big(node)) nodeCluster[node] = head[node] >= 0 ? head[node] : nodeCluster[p];
    else top[node] = big(p) ? node : top[p];
  }
  const pointCluster = new Int32Array(n);
  const pointLambda = new Float64Array(n);
  const pointSide = new Uint8Array(n);
  const pointEmit = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const t = top[p];
    const emit = parent[t];
    pointEmit[p] = emit;
    pointSide[p] = isRight[t];
    pointCluster[p] = nodeCluster[emit];
    pointLambda[p] = lambdas[emit - n];
  }

  const clusterParent = new Int32Array(nClusters).fill(-1);
  const firstChild = new Int32Array(nClusters).fill(-1);
  const birth = new Float64Array(nClusters);
  splits.forEach((node, j) => {
    const pc = nodeCluster[node];
    clusterParent[1 + 2 * j] = pc;
    clusterParent[2 + 2 * j] = pc;
    firstChild[pc] = 1 + 2 * j;
    birth[1 + 2 * j] = lambdas[node - n];
    birth[2 + 2 * j] = lambdas[node - n];
  });

  // Row order = hdbscan's: (emitting node's BFS rank, left side first, the child's BFS rank). The keys are
  // unique integers < 2^53, and the child's rank is the key modulo nNodes: sorting the keys alone suffices.
  const nRows = n + 2 * splits.length;
  const keys = new Float64Array(nRows);
  for (let p = 0; p < n; p++) keys[p] = (bfsRank[pointEmit[p]] * 2 + pointSide[p]) * nNodes + bfsRank[p];
  splits.forEach((node, j) => {
    const base = bfsRank[node] * 2;
    keys[n + 2 * j] = base * nNodes + bfsRank[left[node - n]];
    keys[n + 2 * j + 1] = (base + 1) * nNodes + bfsRank[right[node - n]];
  });
  keys.sort();

  const rowCluster = new Int32Array(nRows);
  const rowLambda = new Float64Array(nRows);
  const rowChild = new Int32Array(nRows);
  const rowSize = new Int32Array(nRows);
  const stability = new Float64Array(nClusters);
  for (let r = 0; r < nRows; r++) {
    const child = bfsOrder[keys[r] % nNodes];
    let c;
    let lam;
    if (child < n) {
      c = pointCluster[child];
      lam = pointLambda[child];
      rowChild[r] = child;
    } else {
      c = clusterParent[head[child]];
      lam = birth[head[child]];
      rowChild[r] = n + head[child];
    }
    rowCluster[r] = c;
    rowLambda[r] = lam;
    rowSize[r] = size[child];
    stability[c] += (lam - birth[c]) * size[child]; // np.bincount adds sequentially in row order
  }
  return { n, nClusters, clusterParent, firstChild, stability, pointCluster, pointLambda, rowCluster, rowLambda, rowChild, rowSize };
}
