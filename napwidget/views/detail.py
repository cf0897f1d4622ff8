"""Per-NAP detail views of the widget: unit statistics, probability / label / prediction charts, the label x
NAP distribution matrix, and the label / prediction filters that every view respects.

The builders (:func:`unit_stats_view`, :func:`nap_detail_view`, :func:`validate_filters`, :func:`filter_mask`)
take an :class:`~napwidget.explorer.Explorer` and return JSON-able dicts / arrays; they are testable without a
widget. :class:`DetailViews` is the widget side: a traitlets mixin of :class:`~napwidget.widget.NapWidget`.

Traits (synced)
---------------
filters : ``{"labels": [class names], "predictions": [class names]}``.
    An input passes when its label is one of ``labels`` (or ``labels`` is empty) and its prediction is one of
    ``predictions`` (or that list is empty). Every view respects them: ``selected_indices`` (hence the
    gallery) holds only passing inputs, the NAP cards show their passing members, the charts highlight the
    filtered classes. Values may be given as class names, raw labels or integer codes (``class_names[i]``);
    they are stored as names. Invalid values are reverted, with the problem in ``error``.
nap_stats : the unit statistics of the selected NAPs (kernel -> front end; at most :data:`MAX_COMPARE` NAPs,
    overlaid in compare mode): see :func:`unit_stats_view`.
nap_detail : per-result data of the per-NAP charts and the distribution matrix, with the charts' Vega-Lite
    templates (made with Altair): see :func:`nap_detail_view`.

Example
-------
>>> w.filters = {"labels": ["cat"]}                   # doctest: +SKIP
>>> w.selected_naps = [3]; w.selected_indices[:5]     # only NAP 3's cats, most typical first # doctest: +SKIP
>>> w.nap_stats["naps"][0]["stats"]["mean"][:4]       # == w.naps.stats["mean"][3][:4]        # doctest: +SKIP
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import traitlets

from napwidget.errors import NapInputError

FILTER_KINDS = ("labels", "predictions")
EMPTY_FILTERS: dict[str, list[str]] = {"labels": [], "predictions": []}
MAX_COMPARE = 6
PROB_BINS = 20
NEAR_ZERO = 0.01  # a unit is "near zero" in a NAP when max(|min|, |max|) of its members is below this
STAT_KEYS = ("min", "q1", "median", "mean", "q3", "max", "iqr", "lower_whisker", "upper_whisker")
# Colours of the NAPs compared in the statistics chart (Tableau 10, colour-blind friendlier order)
NAP_COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D", "#FF9DA6"]


def nap_color(position: int) -> str:
    return NAP_COLORS[position % len(NAP_COLORS)]


# ------------------------------------------------------------------------------------------- filters
def validate_filters(explorer: Any, filters: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """``filters`` with every value turned into a class name; raise :class:`NapInputError` (problem + fix).

    Accepted values: a class name, a raw label value, or an integer class code. Duplicates are dropped, the
    order of first appearance is kept.

    Example
    -------
    >>> validate_filters(ex, {"labels": ["cat", 3]})   # doctest: +SKIP
    {'labels': ['cat', 'three'], 'predictions': []}
    """
    if filters is None:
        return {k: [] for k in FILTER_KINDS}
    if not isinstance(filters, Mapping):
        raise NapInputError(
            f"filters must be a dict, got {type(filters).__name__}",
            "use {'labels': [...], 'predictions': [...]}",
        )
    unknown = set(filters) - set(FILTER_KINDS)
    if unknown:
        raise NapInputError(
            f"unknown filter kind(s) {sorted(map(str, unknown))}",
            "use {'labels': [...], 'predictions': [...]}",
        )
    classes = list(explorer.classes)
    index = {name: i for i, name in enumerate(classes)}
    out: dict[str, list[str]] = {}
    for kind in FILTER_KINDS:
        values = filters.get(kind) or []
        if isinstance(values, (str, bytes, int, np.integer)):
            values = [values]
        what = "label" if kind == "labels" else "prediction"
        codes = explorer.label_codes if kind == "labels" else explorer.pred_codes
        if values and codes is None:
            raise NapInputError(
                f"cannot filter by {what}: the widget has no {kind}",
                f"pass {kind}=... to NapWidget, or clear filters['{kind}']",
            )
        names: list[str] = []
        for v in values:
            name = _class_of(explorer, v, index)
            if name is None:
                shown = ", ".join(map(repr, classes[:10])) + (", ..." if len(classes) > 10 else "")
                raise NapInputError(f"unknown {what} {v!r} in filters['{kind}']", f"use one of {shown}")
            if name not in names:
                names.append(name)
        out[kind] = names
    return out


def _class_of(explorer: Any, value: Any, index: Mapping[str, int]) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict, tuple)):
        return None
    if isinstance(value, str) and value in index:
        return value
    name = explorer.class_name(value)
    if name in index:
        return name
    if isinstance(value, (int, np.integer)) and 0 <= int(value) < len(index):
        return explorer.classes[int(value)]
    return None


def filter_mask(explorer: Any, filters: Mapping[str, Any] | None) -> np.ndarray | None:
    """(N,) bool: the inputs that pass ``filters``; ``None`` when no filter is active."""
    f = validate_filters(explorer, filters)
    if not any(f.values()):
        return None
    mask = np.ones(explorer.n, dtype=bool)
    index = {name: i for i, name in enumerate(explorer.classes)}
    for kind, codes in (("labels", explorer.label_codes), ("predictions", explorer.pred_codes)):
        if f[kind]:
            mask &= np.isin(codes, [index[name] for name in f[kind]])
    return mask


def apply_filters(explorer: Any, indices: Iterable[int], filters: Mapping[str, Any] | None) -> list[int]:
    """``indices`` (order kept) that pass ``filters``."""
    mask = filter_mask(explorer, filters)
    idx = [int(i) for i in indices]
    return idx if mask is None else [i for i in idx if mask[i]]


# ------------------------------------------------------------------------------------------- view models
def unit_stats_view(explorer: Any, naps: Sequence[int], *, max_naps: int = MAX_COMPARE) -> dict[str, Any]:
    """Per-unit statistics of the NAPs ``naps`` (the first ``max_naps``) of the current layer.

    ``{"layer", "params", "n_units", "threshold", "naps": [{"id", "size", "color",
    "stats": {stat: [F floats]}, "near_zero": [units]}], "near_zero": [units near zero in every shown NAP],
    "truncated"}``. Every number is the float32 value of :attr:`NAPs.stats <napwidget.naps.NAPs.stats>`,
    unrounded (``float(np.float32)``).
    """
    res = explorer.naps
    k = int(res.n_naps)
    ids = list(dict.fromkeys(int(i) for i in naps))
    bad = [i for i in ids if not 0 <= i < k]
    if bad:
        raise NapInputError(
            f"NAP(s) {bad} do not exist",
            f"pick ids 0..{k - 1}" if k else "there are no NAPs at these settings",
        )
    shown = ids[:max_naps]
    f = int(res.features.shape[1])
    rows = []
    common = np.ones(f, dtype=bool)
    for pos, i in enumerate(shown):
        st = res.nap_stats(i)  # only the shown NAPs' quantiles: hundreds of NAPs took ~100 ms
        stats = {key: st[key].tolist() for key in STAT_KEYS}
        amp = np.maximum(np.abs(st["min"]), np.abs(st["max"]))
        near = amp < NEAR_ZERO
        common &= near
        rows.append(
            {
                "id": i,
                "size": int(res.sizes[i]),
                "color": nap_color(pos),
                "stats": stats,
                "near_zero": np.flatnonzero(near).astype(int).tolist(),
            }
        )
    return {
        "layer": explorer.params["layer"],
        "params": dict(explorer.params),
        "n_units": f,
        "threshold": NEAR_ZERO,
        "naps": rows,
        "near_zero": np.flatnonzero(common).astype(int).tolist() if rows else [],
        "truncated": len(ids) > len(shown),
    }


def _sparse_counts(codes: np.ndarray | None, nap: np.ndarray, k: int, c: int) -> tuple[list, list]:
    """Per NAP [[class code, count], ...] (count > 0, class order) and the noise inputs' counts."""
    if codes is None:
        return [[] for _ in range(k)], []
    ok = codes >= 0
    table = np.zeros((k + 1, max(c, 1)), dtype=np.int64)
    np.add.at(table, (nap[ok] + 1, codes[ok]), 1)
    rows = []
    for j in range(k + 1):
        nz = np.flatnonzero(table[j])
        rows.append([[int(a), int(table[j, a])] for a in nz])
    return rows[1:], rows[0]


