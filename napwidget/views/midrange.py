"""Mid-range view of the widget: a class's logit histogram, a draggable band over it, the band's inputs and
NAPs.

After O'Mahony, Nikolov & O'Sullivan (WACV 2025; see :mod:`napwidget.midrange`): inputs whose logit for a
class sits in the middle of that logit's range show what else the penultimate layer associates with the class
(a confounder). The view lets a person pick the class, drag the band, look at the band's inputs (most typical
of each band-NAP first) and its NAPs (:func:`~napwidget.midrange.band_naps` on a chosen layer), and curate
them for last-layer retraining (:func:`~napwidget.midrange.retrain_last_layer`).

The builders (:func:`midrange_view`, :func:`curation_records`, :func:`curation_csv`, :func:`curation_json`)
are pure and testable without a widget; :class:`MidrangeViews` is the widget side, a traitlets mixin of
:class:`~napwidget.widget.NapWidget` (like :class:`~napwidget.views.topology.TopologyViews`).

Traits (synced)
---------------
midrange_open : whether the panel is open. Only then is the view model computed (``midrange`` is ``{}``).
midrange_class : the output unit (class) whose logit is shown.
midrange_band : ``[lo, hi]`` logit values of the band (``lo <= logit < hi``); ``[]`` = the default band, the
    middle third of the logit's range over all inputs (``logit_bands(..., mode="range")``). Set from Python or
    by dragging the band; a new class resets it to that class's default band.
midrange_layer : layer whose band-NAPs are found; ``""`` = the layer before the output.
midrange : the view model (kernel -> front end).
curated_indices : the curation set, ascending input indices (the "curate" button adds the selection).
    :meth:`MidrangeViews.set_curation` sets it from a :class:`~napwidget.midrange.Curation` together with its
    sample weights, which the CSV / JSON export then carries (``weight``; 1 for inputs curated by hand).

Changing the class, the band or the layer selects the band's inputs (``selected_indices``), ordered
round-robin over the band-NAPs (the most typical input of each band-NAP first, then the second, ...), then
the band's noise by logit, highest first.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import traitlets

from napwidget.class_scores import check_class_scores, n_classes
from napwidget.errors import NapInputError

DEFAULT_EDGES = (1 / 3, 2 / 3)  # fractions of the logit's observed range: the paper's literal "mid-range"
CSV_COLUMNS = ("index", "label", "prediction", "group", "curated_for", "logit", "weight")
CURATION_FORMAT = "napwidget-curation"
NO_OUTPUTS = NapInputError(
    "the mid-range view needs the model's outputs (logits), and this widget has none",
    "build the widget from a model (NapWidget(model, inputs)), or pass outputs=logits to "
    "NapWidget.from_activations",
)


def _r(x: float, nd: int = 4) -> float | None:
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


# ------------------------------------------------------------------------------------------- inputs
def as_outputs(explorer: Any, outputs: Any = None) -> np.ndarray | None:
    """(N, K) float64 logits: ``outputs`` or the explorer's ``activations.outputs``; None when there are
    none."""
    if outputs is None:
        outputs = getattr(explorer.activations, "outputs", None)
    if outputs is None:
        return None
    if hasattr(outputs, "detach"):
        outputs = outputs.detach().cpu().numpy()
    arr = np.asarray(outputs, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != explorer.n:
        raise NapInputError(
            f"outputs must be (N, K) logits with N = {explorer.n} rows (one per input); got shape "
            f"{arr.shape}",
            "pass the logits of the same inputs as the activations",
        )
    if not np.isfinite(arr).all():
        raise NapInputError("outputs hold NaN or infinite logits", "fix the model/inputs that produce them")
    return arr


def encode_groups(groups: Any, n: int) -> tuple[np.ndarray, list[str]] | None:
    """(int codes, names) of per-input group labels (ints or strings), or None."""
    if groups is None:
        return None
    arr = np.asarray(groups.detach().cpu().numpy() if hasattr(groups, "detach") else groups).reshape(-1)
    if arr.shape[0] != n:
        raise NapInputError(
            f"groups have {arr.shape[0]} entries but there are {n} inputs", "pass one group label per input"
        )
    uniq, codes = np.unique(arr, return_inverse=True)
    names = [str(v.item() if isinstance(v, np.generic) else v) for v in uniq]
    return codes.astype(np.int64).reshape(-1), names


def default_layer(explorer: Any, outputs: np.ndarray | None) -> str:
    """The layer before the output: the second to last layer when the last one is the output itself, else the
    last."""
    layers = list(explorer.layers)
    if len(layers) == 1:
        return layers[0]
    last = np.asarray(explorer.activations[layers[-1]])
    if outputs is not None and last.shape == outputs.shape and np.allclose(last, outputs, atol=1e-4):
        return layers[-2]
    return layers[-2] if outputs is None else layers[-1]


def default_band(logits: np.ndarray) -> list[float]:
    """The middle third of the logit's observed range, as logit values ``[lo, hi]``."""
    lo, hi = float(np.min(logits)), float(np.max(logits))
    span = hi - lo
    if span == 0:
        return [lo - 0.5, hi + 0.5]
    return [lo + DEFAULT_EDGES[0] * span, lo + DEFAULT_EDGES[1] * span]


