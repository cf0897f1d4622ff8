"""The widget's brain without the widget: an exploration session over the NAPs of several layers.

:class:`Explorer` holds the activations, labels and predictions, runs :func:`~napwidget.naps.find_naps` for
the current parameters (keeping recent results), and answers what each view should show as JSON-able
"view models". The widget (:mod:`napwidget.widget`) only moves these to the browser; everything here can
be tested without a browser or a kernel.

Example
-------
>>> rng = np.random.default_rng(0)
>>> X = np.concatenate([rng.normal(c, 0.1, size=(30, 4)) for c in (0, 3, 6)]).astype(np.float32)
>>> ex = Explorer({"fc": np.abs(X)}, labels=np.repeat([0, 1, 2], 30), min_cluster_size=5)
>>> vm = ex.view_model()
>>> vm["n_naps"] >= 2, vm["layer"]
(True, 'fc')
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from napwidget.errors import NapInputError

# Okabe-Ito without black (unreadable on dark themes), then Paul Tol's muted colours: colour-blind safe
# for the first 7 classes, distinguishable for 13; more classes cycle (labels are always also written).
PALETTE = [
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#882255",
    "#44AA99",
    "#332288",
    "#999933",
    "#AA4499",
    "#DDCC77",
]
OTHER_COLOR = "#9E9E9E"
NO_LABEL_COLOR = "#0072B2"

DEFAULT_PARAMS = {
    "min_cluster_size": 5,
    "min_samples": 5,
    "cluster_selection_method": "leaf",
    "normalize": "unit",
}
PARAM_NAMES = ("layer", *DEFAULT_PARAMS)


def _engine():
    """The engine's find_naps and option lists (imported lazily: the widget imports fast)."""
    from napwidget import naps as naps_mod

    methods = tuple(getattr(naps_mod, "METHODS", ("leaf", "eom")))
    try:
        from napwidget.normalize import NORMALIZATIONS as norms
    except ImportError:  # pragma: no cover - older engine
        norms = ("unit", "none")
    return naps_mod.find_naps, methods, tuple(norms)


def feature_mean(x: np.ndarray) -> np.ndarray:
    """The mean input of the features matrix, cached per array (see :func:`napwidget.naps.feature_mean`)."""
    from napwidget.naps import feature_mean as cached

    return cached(x)


def _r(x: float, nd: int = 4) -> float | None:
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def _rounded(x: Any, nd: int) -> list[float | None]:
    """``_r`` of every value of a 1-D or 2-D array, vectorised (non-finite -> None)."""
    a = np.round(np.asarray(x, dtype=np.float64), nd)
    out = a.tolist()
    if np.isfinite(a).all():
        return out
    bad = ~np.isfinite(a)
    if a.ndim == 1:
        return [None if b else v for v, b in zip(out, bad.tolist())]
    return [[None if b else v for v, b in zip(row, brow)] for row, brow in zip(out, bad.tolist())]


def _top_columns(score: np.ndarray, n: int) -> np.ndarray:
    """(k, n) column indices of each row's ``n`` highest scores, highest first, ties by column: the first
    ``n`` of a stable argsort of ``-score``, without sorting whole rows (hundreds of NAPs x 512 units)."""
    k, f = score.shape
    if n >= f:
        return np.argsort(-score, axis=1, kind="stable")
    part = np.argpartition(-score, n - 1, axis=1)[:, :n]
    nth = np.take_along_axis(score, part, axis=1).min(axis=1)
    # a tie with the n-th score outside the partition: only a full stable sort picks the same columns
    exact = (score >= nth[:, None]).sum(axis=1) == n
    vals = np.take_along_axis(score, part, axis=1)
    out = np.take_along_axis(part, np.lexsort((part, -vals), axis=1), axis=1)
    tied = np.flatnonzero(~exact)
    if len(tied):
        out[tied] = np.argsort(-score[tied], axis=1, kind="stable")[:, :n]
    return out


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


