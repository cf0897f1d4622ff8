"""Approximate HDBSCAN for large N: the single-linkage tree of a k-NN mutual-reachability graph.

Memory is O(N * D + N * k) instead of the exact engine's N x N matrix, so a million inputs fit on a
laptop-class machine. Stages (one module each): k nearest neighbours (:mod:`~napwidget.clustering.knn`:
blocked brute force, exact, or an IVF index beyond :data:`~napwidget.clustering.knn.BRUTE_FORCE_MAX` points),
core distances (the ``min_samples``-th neighbour, as hdbscan), the minimum spanning tree of mutual
reachability over the k-NN edges with its components joined by their cheapest edges, grown in hdbscan's Prim
order so that tied weights merge in the exact engine's order (:mod:`~napwidget.clustering.knn_mst`), then the
exact engine's union-find merges. The result is a
:class:`SingleLinkageTree`, so condensing, selection (milliseconds per ``min_cluster_size``), persistence
diagrams and everything downstream are shared with the exact engine.

Where it differs from exact HDBSCAN: core distances are exact with the brute-force index (up to the IVF
index's recall otherwise), and the tree uses only k-NN edges plus the joining edges; an MST edge of the
complete graph that is not among them is replaced by the cheapest path through them. Where the exact tree
uses only those edges (with exact neighbours: all of it on 30k ResNet activations), the tree and the labels
are the exact engine's, bit for bit (benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from napwidget.clustering import _validation as v
from napwidget.clustering.knn import KNN_METHODS, knn_graph, make_index
from napwidget.clustering.knn_mst import knn_mst
from napwidget.clustering.linkage import SingleLinkageTree
from napwidget.clustering.mst import single_linkage

# Neighbours per point when not given: enough edges that the k-NN MST follows the exact one closely.
DEFAULT_NEIGHBORS = 16


def check_matrix32(x: object) -> np.ndarray:
    """(N, D) finite float32 C-contiguous array (no float64 copy: at 1M x 512 that would be 4 GiB).

    Example
    -------
    >>> check_matrix32([[0.0, 1.0], [1.0, 0.0]]).dtype
    dtype('float32')
    """
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        return v.check_matrix(arr)  # raises the shared, explanatory error
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        return v.check_matrix(arr)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        return v.check_matrix(arr)
    return arr


def build_approximate_tree(
    x: np.ndarray, min_samples: int = 5, *, n_neighbors: int | None = None, knn: str = "auto"
) -> SingleLinkageTree:
    """HDBSCAN's single-linkage tree from a k-NN graph (memory O(N * (D + k))).

    Parameters
    ----------
    x : (N, D) finite array (float32 is used).
    min_samples : neighbours defining a point's core distance (clamped to N - 1, as hdbscan).
    n_neighbors : k-NN edges per point (self included); default ``max(min_samples + 1, 16)``.
    knn : ``"auto"`` (brute force up to 60,000 points, IVF beyond), ``"brute"`` (exact neighbours),
        ``"ivf"`` (sqrt(N) k-means cells, 8 probed, torch GEMMs) or ``"hnsw"`` (faiss).

    Returns
    -------
    SingleLinkageTree, for :func:`napwidget.clustering.select_clusters`.

    Example
    -------
    >>> x = np.random.default_rng(0).normal(size=(300, 16))
    >>> tree = build_approximate_tree(x, min_samples=5)
    >>> tree.merges.shape
    (299, 4)
    """
    x32 = check_matrix32(x)
    min_samples = v.check_int(min_samples, "min_samples", 1)
    if knn not in KNN_METHODS:
        raise ValueError(f"unknown knn={knn!r}. Fix: use one of {KNN_METHODS}.")
    n = x32.shape[0]
    min_samples = min(n - 1, min_samples)
    k = max(
        min_samples + 1,
        DEFAULT_NEIGHBORS if n_neighbors is None else v.check_int(n_neighbors, "n_neighbors", 2),
    )
    k = min(k, n)
    index = make_index(x32, knn)
    idx, dist = knn_graph(x32, k, index)
    core = dist[:, min_samples].copy()
    mst = knn_mst(x32, index, idx, dist, core)
    del index, idx, dist
    merges, sorted_mst = single_linkage(mst)
    return SingleLinkageTree.from_merges(merges, sorted_mst, core, min_samples)