def validate_band(band: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise NapInputError(
            f"midrange_band={list(band)!r} must be two logit values [lo, hi]",
            "set e.g. [-1.0, 2.5], or [] for the default band",
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise NapInputError(
            f"midrange_band=[{lo:g}, {hi:g}] must be finite with lo < hi",
            "drag the band, or set [] for the default band",
        )
    return lo, hi


def class_name(explorer: Any, k: int) -> str:
    return explorer.class_name(int(k))


# ------------------------------------------------------------------------------------------- view model
def band_order(members_per_nap: Sequence[np.ndarray], noise: np.ndarray, logits: np.ndarray) -> list[int]:
    """Round-robin over the band-NAPs (most typical first in each), then the noise by logit, highest first.

    Example
    -------
    >>> band_order([np.array([5, 6, 7]), np.array([1])], np.array([3, 4]), np.arange(8.0))
    [5, 1, 6, 7, 4, 3]
    """
    out: list[int] = []
    depth = max((len(m) for m in members_per_nap), default=0)
    for d in range(depth):
        out.extend(int(m[d]) for m in members_per_nap if d < len(m))
    noise = np.asarray(noise, dtype=np.int64)
    out.extend(int(i) for i in noise[np.argsort(-logits[noise], kind="stable")])
    return out


def _nap_params(explorer: Any, size: int) -> dict[str, Any] | None:
    """The widget's clustering parameters for a band of ``size`` inputs, or None when the band is too
    small."""
    p = explorer.params
    if size < max(2, int(p["min_cluster_size"])) or size <= int(p["min_samples"]):
        return None
    return {k: p[k] for k in ("min_cluster_size", "min_samples", "cluster_selection_method", "normalize")}


def midrange_view(
    explorer: Any,
    outputs: Any,
    target: int,
    band: Sequence[float] | None = None,
    layer: str | None = None,
    groups: tuple[np.ndarray, list[str]] | None = None,
    *,
    top_members: int = 8,
) -> dict[str, Any]:
    """The mid-range view model of output ``target`` with ``band`` (logit values; None = the default band).

    ``{"class", "class_name", "outputs" (names), "layer", "layers", "n", "logits" (N, rounded), "range",
    "band", "default_band", "band_indices" (the gallery order), "count", "groups" (codes or None),
    "group_names", "group_colors", "naps": [{id, size, members (top), all_members, dominant, purity,
    composition, group_composition, mean_logit}], "noise", "params", "hint"}``.
    """
    from napwidget.explorer import PALETTE
    from napwidget.midrange import band_naps, logit_bands

    z = as_outputs(explorer, outputs)
    if z is None:
        raise NO_OUTPUTS
    check_class_scores(z.shape[1], n_classes(explorer.class_names, explorer.labels), "the mid-range view")
    k = int(target)
    if not 0 <= k < z.shape[1]:
        raise NapInputError(
            f"midrange_class={k} is out of range for {z.shape[1]} outputs",
            f"pick a class in 0..{z.shape[1] - 1}",
        )
    layer = layer or default_layer(explorer, z)
    if layer not in explorer.layers:
        raise NapInputError(
            f"unknown layer {layer!r} for the mid-range view",
            f"pick one of {', '.join(explorer.layers[:12])}",
        )
    logits = z[:, k]
    dflt = default_band(logits)
    lo, hi = validate_band(band) if band else (dflt[0], dflt[1])
    inside = logit_bands(z, k, bands=(lo, hi), mode="value")["mid"]
    rows: list[dict[str, Any]] = []
    hint = ""
    params = _nap_params(explorer, len(inside))
    codes = groups[0] if groups is not None else None
    if params is None:
        members_per_nap, noise = [], inside
        hint = (
            (
                f"{len(inside)} inputs in the band: too few for NAPs at "
                f"min_cluster_size={explorer.params['min_cluster_size']}, "
                f"min_samples={explorer.params['min_samples']}. Widen the band or lower them."
            )
            if len(inside)
            else "No input in the band: widen it."
        )
    else:
        try:
            bn = band_naps(explorer.activations, layer, inside, **params)
        except NapInputError:
            raise
        except Exception as exc:  # any engine failure becomes a readable message
            raise NapInputError(
                f"clustering the band's inputs at layer {layer!r} failed ({type(exc).__name__}: {exc})",
                "try another band, layer or clustering parameters",
            ) from exc
        members_per_nap = [bn.members(i) for i in range(bn.n_naps)]
        noise = inside[np.asarray(bn.naps.labels) < 0]
        if not bn.n_naps:
            hint = (
                "No NAPs in this band at these settings: every band input is noise. Try a smaller "
                "min_cluster_size."
            )
    for i, members in enumerate(members_per_nap):
        comp, _other, dom, purity = explorer.composition(members)
        gcomp: list[list[int]] = []
        if codes is not None:
            cnt = np.bincount(codes[members], minlength=len(groups[1]))
            order = np.argsort(-cnt, kind="stable")
            gcomp = [[int(g), int(cnt[g])] for g in order if cnt[g] > 0]
        rows.append(
            {
                "id": i,
                "size": len(members),
                "members": members[:top_members].astype(int).tolist(),
                "all_members": members.astype(int).tolist(),
                "dominant": dom,
                "purity": None if purity is None else _r(purity, 4),
                "composition": comp,
                "group_composition": gcomp,
                "mean_logit": _r(logits[members].mean(), 4),
            }
        )
    order = band_order(members_per_nap, noise, logits)
    outputs_names = [class_name(explorer, j) for j in range(z.shape[1])]
    return {
        "class": k,
        "class_name": outputs_names[k],
        "outputs": outputs_names,
        "layer": layer,
        "layers": list(explorer.layers),
        "n": int(explorer.n),
        "logits": [_r(v, 4) for v in logits],
        "range": [_r(logits.min(), 4), _r(logits.max(), 4)],
        "band": [_r(lo, 6), _r(hi, 6)],
        "default_band": [_r(dflt[0], 6), _r(dflt[1], 6)],
        "band_indices": order,
        "count": len(inside),
        "groups": None if codes is None else codes.astype(int).tolist(),
        "group_names": [] if groups is None else list(groups[1]),
        "group_colors": [] if groups is None else [PALETTE[g % len(PALETTE)] for g in range(len(groups[1]))],
        "naps": rows,
        "noise": len(noise),
        "params": {**(params or {}), "layer": layer, "clustering": dict(explorer.params)},
        "hint": hint,
    }


# ------------------------------------------------------------------------------------------- curation
def curation_records(
    explorer: Any,
    outputs: Any,
    indices: Iterable[int],
    curated_for: Mapping[int, int] | None = None,
    groups: tuple[np.ndarray, list[str]] | None = None,
    weights: Mapping[int, float] | None = None,
) -> list[dict[str, Any]]:
    """One record per curated input: ``index, label, prediction, group, curated_for`` (class name; "" when
    unknown or negative), ``logit`` (that class's logit, 4 decimals; None when unknown) and ``weight`` (the
    sample weight to retrain with, 6 decimals: from ``weights``, else 1).

    Example
    -------
    >>> # curation_records(w.explorer, None, [3, 14], {3: 0}, weights={3: 2.5})[0]["weight"]  -> 2.5
    """
    z = as_outputs(explorer, outputs)
    out = []
    for i in sorted({int(i) for i in indices}):
        k = (curated_for or {}).get(i)
        k = None if k is not None and k < 0 else k  # -1: in the set without a class's band having picked it
        lab = explorer.label_codes[i] if explorer.label_codes is not None else -1
        pred = explorer.pred_codes[i] if explorer.pred_codes is not None else -1
        out.append(
            {
                "index": i,
                "label": explorer.classes[lab] if lab >= 0 else "",
                "prediction": explorer.classes[pred] if pred >= 0 else "",
                "group": groups[1][groups[0][i]] if groups is not None else "",
                "curated_for": class_name(explorer, k) if k is not None else "",
                "logit": _r(z[i, k], 4) if (k is not None and z is not None) else None,
                "weight": _r((weights or {}).get(i, 1.0), 6),
            }
        )
    return out


def curation_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """The curation as CSV (header ``index,label,prediction,group,curated_for,logit,weight``; ``\\n`` line
    ends; logits with 4 decimals, weights with 6). The front end's export writes the same text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        logit = "" if r.get("logit") is None else f"{float(r['logit']):.4f}"
        weight = "" if r.get("weight") is None else f"{float(r['weight']):.6f}"
        writer.writerow(
            [int(r["index"]), r["label"], r["prediction"], r["group"], r["curated_for"], logit, weight]
        )
    return buf.getvalue()


def curation_json(records: Sequence[Mapping[str, Any]], n_inputs: int) -> str:
    """The curation as JSON: ``{"format", "version", "n_inputs", "count", "indices", "weights", "records"}``.

    ``weights`` (one per index, 1 for inputs curated by hand) is what ``retrain_last_layer`` takes as sample
    weights (``Curation(np.array(doc["indices"]), np.array(doc["weights"]), ...)``)."""
    doc = {
        "format": CURATION_FORMAT,
        "version": 1,
        "n_inputs": int(n_inputs),
        "count": len(records),
        "indices": [int(r["index"]) for r in records],
        "weights": [1.0 if r.get("weight") is None else float(r["weight"]) for r in records],
        "records": [dict(r) for r in records],
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------- widget mixin
class MidrangeViews(traitlets.HasTraits):
    """The mid-range traits and their lazy recomputation; mixed into NapWidget (call ``_init_midrange()``)."""

    midrange_open = traitlets.Bool(False).tag(sync=True, view="midrange", state=True)
    midrange_class = traitlets.Int(0).tag(sync=True, view="midrange", state=True)
    midrange_band = traitlets.List(traitlets.Float()).tag(sync=True, view="midrange", state=True)
    midrange_layer = traitlets.Unicode("").tag(sync=True, view="midrange", state=True)
    midrange = traitlets.Dict().tag(sync=True, view="midrange")
    curated_indices = traitlets.List(traitlets.Int()).tag(sync=True, view="midrange", state=True)

    def _init_midrange(self, outputs: Any = None, groups: Any = None) -> None:
        ex = self._explorer
        self._mr_outputs = as_outputs(ex, outputs)  # checked now: a wrong shape is a constructor error
        self._mr_groups = encode_groups(groups, ex.n)
        self._mr_cache: OrderedDict[tuple, dict] = OrderedDict()
        self._mr_busy = False
        self._mr_curated_for: dict[int, int] = {}
        self._mr_weights: dict[int, float] = {}  # sample weights of a set_curation(); absent = 1
        self._mr_good = {
            "midrange_class": self.midrange_class,
            "midrange_band": list(self.midrange_band),
            "midrange_layer": self.midrange_layer,
        }
        self.observe(
            self._mr_on_input, names=["midrange_open", "midrange_class", "midrange_band", "midrange_layer"]
        )
        self.observe(self._mr_on_curated, names=["curated_indices"])
        self.observe(self._mr_on_view, names=["view"])
        if self.midrange_open:
            self._mr_refresh(select=True)

    # ---------------------------------------------------------------------------- python API
    @property
    def midrange_outputs(self) -> np.ndarray | None:
        """The (N, K) logits behind the mid-range view (None when the widget has none)."""
        return self._mr_outputs

    def midrange_view(self) -> dict[str, Any]:
        """The mid-range view model (computed now if the panel is closed)."""
        return self.midrange or self._mr_compute()

    def curation_records(self) -> list[dict[str, Any]]:
        """One record per curated input (see :func:`curation_records`)."""
        return curation_records(
            self._explorer,
            self.midrange_outputs,
            self.curated_indices,
            self._mr_curated_for,
            self._mr_groups,
            self._mr_weights,
        )

    def set_curation(self, curation: Any) -> None:
        """Make a :class:`~napwidget.midrange.Curation` (from :func:`~napwidget.midrange.curate`) the
        curation set, with its sample weights: ``curated_indices`` becomes its indices and the export carries
        its weights (weighted strategies such as ``"midrange_weighted"`` or ``"jtt"`` cover the whole pool
        and differ only by weight). Inputs added by hand later get weight 1.

        Example
        -------
        >>> w.set_curation(curate(z_pool, y_pool, strategy="jtt"))  # doctest: +SKIP
        >>> w.export_curation("jtt.csv")  # doctest: +SKIP
        """
        idx = np.asarray(getattr(curation, "indices", None) if curation is not None else None)
        wts = np.asarray(getattr(curation, "weights", None) if curation is not None else None, dtype=object)
        if idx.ndim != 1 or wts.shape != idx.shape:
            raise NapInputError(
                "set_curation takes a Curation (indices and one weight per index)",
                "pass the result of napwidget.midrange.curate(...)",
            )
        n = self._explorer.n
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise NapInputError(
                f"the curation's indices must lie in 0..{n - 1}", "curate the inputs this widget shows"
            )
        src = np.asarray(getattr(curation, "source_class", np.full(len(idx), -1)))
        self._mr_curated_for = {int(i): int(k) for i, k in zip(idx, src)}
        self._mr_weights = {int(i): float(v) for i, v in zip(idx, wts)}
        self.curated_indices = sorted(self._mr_curated_for)
        if self.midrange:  # the same indices as before do not fire the observer: refresh the records anyway
            self.midrange = {**self.midrange, "curation": self.curation_records()}

    def export_curation(self, path: str | Path, format: str | None = None) -> Path:
        """Write ``curated_indices`` with their labels, groups and logits as CSV or JSON (from the suffix, or
        ``format="csv"|"json"``); return the path.

        Example
        -------
        >>> w.curated_indices = [3, 14]; w.export_curation("curated.csv")  # doctest: +SKIP
        """
        path = Path(path)
        fmt = (format or path.suffix.lstrip(".") or "csv").lower()
        if fmt not in ("csv", "json"):
            raise NapInputError(
                f"unknown curation format {fmt!r}", "use a .csv or .json path, or format='csv'|'json'"
            )
        records = self.curation_records()
        text = curation_csv(records) if fmt == "csv" else curation_json(records, self._explorer.n)
        path.write_text(text, encoding="utf-8")
        return path

    # ---------------------------------------------------------------------------- internals
    def _mr_key(self) -> tuple:
        ex = self._explorer
        return (
            int(self.midrange_class),
            tuple(self.midrange_band),
            self.midrange_layer,
            tuple(sorted((k, str(v)) for k, v in ex.params.items())),
        )

    def _mr_compute(self) -> dict[str, Any]:
        key = self._mr_key()
        vm = self._mr_cache.get(key)
        if vm is None:
            vm = midrange_view(
                self._explorer,
                self.midrange_outputs,
                self.midrange_class,
                self.midrange_band or None,
                self.midrange_layer or None,
                self._mr_groups,
            )
            self._mr_cache[key] = vm
            while len(self._mr_cache) > 8:
                self._mr_cache.popitem(last=False)
        else:
            self._mr_cache.move_to_end(key)
        return {**vm, "curation": self.curation_records()}

    def _mr_set(self, **values: Any) -> None:
        self._mr_busy = True
        try:
            with self.hold_trait_notifications():
                for k, v in values.items():
                    setattr(self, k, v)
        finally:
            self._mr_busy = False

    def _mr_fail(self, message: str) -> None:
        self.error = message
        self._mr_set(**{k: copy.copy(v) for k, v in self._mr_good.items()})

    def _mr_refresh(self, select: bool = False) -> None:
        """Recompute the view model if the panel is open (select the band's inputs when asked)."""
        if not self.midrange_open:
            if self.midrange:
                self.midrange = {}
            return
        try:
            if self.midrange_outputs is None:
                raise NO_OUTPUTS
            was = self.busy
            self.busy = True
            try:
                vm = self._mr_compute()
            finally:
                self.busy = was
        except NapInputError as exc:
            self._mr_fail(str(exc))
            if self.midrange_outputs is None and self.midrange:
                self.midrange = {}
            return
        except Exception as exc:  # never let an exception kill the comm
            traceback.print_exc()
            self._mr_fail(
                f"Unexpected error in the mid-range view: {type(exc).__name__}: {exc}. Fix: try another "
                "band or layer; details are in the log."
            )
            return
        if not self.midrange_band:  # the default band, made explicit
            self._mr_set(midrange_band=list(vm["band"]))
        self._mr_good = {
            "midrange_class": self.midrange_class,
            "midrange_band": list(self.midrange_band),
            "midrange_layer": self.midrange_layer,
        }
        with self.hold_sync():
            self.midrange = vm
            if select:
                self.selected_indices = list(vm["band_indices"])

    def _mr_on_input(self, change: Any) -> None:
        if self._mr_busy:
            return
        name = change["name"]
        if name == "midrange_class":
            z = self.midrange_outputs
            if z is not None and not 0 <= change["new"] < z.shape[1]:
                self._mr_fail(
                    f"midrange_class={change['new']} is out of range for {z.shape[1]} outputs. Fix: pick a "
                    f"class in 0..{z.shape[1] - 1}."
                )
                return
            self._mr_set(midrange_band=[])  # a new class starts from its default band
        elif name == "midrange_band" and self.midrange_band:
            try:
                validate_band(self.midrange_band)
            except NapInputError as exc:
                self._mr_fail(str(exc))
                return
        elif (
            name == "midrange_layer"
            and self.midrange_layer
            and self.midrange_layer not in self._explorer.layers
        ):
            self._mr_fail(
                f"unknown layer {self.midrange_layer!r} for the mid-range view. Fix: pick one of "
                f"{', '.join(self._explorer.layers[:12])}."
            )
            return
        if not self.midrange_open:  # closed: checked now, computed when opened
            self._mr_good = {
                "midrange_class": self.midrange_class,
                "midrange_band": list(self.midrange_band),
                "midrange_layer": self.midrange_layer,
            }
            self._mr_refresh()
            return
        self._mr_refresh(select=True)

    def _mr_on_view(self, change: Any) -> None:
        # new clustering parameters or layer: the band-NAPs follow (the selection stays)
        self._mr_refresh()

    def _mr_on_curated(self, change: Any) -> None:
        if self._mr_busy:
            return
        n = self._explorer.n
        new = [int(i) for i in change["new"]]
        clean = sorted({i for i in new if 0 <= i < n})
        if len(clean) < len(set(new)):
            self.error = (
                f"curated input indices outside 0..{n - 1} were dropped. Fix: curate existing inputs."
            )
        for i in clean:
            self._mr_curated_for.setdefault(i, int(self.midrange_class))
        for i in set(self._mr_curated_for) - set(clean):
            del self._mr_curated_for[i]
        for i in set(self._mr_weights) - set(clean):
            del self._mr_weights[i]
        if clean != new:
            self._mr_set(curated_indices=clean)
        if self.midrange:
            self.midrange = {**self.midrange, "curation": self.curation_records()}
