"""Minimum spanning tree of the mutual-reachability graph restricted to k-NN edges, components joined, in
hdbscan's Prim order.

The k-NN edges (weight ``max(d_ij, core_i, core_j)``) connect most points, but well separated groups of points
have no k-NN edge between them, so the k-NN graph has several components; joining them arbitrarily (or at an
infinite distance) would invent the top of the cluster hierarchy. Instead the components are joined by
Boruvka rounds over the full mutual-reachability graph: each round finds, for every component, its cheapest
edge to any other component, and adds those edges (Kruskal order, so no cycles).

Finding a component's cheapest outgoing edge without an N x N search: a point whose neighbour list holds a
point of another component gives a candidate edge; a point ``i`` whose list does not reaches any other
component at a mutual reachability of at least ``max(d_k(i), core_i)`` (its k-th neighbour distance), so
only the points whose bound is below their component's best candidate are searched further, with growing
``k`` on the same index and the other component's points only. With the brute-force index the result is the
exact cheapest edge; with an approximate index (IVF, HNSW) it is as exact as the index's recall.

The tree itself is then grown by Prim's algorithm over the k-NN edges (both directions) and the joining
edges, with hdbscan's rules (:func:`prim_order`). Why: mutual-reachability weights tie often (an edge's weight
is often a core distance), and which of several tied merges single linkage performs first depends on the
order of the MST rows (``np.argsort`` is not stable), so rows in any other order give another tree and other
NAPs. The cheapest edge from the tree to a point is always a k-NN edge unless it is longer than both points'
k-th neighbour distances (then it is not a k-NN edge of either point), so where the exact MST uses only
k-NN and joining edges the rows are the exact engine's, in the same order, bit for bit (distances are summed
as the exact engine sums them, :func:`~napwidget.clustering.knn.pair_distances`).
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from napwidget.clustering.knn import BruteForceIndex, pair_distances

# Most points searched further per component and round (the ones with the lowest bounds): bounds the work of
# a round when whole components have no candidate edge.
_MAX_SEARCH_PER_COMPONENT = 16
# With an approximate index, exact (brute-force) searches are kept for components that found no edge at all,
# a few points each.
_MAX_EXACT_PER_COMPONENT = 4
_MAX_REFINE_PASSES = 6


def mutual_reachability(dist: np.ndarray, core: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``max(d, core_row, core_col)`` elementwise (hdbscan's mutual-reachability distance).

    Example
    -------
    >>> mutual_reachability(np.array([1.0]), np.array([2.0, 0.5]), np.array([0]), np.array([1])).tolist()
    [2.0]
    """
    return np.maximum(dist, np.maximum(core[rows], core[cols]))


