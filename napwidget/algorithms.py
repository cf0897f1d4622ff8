"""The clustering engines behind ``find_naps(..., algorithm=...)``, by name.

Every engine gets the raw (N, F) activation matrix, a cache variant for it, a function that returns its
normalised features and the per-column divisors that made them, HDBSCAN's parameters and an optional
``progress(fraction, stage)`` callback (:mod:`napwidget.progress`); it returns ``(features, single-linkage
tree, ClusterResult, name of the engine that ran, divisors)``. Add an engine by adding one entry to
:data:`ALGORITHMS`.

- ``"auto"`` (default): ``"exact"`` while its N x N float32 matrix fits comfortably in the memory available,
  else ``"approximate"``, saying so once (:mod:`napwidget.clustering.engines`).
- ``"exact"``: napwidget's exact engine (:mod:`napwidget.clustering`), equal to hdbscan wherever
  hdbscan's own MST is exact (D > 60), with a cached tree so that re-clustering costs milliseconds.
- ``"approximate"``: HDBSCAN on a k-nearest-neighbour graph, O(N * (features + k)) memory, for 100k-1M
  inputs; the tree is cached the same way.
- ``"hdbscan"``: the hdbscan library itself, with the reference implementation's arguments, so that labels and
  persistence are bit for bit the reference tool's (for D <= 60 hdbscan's default Boruvka MST is approximate
  and differs from the exact engine's). Slower, refits on every call; ``parity=True`` uses it.

Example
-------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(80, 3)).astype(np.float32)
>>> feats, tree, res, used, scale = ALGORITHMS["hdbscan"](
...     x, "none", lambda: (x, np.ones(3)), min_cluster_size=5, min_samples=5, method="leaf")
>>> res.labels.shape, tree.n_samples
((80,), 80)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

from napwidget.clustering import ClusterResult, SingleLinkageTree, select_clusters
from napwidget.errors import NapInputError
from napwidget.progress import Report

__all__ = ["ALGORITHMS", "hdbscan_library_fit", "resolve_algorithm"]

# make_features() -> (normalised features, per-column divisors that made them)
FeatureMaker = Callable[[], tuple[np.ndarray, np.ndarray]]
# (features, tree, clusters, name of the engine that ran, per-column divisors)
EngineOutput = tuple[np.ndarray, SingleLinkageTree, ClusterResult, str, np.ndarray]
Engine = Callable[..., EngineOutput]


def _tree_engine(name: str) -> Engine:
    """An engine that builds (or reuses) a cached single-linkage tree with ``name`` and selects on it."""

    def run(
        matrix: np.ndarray,
        variant: Hashable,
        make_features: FeatureMaker,
        *,
        min_cluster_size: int,
        min_samples: int,
        method: str,
        progress: Report | None = None,
    ) -> EngineOutput:
        from napwidget.tree_cache import cached_tree

        features, tree, used, scale = cached_tree(
            matrix, variant, min_samples, make_features, algorithm=name, progress=progress
        )
        result = select_clusters(tree, min_cluster_size=min_cluster_size, method=method)
        return features, tree, result, used, scale

    return run


def _hdbscan(
    matrix: np.ndarray,
    variant: Hashable,
    make_features: FeatureMaker,
    *,
    min_cluster_size: int,
    min_samples: int,
    method: str,
    progress: Report | None = None,
) -> EngineOutput:
    features, scale = make_features()
    if progress is not None:
        progress(0.0, "hdbscan fit")  # one library call: the bar shows the stage, not steps inside it
    tree, result = hdbscan_library_fit(features, min_cluster_size, min_samples, method)
    return features, tree, result, "hdbscan", scale


def hdbscan_library_fit(
    features: np.ndarray, min_cluster_size: int, min_samples: int, method: str
) -> tuple[SingleLinkageTree, ClusterResult]:
    """Cluster with ``hdbscan.HDBSCAN`` as the reference implementation calls it; keep its tree too.

    Labels, probabilities, outlier scores and persistence are hdbscan's own fitted attributes (no value is
    recomputed). The single-linkage tree and MST are hdbscan's as well (``gen_min_span_tree=True`` only keeps
    the MST it builds anyway); core distances come from the same KD-tree query hdbscan makes, so topology
    views (persistence diagram) describe the filtration hdbscan clustered. Per-cluster stability, which
    hdbscan does not expose, comes from re-selecting on hdbscan's tree.
    """
    import hdbscan
    from sklearn.neighbors import KDTree

    model = hdbscan.HDBSCAN(
        min_cluster_size=int(min_cluster_size),
        min_samples=int(min_samples),
        cluster_selection_epsilon=0.0,
        cluster_selection_method=method,
        metric="euclidean",
        gen_min_span_tree=True,
    ).fit(features)
    x64 = np.ascontiguousarray(features, dtype=np.float64)
    core = KDTree(x64).query(x64, k=int(min_samples) + 1, dualtree=True, breadth_first=True)[0][:, -1]
    mst = np.asarray(model.minimum_spanning_tree_.to_numpy(), dtype=np.float64)
    mst = mst[np.argsort(mst[:, 2], kind="stable")]
    merges = np.asarray(model.single_linkage_tree_.to_numpy(), dtype=np.float64)
    tree = SingleLinkageTree.from_merges(merges, mst, core, int(min_samples))
    ours = select_clusters(tree, min_cluster_size=int(min_cluster_size), method=method)
    labels = np.asarray(model.labels_, dtype=np.int64)
    same = np.array_equal(ours.labels, labels)
    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    result = ClusterResult(
        labels=labels,
        probabilities=np.asarray(model.probabilities_, dtype=np.float64),
        outlier_scores=np.asarray(model.outlier_scores_, dtype=np.float64),
        persistence=np.asarray(model.cluster_persistence_, dtype=np.float64),
        # the same tree selects the same clusters; should it ever not, say "unknown" rather than mislabel
        stability=ours.stability if same else np.full(k, np.nan),
        condensed_tree=model.condensed_tree_.to_numpy(),
        cluster_ids=ours.cluster_ids if same else np.zeros(0, dtype=np.int64),
        min_cluster_size=int(min_cluster_size),
        method=method,
    )
    return tree, result


# name -> engine; find_naps(..., algorithm=name) dispatches here
ALGORITHMS: dict[str, Engine] = {
    "auto": _tree_engine(
        "auto"
    ),  # exact while its N x N matrix fits, else approximate (napwidget.clustering.engines)
    "exact": _tree_engine("exact"),
    "approximate": _tree_engine("approximate"),
    "hdbscan": _hdbscan,
}


def resolve_algorithm(algorithm: str | None, parity: bool = False) -> str:
    """The engine to run: ``algorithm``, or by default ``"hdbscan"`` with ``parity=True``, else ``"auto"``.

    Example
    -------
    >>> resolve_algorithm(None), resolve_algorithm(None, parity=True), resolve_algorithm("exact", parity=True)
    ('auto', 'hdbscan', 'exact')
    """
    if algorithm is None:
        return "hdbscan" if parity else "auto"
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise NapInputError(
            f"unknown algorithm={algorithm!r}",
            f"use one of {', '.join(map(repr, ALGORITHMS))} (default: 'auto'; 'hdbscan' with parity=True)",
        )
    return algorithm
