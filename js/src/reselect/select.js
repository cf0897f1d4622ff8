// Flat clusters from a condensed tree, in the browser: a mirror of napwidget/clustering/select.py
// (hdbscan 0.8's get_clusters with allow_single_cluster=False, cluster_selection_epsilon=0.0) followed by the
// NAP numbering of napwidget/naps.py (NAPs by persistence descending, ties by size descending, then by id).
import { condense } from "./condense.js";

export const METHODS = ["leaf", "eom"];

/** Excess of mass, with hdbscan's float32 rounding of the children's summed stability. */
function selectEom(ct) {
  const stab = Float64Array.from(ct.stability);
  const { nClusters, firstChild, clusterParent } = ct;
  const keep = new Uint8Array(nClusters);
  for (let c = nClusters - 1; c > 0; c--) {
    const f = firstChild[c];
    const subtree = f >= 0 ? Math.fround(Math.fround(stab[f]) + stab[f + 1]) : 0.0;
    if (subtree > stab[c]) stab[c] = subtree;
    else keep[c] = 1;
  }
  const blocked = new Uint8Array(nClusters);
  const selected = new Uint8Array(nClusters);
  for (let c = 1; c < nClusters; c++) {
    const p = clusterParent[c];
    blocked[c] = p > 0 && (blocked[p] || keep[p]) ? 1 : 0;
    selected[c] = keep[c] && !blocked[c] ? 1 : 0;
  }
  return selected;
}

/** Leaf selection: every condensed cluster without child clusters (none when the root never splits). */
function selectLeaf(ct) {
  const selected = new Uint8Array(ct.nClusters);
  for (let c = 1; c < ct.nClusters; c++) selected[c] = ct.firstChild[c] < 0 ? 1 : 0;
  return selected;
}

/**
 * hdbscan's labels, probabilities, GLOSH outlier scores and cluster persistence for one tree and parameters
 * (cluster numbering as hdbscan: ascending condensed id). Equal to napwidget.clustering.select_clusters.
 */
export function selectClusters(tree, minClusterSize, method = "leaf") {
  if (!Number.isInteger(minClusterSize) || minClusterSize < 2 || minClusterSize > tree.n) {
    throw new Error(`min_cluster_size=${minClusterSize} is out of range. Fix: use a whole number between 2 and ${tree.n}.`);
  }
  if (!METHODS.includes(method)) throw new Error(`unknown selection method ${JSON.stringify(method)}. Fix: use "leaf" or "eom".`);
  const ct = condense(tree, minClusterSize);
  const { n, nClusters, clusterParent, pointCluster, pointLambda } = ct;
  const selected = method === "eom" ? selectEom(ct) : selectLeaf(ct);

  const labelOf = new Int32Array(nClusters).fill(-1);
  const clusterIds = [];
  for (let c = 0; c < nClusters; c++) if (selected[c]) labelOf[c] = clusterIds.push(c) - 1;
  const k = clusterIds.length;
  const owner = new Int32Array(nClusters).fill(-1); // nearest selected ancestor-or-self (parents first)
  for (let c = 1; c < nClusters; c++) owner[c] = selected[c] ? c : owner[clusterParent[c]];

  const deaths = new Float64Array(nClusters); // hdbscan's max_lambdas: largest lambda among direct rows
  let maxLambda = 0.0;
  for (let r = 0; r < ct.rowCluster.length; r++) {
    const lam = ct.rowLambda[r];
    if (lam > deaths[ct.rowCluster[r]]) deaths[ct.rowCluster[r]] = lam;
    if (r === 0 || lam > maxLambda) maxLambda = lam;
  }
  const labels = new Int32Array(n);
  const probabilities = new Float64Array(n);
  const sizes = new Int32Array(k);
  for (let p = 0; p < n; p++) {
    const o = owner[pointCluster[p]];
    const label = o >= 0 ? labelOf[o] : -1;
    labels[p] = label;
    if (label < 0) continue;
    sizes[label] += 1;
    const death = deaths[o];
    const lam = pointLambda[p];
    probabilities[p] = death === 0.0 || !Number.isFinite(lam) ? 1.0 : Math.min(lam, death) / death;
  }

  // GLOSH: the max lambda over the subtree of the cluster a point leaves
  const sub = Float64Array.from(deaths);
  for (let c = nClusters - 1; c > 0; c--) if (sub[c] > sub[clusterParent[c]]) sub[clusterParent[c]] = sub[c];
  const outlierScores = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const s = sub[pointCluster[p]];
    const lam = pointLambda[p];
    outlierScores[p] = s === 0.0 || !Number.isFinite(lam) ? 0.0 : (s - lam) / s;
  }

  const stability = Float64Array.from(clusterIds, (c) => ct.stability[c]);
  const persistence = new Float64Array(k).fill(1.0);
  if (Number.isFinite(maxLambda) && maxLambda !== 0.0) {
    for (let j = 0; j < k; j++) if (sizes[j] > 0) persistence[j] = stability[j] / (sizes[j] * maxLambda);
  }
  return { labels, probabilities, outlierScores, persistence, stability, sizes, clusterIds: Int32Array.from(clusterIds, (c) => n + c), minClusterSize, method };
}

/** numpy's ascending order puts NaN last; for "descending by -x" the same holds. */
function descending(a, b) {
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  return b - a;
}

/**
 * NAPs from a clustering: renumbered by persistence descending (ties: size descending, then hdbscan's order),
 * as napwidget.naps.NAPs does. Returns labels (NAP ids), probabilities, outlierScores, persistence, sizes,
 * stability, and `order` (NAP id -> hdbscan cluster label).
 */
export function toNaps(result) {
  const k = result.sizes.length;
  const order = Array.from({ length: k }, (_, j) => j);
  order.sort((a, b) => descending(result.persistence[a], result.persistence[b]) || (result.sizes[b] - result.sizes[a]) || (a - b));
  const remap = new Int32Array(k);
  order.forEach((raw, id) => { remap[raw] = id; });
  const labels = result.labels.map((l) => (l >= 0 ? remap[l] : -1));
  return {
    labels,
    probabilities: result.probabilities,
    outlierScores: result.outlierScores,
    persistence: Float64Array.from(order, (j) => result.persistence[j]),
    sizes: Int32Array.from(order, (j) => result.sizes[j]),
    stability: Float64Array.from(order, (j) => result.stability[j]),
    order: Int32Array.from(order),
    nNaps: k,
  };
}

/** Re-select in the browser: tree + parameters -> NAPs equal to the kernel's find_naps for that layer. */
export function reselect(tree, minClusterSize, method) {
  return toNaps(selectClusters(tree, minClusterSize, method));
}
