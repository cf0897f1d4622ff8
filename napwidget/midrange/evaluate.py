"""Evaluate curation on :func:`napwidget.datasets.spurious_digits`: average and worst-group accuracy.

Protocol (one seed): the spurious training split is divided at random (no group labels) into a *fit* part,
on which a :class:`~napwidget.datasets.DigitsCNN` is trained, and a held-out *pool*, from which curation
sets are chosen by logits and class labels only; each set refits the head (:func:`retrain_last_layer`) and
every model is scored on the test split, where the confounder is independent of the class. Group labels
are used for the oracle (group-balanced weights over the whole pool, as deep feature reweighting does),
for scoring, and for reporting the minority share of each set, never for choosing a curation set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from napwidget.errors import NapInputError
from napwidget.midrange.curate import Curation, curate
from napwidget.midrange.retrain import head_features, head_predict, retrain_last_layer


@dataclass
class GroupAccuracy:
    """Average accuracy, worst-group accuracy and per-group accuracies.

    Example
    -------
    >>> g = group_accuracy(np.array([0, 1, 1]), np.array([0, 1, 0]), np.array([0, 1, 0]))
    >>> g.average, g.worst_group
    (0.6666666666666666, 0.5)
    """

    average: float
    worst_group: float
    per_group: dict[int, float] = field(default_factory=dict)


def group_accuracy(predictions: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> GroupAccuracy:
    """Accuracy over all inputs and the lowest accuracy over groups (each group with at least one input).

    Example
    -------
    >>> group_accuracy(np.array([1, 1]), np.array([1, 0]), np.array([3, 4])).worst_group
    0.0
    """
    pred, y, g = (np.asarray(a) for a in (predictions, labels, groups))
    if not (pred.shape == y.shape == g.shape) or pred.ndim != 1:
        raise NapInputError(
            f"predictions {pred.shape}, labels {y.shape} and groups {g.shape} "
            "must be equal-length 1-D arrays",
            "pass one prediction, label and group per input",
        )
    correct = pred == y
    per = {int(k): float(correct[g == k].mean()) for k in np.unique(g)}
    return GroupAccuracy(float(correct.mean()), min(per.values()), per)


def evaluate_midrange(
    correlation: float = 0.95,
    seed: int = 0,
    *,
    data: tuple[Any, Any] | None = None,
    pool_fraction: float = 0.5,
    epochs: int = 8,
    curation: dict[str, Any] | None = None,
    retrain: dict[str, Any] | None = None,
    data_kwargs: dict[str, Any] | None = None,
    weighted_curation: dict[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """Average and worst-group test accuracy of the plain model and of head retraining on curated sets.

    Rows: ``plain`` (the trained CNN), ``midrange``, ``top`` and ``random`` (same size as midrange),
    ``pool`` (the whole held-out pool, uniform weights: what retraining alone gives), ``midrange_weighted``
    (the whole pool with the mid-range inputs up-weighted, :func:`curate`'s ``"midrange_weighted"``) and
    ``random_weighted`` (its control: as many random pool inputs up-weighted alike), and ``oracle``
    (the whole pool, group-balanced weights: the upper bound, the only row that sees group labels).

    Parameters
    ----------
    correlation, seed : passed to :func:`~napwidget.datasets.spurious.spurious_digits` (and seed everything).
    data : ``(train, test)`` splits to use instead of generating them.
    pool_fraction : share of the training split held out as the curation pool (the model never sees it).
    epochs : CNN training epochs.
    curation : keyword arguments for :func:`curate` (bands, mode, among, weighting, ...).
    retrain : keyword arguments for :func:`retrain_last_layer`.
    data_kwargs : more keyword arguments for ``spurious_digits``.

    Returns
    -------
    dict
        Row name -> ``{"average", "worst_group", "n", "minority_share"}`` (``n`` inputs retrained on;
        ``minority_share``: share of them whose confounder is not their class's, for reporting only; for the
        weighted rows, their share of the total weight, and ``n_upweighted``: how many were up-weighted).
    ``curation`` goes to the subset strategies; ``weighted_curation`` (keyword arguments such as ``bands``,
    ``upweight``) to the two weighted rows, which otherwise use :func:`curate`'s weighted defaults.

    Example
    -------
    >>> rows = evaluate_midrange(0.95, seed=0)  # doctest: +SKIP
    >>> rows["midrange"]["worst_group"] > rows["plain"]["worst_group"]  # doctest: +SKIP
    True
    """
    from napwidget.datasets.digits import DigitsCNN, train_digits_cnn
    from napwidget.datasets.spurious import spurious_digits

    if not 0.0 < pool_fraction < 1.0:
        raise NapInputError(
            f"pool_fraction={pool_fraction!r} must lie strictly between 0 and 1", "pass e.g. 0.5"
        )
    train, test = data if data is not None else spurious_digits(correlation, seed, **(data_kwargs or {}))
    rng = np.random.default_rng(seed + 1_000)  # a split independent of the data generator's draws
    order = rng.permutation(len(train))
    n_pool = round(pool_fraction * len(train))
    fit, pool = train.subset(np.sort(order[n_pool:])), train.subset(np.sort(order[:n_pool]))

    torch.manual_seed(seed)  # the CNN's initialisation, so the whole row is a function of the seed
    model = train_digits_cnn(fit.images, fit.labels, epochs=epochs, seed=seed, model=DigitsCNN(in_channels=3))
    f_pool, z_pool = head_features(model, pool.images)
    f_test, z_test = head_features(model, test.images)
    rkw = {"seed": seed, **(retrain or {})}
    ckw = {"seed": seed, **(curation or {})}

    def score(z: np.ndarray) -> GroupAccuracy:
        return group_accuracy(z.argmax(axis=1), test.labels, test.groups)

    def row(acc: GroupAccuracy, idx: np.ndarray | None) -> dict[str, float]:
        n = len(pool) if idx is None else len(idx)
        minority = (~pool.aligned).mean() if idx is None else (~pool.aligned[idx]).mean() if len(idx) else 0.0
        return {
            "average": acc.average,
            "worst_group": acc.worst_group,
            "n": float(n),
            "minority_share": float(minority),
        }

    rows: dict[str, dict[str, float]] = {"plain": row(score(z_test), np.zeros(0, np.int64))}
    rows["plain"]["n"] = 0.0
    mid = curate(z_pool, pool.labels, strategy="midrange", **ckw)
    sets: dict[str, Curation] = {
        "midrange": mid,
        "top": curate(z_pool, pool.labels, strategy="top", size=len(mid), **ckw),
        "random": curate(z_pool, pool.labels, strategy="random", size=len(mid), **ckw),
    }
    for name, cur in sets.items():
        refit = retrain_last_layer(model, f_pool, pool.labels, cur, **rkw)
        rows[name] = row(score(head_predict(refit, f_test)), cur.indices)
    everything = np.arange(len(pool))
    uniform = Curation(everything, np.ones(len(pool), np.float32), "pool", np.full(len(pool), -1))
    refit = retrain_last_layer(model, f_pool, pool.labels, uniform, **rkw)
    rows["pool"] = row(score(head_predict(refit, f_test)), None)
    wkw = {"seed": seed, **(weighted_curation or {})}
    for name in ("midrange_weighted", "random_weighted"):
        cur = curate(z_pool, pool.labels, strategy=name, **wkw)
        refit = retrain_last_layer(model, f_pool, pool.labels, cur, **rkw)
        rows[name] = row(score(head_predict(refit, f_test)), None)
        w = cur.weights.astype(np.float64)
        rows[name]["minority_share"] = float((w * ~pool.aligned[cur.indices]).sum() / w.sum())
        y_cur = pool.labels[cur.indices]  # up-weighted = above the lowest weight of its class
        low = {int(k): w[y_cur == k].min() for k in np.unique(y_cur)}
        rows[name]["n_upweighted"] = float(sum(wi > low[int(k)] * (1 + 1e-6) for wi, k in zip(w, y_cur)))
    # Oracle: each (class, confounder) group present in the pool gets the same total weight.
    _, inv, counts = np.unique(pool.groups, return_inverse=True, return_counts=True)
    w = (1.0 / counts[inv]).astype(np.float32)
    oracle = Curation(everything, w / w.mean(), "oracle", np.full(len(pool), -1))
    refit = retrain_last_layer(model, f_pool, pool.labels, oracle, **rkw)
    rows["oracle"] = row(score(head_predict(refit, f_test)), None)
    return rows