def nap_detail_view(explorer: Any, bins: int = PROB_BINS) -> dict[str, Any]:
    """Data of the per-NAP charts and of the label x NAP distribution matrix for the current result.

    ``{"layer", "params", "n_naps", "classes", "class_colors", "has_labels", "has_predictions",
    "label_counts": per NAP [[class code, count]], "pred_counts": the same for predictions,
    "noise_label_counts", "noise_pred_counts", "prob_edges": bins + 1 edges over [0, 1],
    "prob_hist": per NAP bins counts of membership probabilities, "nap_colors" (compare mode), "max_compare",
    "specs": {"stats", "hist", "bars"}}``.
    Class codes index ``classes`` (the main view model's).
    """
    res = explorer.naps
    k = int(res.n_naps)
    nap = np.asarray(res.labels, dtype=np.int64)
    c = len(explorer.classes)
    lab, lab_noise = _sparse_counts(explorer.label_codes, nap, k, c)
    pred, pred_noise = _sparse_counts(explorer.pred_codes, nap, k, c)
    edges = np.linspace(0.0, 1.0, bins + 1)
    prob = np.asarray(res.probabilities, dtype=np.float64)
    # every NAP's histogram in one pass; bins are [a, b) except the last, [a, 1] (numpy.histogram's convention
    # and counts: tests/test_detail_views.py compares with it)
    inside = nap >= 0
    b = np.clip(np.searchsorted(edges, np.clip(prob[inside], 0.0, 1.0), side="right") - 1, 0, bins - 1)
    hist = np.bincount(nap[inside] * bins + b, minlength=k * bins).reshape(k, bins).tolist()
    return {
        "layer": explorer.params["layer"],
        "params": dict(explorer.params),
        "n_naps": k,
        "classes": list(explorer.classes),
        "class_colors": [explorer.class_color(i) for i in range(c)],
        "has_labels": explorer.label_codes is not None,
        "has_predictions": explorer.pred_codes is not None,
        "label_counts": lab,
        "pred_counts": pred,
        "noise_label_counts": lab_noise,
        "noise_pred_counts": pred_noise,
        "prob_edges": [round(float(e), 6) for e in edges],
        "prob_hist": hist,
        "nap_colors": list(NAP_COLORS),
        "max_compare": MAX_COMPARE,
        "specs": chart_specs(),
    }


