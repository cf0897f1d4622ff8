"""The mid-range curation benchmark: cached features per seed, one last-layer refit per row, paired stats.

Protocol per seed (:func:`seed_features`): generate a setting's data
(:mod:`napwidget.datasets.curation_bench`), split the training sources at random (no group labels) into a
*fit* half, on which a :class:`~napwidget.datasets.DigitsCNN` is trained once, and a held-out *pool* half;
cache the penultimate features and logits of pool and test. Every row (:func:`benchmark_rows`) then only
refits the head (:func:`~napwidget.midrange.retrain_last_layer`) on a curation set of the pool, so a row costs
seconds. Group labels are used by the oracle row, for scoring and for reporting minority shares, never for
curation. :func:`paired_bootstrap` and :func:`gap_share` summarise rows over seeds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from napwidget.errors import NapInputError
from napwidget.midrange.curate import Curation, curate
from napwidget.midrange.evaluate import group_accuracy
from napwidget.midrange.retrain import head_features, head_predict, retrain_last_layer

ROWS = ("plain", "pool", "midrange", "midrange_weighted", "random", "random_weighted", "top", "jtt", "oracle")
SETTINGS = ("digits", "binary")


@dataclass
class Choices:
    """The benchmark's free choices, fixed on development seeds before the test seeds run.

    Example
    -------
    >>> Choices().subset_bands
    (0.0, 0.5)
    """

    subset_bands: tuple[float, float] = (0.0, 0.5)
    weighted_bands: tuple[float, float] = (0.0, 0.05)
    upweight: float = 9.0
    jtt_upweight: float = 9.0
    l2: float = 1e-3


@dataclass
class SeedFeatures:
    """Penultimate features and logits of one seed's pool and test split, with labels and groups.

    Example
    -------
    >>> # sf = seed_features("binary", 0); sf.f_pool.shape  -> (n_pool, 64)
    """

    f_pool: np.ndarray
    z_pool: np.ndarray
    y_pool: np.ndarray
    g_pool: np.ndarray
    aligned_pool: np.ndarray
    f_test: np.ndarray
    z_test: np.ndarray
    y_test: np.ndarray
    g_test: np.ndarray
    head_weight: np.ndarray
    head_bias: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def head(self) -> nn.Linear:
        """The trained model's head alone (an ``nn.Linear``): what :func:`retrain_last_layer` refits."""
        lin = nn.Linear(self.head_weight.shape[1], self.head_weight.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(self.head_weight))
            lin.bias.copy_(torch.as_tensor(self.head_bias))
        return lin.eval()


