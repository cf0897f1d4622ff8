"""The cached single-linkage tree (:class:`SingleLinkageTree`) and :func:`build_tree`, the expensive step.

Everything here depends on the data and ``min_samples`` only, so re-clustering with another
``min_cluster_size`` or selection method reuses it (see :func:`napwidget.clustering.select_clusters`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from napwidget.clustering import _validation as v
from napwidget.clustering.distances import (
    available_memory_bytes,
    check_lean_memory,
    check_memory,
    core_distances,
    lower_bound_matrix,
    required_memory_bytes,
)
from napwidget.clustering.lean import LazyKey, lean_core_distances
from napwidget.clustering.mst import prim_mst, single_linkage

# Extra nearest-neighbour candidates per row beyond min_samples + 1; rows that need more are redone exactly.
_CANDIDATE_MARGIN = 8


@dataclass(frozen=True, eq=False)
class SingleLinkageTree:
    """Single-linkage tree of the mutual-reachability graph, plus topology precomputed for fast condensing.

    Attributes
    ----------
    merges : (N-1, 4) float64 ``[left, right, distance, size]`` in scipy/hdbscan format; row i makes node N+i.
        Equal to ``hdbscan.HDBSCAN(...).single_linkage_tree_.to_numpy()`` for the same data and min_samples.
    mst : (N-1, 3) float64 ``[i, j, weight]`` minimum spanning tree edges, sorted by weight (merge order).
    core_distances : (N,) distance of each point to its ``min_samples``-th nearest other point.
    n_samples, min_samples : ints (min_samples after hdbscan's clamp to ``N - 1``).
    parent, size, depth, bfs_rank, is_right, lambdas : per-node topology (nodes ``0 .. 2N-2``), used by the
        condensing step; ``lambdas`` are ``1 / distance`` per merge (inf for distance 0).

    Example
    -------
    >>> tree = build_tree(np.random.default_rng(0).normal(size=(50, 3)), min_samples=5)
    >>> tree.merges.shape, tree.n_samples
    ((49, 4), 50)
    """

    merges: np.ndarray
    mst: np.ndarray
    core_distances: np.ndarray
    n_samples: int
    min_samples: int
    parent: np.ndarray = field(repr=False)
    size: np.ndarray = field(repr=False)
    depth: np.ndarray = field(repr=False)
    bfs_rank: np.ndarray = field(repr=False)
    is_right: np.ndarray = field(repr=False)
    lambdas: np.ndarray = field(repr=False)

    @property
    def merge_heights(self) -> np.ndarray:
        """Mutual-reachability distance of each merge (the 0-dim persistence deaths; all births are 0)."""
        return self.merges[:, 2]

    @classmethod
    def from_merges(
        cls, merges: np.ndarray, mst: np.ndarray, core: np.ndarray, min_samples: int
    ) -> SingleLinkageTree:
        """Precompute the per-node topology of a scipy-style linkage matrix.

        ``bfs_rank`` is each node's position in hdbscan's breadth-first walk from the root (left child before
        right): hdbscan numbers condensed clusters and orders condensed-tree rows by that walk. Within one
        depth,
        breadth-first order equals pre-order, so rank = sort by (depth, pre-order index); both come from
        prefix sums along root paths computed by pointer jumping (O(N log N), no Python loop over nodes).

        Example
        -------
        >>> t = SingleLinkageTree.from_merges(np.array([[0.0, 1.0, 1.0, 2.0], [3.0, 2.0, 2.0, 3.0]]),
        ...                                   np.zeros((2, 3)), np.zeros(3), 1)
        >>> t.depth.tolist(), t.bfs_rank.tolist()
        ([2, 2, 1, 1, 0], [3, 4, 2, 1, 0])
        """
        merges = np.ascontiguousarray(merges, dtype=np.float64)
        n = merges.shape[0] + 1
        n_nodes = 2 * n - 1
        root = n_nodes - 1
        left = merges[:, 0].astype(np.int64)
        right = merges[:, 1].astype(np.int64)
        internal = np.arange(n, n_nodes)
        size = np.ones(n_nodes, dtype=np.int64)
        size[n:] = merges[:, 3].astype(np.int64)
        parent = np.full(n_nodes, -1, dtype=np.int64)
        parent[left] = internal
        parent[right] = internal
        is_right = np.zeros(n_nodes, dtype=bool)
        is_right[right] = True
        # Offsets to the parent: depth +1; pre-order +1 (left) or +1 + nodes in the left sibling's subtree.
        off_depth = np.ones(n_nodes, dtype=np.int64)
        off_pre = np.ones(n_nodes, dtype=np.int64)
        off_pre[right] += 2 * size[left] - 1
        off_depth[root] = 0
        off_pre[root] = 0
        anc = parent.copy()
        anc[root] = root
        while True:
            if (anc == root).all():
                break
            off_depth = off_depth + off_depth[anc]
            off_pre = off_pre + off_pre[anc]
            anc = anc[anc]
        depth, pre = off_depth, off_pre
        order = np.argsort(depth * n_nodes + pre)
        bfs_rank = np.empty(n_nodes, dtype=np.int64)
        bfs_rank[order] = np.arange(n_nodes)
        with np.errstate(divide="ignore"):
            lambdas = 1.0 / merges[:, 2]
        for arr in (merges, mst, core, parent, size, depth, bfs_rank, is_right, lambdas):
            arr.flags.writeable = False  # shared by every re-selection: guard the cache against edits
        return cls(merges, mst, core, n, int(min_samples), parent, size, depth, bfs_rank, is_right, lambdas)


def build_tree(
    x: np.ndarray,
    min_samples: int = 5,
    progress: Callable[[float, str], None] | None = None,
    *,
    lean: bool | None = None,
) -> SingleLinkageTree:
    """Build HDBSCAN's single-linkage tree of ``x`` (euclidean), exactly as ``hdbscan`` does.

    Steps: float32 lower-bound distance matrix by blocked GEMM (torch), exact float64 core distances, Prim's
    MST on mutual reachability with exact float64 decisions, union-find merges. Time O(N^2 D) in BLAS plus
    O(N^2) vectorised; memory one N x N float32 matrix (10 GB at N = 50,000).

    Parameters
    ----------
    x : (N, D) array of finite numbers, N >= 2.
    min_samples : neighbours defining a point's core distance (hdbscan's ``min_samples``; clamped to N - 1).
    progress : called as ``progress(fraction_done, stage)`` while the tree is built (for progress bars).
    lean : compute the bound matrix one row at a time (memory O(N * D), same tree, several times slower; see
        :mod:`~napwidget.clustering.lean`). Default None: only when the N x N matrix does not fit in memory.

    Returns
    -------
    SingleLinkageTree, to pass to :func:`napwidget.clustering.select_clusters` (as often as needed).

    Raises
    ------
    ValueError for bad input, MemoryError (with the fix) when not even the lean path fits.

    Example
    -------
    >>> x = np.random.default_rng(0).normal(size=(200, 8))
    >>> tree = build_tree(x, min_samples=5)
    >>> tree.merges.shape
    (199, 4)
    """
    x64 = v.check_matrix(x)
    min_samples = v.check_int(min_samples, "min_samples", 1)
    n, d = x64.shape
    min_samples = min(n - 1, min_samples)  # hdbscan's clamp (N >= 2 so this stays >= 1)
    n_candidates = min(n, min_samples + 1 + _CANDIDATE_MARGIN)
    report = progress or (lambda fraction, stage: None)
    # share of the time in the distance GEMM vs Prim's (measured: ~45 % at D = 512, ~15 % at D = 64)
    w_dist = 0.95 * (1.5e-11 * d) / (1.5e-11 * d + 1.0e-8)
    if lean is None:
        have = available_memory_bytes()
        lean = have is not None and required_memory_bytes(n, d) > have
    report(0.0, "distances")
    if lean:
        check_lean_memory(n, d)
        key = LazyKey(x64, n_candidates)
        width = key.width
        report(w_dist, "core distances")
        core = lean_core_distances(x64, key, min_samples)
    else:
        check_memory(n, d)
        key, candidates, width = lower_bound_matrix(x64, n_candidates)
        report(w_dist, "core distances")
        core = core_distances(x64, key, candidates, width, min_samples)
        del candidates
    report(w_dist, "spanning tree")
    mst = prim_mst(key, x64, core, width, lambda f: report(w_dist + f * (0.95 - w_dist), "spanning tree"))
    del key
    report(0.95, "linkage")
    merges, sorted_mst = single_linkage(mst)
    return SingleLinkageTree.from_merges(merges, sorted_mst, core, min_samples)
