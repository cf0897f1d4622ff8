"""Curation sets for last-layer retraining: mid-range, top-logit or random inputs of a held-out pool.

Mid-range curation follows O'Mahony et al. (WACV 2025): for each class, the inputs whose logit for that
class lies in the middle band (not the top) are the ones where the class's evidence conflicts with what
the penultimate layer associates with it (a missing confounder, or a confounder on another class), so
retraining the head on them, with their true class labels, weakens the association. No group or
confounder labels are used: only logits and class labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from napwidget.errors import NapInputError
from napwidget.midrange.bands import BandMode, _as_outputs, _check_edges, logit_bands

Strategy = Literal["midrange", "top", "random", "midrange_weighted", "random_weighted", "jtt"]
STRATEGIES = ("midrange", "top", "random", "midrange_weighted", "random_weighted", "jtt")
WEIGHTED_BANDS = (0.0, 0.05)  # default mid band of "midrange_weighted" (chosen on development seeds)
WEIGHTED_UPWEIGHT = 9.0  # default up-weight of "midrange_weighted" (chosen on development seeds)
JTT_UPWEIGHT = (
    9.0  # JTT error set weight 1 + 9 = lambda_up 10; the benchmark tunes it per setting on dev seeds
)
Weighting = Literal["class_balanced", "uniform"]


@dataclass
class Curation:
    """A curation set: which inputs of the pool to retrain on, and with what weight.

    Attributes
    ----------
    indices : (M,) int64, ascending
        Pool indices (rows of the ``outputs`` given to :func:`curate`).
    weights : (M,) float32
        Sample weights, mean 1.
    strategy : str
        ``"midrange"``, ``"top"`` or ``"random"``.
    source_class : (M,) int64
        The class whose logit band picked each input (-1 for random picks).

    Example
    -------
    >>> z = np.random.default_rng(0).normal(size=(100, 3))
    >>> c = curate(z, np.arange(100) % 3, strategy="random", size=10)
    >>> len(c), float(c.weights.mean())
    (10, 1.0)
    """

    indices: np.ndarray
    weights: np.ndarray
    strategy: str
    source_class: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def _as_index_array(values: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values if values is not None else [], dtype=np.int64).ravel()
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise NapInputError(
            f"{what} must be pool indices in 0..{n - 1}; some are outside",
            f"pass row indices of outputs as {what}",
        )
    return np.unique(arr)


def _weights(labels: np.ndarray, weighting: str, base: np.ndarray | None = None) -> np.ndarray:
    w = np.ones(len(labels)) if base is None else np.asarray(base, dtype=np.float64)
    if weighting == "uniform":
        return (w / w.mean()).astype(np.float32)
    # Each class gets the same total weight, so classes that the band picks rarely still count.
    _, inv = np.unique(labels, return_inverse=True)
    w = w / np.bincount(inv, weights=w)[inv]
    return (w / w.mean()).astype(np.float32)


def _midrange(
    logits: np.ndarray,
    y: np.ndarray,
    pool: np.ndarray,
    classes: np.ndarray,
    bands: tuple[float, float],
    mode: BandMode,
    among: str,
) -> tuple[np.ndarray, np.ndarray]:
    picked: dict[int, int] = {}
    for k in classes:
        rows = pool[y[pool] == k] if among == "class" else pool
        if len(rows) == 0:
            continue
        mid = rows[logit_bands(logits[rows], int(k), bands=bands, mode=mode)["mid"]]
        if among == "labelled":
            mid = mid[y[mid] == k]
        for i in mid:
            picked.setdefault(int(i), int(k))  # an input in several classes' mid bands is taken once
    idx = np.array(sorted(picked), dtype=np.int64)
    return idx, np.array([picked[i] for i in idx], dtype=np.int64)


def _jtt(logits: np.ndarray, y: np.ndarray, pool: np.ndarray, weighting: str, alpha: float) -> Curation:
    """Just Train Twice on a held-out pool: the inputs the trained model gets wrong are up-weighted.

    Liu et al. (ICML 2021) train an identification model, collect its error set and retrain with it
    up-weighted by ``lambda_up``; on a held-out pool with last-layer retraining (as in Labonte et al. 2023,
    "misclassification" selection) the trained model is the identification model and its errors on the pool
    are the error set. ``1 + alpha`` is ``lambda_up``.
    """
    errors = logits[pool].argmax(axis=1) != y[pool]
    src = np.where(errors, y[pool], -1).astype(np.int64)
    return Curation(pool.astype(np.int64), _weights(y[pool], weighting, 1.0 + alpha * errors), "jtt", src)


def curate(
    outputs: Any,
    labels: Sequence[int] | np.ndarray,
    *,
    strategy: Strategy = "midrange",
    bands: Sequence[float] | None = None,
    mode: BandMode = "quantile",
    among: Literal["all", "class", "labelled"] = "class",
    classes: Sequence[int] | None = None,
    selection: Sequence[int] | np.ndarray | None = None,
    size: int | None = None,
    exclude: Sequence[int] | np.ndarray | None = None,
    weighting: Weighting = "class_balanced",
    seed: int = 0,
    upweight: float | None = None,
) -> Curation:
    """Pick a curation set for retraining from a pool of inputs, without group labels.

    Parameters
    ----------
    outputs : (N, K) logits of the pool (array, tensor or ``Activations``).
    labels : (N,) class labels of the pool (the curated inputs are retrained with these).
    strategy : {"midrange", "top", "random", "midrange_weighted", "random_weighted"}
        ``"midrange"``: for each class ``k``, the inputs in the mid band of logit ``k``
        (:func:`~napwidget.midrange.logit_bands` with ``bands``/``mode``), pooled and de-duplicated.
        ``"top"``: for each class, the inputs with the highest logit ``k``, as many per class as the
        mid-range set has. ``"random"``: a seeded uniform draw of the same size.
        ``"midrange_weighted"``: the *whole* pool (all inputs not in ``exclude``), with the mid-range set's
        inputs up-weighted: weight ``1 + upweight`` for them, 1 for the rest, before ``weighting``
        (JTT-style reweighting instead of a subset: on the benchmark the whole pool beat every half-size
        subset). Its default band is the class's lowest 5 % (``bands=(0, 0.05)``), ``upweight=9``.
        ``"random_weighted"``: its control: the whole pool with a seeded random set of the same size as the
        mid-range set up-weighted alike. ``Curation.source_class`` is -1 for inputs not up-weighted.
        ``"jtt"``: Just Train Twice (Liu et al. 2021), the standard baseline that needs no group labels: the
        whole pool with the inputs the model misclassifies (``argmax(outputs) != labels``, its *error set*)
        up-weighted by ``1 + upweight`` (default 9, i.e. JTT's lambda_up = 10); ignores ``bands``.
    bands, mode : the mid band's edges and how they are read (see :func:`logit_bands`). Default
        (``bands=None``): (0, 0.05) for the weighted strategies, else (0, 0.5). The subset default: quantiles
        (0, 0.5) of the class's own inputs (``among="class"``), i.e. every input of the class except its
        top-logit half. Those inputs sit below the class's typical logits yet above most other classes'
        inputs: the middle of the logit's range over the data. The paper's exact edges were not available
        to us; these were chosen on development seeds of the benchmark's held-out pool (never on test data):
        dropping the class's lowest 5% too (bands=(0.05, 0.5)) lost most of the gain, since the inputs
        that lack the class's confounder sit there.
    among : {"class", "all", "labelled"}
        Band logit ``k`` over the inputs labelled ``k`` (default); over all pool inputs, curating every
        input of the mid band whatever its label (it then also holds other classes' inputs that the class's
        logit half-fires for, e.g. because they carry its confounder); or over all pool inputs, keeping
        the mid band's inputs labelled ``k`` ("labelled").
    classes : which classes' logits to band; default every class in ``labels``.
    selection : indices chosen by hand (a band, NAP members): used as the mid-range set instead of
        computing it, and as the size reference for ``"top"``/``"random"``.
    size : the set size. Default: the mid-range set's size. ``"midrange"`` with a ``size`` below the set's
        size keeps a seeded random subset of it; above it is an error.
    exclude : held-out pool indices that are never curated (and do not shape the bands).
    weighting : ``"class_balanced"`` (each label gets equal total weight; default) or ``"uniform"``.
    seed : seeds the random draws.
    upweight : extra weight of the up-weighted inputs in the weighted strategies and ``"jtt"`` (default 9,
        i.e. 10x the other pool inputs before class balancing); must be left ``None`` for the subset
        strategies. ``bands=(0, 0.05)`` with ``upweight=9`` was the best of (0, 0.05|0.1|0.25|0.5) x
        (1|3|9|19) on the benchmark's development seeds (never on test data); see benchmarks/README.md,
        "Mid-range".

    Returns
    -------
    Curation
        ``indices`` (pool rows), ``weights`` (mean 1), ``strategy``, ``source_class``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> z, y = rng.normal(size=(200, 4)), np.arange(200) % 4
    >>> mid = curate(z, y, exclude=np.arange(50))            # each class's lower half, of rows 50..199
    >>> top = curate(z, y, strategy="top", exclude=np.arange(50))
    >>> len(top) == len(mid) == 74 and int(mid.indices.min()) >= 50
    True
    """
    logits = _as_outputs(outputs)
    n, n_out = logits.shape
    y = np.asarray(labels)
    if y.shape != (n,) or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise NapInputError(
            f"labels must be (N,) = ({n},) integers; got shape {y.shape}",
            "pass one class label per row of outputs",
        )
    if strategy not in STRATEGIES:
        raise NapInputError(
            f"strategy={strategy!r} is unknown", f"use one of {', '.join(map(repr, STRATEGIES))}"
        )
    weighted = strategy.endswith("_weighted") or strategy == "jtt"
    if upweight is not None and not weighted:
        raise NapInputError(
            f"upweight={upweight!r} only applies to the weighted strategies",
            "pass strategy='midrange_weighted'",
        )
    alpha = (JTT_UPWEIGHT if strategy == "jtt" else WEIGHTED_UPWEIGHT) if upweight is None else upweight
    if weighted and (
        isinstance(alpha, bool)
        or not isinstance(alpha, (int, float, np.integer, np.floating))
        or not np.isfinite(alpha)
        or alpha < 0
    ):
        raise NapInputError(f"upweight={upweight!r} must be a finite number >= 0", "pass e.g. upweight=9")
    if bands is None:
        bands = WEIGHTED_BANDS if weighted else (0.0, 0.5)
    if weighting not in ("class_balanced", "uniform"):
        raise NapInputError(f"weighting={weighting!r} is unknown", "use 'class_balanced' or 'uniform'")
    if among not in ("all", "class", "labelled"):
        raise NapInputError(f"among={among!r} is unknown", "use 'all', 'class' or 'labelled'")
    edges = _check_edges(bands, mode)
    held = _as_index_array(exclude, n, "exclude")
    pool = np.setdiff1d(np.arange(n), held)
    cls = np.unique(y[pool]) if classes is None else np.unique(np.asarray(classes, dtype=np.int64))
    if cls.size and (cls.min() < 0 or cls.max() >= n_out):
        raise NapInputError(
            f"classes must be output indices in 0..{n_out - 1}", "pass classes the model outputs"
        )
    if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
        raise NapInputError(
            f"size={size!r} must be a positive int", "pass e.g. size=200, or None for the mid-range size"
        )
    rng = np.random.default_rng(seed)
    if strategy == "jtt":
        return _jtt(logits, y, pool, weighting, float(alpha))

    if selection is not None:
        mid_idx = np.setdiff1d(
            _as_index_array(selection, n, "selection"), held
        )  # held-out inputs never enter
        mid_src = y[mid_idx].astype(np.int64)
    else:
        mid_idx, mid_src = _midrange(logits, y, pool, cls, edges, mode, among)
    target = len(mid_idx) if size is None else int(size)
    if target == 0:
        raise NapInputError(
            "the mid-range set is empty, so there is nothing to curate or to size the comparison by",
            "widen bands, or use mode='quantile', or pass size=",
        )
    if target > len(pool):
        raise NapInputError(
            f"size={target} exceeds the {len(pool)} pool inputs not held out", "pass a smaller size"
        )

    base = strategy.removesuffix("_weighted")
    if base == "midrange":
        if target > len(mid_idx):
            raise NapInputError(
                f"size={target} exceeds the {len(mid_idx)} inputs in the mid bands",
                "widen bands or pass a smaller size",
            )
        keep = (
            np.sort(rng.choice(len(mid_idx), size=target, replace=False))
            if target < len(mid_idx)
            else np.arange(target)
        )
        idx, src = mid_idx[keep], mid_src[keep]
    elif base == "random":
        idx = np.sort(rng.choice(pool, size=target, replace=False))
        src = np.full(target, -1, dtype=np.int64)
    else:  # top: per class, the highest logits, matching the mid-range set's class make-up
        quota = (
            np.bincount(mid_src, minlength=n_out)[cls]
            if size is None
            else np.full(len(cls), target // len(cls))
        )
        if size is not None:
            quota[: target - quota.sum()] += 1
        picked: dict[int, int] = {}
        ranked = {}
        for k in cls:
            rows = (
                pool if among == "all" else pool[y[pool] == k]
            )  # "labelled"/"class": the class's own inputs
            ranked[int(k)] = rows[np.argsort(-logits[rows, k], kind="stable")]
        # Fill quotas class by class; an input already taken by another class is skipped, so sizes stay exact.
        cursor = {int(k): 0 for k in cls}
        for k, q in zip(cls, quota):
            k = int(k)
            while q > 0 and cursor[k] < len(ranked[k]):
                i = int(ranked[k][cursor[k]])
                cursor[k] += 1
                if i not in picked:
                    picked[i] = k
                    q -= 1
        if len(picked) < target:  # a class ran out of inputs: top up from the best remaining of any class
            rest = [
                i for i in pool[np.argsort(-logits[pool].max(axis=1), kind="stable")] if int(i) not in picked
            ]
            for i in rest[: target - len(picked)]:
                picked[int(i)] = int(np.argmax(logits[i]))
        idx = np.array(sorted(picked), dtype=np.int64)
        src = np.array([picked[i] for i in idx], dtype=np.int64)
    if weighted:  # the whole pool, with the chosen inputs up-weighted
        up = np.isin(pool, idx)
        full_src = np.full(len(pool), -1, dtype=np.int64)
        full_src[up] = src if base == "midrange" else -1
        return Curation(
            pool.astype(np.int64), _weights(y[pool], weighting, 1.0 + alpha * up), strategy, full_src
        )
    return Curation(idx, _weights(y[idx], weighting), strategy, src)
