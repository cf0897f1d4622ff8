"""Cluster and membership probability for points that were not clustered (hdbscan's approximate_predict).

A new point is not re-clustered: it is attached to the existing condensed tree. Its core distance is the
distance to its ``min_samples``-th nearest clustered point; among its ``2 * min_samples`` nearest clustered
points it joins the one at the smallest mutual-reachability distance, at lambda = 1 / that distance. It
belongs to the cluster that neighbour falls out of, or, when the new point joins at a lower lambda (farther
out), to the first ancestor cluster still alive at that lambda; it gets the label of the selected cluster
above that (or noise) and probability ``min(lambda, max lambda) / max lambda`` of that selected cluster,
exactly as hdbscan 0.8's ``approximate_predict``. One difference: the clustered points' core distances
are the ones the tree was built with (hdbscan recomputes them one neighbour shorter for prediction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napwidget.clustering.knn import BRUTE_FORCE_MAX, BruteForceIndex, IVFIndex, pair_distances_to
from napwidget.clustering.linkage import SingleLinkageTree
from napwidget.clustering.result import ClusterResult


@dataclass(eq=False)
class Predictor:
    """What prediction needs from one clustering: per clustered point, the cluster it falls out of and at
    which lambda; per condensed cluster, its parent, birth lambda, selected-cluster label and max lambda.

    Example
    -------
    >>> from napwidget.clustering import build_tree, select_clusters
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    >>> tree = build_tree(x, 5)
    >>> p = Predictor.build(x, tree, select_clusters(tree, 10, "eom"))
    >>> labels, prob = p.predict(np.array([[0.0, 0.0], [5.0, 5.0], [40.0, 40.0]]))
    >>> labels.tolist()
    [0, 1, -1]
    """

    features: np.ndarray
    core: np.ndarray
    min_samples: int
    point_cluster: np.ndarray  # (N,) condensed cluster index (id - N) each point falls out of
    point_lambda: np.ndarray
    parent: np.ndarray  # (C,) parent cluster index, -1 for the root
    birth: np.ndarray  # (C,) lambda at which each cluster was born (0 for the root)
    label: np.ndarray  # (C,) label (0..k-1 of the ClusterResult) of the selected cluster at or above, or -1
    max_lambda: np.ndarray  # (C,) max lambda of that selected cluster

    @classmethod
    def build(cls, features: np.ndarray, tree: SingleLinkageTree, result: ClusterResult) -> Predictor:
        """Collect the arrays from a tree and one selection of it (needs ``result.condensed_tree``)."""
        rows = result.condensed_tree
        if rows is None:
            raise ValueError(
                "this clustering has no condensed tree (it was loaded from disk); predict needs one"
            )
        n = tree.n_samples
        parent = rows["parent"] - n
        child = rows["child"]
        lam = rows["lambda_val"]
        is_point = child < n
        n_clusters = int(parent.max()) + 1 if rows.shape[0] else 1
        n_clusters = max(n_clusters, int(child[~is_point].max()) - n + 1 if (~is_point).any() else 1)
        point_cluster = np.zeros(n, dtype=np.int64)
        point_lambda = np.zeros(n)
        point_cluster[child[is_point]] = parent[is_point]
        point_lambda[child[is_point]] = lam[is_point]
        c_parent = np.full(n_clusters, -1, dtype=np.int64)
        birth = np.zeros(n_clusters)
        c_child = child[~is_point] - n
        c_parent[c_child] = parent[~is_point]
        birth[c_child] = lam[~is_point]
        deaths = np.zeros(n_clusters)
        np.maximum.at(deaths, parent, lam)
        selected = np.full(n_clusters, -1, dtype=np.int64)
        selected[np.asarray(result.cluster_ids, dtype=np.int64) - n] = np.arange(len(result.cluster_ids))
        # Label and max lambda come from the nearest selected ancestor-or-self (parents have smaller ids).
        label = selected.copy()
        max_lambda = np.where(selected >= 0, deaths, 0.0)
        for c in range(1, n_clusters):
            p = c_parent[c]
            if label[c] < 0 and p >= 0 and label[p] >= 0:
                label[c], max_lambda[c] = label[p], max_lambda[p]
        return cls(
            np.asarray(features, dtype=np.float32),
            np.asarray(tree.core_distances),
            tree.min_samples,
            point_cluster,
            point_lambda,
            c_parent,
            birth,
            label,
            max_lambda,
        )

    def neighbours(self, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest clustered points of each new point: indices and float64 distances, sorted."""
        n = self.features.shape[0]
        if n > BRUTE_FORCE_MAX:
            index = getattr(self, "_ivf", None)
            if index is None:  # built once, reused by later predict calls
                index = self._ivf = IVFIndex(self.features)
            idx = index.search_vectors(points, k)
        else:
            idx = BruteForceIndex(self.features).search_vectors(points, k)
        idx = np.where(idx < 0, idx[:, :1], idx)
        dist = pair_distances_to(self.features, points, idx)
        order = np.argsort(dist, axis=1, kind="stable")
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels, probabilities) of new points (rows in the clustered feature space); -1 = noise."""
        points = np.ascontiguousarray(points, dtype=np.float32)
        ms = self.min_samples
        k = min(2 * ms, self.features.shape[0])
        idx, dist = self.neighbours(points, k)
        own_core = dist[:, min(ms, k) - 1]
        mr = np.maximum(np.maximum(dist, self.core[idx]), own_core[:, None])
        best = np.argmin(mr, axis=1)
        rows = np.arange(points.shape[0])
        nearest = idx[rows, best]
        d = mr[rows, best]
        with np.errstate(divide="ignore"):
            lam = np.where(d > 0.0, 1.0 / d, np.finfo(np.float64).max)
        cluster = self.point_cluster[nearest].copy()
        # Joining farther out than its neighbour left: climb to the first cluster still alive at lambda.
        climb = self.point_lambda[nearest] > lam
        while True:
            move = climb & (cluster > 0)
            move[move] = self.birth[cluster[move]] >= lam[move]
            if not move.any():
                break
            cluster[move] = self.parent[cluster[move]]
        labels = self.label[cluster]
        max_lambda = self.max_lambda[cluster]
        prob = np.where(
            max_lambda > 0.0, np.minimum(max_lambda, lam) / np.where(max_lambda > 0, max_lambda, 1), 1.0
        )
        prob = np.where(labels >= 0, prob, 0.0)
        return labels, prob
