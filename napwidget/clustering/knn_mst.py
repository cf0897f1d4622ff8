"""Minimum spanning tree of the mutual-reachability graph restricted to k-NN edges, components joined.

The k-NN edges (weight ``max(d_ij, core_i, core_j)``) give a minimum spanning *forest* (Kruskal, scipy). Well
separated groups of points have no k-NN edge between them, so the forest has several components; joining them
arbitrarily (or at an infinite distance) would invent the top of the cluster hierarchy. Instead the components
are joined by Boruvka rounds over the full mutual-reachability graph: each round finds, for every component,
its cheapest edge to any other component, and adds those edges (Kruskal order, so no cycles).

Finding a component's cheapest outgoing edge without an N x N search: a point whose neighbour list holds a
point of another component gives a candidate edge; a point ``i`` whose list does not reaches any other
component at a mutual reachability of at least ``max(d_k(i), core_i)`` (its k-th neighbour distance), so
only the points whose bound is below their component's best candidate are searched further, with growing
``k`` on the same index and the other component's points only. With the brute-force index the result is the
exact cheapest edge; with an approximate index (IVF, HNSW) it is as exact as the index's recall.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from napwidget.clustering.knn import BruteForceIndex, pair_distances

# Most points searched further per component and round (the ones with the lowest bounds): bounds the work of
# a round when whole components have no candidate edge.
_MAX_SEARCH_PER_COMPONENT = 16
# With an approximate index, exact (brute-force) searches are kept for components that found no edge at all,
# a few points each.
_MAX_EXACT_PER_COMPONENT = 4
_MAX_REFINE_PASSES = 6
_TINY = np.nextafter(0.0, 1.0)  # scipy drops explicit zeros: weight-0 edges travel as the smallest double


def mutual_reachability(dist: np.ndarray, core: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``max(d, core_row, core_col)`` elementwise (hdbscan's mutual-reachability distance).

    Example
    -------
    >>> mutual_reachability(np.array([1.0]), np.array([2.0, 0.5]), np.array([0]), np.array([1])).tolist()
    [2.0]
    """
    return np.maximum(dist, np.maximum(core[rows], core[cols]))


def knn_forest(idx: np.ndarray, dist: np.ndarray, core: np.ndarray) -> np.ndarray:
    """Minimum spanning forest of the k-NN mutual-reachability graph: (E, 3) ``[i, j, weight]`` rows.

    Example
    -------
    >>> idx = np.array([[0, 1], [1, 0], [2, 1]]); dist = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
    >>> knn_forest(idx, dist, np.array([1.0, 1.0, 2.0])).tolist()
    [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
    """
    n = idx.shape[0]
    rows = np.repeat(np.arange(n), idx.shape[1])
    cols = idx.ravel()
    w = mutual_reachability(dist.ravel(), core, rows, cols)
    keep = (rows != cols) & np.isfinite(w)
    lo, hi = np.minimum(rows, cols)[keep], np.maximum(rows, cols)[keep]
    w = w[keep]
    # Each undirected edge once (a sparse matrix would add up duplicates).
    _, first = np.unique(lo * n + hi, return_index=True)
    lo, hi, w = lo[first], hi[first], w[first]
    graph = coo_matrix((np.maximum(w, _TINY), (lo, hi)), shape=(n, n)).tocsr()
    mst = minimum_spanning_tree(graph).tocoo()
    a, b = mst.row.astype(np.int64), mst.col.astype(np.int64)
    weight = mutual_reachability(pair_distances_from(idx, dist, a, b), core, a, b)
    return np.column_stack([a, b, weight]).astype(np.float64)


def pair_distances_from(idx: np.ndarray, dist: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances of k-NN pairs (a, b) looked up in the neighbour lists (either direction)."""
    out = np.full(a.shape[0], np.inf)
    for src, dst in ((a, b), (b, a)):
        hit = idx[src] == dst[:, None]
        found = hit.any(axis=1)
        col = hit.argmax(axis=1)
        vals = dist[src, col]
        out = np.where(found, np.minimum(out, vals), out)
    return out


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


def join_components(x, index, idx, dist, core, forest: np.ndarray) -> np.ndarray:
    """Add the cheapest edges between the forest's components until it is one tree (Boruvka rounds).

    Returns the (N-1, 3) ``[i, j, weight]`` edges of the spanning tree.
    """
    n = x.shape[0]
    edges = [forest]
    n_comp, comp = _components(forest, n)
    while n_comp > 1:
        best = _best_listed(idx, dist, core, comp)
        _refine(x, index, core, comp, n_comp, best, idx.shape[1])
        new = _cheapest_edges(comp, best[0], best[1], n_comp)
        if new.shape[0] == 0:  # pragma: no cover - an exact search always reaches another component
            raise RuntimeError("could not join the k-NN components")
        edges.append(new)
        n_comp, comp = _components(np.concatenate(edges), n)
    return np.concatenate(edges)


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


def _components(edges: np.ndarray, n: int) -> tuple[int, np.ndarray]:
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    graph = coo_matrix((np.ones(a.shape[0]), (a, b)), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    return int(n_comp), comp.astype(np.int64)


def knn_mst(x, index, idx, dist, core) -> np.ndarray:
    """Spanning tree of the mutual-reachability graph over k-NN edges, components joined by cheapest edges.

    Example
    -------
    >>> from napwidget.clustering.knn import BruteForceIndex, knn_graph
    >>> x = np.array([[0.0], [0.1], [5.0], [5.1]], np.float32)
    >>> idx, dist = knn_graph(x, 2, BruteForceIndex(x))
    >>> mst = knn_mst(x, BruteForceIndex(x), idx, dist, dist[:, 1])
    >>> mst.shape, round(float(mst[:, 2].max()), 3)
    ((3, 3), 4.9)
    """
    forest = knn_forest(idx, dist, core)
    return join_components(x, index, idx, dist, core, forest)
