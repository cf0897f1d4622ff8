"""Activations -> Neural Activation Patterns: normalise, cluster with exact HDBSCAN, summarise each NAP."""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from napwidget.clustering import ClusterResult, SingleLinkageTree
from napwidget.errors import NapInputError
from napwidget.normalize import AGGREGATIONS, aggregate, apply_scale, check_finite, feature_scale
from napwidget.progress import expected_seconds, progress_bar

METHODS = ("leaf", "eom")
_MEANS_BLOCK = 2048  # rows per block of NAPs.means (a float64 block of 512 features: 8 MB)
# The mean input of each features matrix, shared by every re-selection of the same features (the widget
# needs it on each min_cluster_size change: ~7 ms per call at 50k x 512); keyed by id, checked by weakref.
_FEATURE_MEANS: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def feature_mean(x: np.ndarray) -> np.ndarray:
    """``x.mean(axis=0)``, computed once per (unchanged) features array.

    Example
    -------
    >>> x = np.arange(6.0).reshape(3, 2)
    >>> feature_mean(x).tolist(), feature_mean(x) is feature_mean(x)
    ([2.0, 3.0], True)
    """
    hit = _FEATURE_MEANS.get(id(x))
    if hit is not None and hit[0]() is x:
        return hit[1]
    for key in [k for k, (ref, _) in _FEATURE_MEANS.items() if ref() is None]:
        del _FEATURE_MEANS[key]
    mean = x.mean(axis=0)
    mean.flags.writeable = False  # shared between callers
    _FEATURE_MEANS[id(x)] = (weakref.ref(x), mean)
    return mean


STAT_NAMES = ("min", "q1", "median", "mean", "q3", "max", "iqr", "lower_whisker", "upper_whisker")