def _data(setting: str, seed: int, data_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from napwidget.datasets.curation_bench import augmented_spurious_digits, textured_binary_digits

    if setting not in SETTINGS:
        raise NapInputError(f"setting={setting!r} is unknown", f"use one of {', '.join(SETTINGS)}")
    make = augmented_spurious_digits if setting == "digits" else textured_binary_digits
    return make(seed, **data_kwargs)


def _cache_key(
    setting: str, seed: int, epochs: int, fit_size: int | None, width: int, data_kwargs: dict
) -> tuple:
    """Every argument, the generator's defaults (so changing a default invalidates old files) and torch."""
    import inspect

    from napwidget.datasets import curation_bench

    make = (
        curation_bench.augmented_spurious_digits
        if setting == "digits"
        else curation_bench.textured_binary_digits
    )
    defaults = {
        k: p.default for k, p in inspect.signature(make).parameters.items() if p.default is not p.empty
    }
    return (
        setting,
        seed,
        epochs,
        fit_size,
        width,
        sorted({**defaults, **data_kwargs}.items()),
        torch.__version__,
        "v2",
    )


def seed_features(
    setting: str,
    seed: int,
    *,
    epochs: int = 2,
    fit_size: int | None = 8000,
    width: int = 8,
    cache_dir: str | Path | None = None,
    data_kwargs: dict[str, Any] | None = None,
) -> SeedFeatures:
    """Train the feature extractor of one seed once and return (or load from ``cache_dir``) its features.

    Parameters
    ----------
    setting : {"digits", "binary"}
        :func:`~napwidget.datasets.augmented_spurious_digits` or
        :func:`~napwidget.datasets.textured_binary_digits`.
    seed : int
        Seeds the data, the fit / pool split (by source digit) and the CNN.
    epochs : int
        Training epochs of the ``DigitsCNN`` on the fit half.
    fit_size : int or None
        Train on a seeded random subset of this many fit-half images (None: all of them). The pool keeps the
        whole other half; a smaller fit set keeps the benchmark cheap on a shared CPU.
    width : int
        ``DigitsCNN`` width (channels of its first conv); the head's 64 input features do not depend on it.
    cache_dir : path, optional
        Where to keep ``.npz`` feature files keyed by every argument and the torch version.
    data_kwargs : dict, optional
        More keyword arguments for the data generator (``correlation``, ``strength``, ``copies``, ...).

    Example
    -------
    >>> small = {"copies": 1, "test_copies": 1}
    >>> sf = seed_features("binary", 0, epochs=1, data_kwargs=small)  # doctest: +SKIP
    >>> sf.z_pool.shape[1]  # doctest: +SKIP
    2
    """
    from napwidget.datasets.digits import DigitsCNN, train_digits_cnn

    data_kwargs = dict(data_kwargs or {})
    key = hashlib.sha256(repr(_cache_key(setting, seed, epochs, fit_size, width, data_kwargs)).encode())
    path = Path(cache_dir) / f"midrange_{setting}_{seed}_{key.hexdigest()[:12]}.npz" if cache_dir else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "meta_json"}
            return SeedFeatures(**arrays, meta=json.loads(str(z["meta_json"])))
    train, test = _data(setting, seed, data_kwargs)
    sources = np.unique(train.source)
    pool_src = np.random.default_rng(seed + 1_000).permutation(sources)[: len(sources) // 2]
    in_pool = np.isin(train.source, pool_src)
    fit_rows = np.flatnonzero(~in_pool)
    if fit_size is not None and fit_size < len(fit_rows):
        fit_rows = np.sort(np.random.default_rng(seed + 2_000).choice(fit_rows, fit_size, replace=False))
    fit, pool = train.subset(fit_rows), train.subset(np.flatnonzero(in_pool))
    n_classes = int(train.labels.max()) + 1
    torch.manual_seed(seed)
    model = DigitsCNN(in_channels=train.images.shape[1], n_classes=n_classes, width=width)
    model = train_digits_cnn(fit.images, fit.labels, epochs=epochs, seed=seed, model=model, batch_size=128)
    f_pool, z_pool = head_features(model, pool.images)
    f_test, z_test = head_features(model, test.images)
    meta = {
        "setting": setting,
        "seed": seed,
        "epochs": epochs,
        "width": width,
        "n_fit": len(fit),
        "n_pool": len(pool),
        "n_test": len(test),
        "data_kwargs": data_kwargs,
    }
    sf = SeedFeatures(
        f_pool,
        z_pool,
        pool.labels,
        pool.groups,
        pool.aligned,
        f_test,
        z_test,
        test.labels,
        test.groups,
        model.fc2.weight.detach().numpy().copy(),
        model.fc2.bias.detach().numpy().copy(),
        meta,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: v for k, v in asdict(sf).items() if k != "meta"}
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays, meta_json=np.array(json.dumps(meta)))
        tmp.replace(path)
    return sf


def curation_sets(sf: SeedFeatures, choices: Choices, seed: int = 0) -> dict[str, Curation]:
    """Every row's curation set of the pool (logits and class labels only, except ``oracle``).

    Example
    -------
    >>> # sets = curation_sets(sf, Choices()); len(sets["random"]) == len(sets["midrange"])  -> True
    """
    z, y = sf.z_pool, sf.y_pool
    everything = np.arange(len(y))
    mid = curate(z, y, strategy="midrange", bands=choices.subset_bands, seed=seed)
    mid_w = curate(
        z, y, strategy="midrange_weighted", bands=choices.weighted_bands, upweight=choices.upweight, seed=seed
    )
    # Same band => same size of the up-weighted random set as of the up-weighted mid-range set.
    rand_w = curate(
        z, y, strategy="random_weighted", bands=choices.weighted_bands, upweight=choices.upweight, seed=seed
    )
    _, inv, counts = np.unique(sf.g_pool, return_inverse=True, return_counts=True)
    w_or = (1.0 / counts[inv]).astype(np.float32)
    return {
        "pool": Curation(everything, np.ones(len(y), np.float32), "pool", np.full(len(y), -1)),
        "midrange": mid,
        "midrange_weighted": mid_w,
        "random": curate(z, y, strategy="random", size=len(mid), seed=seed),
        "random_weighted": rand_w,
        "top": curate(z, y, strategy="top", bands=choices.subset_bands, seed=seed),
        "jtt": curate(z, y, strategy="jtt", upweight=choices.jtt_upweight, seed=seed),
        "oracle": Curation(everything, w_or / w_or.mean(), "oracle", np.full(len(y), -1)),
    }