class _Union:
    """Union-find over component ids (path halving), for Kruskal's filter in the joining rounds."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def _best_listed(idx, dist, core, comp):
    """Per point: cheapest listed edge to another component (weight, target), bound for unlisted ones."""
    n = idx.shape[0]
    rows = np.arange(n)
    w = mutual_reachability(dist, core, rows[:, None], idx)
    w[comp[idx] == comp[:, None]] = np.inf
    col = np.argmin(w, axis=1)
    best_w = w[rows, col]
    best_j = idx[rows, col]
    bound = np.maximum(dist[:, -1], core)
    return best_w, best_j, bound


def _component_min(comp: np.ndarray, values: np.ndarray, n_comp: int) -> np.ndarray:
    out = np.full(n_comp, np.inf)
    np.minimum.at(out, comp, values)
    return out


def _search(x, index, core, comp, points, k, exhaustive):
    """Cheapest edge from each of ``points`` to another component among its ``k`` nearest candidates, and the
    bound below which an unseen point of another component could still lie (inf when the search was exact).

    ``exhaustive``: search the other components' points by brute force (exact, O(len(points) * N * D));
    otherwise ask ``index`` for the ``k`` nearest points of any component (cheap with an approximate index).
    """
    if exhaustive:
        brute = index if isinstance(index, BruteForceIndex) else BruteForceIndex(x)
        cand, _ = brute.search(points, k, exclude=comp, floor=core)
    else:
        cand, _ = index.search(points, k)
    cand = np.where(cand < 0, points[:, None], cand)
    d = pair_distances(x, np.repeat(points, cand.shape[1]), cand.ravel()).reshape(cand.shape)
    w = mutual_reachability(d, core, points[:, None], cand)
    w[comp[cand] == comp[points][:, None]] = np.inf
    col = np.argmin(w, axis=1)
    r = np.arange(points.shape[0])
    bound = np.full(points.shape[0], np.inf) if exhaustive else np.maximum(d.max(axis=1), core[points])
    return w[r, col], cand[r, col], bound


def _refine(x, index, core, comp, n_comp, best, k0) -> None:
    """Search further for the points that may hold their component's cheapest outgoing edge (in place)."""
    best_w, best_j, bound = best
    hnsw = not isinstance(index, BruteForceIndex)  # any approximate index (IVF or HNSW)
    for attempt in range(_MAX_REFINE_PASSES):
        comp_best = _component_min(comp, best_w, n_comp)
        need = np.flatnonzero(bound < comp_best[comp])
        if need.size == 0:
            return
        if hnsw and attempt == 0:
            # Cheap first pass: a wider approximate query around every point that may matter.
            points = _lowest_per_component(need, comp, bound, _MAX_SEARCH_PER_COMPONENT)
            w, j, b = _search(x, index, core, comp, points, min(x.shape[0], 8 * k0), exhaustive=False)
        else:
            # Exact pass. With an approximate index only for components that still have no edge at all (few
            # points each).
            if hnsw:
                need = need[~np.isfinite(comp_best[comp[need]])]
                if need.size == 0:
                    return
            cap = _MAX_EXACT_PER_COMPONENT if hnsw else _MAX_SEARCH_PER_COMPONENT
            points = _lowest_per_component(need, comp, bound, cap)
            w, j, b = _search(x, index, core, comp, points, 1, exhaustive=True)
        better = w < best_w[points]
        best_w[points[better]] = w[better]
        best_j[points[better]] = j[better]
        bound[points] = np.maximum(bound[points], b)


def join_components(x, index, idx, dist, core) -> np.ndarray:
    """The cheapest edges between the k-NN graph's components, added until it is connected (Boruvka rounds).

    Returns the (C-1, 3) ``[i, j, weight]`` joining edges (none when the k-NN graph is connected).
    """
    n = x.shape[0]
    n_comp, comp = _components(np.repeat(np.arange(n), idx.shape[1]), idx.ravel(), n)
    joins = []
    while n_comp > 1:
        best = _best_listed(idx, dist, core, comp)
        _refine(x, index, core, comp, n_comp, best, idx.shape[1])
        new = _cheapest_edges(comp, best[0], best[1], n_comp)
        if new.shape[0] == 0:  # pragma: no cover - an exact search always reaches another component
            raise RuntimeError("could not join the k-NN components")
        joins.append(new)
        ends = comp[new[:, :2].astype(np.int64)]
        n_comp, merged = _components(ends[:, 0], ends[:, 1], n_comp)  # components of the joined components
        comp = merged[comp]
    return np.concatenate(joins) if joins else np.zeros((0, 3))


