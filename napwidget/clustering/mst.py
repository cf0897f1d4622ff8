"""Prim's minimum spanning tree of the mutual-reachability graph, and its single-linkage merge list.

Both reproduce hdbscan's ``mst_linkage_core_vector`` (Prim's from point 0, strict ``<`` updates, the first
index wins ties) and ``label`` (union-find over edges sorted by ``np.argsort``) step for step, so the merge
list, including the order of tied merges, is the one hdbscan builds for the same matrix (its Prim's path,
used for more than 60 features).
"""
from __future__ import annotations

import numpy as np

from napwidget.clustering.distances import exact_row_distances


def _round_up_f32(values: np.ndarray) -> np.ndarray:
    """Smallest float32 values >= ``values`` (float64), so a float32 threshold never undercuts the exact one."""
    out = values.astype(np.float32)
    low = out.astype(np.float64) < values
    out[low] = np.nextafter(out[low], np.float32(np.inf))
    return out


def prim_mst(key: np.ndarray, xt64: np.ndarray, core: np.ndarray) -> np.ndarray:
    """Minimum spanning tree of mutual reachability ``max(d_ij, core_i, core_j)``, in hdbscan's Prim order.

    Each step scans one row of the float32 lower-bound matrix ``key`` (O(N) vectorised work) and computes exact
    distances only for the points the bound cannot rule out: O(N^2) in total with a small constant.

    Parameters
    ----------
    key : (N, N) float32 lower bounds of squared distances (see ``distances.lower_bound_matrix``).
    xt64 : (D, N) float64 transposed data, for exact distances.
    core : (N,) exact core distances.

    Returns
    -------
    (N-1, 3) float64 array of ``[source, new_node, weight]`` rows in the order Prim's adds the nodes.

    Example
    -------
    >>> from napwidget.clustering.distances import lower_bound_matrix
    >>> x = np.array([[0.0], [1.0], [3.0]])
    >>> key, _ = lower_bound_matrix(x, 1)
    >>> prim_mst(key, np.ascontiguousarray(x.T), np.array([1.0, 1.0, 2.0])).tolist()
    [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
    """
    n = key.shape[0]
    current = np.full(n, np.inf)  # exact current distance of each point to the tree (inf once in the tree)
    # float32 upper bound of current**2; -inf marks points in the tree, so the filter never selects them.
    threshold = np.full(n, np.inf, dtype=np.float32)
    source = np.zeros(n, dtype=np.int64)
    result = np.empty((n - 1, 3))
    mask = np.empty(n, dtype=bool)
    node = 0
    for step in range(n - 1):
        current[node] = np.inf
        threshold[node] = -np.inf
        core_node = core[node]
        # d_ij**2 >= key_ij, and an update needs d_ij < current_j: points failing the bound cannot improve.
        np.less_equal(key[node], threshold, out=mask)
        cand = np.flatnonzero(mask)
        if cand.size:
            core_cand = core[cand]
            # An update also needs both core distances below the current distance (hdbscan's early exit).
            keep = np.maximum(core_cand, core_node) < current[cand]
            cand = cand[keep]
            if cand.size:
                core_cand = core_cand[keep]
                # Same operations as hdbscan: left = dist; left = max(left, core_j, core_node).
                mreach = np.maximum(np.maximum(exact_row_distances(xt64, node, cand), core_cand), core_node)
                better = mreach < current[cand]
                upd = cand[better]
                val = mreach[better]
                current[upd] = val
                source[upd] = node
                threshold[upd] = _round_up_f32(val * val)
        new = int(np.argmin(current))  # first minimum = hdbscan's strict '<' scan in index order
        result[step, 0] = source[new]
        result[step, 1] = new
        result[step, 2] = current[new]
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