def benchmark_rows(
    sf: SeedFeatures, choices: Choices | None = None, seed: int = 0, *, only: tuple[str, ...] | None = None
) -> dict[str, dict[str, float]]:
    """Average and worst-group test accuracy of every row (or the rows in ``only``) for one seed's features.

    Returns
    -------
    dict
        Row name (:data:`ROWS`) -> ``{"worst_group", "average", "n", "minority_share"}``; ``minority_share``
        is the minority inputs' share of the set's total weight.

    Example
    -------
    >>> # rows = benchmark_rows(seed_features("binary", 0)); rows["oracle"]["worst_group"]
    """
    choices = choices or Choices()
    head = sf.head()

    def score(logits: np.ndarray) -> dict[str, float]:
        acc = group_accuracy(logits.argmax(axis=1), sf.y_test, sf.g_test)
        return {"worst_group": acc.worst_group, "average": acc.average}

    rows = {"plain": {**score(sf.z_test), "n": 0.0, "minority_share": float("nan")}}
    for name, cur in curation_sets(sf, choices, seed).items():
        if only is not None and name not in only:
            continue
        refit = retrain_last_layer(head, sf.f_pool, sf.y_pool, cur, l2=choices.l2, seed=seed)
        w = cur.weights.astype(np.float64)
        share = float((w * ~sf.aligned_pool[cur.indices]).sum() / w.sum())
        rows[name] = {**score(head_predict(refit, sf.f_test)), "n": float(len(cur)), "minority_share": share}
    return {name: rows[name] for name in ROWS if name in rows}


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, n_boot: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of the paired differences ``a - b`` over seeds and its percentile bootstrap confidence interval.

    Seeds are resampled with replacement (the pairs stay together), ``n_boot`` times.

    Example
    -------
    >>> m, lo, hi = paired_bootstrap(np.array([0.5, 0.6, 0.7, 0.6]), np.array([0.4, 0.5, 0.55, 0.5]))
    >>> round(m, 3), lo > 0
    (0.112, True)
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1 or len(d) < 2:
        raise NapInputError(
            "paired_bootstrap needs two equal-length 1-D arrays of >= 2 seeds", "pass per-seed values"
        )
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    alpha = (1.0 - level) / 2
    return float(d.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def gap_share(row: np.ndarray, plain: np.ndarray, oracle: np.ndarray) -> float:
    """Share of the plain -> oracle gap a row recovers, on the means over seeds (nan when there is no gap).

    Example
    -------
    >>> round(gap_share(np.array([0.5]), np.array([0.2]), np.array([0.8])), 6)
    0.5
    """
    gap = float(np.mean(oracle) - np.mean(plain))
    return float((np.mean(row) - np.mean(plain)) / gap) if gap > 0 else float("nan")


def summarize(result: dict[str, dict[str, list[float]]], *, n_boot: int = 10_000) -> dict[str, Any]:
    """Means, gap shares and paired bootstrap CIs (mid-range variants minus random / JTT) of a JSON result.

    ``result`` is ``{"rows": {name: {"worst_group": [...], "average": [...]}}}`` (the benchmark's JSON).

    Example
    -------
    >>> r = {"rows": {k: {"worst_group": [0.1 * i, 0.1 * i + 0.05], "average": [0.9, 0.9]}
    ...               for i, k in enumerate(ROWS)}}
    >>> round(summarize(r, n_boot=100)["gap_share"]["oracle"], 2)
    1.0
    """
    rows = {
        k: {m: np.asarray(v[m], dtype=np.float64) for m in ("worst_group", "average")}
        for k, v in result["rows"].items()
    }
    wg = {k: v["worst_group"] for k, v in rows.items()}
    out: dict[str, Any] = {
        "mean": {k: {m: float(v[m].mean()) for m in v} for k, v in rows.items()},
        "gap_share": {k: gap_share(wg[k], wg["plain"], wg["oracle"]) for k in rows},
        "paired": {},
    }
    for mid in ("midrange", "midrange_weighted"):
        control = "random" if mid == "midrange" else "random_weighted"
        for other in (control, "jtt", "pool"):
            out["paired"][f"{mid} - {other}"] = paired_bootstrap(wg[mid], wg[other], n_boot=n_boot)
    out["paired"]["jtt - pool"] = paired_bootstrap(wg["jtt"], wg["pool"], n_boot=n_boot)
    return out