class NAPs:
    """The Neural Activation Patterns of one layer: HDBSCAN clusters of whole-layer activation profiles.

    NAPs are numbered by persistence, descending: NAP 0 is the most persistent (most robust) pattern.

    Attributes
    ----------
    labels : (N,) int64, the NAP of each input; -1 = noise ("no pattern").
    probabilities : (N,) membership probability (1 = most typical member).
    outlier_scores : (N,) GLOSH outlier score (higher = more outlying).
    persistence : (k,) hdbscan's ``cluster_persistence_`` of each NAP.
    sizes : (k,) members per NAP.
    features : (N, F) the normalised matrix that was clustered.
    input_labels : (N,) class labels given to :func:`find_naps`, or None.
    params : the parameters used.
    algorithm : the clustering engine that ran: ``"exact"``, ``"approximate"`` or ``"hdbscan"`` (see
        :mod:`napwidget.algorithms`).

    Example
    -------
    >>> X = np.random.default_rng(0).normal(size=(60, 4)) + np.repeat(np.eye(4)[:3] * 8, 20, axis=0)
    >>> naps = find_naps(X, min_cluster_size=10)
    >>> naps.n_naps >= 2
    True
    """

    def __init__(
        self,
        result: ClusterResult,
        features: np.ndarray,
        *,
        tree: SingleLinkageTree | None = None,
        layer: str | None = None,
        input_labels: np.ndarray | None = None,
        predictions: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        algorithm: str = "exact",
    ) -> None:
        self.features = features
        self.algorithm = algorithm
        self.tree = tree
        self.layer = layer
        self.params = dict(params or {})
        self.input_labels = None if input_labels is None else np.asarray(input_labels)
        self.predictions = None if predictions is None else np.asarray(predictions)
        self.class_names = list(class_names) if class_names is not None else None
        raw = np.asarray(result.labels, dtype=np.int64)
        k = int(raw.max()) + 1 if raw.size and raw.max() >= 0 else 0
        sizes = np.bincount(raw[raw >= 0], minlength=k)
        pers = np.asarray(result.persistence, dtype=np.float64)[:k]
        # Persistence descending; ties by size descending, then by the clusterer's own order (stable).
        order = np.lexsort((np.arange(k), -sizes, -pers)) if k else np.zeros(0, np.int64)
        remap = np.empty(k, dtype=np.int64)
        remap[order] = np.arange(k)
        self._result, self._remap = result, remap
        self.feature_scale: np.ndarray | None = None  # per-column divisors (set by find_naps), for predict
        self.labels = np.where(raw >= 0, remap[np.maximum(raw, 0)], -1) if k else np.full_like(raw, -1)
        self.persistence = pers[order]
        self.sizes = sizes[order]
        self.stability = np.asarray(result.stability, dtype=np.float64)[:k][order] if k else np.zeros(0)
        self.probabilities = np.asarray(result.probabilities, dtype=np.float64)
        self.outlier_scores = np.asarray(result.outlier_scores, dtype=np.float64)

    # ------------------------------------------------------------------------------------- predict
    def predict(self, activations: Any) -> tuple[np.ndarray, np.ndarray]:
        """NAP and membership probability of inputs that were not clustered (hdbscan's approximate_predict).

        The new activations are aggregated and scaled exactly like the clustered ones (same divisors), then
        attached to this clustering's condensed tree without changing it: each new input joins its nearest
        clustered input in mutual-reachability distance and takes the NAP alive at that distance (or noise).
        So NAPs found on a subsample extend to the rest of the data. Works for either algorithm.

        Parameters
        ----------
        activations : (M, F) array, raw (M, C, H, W) conv outputs, or an Activations / mapping holding this
            NAPs' layer.

        Returns
        -------
        (labels, probabilities): (M,) NAP ids as in :attr:`labels` (-1 = noise) and (M,) probabilities
        in [0, 1].

        Example
        -------
        >>> sub = find_naps(X[:20_000], layer="fc1")        # doctest: +SKIP
        >>> nap, prob = sub.predict(X[20_000:])              # doctest: +SKIP
        """
        predictor = self._predictor()
        matrix, _, _ = _select_matrix(activations, self.layer if self.layer is not None else None)
        if matrix.ndim > 2:
            matrix = aggregate(matrix, self.params.get("aggregate_by", "mean"))
        if matrix.ndim == 1:
            matrix = matrix[None, :]
        if matrix.ndim != 2 or matrix.shape[1] != self.features.shape[1]:
            raise NapInputError(
                f"new activations have shape {matrix.shape} but this layer was clustered on "
                f"{self.features.shape[1]} features",
                "pass activations of the same layer, extracted and reduced the same way",
            )
        check_finite(matrix, "new activations")
        raw, prob = predictor.predict(apply_scale(matrix, self.feature_scale))
        nap = np.where(raw >= 0, self._remap[np.maximum(raw, 0)] if self.n_naps else -1, -1)
        return nap.astype(np.int64), prob

    def _predictor(self) -> Any:
        cached = self.__dict__.get("_predictor_cache")
        if cached is not None:
            return cached
        if self.tree is None or self._result.condensed_tree is None or self.feature_scale is None:
            raise NapInputError(
                "these NAPs cannot predict: they were loaded from disk or built without find_naps",
                "call find_naps(...) on the activations again, then naps.predict(new_activations)",
            )
        from napwidget.clustering.predict import Predictor

        self.__dict__["_predictor_cache"] = Predictor.build(self.features, self.tree, self._result)
        return self.__dict__["_predictor_cache"]

    # ----------------------------------------------------------------------------------------- basics
    @property
    def n_naps(self) -> int:
        """Number of NAPs (noise excluded)."""
        return len(self.sizes)

    @property
    def n_samples(self) -> int:
        return len(self.labels)

    @property
    def noise(self) -> np.ndarray:
        """Indices of the inputs in no NAP."""
        return np.flatnonzero(self.labels < 0)

    def _check_nap(self, i: int) -> int:
        if not (-1 <= int(i) < self.n_naps):
            raise IndexError(
                f"NAP {i} does not exist: this layer has {self.n_naps} NAPs "
                f"(0..{self.n_naps - 1}; -1 = noise)"
            )
        return int(i)

    @cached_property
    def _members(self) -> list[np.ndarray]:
        # One stable sort for all NAPs: by NAP, then probability descending, ties in data order.
        order = np.lexsort((np.arange(self.n_samples), -self.probabilities, self.labels))
        lab = self.labels[order]
        bounds = np.searchsorted(lab, np.arange(-1, self.n_naps + 1))
        return [order[bounds[j] : bounds[j + 1]] for j in range(self.n_naps + 1)]

    def members(self, i: int) -> np.ndarray:
        """Input indices of NAP ``i``, most typical (highest membership probability) first; ``-1`` = noise.

        Example
        -------
        >>> naps.members(0)[:5]  # doctest: +SKIP
        """
        return self._members[self._check_nap(i) + 1]

    # ----------------------------------------------------------------------------------- statistics
    @cached_property
    def means(self) -> np.ndarray:
        """(k, F) mean normalised activation of each NAP's members; cheap (no quantiles), for heatmaps."""
        k, f = self.n_naps, self.features.shape[1]
        if k == 0:
            return np.zeros((0, f), dtype=np.float32)
        from scipy.sparse import csr_matrix

        # a sparse membership matrix times the features block by block of rows, in the features' own dtype,
        # the block sums added in float64: converting the features to float64 was most of the time (a 40 MB
        # copy at 10k x 512; still ~45 % of it block by block), and a block's float32 sum of <= 2048 values
        # is within ~1e-7 relative
        sums = np.zeros((k, f))
        for b0 in range(0, self.n_samples, _MEANS_BLOCK):
            lab = self.labels[b0 : b0 + _MEANS_BLOCK]
            rows = np.flatnonzero(lab >= 0)
            if len(rows):
                block = np.asarray(self.features[b0 : b0 + _MEANS_BLOCK])
                ones = np.ones(len(rows), dtype=np.result_type(block.dtype, np.float32))
                member = csr_matrix((ones, (lab[rows], rows)), shape=(k, len(lab)))
                sums += member @ block
        return (sums / np.maximum(self.sizes, 1)[:, None]).astype(np.float32)

    @cached_property
    def stats(self) -> dict[str, np.ndarray]:
        """Per-NAP, per-unit statistics of the normalised activations, each (k, F).

        ``min, q1, median, mean, q3, max, iqr`` and the box-plot whiskers
        ``lower_whisker = max(q1 - 1.5 IQR, min)``, ``upper_whisker = min(q3 + 1.5 IQR, max)`` (exact
        quantiles). Quantiles of every NAP cost ~1 ms per NAP: views that show a few NAPs use
        :meth:`nap_stats`.
        """
        k, f = self.n_naps, self.features.shape[1]
        out = {name: np.zeros((k, f), dtype=np.float32) for name in STAT_NAMES}
        for i in range(k):
            for name, row in self.nap_stats(i).items():
                out[name][i] = row
        return out

    @cached_property
    def _stats_by_nap(self) -> dict[int, dict[str, np.ndarray]]:
        return {}

    def nap_stats(self, i: int) -> dict[str, np.ndarray]:
        """The :attr:`stats` of NAP ``i`` alone, each (F,) float32 (computed once per NAP).

        Example
        -------
        >>> naps.nap_stats(0)["median"][:4]  # doctest: +SKIP
        """
        i = self._check_nap(i)
        if i < 0:
            raise IndexError("noise has no unit statistics: pick a NAP id >= 0")
        cache = self._stats_by_nap
        if i not in cache:
            x = self.features[self.members(i)]
            q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75], axis=0)
            mn, mx = x.min(axis=0), x.max(axis=0)
            iqr = q3 - q1
            values = {
                "min": mn,
                "q1": q1,
                "median": med,
                "mean": x.mean(axis=0),
                "q3": q3,
                "max": mx,
                "iqr": iqr,
                "lower_whisker": np.maximum(q1 - 1.5 * iqr, mn),
                "upper_whisker": np.minimum(q3 + 1.5 * iqr, mx),
            }
            cache[i] = {name: np.asarray(values[name], dtype=np.float32) for name in STAT_NAMES}
        return cache[i]

    def top_units(self, i: int, n: int = 5, *, by: str = "contrast") -> np.ndarray:
        """The ``n`` units that characterise NAP ``i`` most.

        ``by="contrast"``: highest NAP mean minus the mean over all inputs (what sets the NAP apart);
        ``by="mean"``: highest NAP mean.
        """
        i = self._check_nap(i)
        if i < 0:
            raise IndexError("noise has no unit statistics: pick a NAP id >= 0")
        score = self.means[i].astype(np.float64)
        if by == "contrast":
            score = score - feature_mean(self.features)
        elif by != "mean":
            raise NapInputError(f"unknown by={by!r}", "use 'contrast' or 'mean'")
        return np.argsort(-score, kind="stable")[:n]

    # ------------------------------------------------------------------------------ label make-up
    @cached_property
    def classes(self) -> np.ndarray:
        """Sorted distinct input labels (empty without labels)."""
        if self.input_labels is None:
            return np.zeros(0, dtype=np.int64)
        return np.unique(self.input_labels)

    @cached_property
    def label_counts(self) -> np.ndarray:
        """(k, n_classes) counts of each class among each NAP's members (columns follow :attr:`classes`)."""
        if self.input_labels is None:
            return np.zeros((self.n_naps, 0), dtype=np.int64)
        codes = np.searchsorted(self.classes, self.input_labels)
        mask = self.labels >= 0
        flat = self.labels[mask] * len(self.classes) + codes[mask]
        return np.bincount(flat, minlength=self.n_naps * len(self.classes)).reshape(
            self.n_naps, len(self.classes)
        )

    @property
    def purity(self) -> np.ndarray:
        """(k,) share of each NAP's most common class (NaN without labels)."""
        counts = self.label_counts
        if counts.shape[1] == 0:
            return np.full(self.n_naps, np.nan)
        return counts.max(axis=1) / np.maximum(counts.sum(axis=1), 1)

    def label_composition(self, i: int) -> dict[Any, int]:
        """Class -> member count for NAP ``i``, most common first."""
        i = self._check_nap(i)
        if self.input_labels is None:
            return {}
        labs, counts = np.unique(self.input_labels[self.members(i)], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return {self._class_name(labs[j]): int(counts[j]) for j in order}

    def _class_name(self, lab: Any) -> Any:
        if (
            self.class_names is not None
            and np.issubdtype(np.asarray(lab).dtype, np.integer)
            and 0 <= int(lab) < len(self.class_names)
        ):
            return self.class_names[int(lab)]
        return lab.item() if hasattr(lab, "item") else lab

    def mean_purity(self) -> float:
        """Member-weighted mean purity over NAPs (NaN without labels or NAPs)."""
        if self.n_naps == 0 or self.input_labels is None:
            return float("nan")
        return float(self.label_counts.max(axis=1).sum() / max(self.sizes.sum(), 1))

    # ------------------------------------------------------------------------------------- export
    def summary(self, *, as_frame: bool = False) -> Any:
        """One row per NAP: id, size, persistence, purity, dominant class.

        ``as_frame=False``: a list of JSON-able dicts; ``as_frame=True``: a pandas DataFrame indexed by NAP
        (needs pandas: ``pip install napwidget[pandas]``), the same as ``to_pandas(per="nap")``.

        Example
        -------
        >>> naps.summary(as_frame=True).sort_values("purity").head()  # doctest: +SKIP
        """
        rows = []
        for i in range(self.n_naps):
            comp = self.label_composition(i)
            dominant = next(iter(comp), None)
            rows.append(
                {
                    "nap": i,
                    "size": int(self.sizes[i]),
                    "persistence": float(self.persistence[i]),
                    "purity": float(self.purity[i]) if self.input_labels is not None else None,
                    "dominant": dominant,
                }
            )
        if not as_frame:
            return rows
        import pandas as pd

        columns = ["nap", "size", "persistence", "purity", "dominant"]
        return pd.DataFrame(rows, columns=columns).set_index("nap")

    def to_pandas(self, per: str = "input"):
        """A DataFrame: ``per="input"`` (default) one row per input: nap, probability, outlier_score (and
        label, prediction when given); ``per="nap"`` one row per NAP (:meth:`summary`).

        Example
        -------
        >>> naps.to_pandas().groupby("nap").size()  # doctest: +SKIP
        >>> naps.to_pandas(per="nap").head()        # doctest: +SKIP
        """
        if per == "nap":
            return self.summary(as_frame=True)
        if per != "input":
            raise NapInputError(f"unknown per={per!r}", "use per='input' (one row per input) or per='nap'")
        import pandas as pd

        data = {"nap": self.labels, "probability": self.probabilities, "outlier_score": self.outlier_scores}
        if self.input_labels is not None:
            data["label"] = self.input_labels
        if self.predictions is not None:
            data["prediction"] = self.predictions
        return pd.DataFrame(data).rename_axis("input")

    def _repr_html_(self, max_rows: int = 10) -> str:
        """A notebook summary: the header of :meth:`__repr__` and the most persistent NAPs as a table."""
        from napwidget.naps_html import naps_html

        return naps_html(self, max_rows=max_rows)

    def save(self, path: str | Path) -> Path:
        """Save to a ``.npz`` file (no pickles); reload with :func:`load_naps`."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        arrays = {
            "labels": self.labels,
            "probabilities": self.probabilities,
            "outlier_scores": self.outlier_scores,
            "persistence": self.persistence,
            "stability": self.stability,
            "features": self.features,
        }
        if self.input_labels is not None and self.input_labels.dtype != object:
            arrays["input_labels"] = self.input_labels
        if self.predictions is not None:
            arrays["predictions"] = self.predictions
        meta = {
            "layer": self.layer,
            "params": self.params,
            "class_names": self.class_names,
            "version": 1,
            "algorithm": self.algorithm,
        }
        np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
        return path

    def __repr__(self) -> str:
        noise = float((self.labels < 0).mean()) if self.n_samples else 0.0
        return f"NAPs(layer={self.layer!r}, n_naps={self.n_naps}, n={self.n_samples}, noise={noise:.0%})"


def load_naps(path: str | Path) -> NAPs:
    """Load NAPs saved with :meth:`NAPs.save`.

    The file is read without unpickling anything; a file that is not a NAPs file (a pickle, another archive,
    a damaged download) raises :class:`NapInputError` naming the file and what is wrong with it.

    Example
    -------
    >>> naps2 = load_naps(naps.save("/tmp/naps.npz"))  # doctest: +SKIP
    """
    from napwidget.naps_file import read_naps_file

    meta, data = read_naps_file(path)
    k = len(data["persistence"])
    result = ClusterResult(
        labels=data["labels"],
        probabilities=data["probabilities"],
        outlier_scores=data["outlier_scores"],
        persistence=data["persistence"],
        stability=data["stability"][:k],
        condensed_tree=None,
    )
    return NAPs(
        result,
        data["features"],
        layer=meta.get("layer"),
        params=meta.get("params"),
        input_labels=data.get("input_labels"),
        predictions=data.get("predictions"),
        class_names=meta.get("class_names"),
        algorithm=meta.get("algorithm", "exact"),
    )


def _select_matrix(activations: Any, layer: str | None) -> tuple[np.ndarray, str | None, bool]:
    """(matrix, layer name, is mean_std) from an Activations / mapping / array."""
    from napwidget.activations import Activations

    if isinstance(activations, (Activations, Mapping)):
        from napwidget.activations import default_layer

        names = list(activations.keys())
        layer = default_layer(names, layer, "say which one: find_naps(acts, layer='...')")
        if layer not in activations:
            from napwidget.activations import unknown_layer_error

            raise unknown_layer_error(layer, names)
        is_ms = isinstance(activations, Activations) and activations.reduce == "mean_std"
        return np.asarray(activations[layer]), layer, is_ms
    try:
        import torch

        if isinstance(activations, torch.Tensor):
            activations = activations.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np.asarray(activations), layer, False


def validate_params(n: int, min_cluster_size: int, min_samples: int, method: str) -> None:
    """Raise :class:`NapInputError` for parameters HDBSCAN cannot use on ``n`` inputs."""
    if int(min_cluster_size) != min_cluster_size or min_cluster_size < 2:
        raise NapInputError(
            f"min_cluster_size={min_cluster_size} is too small",
            "use an integer >= 2 (the method's default is 5)",
        )
    if int(min_samples) != min_samples or min_samples < 1:
        raise NapInputError(
            f"min_samples={min_samples} is too small", "use an integer >= 1 (the method's default is 5)"
        )
    if method not in METHODS:
        raise NapInputError(
            f"unknown cluster_selection_method={method!r}", "use 'leaf' (the method's default) or 'eom'"
        )
    if n < min_cluster_size:
        raise NapInputError(
            f"only {n} inputs for min_cluster_size={min_cluster_size}",
            f"pass at least {min_cluster_size} inputs or lower min_cluster_size",
        )
    if n <= min_samples:
        raise NapInputError(
            f"only {n} inputs for min_samples={min_samples}",
            f"pass more than {min_samples} inputs or lower min_samples",
        )


def find_naps(
    activations: Any,
    *,
    layer: str | None = None,
    min_cluster_size: int = 5,
    min_samples: int = 5,
    cluster_selection_method: str = "leaf",
    normalize: str = "unit",
    aggregate_by: str = "mean",
    parity: bool = False,
    labels: Any = None,
    predictions: Any = None,
    class_names: Sequence[str] | None = None,
    algorithm: str | None = None,
    progress: bool | None = None,
) -> NAPs:
    """Find the Neural Activation Patterns of one layer.

    Each input's whole-layer activation profile is normalised (per unit by its largest |value| by default)
    and the inputs are clustered with exact HDBSCAN (euclidean). Defaults follow the method's reference
    implementation: ``min_cluster_size=5, min_samples=5, cluster_selection_method="leaf"``.

    Re-clustering is instant: the single-linkage tree of a (matrix, normalisation, min_samples) is cached, so
    a second call that changes only ``min_cluster_size`` or ``cluster_selection_method`` re-selects clusters
    from it (milliseconds) and gives the labels a full refit would.

    Parameters
    ----------
    activations : an :class:`~napwidget.Activations` (with ``layer=``), a mapping of layer -> array, an (N, F)
        array, or raw (N, C, H, W) outputs (aggregated per channel with ``aggregate_by``).
    normalize : ``"unit"`` (per-unit abs-max, default), ``"layer"`` (one scalar, the reference's dense-layer
        behaviour) or ``"none"``.
    aggregate_by : for raw conv outputs: ``"mean"`` (default), ``"max"``, ``"mean_std"``, ``"min_max"``,
        ``"none"``.
    parity : reproduce the reference implementation's quirks (dense layers divided by one scalar; the std
        block of ``mean_std`` divided by the square root of the mean block's maximum).
    labels, predictions, class_names : per-input class labels / model predictions, for label make-up.
    algorithm : the clustering engine (:mod:`napwidget.algorithms`): ``"auto"`` (default: ``"exact"``
        while its memory fits comfortably in what is available, else ``"approximate"``, with a warning),
        ``"exact"`` (hdbscan's result bit for bit where hdbscan's MST is exact; memory N x N float32, e.g.
        10 GiB at 50k inputs), ``"approximate"`` (HDBSCAN on a k-nearest-neighbour graph, memory
        O(N * (features + k)): for 100k-1M inputs) or ``"hdbscan"`` (the hdbscan library itself, as the
        reference tool runs it: persistence bit for bit the reference's, also for D <= 60 where hdbscan's
        default MST is approximate; slower, and every call refits). ``parity=True`` selects ``"hdbscan"``
        unless ``algorithm`` is given. ``naps.algorithm`` says which one ran.
    progress : show a tqdm progress bar while the tree is built: ``None`` (default) when that is predicted to
        take more than ~2 s (and the tree is not cached), ``True`` always, ``False`` never.

    Example
    -------
    >>> from napwidget.datasets import DigitsDemo
    >>> demo = DigitsDemo.load()                                        # doctest: +SKIP
    >>> acts = extract(demo.model, demo.images, ["relu4"])              # doctest: +SKIP
    >>> naps = find_naps(acts, layer="relu4", labels=demo.labels)      # doctest: +SKIP
    >>> naps.members(0)[:8]                                             # doctest: +SKIP
    """
    from napwidget.algorithms import ALGORITHMS, resolve_algorithm
    from napwidget.clustering.engines import resolve_tree_engine

    engine = resolve_algorithm(algorithm, parity)
    matrix, layer, is_mean_std = _select_matrix(activations, layer)
    if matrix.ndim > 2:
        is_mean_std = aggregate_by == "mean_std"
        matrix = aggregate(matrix, aggregate_by)
    elif aggregate_by not in AGGREGATIONS:
        raise NapInputError(f"unknown aggregate_by={aggregate_by!r}", f"use one of {AGGREGATIONS}")
    if matrix.ndim != 2:
        raise NapInputError(
            f"activations have shape {matrix.shape}",
            "pass an (N, features) matrix or (N, C, H, W) conv outputs",
        )
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(matrix.dtype, np.complexfloating):
        raise NapInputError(f"activations have dtype {matrix.dtype}", "pass real numbers (e.g. float32)")
    n = matrix.shape[0]
    if n == 0:
        raise NapInputError(
            "the activation matrix is empty", "extract activations of at least min_cluster_size inputs"
        )
    validate_params(n, min_cluster_size, min_samples, cluster_selection_method)
    dense = matrix.ndim == 2 and not is_mean_std
    norm = "layer" if (parity and dense and normalize == "unit") else normalize

    def make_features() -> tuple[np.ndarray, np.ndarray]:
        check_finite(matrix, f"activations of layer {layer!r}" if layer else "activations")
        scale = feature_scale(matrix, norm, parity=parity, mean_std=is_mean_std)
        return apply_scale(matrix, scale), scale

    expected = expected_seconds(resolve_tree_engine(engine, n, matrix.shape[1]), n, matrix.shape[1])
    with progress_bar(progress, f"NAPs {layer}" if layer else "NAPs", expected=expected) as report:
        features, tree, result, used, scale = ALGORITHMS[engine](
            matrix,
            (norm, parity, is_mean_std),
            make_features,
            min_cluster_size=int(min_cluster_size),
            min_samples=int(min_samples),
            method=cluster_selection_method,
            progress=report,
        )
    labels_arr = _per_input(labels, n, "labels")
    preds_arr = _per_input(predictions, n, "predictions")
    params = {
        "min_cluster_size": int(min_cluster_size),
        "min_samples": int(min_samples),
        "cluster_selection_method": cluster_selection_method,
        "normalize": normalize,
        "parity": parity,
        "algorithm": engine,
        "aggregate_by": aggregate_by,
    }
    naps = NAPs(
        result,
        features,
        tree=tree,
        layer=layer,
        input_labels=labels_arr,
        predictions=preds_arr,
        class_names=class_names,
        params=params,
        algorithm=used,
    )
    naps.feature_scale = scale
    return naps


def _per_input(values: Any, n: int, what: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values)
    if arr.shape[:1] != (n,):
        raise NapInputError(
            f"{what} have shape {arr.shape} but there are {n} inputs", f"pass one {what[:-1]} per input"
        )
    return arr


def top_activating(
    activations: Any, unit: int | None = None, k: int = 16, *, layer: str | None = None
) -> np.ndarray:
    """The max-activation baseline NAPs are contrasted with: the ``k`` inputs that excite ``unit`` most.

    With ``unit=None`` the layer as a whole: inputs ranked by the L2 norm of their activation vector.
    Ties keep data order.

    Example
    -------
    >>> top_activating(np.array([[0.0, 1], [3, 0], [2, 5]]), unit=0, k=2)
    array([1, 2])
    """
    matrix, layer, _ = _select_matrix(activations, layer)
    matrix = aggregate(matrix, "mean") if matrix.ndim > 2 else matrix
    if matrix.ndim != 2:
        raise NapInputError(f"activations have shape {matrix.shape}", "pass an (N, features) matrix")
    if unit is None:
        score = np.linalg.norm(matrix.astype(np.float64), axis=1)
    else:
        if not (0 <= int(unit) < matrix.shape[1]):
            raise NapInputError(
                f"unit {unit} does not exist (the layer has {matrix.shape[1]} units)",
                f"pick 0..{matrix.shape[1] - 1}",
            )
        score = matrix[:, int(unit)].astype(np.float64)
    score = np.where(np.isfinite(score), score, -np.inf)
    return np.argsort(-score, kind="stable")[: max(int(k), 0)]
