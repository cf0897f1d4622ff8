"""Exact, fast HDBSCAN (euclidean) with instant re-clustering from a cached single-linkage tree.

Results equal ``hdbscan.HDBSCAN(min_cluster_size, min_samples, cluster_selection_method, metric="euclidean")``
(labels, probabilities, outlier scores, persistence, condensed tree) for data with more than 60 features,
where hdbscan uses Prim's algorithm. Two steps, so that changing ``min_cluster_size`` or the selection method
costs milliseconds instead of a refit:

>>> import numpy as np
>>> from napwidget.clustering import build_tree, select_clusters
>>> x = np.random.default_rng(0).normal(size=(300, 64))
>>> tree = build_tree(x, min_samples=5)                          # O(N^2 D): BLAS + vectorised Prim's
>>> res = select_clusters(tree, min_cluster_size=5, method="leaf")  # milliseconds
>>> res.labels.shape
(300,)

Modules: ``distances`` (float32 bound matrix, exact float64 distances, core distances), ``mst`` (Prim's,
union-find merges), ``linkage`` (:class:`SingleLinkageTree`, :func:`build_tree`), ``condense`` (vectorised
condensed tree and stability), ``select`` (:func:`select_clusters`), ``result`` (:class:`ClusterResult`).
"""

from napwidget.clustering.linkage import SingleLinkageTree, build_tree
from napwidget.clustering.result import ClusterResult
from napwidget.clustering.select import select_clusters


def hdbscan_fit(x, min_cluster_size: int = 5, min_samples: int = 5, method: str = "leaf") -> ClusterResult:
    """Build the tree and select clusters in one call (the NAP method's defaults).

    Example
    -------
    >>> import numpy as np
    >>> hdbscan_fit(np.random.default_rng(0).normal(size=(100, 4))).labels.shape
    (100,)
    """
    return select_clusters(build_tree(x, min_samples=min_samples), min_cluster_size, method)


__all__ = ["ClusterResult", "SingleLinkageTree", "build_tree", "hdbscan_fit", "select_clusters"]