# ------------------------------------------------------------------------------------------- chart specs
def chart_specs() -> dict[str, dict]:
    """The Vega-Lite templates of the detail charts (named data sources filled in by the front end)."""
    from napwidget.views.chart_templates import template

    return {name: template(name) for name in ("stats", "hist", "bars")}


# ------------------------------------------------------------------------------------------- widget mixin
class DetailViews(traitlets.HasTraits):
    """Filters and the per-NAP detail traits; mixed into NapWidget (call ``_init_details()``)."""

    filters = traitlets.Dict({"labels": [], "predictions": []}).tag(sync=True, view="detail", state=True)
    nap_stats = traitlets.Dict().tag(sync=True, view="detail")
    nap_detail = traitlets.Dict().tag(sync=True, view="detail")

    def _init_details(self) -> None:
        self._filters_good = validate_filters(self._explorer, self.filters)
        self.observe(self._detail_on_view, names=["view"])
        self.observe(self._detail_on_selection, names=["selected_naps"])
        self.observe(self._detail_on_filters, names=["filters"])
        self._detail_safely(self._detail_push_view)
        self._detail_safely(self._detail_push_stats)

    # ---------------------------------------------------------------------------- python API
    def filtered(self, indices: Iterable[int]) -> list[int]:
        """``indices`` that pass the current :attr:`filters` (order kept)."""
        return apply_filters(self._explorer, indices, getattr(self, "_filters_good", None))

    def toggle_filter(self, kind: str, value: Any) -> dict[str, list[str]]:
        """Add ``value`` to ``filters[kind]``, or remove it when present (what a bar click does)."""
        if kind not in FILTER_KINDS:
            raise NapInputError(
                f"unknown filter kind {kind!r}", f"use {' or '.join(map(repr, FILTER_KINDS))}"
            )
        name = validate_filters(self._explorer, {kind: [value]})[kind][0]
        cur = validate_filters(self._explorer, self.filters)
        cur[kind] = [v for v in cur[kind] if v != name] if name in cur[kind] else [*cur[kind], name]
        self.filters = cur
        return dict(self.filters)

    def clear_filters(self) -> None:
        """Remove every filter (the "clear all" button)."""
        self.filters = {k: [] for k in FILTER_KINDS}

    def unit_stats(self, naps: Sequence[int] | None = None) -> dict[str, Any]:
        """The statistics chart's view model of ``naps`` (default: the selected NAPs)."""
        return unit_stats_view(self._explorer, self.selected_naps if naps is None else naps)

    # ---------------------------------------------------------------------------- internals
    def _detail_safely(self, fn: Any) -> None:
        try:
            fn()
        except NapInputError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - never let an exception kill the comm
            self.error = (
                f"Unexpected error in the NAP details: {type(exc).__name__}: {exc}. Fix: details are in the "
                "log."
            )
            traceback.print_exc()

    def _detail_push_view(self) -> None:
        self.nap_detail = nap_detail_view(self._explorer)

    def _detail_push_stats(self) -> None:
        naps = [int(i) for i in self.selected_naps if 0 <= int(i) < self._explorer.naps.n_naps]
        self.nap_stats = unit_stats_view(self._explorer, naps) if naps else {}

    def _detail_on_view(self, change: Any) -> None:
        self._detail_safely(self._detail_push_view)
        self._detail_safely(self._detail_push_stats)

    def _detail_on_selection(self, change: Any) -> None:
        self._detail_safely(self._detail_push_stats)

    def _detail_on_filters(self, change: Any) -> None:
        # the canonical form written back below comes through here again, finds itself valid and unchanged
        try:
            good = validate_filters(self._explorer, change["new"])
        except NapInputError as exc:
            self.error = str(exc)
            self._detail_set_filters(self._filters_good)
            return
        old = self._filters_good
        self._filters_good = good
        if good != change["new"]:
            self._detail_set_filters(good)  # canonical form: names, both kinds
        if good != old:
            self._selection_refilter()  # the kernel owns the selection (napwidget.selection)

    def _detail_set_filters(self, value: Mapping[str, list[str]]) -> None:
        self.filters = {k: list(value.get(k, [])) for k in FILTER_KINDS}
