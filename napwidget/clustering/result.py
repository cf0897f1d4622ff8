""":class:`ClusterResult`, the flat clustering that :func:`napwidget.clustering.select_clusters` returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class ClusterResult:
    """A flat HDBSCAN clustering, with the same values as hdbscan's fitted attributes.

    Attributes
    ----------
    labels : (N,) int64; -1 is noise; clusters are 0..k-1 in hdbscan's order (ascending condensed cluster id),
        so they equal ``hdbscan.HDBSCAN(...).labels_`` for the same data and parameters.
    probabilities : (N,) float64, hdbscan's ``probabilities_`` (0 for noise).
    outlier_scores : (N,) float64, hdbscan's GLOSH ``outlier_scores_``.
    persistence : (k,) float64, hdbscan's ``cluster_persistence_``: stability / (size * largest lambda).
    stability : (k,) float64, each selected cluster's stability (excess of mass).
    condensed_tree : structured array (parent, child, lambda_val, child_size), hdbscan's ``condensed_tree_``
        layout (``.to_numpy()``), or None where the result was loaded from disk.
    cluster_ids : (k,) condensed-tree id of each label (``labels == i`` <-> cluster ``cluster_ids[i]``).
    min_cluster_size, method : the selection parameters (0 / "" where unknown).

    Example
    -------
    >>> r = ClusterResult(labels=np.array([0, 0, -1]), probabilities=np.array([1.0, 0.5, 0.0]),
    ...                   outlier_scores=np.zeros(3), persistence=np.array([0.3]), stability=np.array([2.0]),
    ...                   condensed_tree=None)
    >>> r.n_clusters, r.noise_fraction
    (1, 0.3333333333333333)
    """

    labels: np.ndarray
    probabilities: np.ndarray
    outlier_scores: np.ndarray
    persistence: np.ndarray
    stability: np.ndarray
    condensed_tree: np.ndarray | None = None
    cluster_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    min_cluster_size: int = 0
    method: str = ""

    @property
    def n_clusters(self) -> int:
        """Number of clusters (NAPs), noise excluded."""
        return int(np.asarray(self.persistence).shape[0])

    @property
    def noise_fraction(self) -> float:
        """Share of points labelled -1."""
        labels = np.asarray(self.labels)
        return float((labels < 0).mean()) if labels.size else 0.0
