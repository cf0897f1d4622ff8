"""Prim's minimum spanning tree of the mutual-reachability graph, and its single-linkage merge list.

Both reproduce hdbscan's ``mst_linkage_core_vector`` (Prim's from point 0, strict ``<`` updates, the first
index wins ties) and ``label`` (union-find over edges sorted by ``np.argsort``) step for step, so the merge
list, including the order of tied merges, is the one hdbscan builds for the same matrix (its Prim's path,
used for more than 60 features).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from napwidget.clustering.distances import exact_distances


def _round_up_f32(values: np.ndarray) -> np.ndarray:
    """Smallest float32 values >= ``values`` (float64): a float32 threshold never undercuts the exact one."""
    out = values.astype(np.float32)
    low = out < values  # compared in float64
    if low.any():
        out[low] = np.nextafter(out[low], np.float32(np.inf))
    return out


def prim_mst(
    key: np.ndarray,
    x64: np.ndarray,
    core: np.ndarray,
    width: np.ndarray,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Minimum spanning tree of mutual reachability ``max(d_ij, core_i, core_j)``, in hdbscan's Prim order.

    Each point's current distance to the tree is kept as an interval ``[lo, hi]`` (from the float32 bounds)
    and
    made exact only when a decision needs it: when a new distance's interval overlaps the current one, or when
    the point is the next one to join. Each step scans one row of ``key`` and the ``lo`` array (O(N)
    vectorised
    work); exact float64 distances are needed for only a few points per step. Decisions and ties are
    therefore exactly hdbscan's (strict ``<`` updates, first index wins).

    Parameters
    ----------
    key : (N, N) float32 lower bounds of squared distances (see ``distances.lower_bound_matrix``).
    x64 : (N, D) float64 data, for exact distances.
    core : (N,) exact core distances.
    width : (N,) bound widths: ``key_ij <= d_ij^2 <= key_ij + width_i + width_j``.
    progress : called with the fraction of points joined, about every 1 % (for progress bars).

    Returns
    -------
    (N-1, 3) float64 array of ``[source, new_node, weight]`` rows in the order Prim's adds the nodes.

    Example
    -------
    >>> from napwidget.clustering.distances import lower_bound_matrix
    >>> x = np.array([[0.0], [1.0], [3.0]])
    >>> key, _, width = lower_bound_matrix(x, 1)
    >>> prim_mst(key, x, np.array([1.0, 1.0, 2.0]), width).tolist()
    [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
    """
    n = key.shape[0]
    lo = np.full(n, np.inf)  # bounds of each point's current distance to the tree (inf: none yet / in tree)
    hi = np.full(n, np.inf)
    exact = np.zeros(n, dtype=bool)  # lo == hi is the exact (hdbscan-bitwise) value
    # float32 upper bound of hi**2; -inf marks points in the tree, so the row filter never selects them.
    threshold = np.full(n, np.inf, dtype=np.float32)
    source = np.zeros(n, dtype=np.int64)
    result = np.empty((n - 1, 3))
    mask = np.empty(n, dtype=bool)
    joined = np.zeros(n, dtype=bool)
    if hasattr(key, "follow"):  # a lazily computed key prefetches the rows Prim's will ask for next
        key.follow(lo, joined)
    low, high = 1.0 - 1e-12, 1.0 + 1e-12  # headroom for float64 rounding of sqrt and of exact distances

    def resolve(points: np.ndarray) -> None:
        """Make the current distance of ``points`` exact: hdbscan's max(d(src, j), core_j, core_src)."""
        src = source[points]
        val = np.maximum(np.maximum(exact_distances(x64, src, points), core[points]), core[src])
        lo[points] = val
        hi[points] = val
        exact[points] = True
        threshold[points] = _round_up_f32(val * val)

    node = 0
    every = max(1, (n - 1) // 100)
    for step in range(n - 1):
        if progress is not None and step % every == 0:
            progress(step / (n - 1))
        lo[node] = hi[node] = np.inf
        threshold[node] = -np.inf
        joined[node] = True
        core_node = core[node]
        # d_ij**2 >= key_ij, and an update needs d_ij < current_j <= hi_j: the rest cannot improve.
        np.less_equal(key[node], threshold, out=mask)
        cand = mask.nonzero()[0]  # (the method: Prim's runs N steps, and np.flatnonzero's wrapper costs)
        if cand.size:
            core_max = np.maximum(core[cand], core_node)
            # else max(d, cores) >= hi >= current: no update (hdbscan's early exit)
            keep = core_max < hi[cand]
            cand, core_max = cand[keep], core_max[keep]
        if cand.size:
            bound = key[node, cand].astype(np.float64)
            d_lo = np.sqrt(np.maximum(bound, 0.0)) * low
            d_hi = np.sqrt(bound + (width[node] + width[cand])) * high
            new_exact = d_hi < core_max  # a core distance dominates: the new value is exactly core_max
            new_lo = np.maximum(d_lo, core_max)
            new_hi = np.maximum(d_hi, core_max)
            new_lo[new_exact] = core_max[new_exact]
            new_hi[new_exact] = core_max[new_exact]
            cur_lo, cur_hi = lo[cand], hi[cand]
            update = new_hi < cur_lo
            unsure = (~update & (new_lo < cur_hi)).nonzero()[0]
            if unsure.size:
                # Overlapping intervals: compare exact values (strict '<', as hdbscan).
                fresh = unsure[~new_exact[unsure]]
                if fresh.size:
                    val = np.maximum(exact_distances(x64, node, cand[fresh]), core_max[fresh])
                    new_lo[fresh] = new_hi[fresh] = val
                    new_exact[fresh] = True
                stale = cand[unsure]
                stale = stale[~exact[stale]]
                if stale.size:
                    resolve(stale)
                update[unsure] = new_lo[unsure] < lo[cand[unsure]]
            upd = cand[update]
            lo[upd] = new_lo[update]
            hi[upd] = new_hi[update]
            exact[upd] = new_exact[update]
            source[upd] = node
            threshold[upd] = _round_up_f32(new_hi[update] ** 2)
        # Next node: the exact minimum, first index on ties. argmin(lo) is it once its value is exact, since
        # every other point's exact value is >= its lo >= that minimum (and equal lo only at larger indices).
        new = int(lo.argmin())
        while not exact[new]:
            resolve(np.array([new]))
            new = int(lo.argmin())
        result[step, 0] = source[new]
        result[step, 1] = new
        result[step, 2] = lo[new]
        node = new
    return result


def single_linkage(mst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort MST edges by weight and merge them with union-find into a scipy-style linkage matrix.

    Uses ``np.argsort`` with its default kind on the weights, as hdbscan does, so tied weights end up in the
    same order as in hdbscan (the order of tied merges decides which side a boundary point falls on).

    Returns
    -------
    merges : (N-1, 4) float64 ``[left, right, distance, size]``; row i creates node ``N + i``.
    sorted_mst : the MST rows in merge order.

    Example
    -------
    >>> merges, _ = single_linkage(np.array([[0.0, 1.0, 1.0], [1.0, 2.0, 2.0]]))
    >>> merges.tolist()
    [[0.0, 1.0, 1.0, 2.0], [3.0, 2.0, 2.0, 3.0]]
    """
    sorted_mst = mst[np.argsort(mst[:, 2]), :]
    n = sorted_mst.shape[0] + 1
    parent = [-1] * (2 * n - 1)
    size = [1] * n + [0] * (n - 1)
    left = sorted_mst[:, 0].astype(np.int64).tolist()
    right = sorted_mst[:, 1].astype(np.int64).tolist()
    out_left = [0] * (n - 1)
    out_right = [0] * (n - 1)
    out_size = [0] * (n - 1)
    for index in range(n - 1):
        roots = []
        for x in (left[index], right[index]):
            root = x
            while parent[root] != -1:
                root = parent[root]
            while parent[x] != -1 and parent[x] != root:  # path compression, as hdbscan's fast_find
                parent[x], x = root, parent[x]
            roots.append(root)
        a, b = roots
        label = n + index
        out_left[index] = a
        out_right[index] = b
        out_size[index] = size[a] + size[b]
        size[label] = size[a] + size[b]
        parent[a] = label
        parent[b] = label
    merges = np.empty((n - 1, 4))
    merges[:, 0] = out_left
    merges[:, 1] = out_right
    merges[:, 2] = sorted_mst[:, 2]
    merges[:, 3] = out_size
    return merges, sorted_mst