def prim_order(idx: np.ndarray, dist: np.ndarray, core: np.ndarray, joins: np.ndarray) -> np.ndarray:
    """Prim's minimum spanning tree over the k-NN edges (both directions) and ``joins``, as hdbscan grows it.

    hdbscan's rules (:func:`napwidget.clustering.mst.prim_mst`): start at point 0; the next point is the one
    with the smallest (current weight, index) outside the tree; a point's weight and source change only on a
    strictly smaller weight. A heap of (weight, index) entries, stale ones skipped, gives that order.

    Returns
    -------
    (N-1, 3) float64 ``[source, new_node, weight]`` rows in the order the points join.

    Example
    -------
    >>> idx = np.array([[0, 1], [1, 0], [2, 1]]); dist = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
    >>> prim_order(idx, dist, np.array([1.0, 1.0, 2.0]), np.zeros((0, 3))).tolist()
    [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
    """
    n, k = idx.shape
    rows = np.repeat(np.arange(n), k)
    cols = idx.ravel()
    w = mutual_reachability(dist.ravel(), core, rows, cols)
    keep = (rows != cols) & np.isfinite(w)
    rows, cols, w = rows[keep], cols[keep], w[keep]
    a, b = joins[:, 0].astype(np.int64), joins[:, 1].astype(np.int64)
    src = np.concatenate([rows, cols, a, b])
    dst = np.concatenate([cols, rows, b, a])
    weight = np.concatenate([w, w, joins[:, 2], joins[:, 2]])
    del rows, cols, w
    by_src = np.argsort(src)  # the order of one point's edges does not matter (all from the same point)
    ptr = np.searchsorted(src[by_src], np.arange(n + 1)).tolist()
    del src
    # per-point slices turned into lists as needed: faster than whole-array lists (3.6 s vs 5.0 s for 200k
    # points, k = 16) and without their ~70 bytes per edge
    nbr = dst[by_src].astype(np.int32 if n < 2**31 else np.int64)
    wts = weight[by_src]
    del dst, weight, by_src
    key = [math.inf] * n  # current weight to the tree; -inf once in the tree (no update is smaller)
    source = [0] * n
    heap: list[tuple[float, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    order = [0] * (n - 1)
    joined = [0.0] * (n - 1)
    node = 0
    key[0] = -math.inf
    for step in range(n - 1):
        lo, hi = ptr[node], ptr[node + 1]
        for j, wj in zip(nbr[lo:hi].tolist(), wts[lo:hi].tolist()):
            if wj < key[j]:
                key[j] = wj
                source[j] = node
                push(heap, (wj, j))
        while True:  # a connected graph: the heap holds a current entry
            wj, j = pop(heap)
            if wj == key[j]:
                break
        key[j] = -math.inf
        order[step] = j
        joined[step] = wj
        node = j
    new = np.array(order, dtype=np.int64)
    return np.column_stack([np.array(source, dtype=np.float64)[new], new, joined])


def _lowest_per_component(points: np.ndarray, comp: np.ndarray, bound: np.ndarray, cap: int) -> np.ndarray:
    order = np.lexsort((bound[points], comp[points]))
    points = points[order]
    c = comp[points]
    start = np.searchsorted(c, c, side="left")
    return points[np.arange(points.shape[0]) - start < cap]


def _cheapest_edges(comp, best_w, best_j, n_comp) -> np.ndarray:
    """Each component's cheapest known outgoing edge, filtered by Kruskal (ties cannot close a cycle)."""
    finite = np.flatnonzero(np.isfinite(best_w))
    order = finite[np.lexsort((finite, best_w[finite], comp[finite]))]
    c = comp[order]
    first = order[np.r_[True, c[1:] != c[:-1]]] if order.size else order
    first = first[np.lexsort((first, best_w[first]))]
    uf = _Union(n_comp)
    rows = []
    for i in first.tolist():
        j = int(best_j[i])
        if uf.union(int(comp[i]), int(comp[j])):
            rows.append((i, j, best_w[i]))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def _components(a: np.ndarray, b: np.ndarray, n: int) -> tuple[int, np.ndarray]:
    """Connected components of the graph on ``n`` nodes with edges ``(a[e], b[e])``."""
    graph = coo_matrix((np.ones(a.shape[0], dtype=np.int32), (a, b)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    return int(n_comp), comp.astype(np.int64)


def knn_mst(x, index, idx, dist, core) -> np.ndarray:
    """Spanning tree of the mutual-reachability graph over k-NN edges, components joined by cheapest edges.

    Returns (N-1, 3) ``[source, new_node, weight]`` rows in hdbscan's Prim order (:func:`prim_order`).

    Example
    -------
    >>> from napwidget.clustering.knn import BruteForceIndex, knn_graph
    >>> x = np.array([[0.0], [0.1], [5.0], [5.1]], np.float32)
    >>> idx, dist = knn_graph(x, 2, BruteForceIndex(x))
    >>> mst = knn_mst(x, BruteForceIndex(x), idx, dist, dist[:, 1])
    >>> mst.shape, round(float(mst[:, 2].max()), 3)
    ((3, 3), 4.9)
    """
    joins = join_components(x, index, idx, dist, core)
    return prim_order(idx, dist, core, joins)
