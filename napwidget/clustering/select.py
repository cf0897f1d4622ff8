"""Flat clusters from a cached :class:`SingleLinkageTree`: condense, select (eom / leaf), label, score.

This is the cheap step (milliseconds at N = 10,000): change ``min_cluster_size`` or ``method`` and call it
again on the same tree. Semantics follow hdbscan 0.8's ``get_clusters`` with ``allow_single_cluster=False``,
``cluster_selection_epsilon=0.0``, ``max_cluster_size=0`` and ``match_reference_implementation=False``
(the NAP method's settings); those other options are not offered.
"""

from __future__ import annotations

import numpy as np

from napwidget.clustering import _validation as v
from napwidget.clustering.condense import CondensedTree, condense
from napwidget.clustering.linkage import SingleLinkageTree
from napwidget.clustering.result import ClusterResult


def _select_eom(ct: CondensedTree) -> np.ndarray:
    """Excess-of-mass selection, replicating hdbscan's arithmetic.

    hdbscan keeps the children's summed stability in a C ``float`` (float32) and stores that rounded value
    back as the parent's stability; near-ties between a cluster and its children then resolve the same way
    here.
    """
    stability = ct.stability.tolist()
    first = ct.first_child.tolist()
    n_clusters = ct.n_clusters
    keep = [False] * n_clusters
    f32 = np.float32
    for c in range(n_clusters - 1, 0, -1):  # children have larger ids than parents: bottom-up
        f = first[c]
        subtree = float(f32(float(f32(stability[f])) + stability[f + 1])) if f >= 0 else 0.0
        if subtree > stability[c]:
            stability[c] = subtree
        else:
            keep[c] = True
    # A kept cluster discards every kept descendant: walk top-down and block below kept clusters.
    parent = ct.cluster_parent.tolist()
    blocked = [False] * n_clusters
    selected = np.zeros(n_clusters, dtype=bool)
    for c in range(1, n_clusters):
        p = parent[c]
        blocked[c] = p > 0 and (blocked[p] or keep[p])
        selected[c] = keep[c] and not blocked[c]
    return selected


def _select_leaf(ct: CondensedTree) -> np.ndarray:
    """Leaf selection: every condensed cluster without child clusters (none when the root never splits)."""
    selected = ct.first_child < 0
    selected[0] = False
    return selected


def _max_lambda_per_cluster(ct: CondensedTree) -> np.ndarray:
    """hdbscan's ``max_lambdas``: the largest lambda among each cluster's direct rows."""
    deaths = np.zeros(ct.n_clusters)
    np.maximum.at(deaths, ct.row_cluster, ct.rows["lambda_val"])
    return deaths


def select_clusters(
    tree: SingleLinkageTree, min_cluster_size: int = 5, method: str = "leaf"
) -> ClusterResult:
    """Flat HDBSCAN clusters of a cached tree, equal to ``hdbscan.HDBSCAN(...)`` with the same parameters.

    Parameters
    ----------
    tree : from :func:`napwidget.clustering.build_tree` (its ``min_samples`` is the one that applies).
    min_cluster_size : smallest cluster, >= 2 and <= the number of points.
    method : ``"leaf"`` (the NAP method's default: many small homogeneous clusters) or ``"eom"``.

    Returns
    -------
    ClusterResult with labels, probabilities, outlier scores, persistence, stability and the condensed tree.

    Example
    -------
    >>> from napwidget.clustering import build_tree
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    >>> res = select_clusters(build_tree(x, min_samples=5), min_cluster_size=10, method="eom")
    >>> res.n_clusters, sorted(set(res.labels.tolist()))
    (2, [0, 1])
    """
    if not isinstance(tree, SingleLinkageTree):
        raise ValueError(
            f"expected a SingleLinkageTree, got {type(tree).__name__}. "
            "Fix: build one with napwidget.clustering.build_tree(x, min_samples)."
        )
    min_cluster_size = v.check_int(min_cluster_size, "min_cluster_size", 2)
    method = v.check_method(method)
    n = tree.n_samples
    if min_cluster_size > n:
        raise ValueError(
            f"min_cluster_size={min_cluster_size} exceeds the number of samples ({n}). "
            f"Fix: use min_cluster_size <= {n}."
        )
    ct = condense(tree, min_cluster_size)
    selected = _select_eom(ct) if method == "eom" else _select_leaf(ct)

    # Label map: selected clusters in ascending id order -> 0..k-1 (hdbscan's numbering).
    cluster_ids = np.flatnonzero(selected)
    k = cluster_ids.shape[0]
    label_of = np.full(ct.n_clusters + 1, -1, dtype=np.int64)  # index -1 (no selected ancestor) -> -1
    label_of[cluster_ids] = np.arange(k)
    # Nearest selected ancestor-or-self of every cluster (parents have smaller ids: one top-down pass).
    parent = ct.cluster_parent.tolist()
    sel = selected.tolist()
    owner = [-1] * ct.n_clusters
    for c in range(1, ct.n_clusters):
        owner[c] = c if sel[c] else owner[parent[c]]
    owner_arr = np.asarray(owner, dtype=np.int64)
    point_owner = owner_arr[ct.point_cluster]
    labels = label_of[point_owner]

    lam = ct.point_lambda
    finite = np.isfinite(lam)
    deaths = _max_lambda_per_cluster(ct)
    # Probabilities (hdbscan's get_probabilities): lambda clipped at the selected cluster's max lambda.
    probabilities = np.zeros(n)
    member = labels >= 0
    death = deaths[point_owner[member]]
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = np.minimum(lam[member], death) / death
    prob[(death == 0.0) | ~finite[member]] = 1.0
    probabilities[member] = prob

    # GLOSH (hdbscan's outlier_scores): max lambda over the whole subtree of the cluster a point leaves.
    sub = deaths.tolist()
    for c in range(ct.n_clusters - 1, 0, -1):
        p = parent[c]
        if sub[c] > sub[p]:
            sub[p] = sub[c]
    sub_max = np.asarray(sub)[ct.point_cluster]
    with np.errstate(divide="ignore", invalid="ignore"):
        outlier = (sub_max - lam) / sub_max
    outlier[(sub_max == 0.0) | ~finite] = 0.0

    # Persistence (hdbscan's cluster_persistence_ / get_stability_scores).
    stability = ct.stability[cluster_ids]
    sizes = np.bincount(labels[member], minlength=k)
    max_lambda = float(ct.rows["lambda_val"].max()) if ct.rows.shape[0] else 0.0
    persistence = np.ones(k)
    if np.isfinite(max_lambda) and max_lambda != 0.0:
        ok = sizes > 0
        persistence[ok] = stability[ok] / (sizes[ok] * max_lambda)
    return ClusterResult(
        labels=labels,
        probabilities=probabilities,
        outlier_scores=outlier,
        persistence=persistence,
        stability=stability,
        condensed_tree=ct.rows,
        cluster_ids=n + cluster_ids,
        min_cluster_size=min_cluster_size,
        method=method,
    )