class Explorer:
    """An exploration session: activations of N inputs for several layers, and the NAPs of one of them.

    Parameters
    ----------
    activations : an :class:`~napwidget.Activations` or a mapping ``layer -> (N, F) array`` (model order).
    labels : (N,) class labels (ints or strings), optional.
    predictions : (N,) predicted classes; ``False`` for none. When absent they are the argmax of
        ``activations.outputs`` only if those are class scores: as wide as there are classes
        (``len(class_names)``, else ``max(labels) + 1``, see :mod:`napwidget.class_scores`). Otherwise
        (embeddings, regression heads, unknown classes) nothing is inferred, no correctness is shown and
        ``predictions_note`` says why. Multi-label outputs as wide as the classes would be read as one
        class per input: pass ``predictions=False`` (or your own) for multi-label models.
    class_names : names for integer labels/predictions (``class_names[label]``), optional.
    renderer : an :class:`~napwidget.renderers.ItemRenderer` (cards' member thumbnails), optional.
    layer_info : mapping ``layer -> {"type": ..., "shape": ...}`` shown in the layer picker, optional.
    layer : the layer to start with (default: the last hidden layer, i.e. the one before the output).
    top_members : members shown on each NAP card.
    heatmap_units : at most this many units (columns) in the unit heatmap.
    algorithm : clustering engine for every layer, as in :func:`~napwidget.find_naps` (``"auto"``: exact while
        it fits in memory, else approximate).
    **params : ``min_cluster_size``, ``min_samples``, ``cluster_selection_method``, ``normalize``.
    """

    def __init__(
        self,
        activations: Mapping[str, Any],
        *,
        labels: Any = None,
        predictions: Any = None,
        class_names: Sequence[str] | None = None,
        renderer: Any = None,
        layer_info: Mapping[str, Mapping[str, Any]] | None = None,
        layer: str | None = None,
        top_members: int = 8,
        heatmap_units: int = 64,
        cache_results: int = 12,
        algorithm: str = "auto",
        **params: Any,
    ) -> None:
        unknown = set(params) - set(DEFAULT_PARAMS)
        if unknown:
            raise NapInputError(f"unknown parameter(s) {sorted(unknown)}", f"use {', '.join(DEFAULT_PARAMS)}")
        if not isinstance(activations, Mapping) or len(activations) == 0:
            raise NapInputError(
                "activations must be a non-empty mapping of layer name -> (N, F) array",
                "pass napwidget.extract(model, inputs) or a dict like {'fc1': array}",
            )
        self.activations = activations
        self.layers: list[str] = [str(k) for k in activations]
        first = _as_numpy(activations[self.layers[0]])
        self.n = int(first.shape[0])
        for name in self.layers:
            shape = np.shape(activations[name])
            if len(shape) < 1 or shape[0] != self.n:
                raise NapInputError(
                    f"layer {name!r} has {shape[0] if shape else 0} rows but {self.layers[0]!r} has {self.n}",
                    "pass activations of the same inputs for every layer",
                )
        self.layer_info = {k: dict(v) for k, v in (layer_info or {}).items()}
        self.renderer = renderer
        self.top_members = int(top_members)
        self.heatmap_units = int(heatmap_units)
        self._find_naps, self.methods, self.normalizations = _engine()
        self.algorithm = algorithm
        self._engines: dict[tuple, str] = {}  # (layer, min_samples, normalize) -> engine "auto" chose

        self.class_names = list(class_names) if class_names is not None else None
        self.labels = None if labels is None else _as_numpy(labels).reshape(-1)
        #: why predictions were not inferred from the outputs ("" when they were, were given, or turned off)
        self.predictions_note = ""
        if predictions is None:
            predictions, self.predictions_note = self._infer_predictions(
                getattr(activations, "outputs", None)
            )
        elif isinstance(predictions, bool):
            if predictions:
                raise NapInputError(
                    "predictions=True is ambiguous",
                    "omit it (inferred from class-score outputs), or pass an array",
                )
            predictions = None
        self.predictions = None if predictions is None else _as_numpy(predictions).reshape(-1)
        for what, arr in (("labels", self.labels), ("predictions", self.predictions)):
            if arr is not None and arr.shape[0] != self.n:
                raise NapInputError(
                    f"{what} have {arr.shape[0]} entries but there are {self.n} inputs",
                    f"pass one {what[:-1]} per input",
                )
        self.classes, self.label_codes, self.pred_codes = self._encode_classes()

        self._results: OrderedDict[tuple, Any] = OrderedDict()
        self._cache_results = int(cache_results)
        self._view_cache: dict[tuple, dict] = {}
        start = dict(DEFAULT_PARAMS, **params)
        start["layer"] = layer if layer is not None else self.default_layer()
        self.params: dict[str, Any] = {}
        self.naps = None
        self.set_params(**start)

    # ---------------------------------------------------------------------------------- classes
    def _infer_predictions(self, outputs: Any) -> tuple[np.ndarray | None, str]:
        """(argmax of the outputs, "") when they are class scores, else (None, the reason for the widget)."""
        from napwidget.class_scores import class_score_problem, n_classes

        if outputs is None:
            return None, ""
        outputs = _as_numpy(outputs)
        if outputs.ndim == 1:
            outputs = outputs[:, None]
        if outputs.ndim != 2 or outputs.shape[0] != self.n:
            return None, f"outputs have shape {outputs.shape}, not one row per input: no predictions inferred"
        problem = class_score_problem(int(outputs.shape[1]), n_classes(self.class_names, self.labels))
        if problem is not None:
            return None, f"{problem}: pass predictions= to show correctness"
        return outputs.argmax(axis=1), ""

    def class_name(self, v: Any) -> str:
        """The display name of a label or prediction value (``class_names[v]`` for integer codes)."""
        return self._class_name(v)

    def composition(
        self, members: np.ndarray, top: int = 5
    ) -> tuple[list[list[int]], int, int | None, float | None]:
        """Label make-up of ``members``: top ``[class code, count]`` pairs, the rest's count, dominant,
        purity."""
        return self._composition(members, top)

    def _class_name(self, v: Any) -> str:
        if (
            self.class_names is not None
            and isinstance(v, (int, np.integer))
            and 0 <= int(v) < len(self.class_names)
        ):
            return str(self.class_names[int(v)])
        if isinstance(v, (np.generic,)):
            v = v.item()
        return str(v)

    def _encode_classes(self) -> tuple[list[str], np.ndarray | None, np.ndarray | None]:
        """Display names of all classes, and int32 codes (-1 = unknown) for labels and predictions."""
        names: list[str] = list(map(str, self.class_names)) if self.class_names is not None else []
        index = {name: i for i, name in enumerate(names)}
        codes = []
        for arr in (self.labels, self.predictions):
            if arr is None:
                codes.append(None)
                continue
            uniq, inverse = np.unique(arr, return_inverse=True)
            table = np.empty(len(uniq), dtype=np.int32)
            for j, v in enumerate(uniq):
                name = self._class_name(v)
                if name not in index:
                    index[name] = len(names)
                    names.append(name)
                table[j] = index[name]
            codes.append(table[inverse.reshape(-1)])
        return names, codes[0], codes[1]

    def class_color(self, code: int | None) -> str:
        if code is None or code < 0:
            return OTHER_COLOR
        return PALETTE[code % len(PALETTE)]

    # -------------------------------------------------------------------------------- layers
    def default_layer(self) -> str:
        """The last hidden layer: the one before the output (the most "semantic" NAPs), or the only one."""
        if len(self.layers) == 1:
            return self.layers[0]
        return self.layers[-2]

    def layer_list(self) -> list[dict[str, Any]]:
        """The layer picker's entries, in model order."""
        out = []
        for name in self.layers:
            info = self.layer_info.get(name, {})
            shape = info.get("shape")
            out.append(
                {
                    "name": name,
                    "type": str(info.get("type") or ""),
                    "shape": list(shape) if shape else None,
                    "n_features": int(np.shape(self.activations[name])[1])
                    if len(np.shape(self.activations[name])) > 1
                    else 1,
                }
            )
        return out

    # ------------------------------------------------------------------------------ parameters
    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check a full parameter set; return it normalised, or raise :class:`NapInputError`."""
        p = dict(params)
        if p["layer"] not in self.layers:
            import difflib

            close = difflib.get_close_matches(str(p["layer"]), self.layers, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"pick one of {', '.join(self.layers[:12])}"
            raise NapInputError(f"unknown layer {p['layer']!r}", hint)
        for key in ("min_cluster_size", "min_samples"):
            v = p[key]
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, np.integer, float))
                or float(v) != int(float(v))
            ):
                raise NapInputError(f"{key}={v!r} is not a whole number", "type an integer such as 5")
            p[key] = int(v)
        mcs, ms = p["min_cluster_size"], p["min_samples"]
        if mcs < 2:
            raise NapInputError(
                f"min_cluster_size={mcs} is too small", "use 2 or more (the method's default is 5)"
            )
        if mcs > self.n:
            raise NapInputError(
                f"min_cluster_size={mcs} is larger than the {self.n} inputs",
                f"use a value between 2 and {self.n}",
            )
        if ms < 1:
            raise NapInputError(f"min_samples={ms} is too small", "use 1 or more (the method's default is 5)")
        if ms >= self.n:
            raise NapInputError(
                f"min_samples={ms} needs more than {self.n} inputs", f"use a value below {self.n}"
            )
        if p["cluster_selection_method"] not in self.methods:
            raise NapInputError(
                f"unknown cluster_selection_method={p['cluster_selection_method']!r}",
                f"use one of {', '.join(map(repr, self.methods))} ('leaf' is the method's default)",
            )
        if p["normalize"] not in self.normalizations:
            raise NapInputError(
                f"unknown normalize={p['normalize']!r}",
                f"use one of {', '.join(map(repr, self.normalizations))}",
            )
        return p

    def set_params(self, **changes: Any) -> Any:
        """Validate and apply parameter changes, recomputing the NAPs; return the new :class:`NAPs`.

        On any error the session is left as it was and a :class:`NapInputError` (problem + fix) is raised.
        """
        unknown = set(changes) - set(PARAM_NAMES)
        if unknown:
            raise NapInputError(f"unknown parameter(s) {sorted(unknown)}", f"use {', '.join(PARAM_NAMES)}")
        params = self.validate({**self.params, **changes})
        key = tuple(params[k] for k in PARAM_NAMES)
        naps = self._results.get(key)
        if naps is None:
            naps = self.compute_naps(params)
            self._results[key] = naps
            while len(self._results) > self._cache_results:
                self._results.popitem(last=False)
        else:
            self._results.move_to_end(key)
        self.params, self.naps = params, naps
        return naps

    def cached_naps(self, params: Mapping[str, Any]) -> Any:
        """The NAPs of a full parameter set if this session has them (current or recent), else ``None``."""
        return self._results.get(tuple(params[k] for k in PARAM_NAMES))

    def compute_naps(self, params: Mapping[str, Any]) -> Any:
        """Cluster with a full, validated parameter set without changing the session (views of other layers).

        Example
        -------
        >>> naps = ex.compute_naps({**ex.params, "layer": "fc1"})  # doctest: +SKIP
        """
        # "auto" is resolved once per layer and tree settings, then kept: resolving again on a later
        # min_cluster_size change could pick the other engine after other work took memory, and rebuild the
        # whole tree (a minute at 50k) into different NAPs instead of re-selecting in milliseconds.
        tree_key = (params["layer"], params["min_samples"], params["normalize"])
        try:
            naps = self._find_naps(
                self.activations[params["layer"]],
                min_cluster_size=params["min_cluster_size"],
                min_samples=params["min_samples"],
                cluster_selection_method=params["cluster_selection_method"],
                normalize=params["normalize"],
                algorithm=self._engines.get(tree_key, self.algorithm),
            )
        except NapInputError:
            raise
        except MemoryError:
            raise NapInputError(
                f"not enough memory to cluster layer {params['layer']!r}",
                "pick a layer with fewer features or pass fewer inputs",
            ) from None
        except Exception as exc:  # any engine failure becomes a readable message, never a dead widget
            raise NapInputError(
                f"clustering layer {params['layer']!r} failed ({type(exc).__name__}: {exc})",
                "try other parameters or another layer; report this if it persists",
            ) from exc
        self._engines[tree_key] = getattr(naps, "algorithm", self.algorithm)
        return naps

    # ---------------------------------------------------------------------------- per sample
    @property
    def probabilities32(self) -> np.ndarray:
        return np.asarray(self.naps.probabilities, dtype=np.float32)

    def members_of(self, naps: Sequence[int]) -> list[int]:
        """Members of the given NAPs, most typical first (float32 probability descending, then index).

        The same order the front end computes from the per-sample table, so both sides agree exactly.
        """
        ids = sorted({int(i) for i in naps if 0 <= int(i) < self.naps.n_naps})
        if not ids:
            return []
        idx = np.flatnonzero(np.isin(self.naps.labels, ids))
        prob = self.probabilities32[idx]
        order = np.lexsort((idx, -prob))
        return idx[order].astype(int).tolist()

    def sample_table(self) -> bytes:
        """Per input: NAP (int32, -1 noise), membership probability (float32), outlier score (float32)."""
        labels = np.asarray(self.naps.labels, dtype="<i4")
        prob = np.asarray(self.naps.probabilities, dtype="<f4")
        out = np.nan_to_num(np.asarray(self.naps.outlier_scores, dtype="<f4"), nan=0.0)
        return labels.tobytes() + prob.tobytes() + out.tobytes()

    def truth_table(self) -> bytes:
        """Per input: label code and prediction code (int32 indices into ``classes``; -1 = unknown)."""
        unknown = np.full(self.n, -1, dtype="<i4")
        lab = unknown if self.label_codes is None else self.label_codes.astype("<i4")
        pred = unknown if self.pred_codes is None else self.pred_codes.astype("<i4")
        return lab.tobytes() + pred.tobytes()

    # ---------------------------------------------------------------------------- view models
    def _composition(
        self, members: np.ndarray, top: int = 5
    ) -> tuple[list[list[int]], int, int | None, float | None]:
        if self.label_codes is None or len(members) == 0:
            return [], 0, None, None
        counts = np.bincount(self.label_codes[members], minlength=len(self.classes))
        order = np.argsort(-counts, kind="stable")
        order = order[counts[order] > 0]
        comp = [[int(c), int(counts[c])] for c in order[:top]]
        other = int(counts[order[top:]].sum())
        dominant = int(order[0])
        return comp, other, dominant, float(counts[dominant] / len(members))

    def members_by_nap(self) -> list[np.ndarray]:
        """Every NAP's members, most typical first (as :meth:`members_of`), from one sort; cached per
        result (the cards, the average images and the selection share it)."""
        naps = self.naps
        cached = getattr(self, "_members_cache", None)
        if cached is not None and cached[0] is naps:
            return cached[1]
        lab = np.asarray(naps.labels)
        order = np.lexsort((np.arange(self.n), -self.probabilities32, lab))
        bounds = np.searchsorted(lab[order], np.arange(naps.n_naps + 1))
        out = [order[bounds[j] : bounds[j + 1]] for j in range(naps.n_naps)]
        self._members_cache = (naps, out)
        return out

    def nap_rows(self) -> list[dict[str, Any]]:
        """One JSON-able summary per NAP (the cards', scatter's and heatmap's rows).

        Vectorised over NAPs (one sort, one bincount, one rounding per column): with hundreds of NAPs any
        per-NAP numpy call or per-value ``round`` was most of an update's kernel time.
        """
        naps = self.naps
        k = naps.n_naps
        if k == 0:
            return []
        members = self.members_by_nap()
        lab = np.asarray(naps.labels)
        inside = lab >= 0
        sizes = np.maximum(np.bincount(lab[inside], minlength=k), 1)
        prob = self.probabilities32[inside].astype(np.float64)
        mean_prob = np.bincount(lab[inside], weights=prob, minlength=k) / sizes
        comp, other, dominant, purity = self._compositions(lab, inside, k)
        acc = [None] * k
        if self.label_codes is not None and self.pred_codes is not None:
            right = (self.label_codes == self.pred_codes)[inside].astype(np.float64)
            acc = _rounded(np.bincount(lab[inside], weights=right, minlength=k) / sizes, 4)
        means = naps.means
        top = _top_columns(means.astype(np.float64) - feature_mean(naps.features), 5)  # = NAPs.top_units
        top_vals = _rounded(np.take_along_axis(means, top, axis=1), 3)
        sizes_l, pers, mprob = naps.sizes.tolist(), _rounded(naps.persistence, 5), _rounded(mean_prob, 4)
        n_top = self.top_members
        return [
            {
                "id": i,
                "size": int(sizes_l[i]),
                "persistence": pers[i],
                "purity": purity[i],
                "dominant": dominant[i],
                "composition": comp[i],
                "other": other[i],
                "accuracy": acc[i],
                "mean_probability": mprob[i],
                "top_units": units,
                "top_unit_values": top_vals[i],
                "members": members[i][:n_top].tolist(),
            }
            for i, units in enumerate(top.tolist())
        ]

    def _compositions(self, lab: np.ndarray, inside: np.ndarray, k: int, top: int = 5) -> tuple[list, ...]:
        """Per NAP: the top-``top`` [class, count] pairs, the count of the rest, the dominant class and the
        purity (four lists of k; ``[], 0, None, None`` without labels or members)."""
        if self.label_codes is None:
            return [[] for _ in range(k)], [0] * k, [None] * k, [None] * k
        n_cls = len(self.classes)
        flat = lab[inside] * n_cls + self.label_codes[inside]
        counts = np.bincount(flat, minlength=k * n_cls).reshape(k, n_cls)
        order = np.argsort(-counts, axis=1, kind="stable")
        ranked = np.take_along_axis(counts, order, axis=1)
        total = counts.sum(axis=1)
        other = (total - ranked[:, :top].sum(axis=1)).tolist()
        some = total > 0
        dominant = np.where(some, order[:, 0], -1).tolist()
        purity = _rounded(np.where(some, ranked[:, 0] / np.maximum(total, 1), np.nan), 4)
        pairs = [
            [[c, n] for c, n in zip(o, m) if n > 0]
            for o, m in zip(order[:, :top].tolist(), ranked[:, :top].tolist())
        ]
        return pairs, other, [d if d >= 0 else None for d in dominant], purity

    def heatmap(self) -> dict[str, Any]:
        """Per-NAP mean activation of the units that characterise the NAPs (columns grouped by NAP).

        With more than ``heatmap_units`` units, keeps each NAP's top contrast units, then fills up with the
        units whose NAP means vary most across NAPs.
        """
        naps = self.naps
        f = naps.features.shape[1]
        overall = feature_mean(naps.features)
        if naps.n_naps == 0:
            return {
                "units": [],
                "values": [],
                "overall": [],
                "vmin": 0.0,
                "vmax": 1.0,
                "n_units": int(f),
                "note": "",
            }
        means = naps.means.astype(np.float64)
        contrast = means - overall[None, :]
        # units silent in every NAP carry no pattern: hide them (the reference tool's "remove zeros")
        alive = np.flatnonzero(np.abs(means).max(axis=0) > 1e-3)
        dead = f - len(alive)
        if len(alive) == 0:
            alive = np.arange(f)
            dead = 0
        if len(alive) <= self.heatmap_units:
            units = alive
            note = f"{dead} silent units hidden" if dead else ""
        else:
            per = max(1, self.heatmap_units // max(naps.n_naps, 1))
            # each NAP's `per` top-contrast units, NAP by NAP, first occurrences kept (one sort for all NAPs:
            # a loop over hundreds of NAPs was ~10 ms); argmax = the stable sort's first when per == 1
            c = contrast[:, alive]
            top = c.argmax(axis=1)[:, None] if per == 1 else np.argsort(-c, axis=1, kind="stable")[:, :per]
            flat = alive[top.ravel()]
            _, first = np.unique(flat, return_index=True)
            chosen = flat[np.sort(first)][: self.heatmap_units].astype(int).tolist()
            if len(chosen) < self.heatmap_units:
                for u in alive[np.argsort(-means[:, alive].var(axis=0), kind="stable")]:
                    if int(u) not in chosen:
                        chosen.append(int(u))
                    if len(chosen) >= self.heatmap_units:
                        break
            units = np.asarray(chosen[: self.heatmap_units])
            note = f"{len(units)} of {f} units: the most characteristic per NAP"
        # Order columns by the NAP where each unit stands out most, then by strength: a diagonal pattern.
        peak = contrast[:, units].argmax(axis=0)
        strength = contrast[peak, units]
        order = np.lexsort((-strength, peak))
        units = units[order]
        vals = means[:, units]
        vmin, vmax = (
            float(min(vals.min(), overall[units].min(), 0.0)),
            float(max(vals.max(), overall[units].max())),
        )
        return {
            "units": units.astype(int).tolist(),
            # rounded as arrays: round() per value was ~50 ms for hundreds of NAPs
            "values": _rounded(vals, 3),
            "overall": _rounded(overall[units], 3),
            "vmin": _r(vmin, 4),
            "vmax": _r(vmax if vmax > vmin else vmin + 1.0, 4),
            "n_units": int(f),
            "note": note,
        }

    def scatter_spec(
        self, rows: list[dict[str, Any]] | None = None, width: int = 340, height: int = 250
    ) -> dict:
        """Vega-Lite spec (made with Altair, inline data, explicit types): one point per NAP,
        size vs persistence, coloured by dominant label. Params ``napsel`` (selected ids) and ``napHover``
        are set by the front end; ``brush`` is an interval selection.

        The chart's structure only depends on which columns exist: a template (built with Altair by the
        developers, shipped as JSON: :mod:`napwidget.views.chart_templates`) is filled with each result.
        """
        rows = self.nap_rows() if rows is None else rows
        has_labels = self.label_codes is not None
        data = [
            {
                "nap": r["id"],
                "size": r["size"],
                "persistence": r["persistence"] if r["persistence"] is not None else 0.0,
                "purity": r["purity"] if r["purity"] is not None else 0.0,
                "dominant": self.classes[r["dominant"]] if r["dominant"] is not None else "",
                "accuracy": r["accuracy"] if r["accuracy"] is not None else 0.0,
            }
            for r in rows
        ]
        from napwidget.views.chart_templates import scatter_template  # (no Altair: shipped as JSON)

        spec = scatter_template(has_labels, self.pred_codes is not None, width, height)
        if len(rows) > 60:  # hundreds of labels would hide the points: the text layer goes
            spec["layer"] = spec["layer"][:1]
        spec.pop("datasets", None)
        spec["data"] = {"values": data}
        present = sorted({r["dominant"] for r in rows if r["dominant"] is not None})
        sizes = [r["size"] for r in rows] or [2]
        x_domain = [max(1.0, min(sizes) * 0.8), max(max(sizes), 2) * 1.25]
        for layer in spec["layer"]:
            layer.pop("data", None)
            enc = layer["encoding"]
            enc["x"]["scale"]["domain"] = x_domain
            if has_labels and isinstance(enc.get("color"), dict) and "field" in enc["color"]:
                enc["color"]["scale"] = {
                    "domain": [self.classes[c] for c in present],
                    "range": [self.class_color(c) for c in present],
                }
        return spec

    def view_model(self) -> dict[str, Any]:
        """Everything the views need for the current parameters (JSON-able)."""
        key = tuple(self.params[k] for k in PARAM_NAMES)
        cached = self._view_cache.get(key)
        if cached is not None:
            return cached
        naps = self.naps
        rows = self.nap_rows()
        noise = int(np.sum(naps.labels < 0))
        vm = {
            "layer": self.params["layer"],
            "params": dict(self.params),
            "n": self.n,
            "n_features": int(naps.features.shape[1]),
            "n_naps": int(naps.n_naps),
            "noise": noise,
            "noise_fraction": _r(noise / max(self.n, 1), 4),
            "classes": list(self.classes),
            "class_colors": [self.class_color(i) for i in range(len(self.classes))],
            "other_color": OTHER_COLOR,
            "has_labels": self.label_codes is not None,
            "has_predictions": self.pred_codes is not None,
            "predictions_note": self.predictions_note,
            "naps": rows,
            "heatmap": self.heatmap(),
            "scatter": self.scatter_spec(rows),
            "item": self.renderer.describe() if self.renderer is not None else {"kind": "index"},
            "hint": ""
            if naps.n_naps
            else (
                "No NAPs at these settings: every input is noise. Try a smaller min_cluster_size or "
                "min_samples, the 'leaf' selection method, or another layer."
            ),
        }
        self._view_cache = {key: vm}
        return vm

    def card_members(self, max_naps: int | None = None) -> list[int]:
        """Card members NAP by NAP, of the first ``max_naps`` NAPs (all by default): the card sprite's order.

        The widget sends the first cards' thumbnails with each result; cards scrolled to later ask for theirs.
        """
        rows = self.view_model()["naps"]
        return [i for r in rows[: max_naps if max_naps is not None else len(rows)] for i in r["members"]]

    def profile(self, index: int) -> dict[str, Any]:
        """One input's activation profile (normalised features) against its NAP's mean and IQR.

        For inputs in no NAP (noise) the reference is the mean over all inputs.
        """
        index = int(index)
        if not 0 <= index < self.n:
            raise NapInputError(f"input {index} does not exist", f"pick an index between 0 and {self.n - 1}")
        naps = self.naps
        nap = int(naps.labels[index])
        values = naps.features[index]
        if nap >= 0:
            st = naps.nap_stats(nap)
            mean, q1, q3 = st["mean"], st["q1"], st["q3"]
        else:
            mean = feature_mean(naps.features)
            q1, q3 = np.quantile(naps.features, [0.25, 0.75], axis=0)
        out = {
            "index": index,
            "nap": nap,
            "layer": self.params["layer"],
            "probability": _r(naps.probabilities[index], 4),
            "values": [_r(v) for v in values],
            "mean": [_r(v) for v in mean],
            "q1": [_r(v) for v in q1],
            "q3": [_r(v) for v in q3],
        }
        return out
