"""Vectorised condensing of a :class:`SingleLinkageTree` for one ``min_cluster_size``, and cluster stability.

hdbscan's ``condense_tree`` walks the merge tree breadth-first in a Python-speed loop. Here the same condensed
tree comes from array operations: a node is *big* when it holds >= min_cluster_size points; a merge whose two
children are both big is a *split*; the root and the children of splits head the condensed clusters; every
other big node continues its parent's cluster; and each point falls out of the cluster of its lowest big
ancestor, at that ancestor's lambda. Cluster ids and row order follow hdbscan's breadth-first walk
(precomputed ``bfs_rank``), so the condensed tree equals hdbscan's row for row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napwidget.clustering.linkage import SingleLinkageTree

CONDENSED_DTYPE = np.dtype(
    [("parent", np.intp), ("child", np.intp), ("lambda_val", np.float64), ("child_size", np.intp)]
)


@dataclass(frozen=True, eq=False)
class CondensedTree:
    """hdbscan's condensed tree plus per-cluster arrays; cluster index c is condensed id ``n_samples + c``.

    Attributes
    ----------
    rows : structured array (parent, child, lambda_val, child_size), hdbscan's ``condensed_tree_`` layout.
    n_samples : number of points; cluster 0 (id n_samples) is the root.
    cluster_parent : (C,) parent cluster index (-1 for the root).
    first_child : (C,) index of the first of a cluster's two child clusters (the second is +1), -1 for leaves.
    stability : (C,) hdbscan's stability: sum over rows of (lambda - birth lambda of the parent) * child_size.
    point_cluster : (N,) index of the cluster each point falls out of; point_lambda : (N,) at which lambda.
    row_cluster : (R,) parent cluster index of each row (rows.parent - n_samples).
    """

    rows: np.ndarray
    n_samples: int
    cluster_parent: np.ndarray
    first_child: np.ndarray
    stability: np.ndarray
    point_cluster: np.ndarray
    point_lambda: np.ndarray
    row_cluster: np.ndarray

    @property
    def n_clusters(self) -> int:
        """Number of condensed clusters, root included."""
        return int(self.cluster_parent.shape[0])


def _pointer_jump(ptr: np.ndarray) -> np.ndarray:
    """Follow ``ptr`` to its fixed points (``ptr[ptr[...]]``) in O(log depth) vectorised rounds."""
    while True:
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            return ptr
        ptr = nxt


def condense(tree: SingleLinkageTree, min_cluster_size: int) -> CondensedTree:
    """Condense ``tree`` for ``min_cluster_size`` (hdbscan's ``condense_tree`` + ``compute_stability``).

    Example
    -------
    >>> from napwidget.clustering import build_tree
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    >>> ct = condense(build_tree(x, 5), 10)
    >>> ct.n_clusters, int(ct.rows.shape[0])
    (3, 62)
    """
    n = tree.n_samples
    n_nodes = 2 * n - 1
    root = n_nodes - 1
    merges = tree.merges
    left = merges[:, 0].astype(np.int64)
    right = merges[:, 1].astype(np.int64)
    big = tree.size >= min_cluster_size
    # Splits, in hdbscan's breadth-first order (that order numbers the clusters).
    split_idx = np.flatnonzero(big[left] & big[right])
    split_idx = split_idx[np.argsort(tree.bfs_rank[n + split_idx])]
    n_splits = split_idx.shape[0]
    n_clusters = 1 + 2 * n_splits
    head = np.full(n_nodes, -1, dtype=np.int64)
    head[root] = 0
    head[left[split_idx]] = 1 + 2 * np.arange(n_splits)
    head[right[split_idx]] = 2 + 2 * np.arange(n_splits)

    # Cluster of every big node: jump up through non-head big nodes to the head (big nodes have big parents).
    nodes = np.arange(n_nodes)
    parent_or_self = np.where(tree.parent >= 0, tree.parent, nodes)
    ptr = np.where(big & (head < 0), parent_or_self, nodes)
    node_cluster = head[_pointer_jump(ptr)]  # valid for big nodes only

    # Each point falls out at its lowest big ancestor; the highest small ancestor tells the side (left/right).
    small_parent = ~big[parent_or_self]
    ptr = np.where(~big & small_parent, parent_or_self, nodes)
    top = _pointer_jump(ptr)[:n]
    emit = tree.parent[top]
    point_cluster = node_cluster[emit]
    point_lambda = tree.lambdas[emit - n]

    # Cluster rows: each split emits (left head, right head) at its lambda.
    split_nodes = n + split_idx
    c_parent = np.repeat(node_cluster[split_nodes], 2)
    c_child_node = np.column_stack((left[split_idx], right[split_idx])).ravel()
    c_lambda = np.repeat(tree.lambdas[split_idx], 2)
    c_side = np.tile(np.array([0, 1], dtype=np.int64), n_splits)
    c_emit = np.repeat(split_nodes, 2)

    # Row order = hdbscan's: by the emitting node's BFS rank, left side first, then the child's BFS rank.
    rank = tree.bfs_rank
    p_key = (rank[emit] * 2 + tree.is_right[top]) * n_nodes + rank[:n]
    c_key = (rank[c_emit] * 2 + c_side) * n_nodes + rank[c_child_node]
    order = np.argsort(np.concatenate((p_key, c_key)))
    row_cluster = np.concatenate((point_cluster, c_parent))[order]
    rows = np.empty(order.shape[0], dtype=CONDENSED_DTYPE)
    rows["parent"] = n + row_cluster
    rows["child"] = np.concatenate((np.arange(n), n + np.arange(1, n_clusters)))[order]
    rows["lambda_val"] = np.concatenate((point_lambda, c_lambda))[order]
    rows["child_size"] = np.concatenate((np.ones(n, dtype=np.int64), tree.size[c_child_node]))[order]

    cluster_parent = np.full(n_clusters, -1, dtype=np.int64)
    cluster_parent[1:] = c_parent
    first_child = np.full(n_clusters, -1, dtype=np.int64)
    first_child[node_cluster[split_nodes]] = 1 + 2 * np.arange(n_splits)
    # Stability, summed in row order like hdbscan (np.bincount adds sequentially), so the bits agree.
    birth = np.zeros(n_clusters)
    birth[1:] = c_lambda
    weights = (rows["lambda_val"] - birth[row_cluster]) * rows["child_size"]
    stability = np.bincount(row_cluster, weights=weights, minlength=n_clusters)
    return CondensedTree(
        rows, n, cluster_parent, first_child, stability, point_cluster, point_lambda, row_cluster
    )
