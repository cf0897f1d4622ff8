"""Cross-layer views of the widget: typical / atypical members, average images, noise, GLOSH outlier scores,
pinned NAPs compared side by side, inputs followed through every layer, the max-activating baseline, the layer
strip, and the whole view state as one JSON-able dict (``get_state_dict`` / ``set_state_dict``).

The builders (:func:`nap_extremes`, :func:`average_images`, :func:`layer_labels`, :func:`follow_counts`,
:func:`follow_view`, :func:`pin_view`, :func:`max_activating_view`, :func:`layer_strip`) take an
:class:`~napwidget.explorer.Explorer` and return JSON-able values; they are testable without a widget.
:class:`CrossLayerViews` is the widget side: a traitlets mixin of :class:`~napwidget.widget.NapWidget`.

Traits (synced)
---------------
pinned : list of ``{"layer", "nap", "params"}`` (``params``: the clustering parameters the NAP was found with,
    default the current ones). Pins survive layer and parameter changes.
ui_state : ``{"n_typical", "n_atypical", "show_noise", "show_average", "gallery_filter", "gallery_sort",
    "max_unit", "max_k", "max_layer"}``: view options that are part of the shareable state (see UI_DEFAULTS).
cross_open : open lazy panels, a subset of ``["follow", "max_activating"]``; only open panels are computed.
pinned_view : one view model per pin (kernel -> front end), computed once per pin.
follow_layers, _follow_labels : per layer ``{"layer", "n_naps", "sizes", "dominant", "purity"}`` and the
    NAP of every input in every layer (int32, layer-major), so that the front end counts any selection itself
    (also in a ``save_html`` file). Empty while the follow panel is closed.
max_activating : the max-activating panel's view model (``{}`` while closed).
layer_strip : the layers in model order with their shapes and NAP counts (where computed).
_avg_thumbs : the average image of every NAP, then of the noise (uint8, like the card sprite).
"""

from __future__ import annotations

import copy
import json
import math
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import traitlets

from napwidget.errors import NapInputError

CROSS_PANELS = ("follow", "max_activating")
GALLERY_FILTERS = ("all", "wrong", "right")
GALLERY_SORTS = ("typical", "outlier", "atypical", "index")
UI_DEFAULTS: dict[str, Any] = {
    "n_typical": 8,
    "n_atypical": 4,
    "show_noise": False,
    "show_average": True,
    "gallery_filter": "all",
    "gallery_sort": "typical",
    "max_unit": None,
    "max_k": 16,
    "max_layer": None,
}
MAX_SHOWN = 64
STATE_VERSION = 1


def _r(x: float, nd: int = 4) -> float | None:
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def _params_key(params: Mapping[str, Any]) -> tuple:
    from napwidget.explorer import PARAM_NAMES

    return tuple(params[k] for k in PARAM_NAMES)


def _matrix(explorer: Any, layer: str) -> np.ndarray:
    x = explorer.activations[layer]
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x.reshape(len(x), -1) if x.ndim != 2 else x


# ------------------------------------------------------------------------------------------- options
def validate_ui_state(state: Mapping[str, Any] | None, explorer: Any = None) -> dict[str, Any]:
    """Complete ``state`` with :data:`UI_DEFAULTS` and check it; raise :class:`NapInputError` (problem + fix).

    Example
    -------
    >>> validate_ui_state({"n_typical": "3"})["n_typical"], validate_ui_state({})["gallery_sort"]
    (3, 'typical')
    """
    s = dict(UI_DEFAULTS)
    unknown = set(state or {}) - set(UI_DEFAULTS)
    if unknown:
        raise NapInputError(f"unknown view option(s) {sorted(unknown)}", f"use {', '.join(UI_DEFAULTS)}")
    s.update(state or {})
    for key, lo, hi in (("n_typical", 0, MAX_SHOWN), ("n_atypical", 0, MAX_SHOWN), ("max_k", 1, 200)):
        try:
            v = int(float(s[key]))
            ok = not isinstance(s[key], bool) and float(s[key]) == v
        except (TypeError, ValueError):
            ok = False
        if not ok or not lo <= v <= hi:
            raise NapInputError(
                f"{key.replace('_', ' ')}={s[key]!r} is not a whole number in {lo}..{hi}",
                f"type an integer between {lo} and {hi}",
            )
        s[key] = v
    for key in ("show_noise", "show_average"):
        s[key] = bool(s[key])
    if s["gallery_filter"] not in GALLERY_FILTERS:
        raise NapInputError(
            f"unknown gallery filter {s['gallery_filter']!r}", f"use one of {', '.join(GALLERY_FILTERS)}"
        )
    if s["gallery_sort"] not in GALLERY_SORTS:
        raise NapInputError(
            f"unknown gallery sort {s['gallery_sort']!r}", f"use one of {', '.join(GALLERY_SORTS)}"
        )
    if s["max_layer"] in ("", None):
        s["max_layer"] = None
    elif explorer is not None and s["max_layer"] not in explorer.layers:
        raise NapInputError(
            f"unknown layer {s['max_layer']!r} for the max-activating panel",
            f"pick one of {', '.join(explorer.layers[:12])}",
        )
    if s["max_unit"] in ("", None):
        s["max_unit"] = None
    else:
        try:
            u = int(float(s["max_unit"]))
            ok = not isinstance(s["max_unit"], bool) and float(s["max_unit"]) == u and u >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise NapInputError(
                f"unit {s['max_unit']!r} is not a unit index",
                "type a unit number (0, 1, ...) or leave it empty for the L2 norm",
            )
        if explorer is not None:
            f = _matrix(explorer, s["max_layer"] or explorer.params["layer"]).shape[1]
            if u >= f:
                raise NapInputError(f"unit {u} does not exist (the layer has {f} units)", f"pick 0..{f - 1}")
        s["max_unit"] = u
    return s


# ------------------------------------------------------------------------------------------- members
def nap_order(naps: Any, nap: int) -> np.ndarray:
    """Members of ``nap`` (``-1`` = noise), most typical first, exactly as the front end orders them:
    float32 membership probability descending, then index. Noise: GLOSH outlier score ascending (the least
    outlying first), then index."""
    lab = np.asarray(naps.labels)
    idx = np.flatnonzero(lab == int(nap))
    if int(nap) < 0:
        score = np.nan_to_num(np.asarray(naps.outlier_scores, dtype=np.float32)[idx], nan=0.0)
        return idx[np.lexsort((idx, score))]
    prob = np.asarray(naps.probabilities, dtype=np.float32)[idx]
    return idx[np.lexsort((idx, -prob))]


def nap_orders(naps: Any) -> list[np.ndarray]:
    """:func:`nap_order` of every NAP ``0..k-1`` from one sort (hundreds of NAPs: one pass, not one each)."""
    lab = np.asarray(naps.labels)
    prob = np.asarray(naps.probabilities, dtype=np.float32)
    order = np.lexsort((np.arange(len(lab)), -prob, lab))
    bounds = np.searchsorted(lab[order], np.arange(naps.n_naps + 1))
    return [order[bounds[j] : bounds[j + 1]] for j in range(naps.n_naps)]


def nap_extremes(
    explorer: Any, nap: int, n_typical: int = 8, n_atypical: int = 4, naps: Any = None
) -> dict[str, list[int]]:
    """``{"typical": the n most typical members, "atypical": the n least typical (least typical first)}``.

    For noise (``nap=-1``) "typical" is the least outlying noise (lowest GLOSH), "atypical" the most outlying.

    Example
    -------
    >>> nap_extremes(ex, 0, 3, 2)  # doctest: +SKIP
    {'typical': [4, 0, 9], 'atypical': [13, 2]}
    """
    naps = explorer.naps if naps is None else naps
    nap = int(nap)
    if not -1 <= nap < naps.n_naps:
        raise NapInputError(f"NAP {nap} does not exist", f"pick 0..{naps.n_naps - 1} (or -1 for the noise)")
    order = nap_order(naps, nap)
    n_t, n_a = max(0, int(n_typical)), max(0, int(n_atypical))
    head = order[:n_t]
    tail = order[len(head) :][::-1][:n_a]  # never repeats a typical member
    return {"typical": head.astype(int).tolist(), "atypical": tail.astype(int).tolist()}


def outlier_summary(explorer: Any, naps: Any = None) -> list[dict[str, Any]]:
    """Per NAP, then the noise (``nap = -1``): size, mean and max GLOSH outlier score, misclassified count."""
    naps = explorer.naps if naps is None else naps
    out = np.nan_to_num(np.asarray(naps.outlier_scores, dtype=np.float64), nan=0.0)
    wrong = None
    if explorer.label_codes is not None and explorer.pred_codes is not None:
        wrong = (
            (explorer.label_codes >= 0)
            & (explorer.pred_codes >= 0)
            & (explorer.label_codes != explorer.pred_codes)
        )
    rows = []
    for nap in [*range(naps.n_naps), -1]:
        m = np.flatnonzero(np.asarray(naps.labels) == nap)
        rows.append(
            {
                "nap": nap,
                "size": int(len(m)),
                "outlier_mean": _r(out[m].mean(), 4) if len(m) else None,
                "outlier_max": _r(out[m].max(), 4) if len(m) else None,
                "misclassified": int(wrong[m].sum()) if wrong is not None else None,
            }
        )
    return rows


def average_images(explorer: Any, naps: Any = None) -> bytes:
    """The average image (pixel mean of the members) of every NAP, then of the noise, as one uint8 sprite
    (``h x w x c`` per image, like the card thumbnails); ``b""`` when the items are not images."""
    r = explorer.renderer
    naps = explorer.naps if naps is None else naps
    if r is None or getattr(r, "kind", "") != "image":
        return b""
    d = r.describe()
    size = int(d["h"] * d["w"] * d["c"])
    orders = explorer.members_by_nap() if naps is explorer.naps else nap_orders(naps)
    groups = [*orders, nap_order(naps, -1)]
    if hasattr(r, "averages"):  # all NAPs in one vectorised pass (hundreds of NAPs: one loop was ~1 s)
        images = r.averages(groups)
    else:
        images = [r.average(g.tolist()) or b"" for g in groups]
    return b"".join(bytes(img) if len(img) == size else bytes(size) for img in images)


# ------------------------------------------------------------------------------------------- NAPs per layer
def naps_with(explorer: Any, params: Mapping[str, Any], cache: dict | None = None) -> Any:
    """The NAPs for a full parameter set (``layer`` included) without changing the explorer's state."""
    params = explorer.validate({**explorer.params, **dict(params)})
    key = _params_key(params)
    if params == explorer.params:
        return explorer.naps
    hit = explorer.cached_naps(params)
    if hit is None and cache is not None:
        hit = cache.get(key)
    if hit is not None:
        return hit
    naps = explorer.compute_naps(params)
    if cache is not None:
        cache[key] = naps
        while len(cache) > 32:
            cache.pop(next(iter(cache)))
    return naps


def layer_labels(
    explorer: Any, layers: Sequence[str] | None = None, cache: dict | None = None
) -> dict[str, Any]:
    """``layer -> NAPs`` of every (given) layer at the explorer's current clustering parameters."""
    return {name: naps_with(explorer, {"layer": name}, cache) for name in (layers or explorer.layers)}


def follow_counts(
    explorer: Any, indices: Iterable[int], layers: Sequence[str] | None = None, cache: dict | None = None
) -> dict[str, dict[int, int]]:
    """``{layer: {nap: count}}``: for every layer, the NAPs holding the given inputs (``-1`` = noise).

    Each layer's counts add up to the number of distinct inputs. Layers follow model order; NAPs by count
    descending, then id.
    """
    idx = _check_indices(explorer, indices)
    out: dict[str, dict[int, int]] = {}
    for name, naps in layer_labels(explorer, layers, cache).items():
        vals, counts = np.unique(np.asarray(naps.labels)[idx], return_counts=True)
        order = np.lexsort((vals, -counts))
        out[name] = {int(vals[j]): int(counts[j]) for j in order}
    return out


def _check_indices(explorer: Any, indices: Iterable[int]) -> np.ndarray:
    idx = np.asarray(list(dict.fromkeys(int(i) for i in indices)), dtype=np.int64)
    bad = idx[(idx < 0) | (idx >= explorer.n)]
    if len(bad):
        raise NapInputError(
            f"input indices {bad[:5].tolist()} do not exist", f"use indices 0..{explorer.n - 1}"
        )
    return idx


def _composition(explorer: Any, members: np.ndarray) -> tuple[int | None, float | None]:
    codes = explorer.label_codes
    if codes is None or len(members) == 0:
        return None, None
    c = codes[members]
    c = c[c >= 0]
    if not len(c):
        return None, None
    counts = np.bincount(c, minlength=len(explorer.classes))
    k = int(counts.argmax())
    return k, _r(counts[k] / len(members), 4)


def follow_view(explorer: Any, cache: dict | None = None) -> tuple[list[dict[str, Any]], bytes]:
    """(per-layer summaries, the NAP of every input in every layer as int32 bytes, layer-major): what the
    follow panel needs to count any selection on the front end."""
    rows, parts = [], []
    for name, naps in layer_labels(explorer, None, cache).items():
        lab = np.asarray(naps.labels)
        dom, pur = [], []
        for i in range(naps.n_naps):
            d, p = _composition(explorer, np.flatnonzero(lab == i))
            dom.append(d)
            pur.append(p)
        rows.append(
            {
                "layer": name,
                "n_naps": int(naps.n_naps),
                "sizes": [int(s) for s in naps.sizes],
                "noise": int(np.sum(lab < 0)),
                "dominant": dom,
                "purity": pur,
            }
        )
        parts.append(lab.astype("<i4").tobytes())
    return rows, b"".join(parts)


def layer_strip(explorer: Any, cache: dict | None = None) -> list[dict[str, Any]]:
    """The layers in model order: name, type, shape, units, and the NAP count at the current parameters
    where it is known (computed for the current layer, the follow panel or earlier visits); else None."""
    out = []
    for entry in explorer.layer_list():
        params = {**explorer.params, "layer": entry["name"]}
        key = _params_key(params)
        naps = explorer.cached_naps(params) or (cache or {}).get(key)
        out.append(
            {
                **entry,
                "n_naps": None if naps is None else int(naps.n_naps),
                "current": entry["name"] == explorer.params["layer"],
            }
        )
    return out


# ------------------------------------------------------------------------------------------- pins
def pin_key(pin: Mapping[str, Any]) -> str:
    p = pin.get("params") or {}
    return json.dumps([pin["layer"], int(pin["nap"]), {k: p[k] for k in sorted(p)}], separators=(",", ":"))


def normalize_pin(explorer: Any, pin: Mapping[str, Any]) -> dict[str, Any]:
    """``{"layer", "nap", "params"}`` with the clustering parameters completed (default: the current ones)."""
    from napwidget.explorer import DEFAULT_PARAMS

    if not isinstance(pin, Mapping) or "nap" not in pin:
        raise NapInputError(
            f"a pin must be a dict with 'nap' (and 'layer', 'params'), got {pin!r}",
            "pin like {'layer': 'fc1', 'nap': 3}",
        )
    layer = pin.get("layer") or explorer.params["layer"]
    given = dict(pin.get("params") or {})
    unknown = set(given) - set(DEFAULT_PARAMS)
    if unknown:
        raise NapInputError(f"unknown pin parameter(s) {sorted(unknown)}", f"use {', '.join(DEFAULT_PARAMS)}")
    params = explorer.validate({**explorer.params, **given, "layer": layer})
    nap = pin["nap"]
    if isinstance(nap, bool) or not isinstance(nap, (int, np.integer, float)) or float(nap) != int(nap):
        raise NapInputError(f"pinned NAP {nap!r} is not a NAP id", "pin a NAP id such as 0")
    return {"layer": params["layer"], "nap": int(nap), "params": {k: params[k] for k in DEFAULT_PARAMS}}


def pin_view(
    explorer: Any, pin: Mapping[str, Any], cache: dict | None = None, n_members: int = 8, n_atypical: int = 4
) -> dict[str, Any]:
    """The pinned tray's card of one pin: size, label make-up, most/least typical members and the NAP's
    per-unit mean, quartiles and whiskers (normalised activations of its layer)."""
    pin = normalize_pin(explorer, pin)
    naps = naps_with(explorer, {**pin["params"], "layer": pin["layer"]}, cache)
    nap = pin["nap"]
    if not 0 <= nap < naps.n_naps:
        raise NapInputError(
            f"NAP {nap} does not exist in layer {pin['layer']!r} at these parameters",
            f"pin a NAP between 0 and {naps.n_naps - 1}",
        )
    members = nap_order(naps, nap)
    ext = nap_extremes(explorer, nap, n_members, n_atypical, naps=naps)
    dom, purity = _composition(explorer, members)
    acc = None
    if explorer.label_codes is not None and explorer.pred_codes is not None:
        acc = _r(np.mean(explorer.label_codes[members] == explorer.pred_codes[members]), 4)
    st = naps.nap_stats(nap)
    out = np.nan_to_num(np.asarray(naps.outlier_scores, dtype=np.float64)[members], nan=0.0)
    return {
        **pin,
        "key": pin_key(pin),
        "size": int(len(members)),
        "persistence": _r(naps.persistence[nap], 5),
        "dominant": dom,
        "purity": purity,
        "accuracy": acc,
        "outlier_mean": _r(out.mean(), 4),
        "members": ext["typical"],
        "atypical": ext["atypical"],
        "n_features": int(naps.features.shape[1]),
        "top_units": [int(u) for u in naps.top_units(nap, n=5)],
        **{k: [_r(v, 3) for v in st[k]] for k in ("mean", "q1", "q3", "lower_whisker", "upper_whisker")},
        "_members": members.astype(int).tolist(),
    }


def pin_overlaps(views: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Shared members between every two pins (a symmetric matrix; the diagonal = sizes)."""
    sets = [set(v.get("_members", [])) for v in views]
    return [[len(a & b) for b in sets] for a in sets]


# ------------------------------------------------------------------------------------------- max activating
def max_activating_view(
    explorer: Any, unit: int | None = None, k: int = 16, layer: str | None = None
) -> dict[str, Any]:
    """The unit-level baseline beside the NAPs: the ``k`` inputs that excite ``unit`` most (``None``: the
    layer's L2 norm; :func:`~napwidget.naps.top_activating` on the raw activations), their scores and NAPs
    in the current layer, and the NAPs whose members drive the unit most (by NAP mean of the normalised unit).
    """
    from napwidget.naps import top_activating

    layer = layer or explorer.params["layer"]
    if layer not in explorer.layers:
        raise NapInputError(f"unknown layer {layer!r}", f"pick one of {', '.join(explorer.layers[:12])}")
    x = _matrix(explorer, layer)
    idx = top_activating(x, unit=unit, k=int(k))
    score = (
        np.linalg.norm(x[idx].astype(np.float64), axis=1)
        if unit is None
        else x[idx, int(unit)].astype(np.float64)
    )
    cur = explorer.naps
    lab = np.asarray(cur.labels)[idx]
    vals, counts = np.unique(lab, return_counts=True)
    order = np.lexsort((vals, -counts))
    by_nap = [{"nap": int(vals[j]), "count": int(counts[j])} for j in order]
    unit_naps = []
    if unit is not None and layer == explorer.params["layer"] and cur.n_naps:
        m = cur.stats["mean"][:, int(unit)].astype(np.float64)
        top = np.lexsort((np.arange(len(m)), -m))[:5]
        unit_naps = [{"nap": int(i), "mean": _r(m[i], 3), "size": int(cur.sizes[i])} for i in top]
    wrong = None
    if explorer.label_codes is not None and explorer.pred_codes is not None:
        wrong = explorer.label_codes[idx] != explorer.pred_codes[idx]
    return {
        "layer": layer,
        "unit": None if unit is None else int(unit),
        "k": int(k),
        "n_units": int(x.shape[1]),
        "current": explorer.params["layer"],
        "indices": idx.astype(int).tolist(),
        "scores": [_r(v, 4) for v in score],
        "naps": lab.astype(int).tolist(),
        "by_nap": by_nap,
        "unit_naps": unit_naps,
        "n_distinct_naps": int(len({v for v in lab.tolist() if v >= 0})),
        "misclassified": None if wrong is None else int(wrong.sum()),
    }


# ------------------------------------------------------------------------------------------- html state
def state_from_html(path: str | Path) -> dict[str, Any]:
    """The view state embedded in a ``save_html`` file (``w.set_state_dict(state_from_html(p))`` reopens it
    in a notebook as it was left)."""
    import re

    text = Path(path).read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="napw-state">(.*?)</script>', text, re.S)
    if not m:
        raise NapInputError(f"{path} is not a napwidget export", "pass a file written by NapWidget.save_html")
    payload = json.loads(m.group(1))
    state = payload.get("view_state")
    if not isinstance(state, dict):
        raise NapInputError(f"{path} carries no view state (an older export)", "save it again with save_html")
    return state


# ------------------------------------------------------------------------------------------- widget mixin
class CrossLayerViews(traitlets.HasTraits):
    """The cross-layer traits and their lazy recomputation; mixed into NapWidget (call
    ``_init_cross_layer()``)."""

    pinned = traitlets.List(traitlets.Dict()).tag(sync=True, view="cross", state=True)
    ui_state = traitlets.Dict(dict(UI_DEFAULTS)).tag(sync=True, view="cross", state=True)
    cross_open = traitlets.List(traitlets.Unicode()).tag(sync=True, view="cross", state=True)
    pinned_view = traitlets.List(traitlets.Dict()).tag(sync=True, view="cross")
    follow_layers = traitlets.List(traitlets.Dict()).tag(sync=True, view="cross")
    _follow_labels = traitlets.Bytes(b"").tag(sync=True, view="cross")
    max_activating = traitlets.Dict().tag(sync=True, view="cross")
    layer_strip = traitlets.List(traitlets.Dict()).tag(sync=True, view="cross")
    _avg_thumbs = traitlets.Bytes(b"").tag(sync=True, view="cross")

    def _init_cross_layer(self) -> None:
        self._cx_naps: dict = {}  # parameter tuple -> NAPs of layers other than the current one
        self._cx_pin_cache: OrderedDict[str, dict] = OrderedDict()
        self._cx_busy = False
        self._cx_good = {"ui_state": validate_ui_state(self.ui_state), "pinned": [], "cross_open": []}
        self._cx_set("ui_state", dict(self._cx_good["ui_state"]))
        self.observe(self._cx_on_view, names=["view"])
        self.observe(self._cx_on_input, names=["pinned", "ui_state", "cross_open"])
        self._cx_on_view(None)

    # ---------------------------------------------------------------------------- python API
    def pin(
        self, nap: int, layer: str | None = None, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Pin NAP ``nap`` of ``layer`` (default: the current one) at ``params`` (default: the current ones).

        Example
        -------
        >>> w.pin(0); w.layer = "conv3"; w.pinned[0]["layer"]  # doctest: +SKIP
        'relu4'
        """
        p = normalize_pin(self._explorer, {"layer": layer, "nap": nap, "params": params or {}})
        if pin_key(p) not in {pin_key(q) for q in self.pinned}:
            self.pinned = [*self.pinned, p]
        return list(self.pinned)

    def unpin(self, nap: int | None = None, layer: str | None = None) -> list[dict[str, Any]]:
        """Remove pins of NAP ``nap`` in ``layer`` (default: the current layer); ``unpin()`` removes all."""
        if nap is None and layer is None:
            self.pinned = []
        else:
            layer = layer or self.layer
            self.pinned = [
                p for p in self.pinned if not (p["layer"] == layer and (nap is None or p["nap"] == int(nap)))
            ]
        return list(self.pinned)

    def goto(self, layer: str, nap: int | None = None) -> None:
        """Switch to ``layer`` and select NAP ``nap`` there (what clicking a NAP in the follow panel does)."""
        self.layer = layer
        if self._explorer.params["layer"] != layer:
            raise NapInputError(
                self.error or f"could not switch to layer {layer!r}", "pick an extracted layer"
            )
        if nap is not None:
            self.selected_naps = [int(nap)]

    def follow(self, indices: Iterable[int] | None = None) -> dict[str, dict[int, int]]:
        """For every extracted layer, the NAPs holding ``indices`` (default: the selected inputs) and how
        many of them each holds: ``{layer: {nap: count}}``, ``-1`` = noise; each layer's counts sum to
        ``len(indices)``.

        Example
        -------
        >>> w.follow([3, 17, 42])  # doctest: +SKIP
        {'conv3': {2: 2, -1: 1}, 'relu4': {0: 3}}
        """
        return follow_counts(
            self._explorer, self.selected_indices if indices is None else indices, cache=self._cx_naps
        )

    def typical_members(self, nap: int, n: int | None = None) -> list[int]:
        """The ``n`` most typical members of ``nap`` (``-1``: the least outlying noise)."""
        n = self.ui_state["n_typical"] if n is None else n
        return nap_extremes(self._explorer, nap, n, 0)["typical"]

    def least_typical_members(self, nap: int, n: int | None = None) -> list[int]:
        """The ``n`` least typical members of ``nap`` (least typical first; ``-1``: the most outlying
        noise)."""
        n = self.ui_state["n_atypical"] if n is None else n
        return nap_extremes(self._explorer, nap, 0, n)["atypical"]

    def average_image(self, nap: int) -> np.ndarray | None:
        """The average image of ``nap`` (``-1``: noise) as (h, w, c) uint8, or None when items are not
        images."""
        r = self._explorer.renderer
        if r is None or getattr(r, "kind", "") != "image":
            return None
        k = self._explorer.naps.n_naps
        if not -1 <= int(nap) < k:
            raise NapInputError(f"NAP {nap} does not exist", f"pick 0..{k - 1} or -1 for the noise")
        d = r.describe()
        size = d["h"] * d["w"] * d["c"]
        j = k if int(nap) < 0 else int(nap)
        buf = self._avg_thumbs or average_images(self._explorer)
        return np.frombuffer(buf[j * size : (j + 1) * size], dtype=np.uint8).reshape(d["h"], d["w"], d["c"])

    def select_noise(self) -> list[int]:
        """Select the inputs in no NAP (least outlying first) and show the noise card."""
        if not self.ui_state.get("show_noise"):
            self.ui_state = {**self.ui_state, "show_noise": True}
        self.selected_indices = nap_order(self._explorer.naps, -1).astype(int).tolist()
        return list(self.selected_indices)

    def max_activating_inputs(
        self, unit: int | None = None, k: int = 16, layer: str | None = None
    ) -> list[int]:
        """The ``k`` inputs that excite ``unit`` of ``layer`` most (``None``: the layer's L2 norm)."""
        return max_activating_view(self._explorer, unit, k, layer)["indices"]

    def get_state_dict(self) -> dict[str, Any]:
        """The whole view state (layer, parameters, sorting, filters, selection, pins, open panels) as a
        JSON-able dict; :meth:`set_state_dict` restores it (here or in another widget over the same data).

        Example
        -------
        >>> state = w.get_state_dict(); w2.set_state_dict(state)  # doctest: +SKIP
        """
        d: dict[str, Any] = {"version": STATE_VERSION}
        from napwidget.views import state_traits

        for k in state_traits(self):  # the traits tagged state=True
            if self.has_trait(k):
                d[k] = copy.deepcopy(getattr(self, k))
        return json.loads(json.dumps(d))

    def set_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`get_state_dict` dict (unknown keys are reported in ``error``).

        Example
        -------
        >>> w.set_state_dict(json.load(open("view-state.json")))  # doctest: +SKIP
        """
        from napwidget.explorer import PARAM_NAMES

        if not isinstance(state, Mapping):
            raise NapInputError("the view state must be a dict", "pass what get_state_dict() returned")
        state = dict(state)
        state.pop("version", None)
        unknown = [k for k in state if not self.has_trait(k)]
        params = {k: state.pop(k) for k in PARAM_NAMES if k in state}
        if params and {**self._explorer.params, **params} != self._explorer.params:
            self._explorer.set_params(**params)  # one recompute, errors raise before anything changed
            self._sync_param_traits()
            self.error = ""
            self._push_results()
        sel_naps = state.pop("selected_naps", None)
        sel_idx = state.pop("selected_indices", None)
        for k, v in state.items():
            if k in unknown:
                continue
            setattr(self, k, copy.deepcopy(v))
        if sel_naps:
            self.selected_naps = list(sel_naps)
        if sel_idx is not None and (not sel_naps or list(sel_idx) != list(self.selected_indices)):
            self.selected_indices = list(sel_idx)
        if unknown:
            self.error = (
                f"the view state has unknown key(s) {unknown[:5]}. Fix: they were ignored; save the state "
                "again."
            )

    # ---------------------------------------------------------------------------- internals
    def _cx_set(self, name: str, value: Any) -> None:
        self._cx_busy = True
        try:
            setattr(self, name, value)
        finally:
            self._cx_busy = False

    def _cx_guard(self, what: str, fn, revert: str | None = None) -> bool:
        try:
            fn()
        except NapInputError as exc:
            self.error = str(exc)
        except Exception as exc:  # never let an exception kill the comm
            self.error = (
                f"Unexpected error in the {what}: {type(exc).__name__}: {exc}. Fix: try other settings; "
                "details are in the log."
            )
            traceback.print_exc()
        else:
            return True
        if revert is not None and getattr(self, revert) != self._cx_good[revert]:
            self._cx_set(revert, copy.deepcopy(self._cx_good[revert]))
        return False

    def _cx_on_view(self, change: Any) -> None:
        ex = self._explorer
        self._cx_guard("average images", lambda: self._cx_set("_avg_thumbs", average_images(ex)))
        self._cx_refresh(["follow", "max_activating"])
        self._cx_strip()

    def _cx_strip(self) -> None:
        self._cx_set("layer_strip", layer_strip(self._explorer, self._cx_naps))

    def _cx_refresh(self, panels: Iterable[str]) -> None:
        open_ = set(self.cross_open)
        ex = self._explorer
        for panel in panels:
            if panel not in open_:
                if panel == "follow" and (self.follow_layers or self._follow_labels):
                    self._cx_set("follow_layers", [])
                    self._cx_set("_follow_labels", b"")
                elif panel == "max_activating" and self.max_activating:
                    self._cx_set("max_activating", {})
                continue
            if panel == "follow":

                def run():
                    rows, labels = follow_view(ex, self._cx_naps)
                    with self.hold_sync():
                        self._cx_set("_follow_labels", labels)
                        self._cx_set("follow_layers", rows)
                    self._cx_strip()
            else:

                def run():
                    s = self.ui_state
                    unit = s["max_unit"]
                    if (
                        unit is not None
                        and unit >= _matrix(ex, s["max_layer"] or ex.params["layer"]).shape[1]
                    ):
                        unit = None  # the unit of another layer: fall back to the L2 norm
                        self._cx_set("ui_state", {**s, "max_unit": None})
                        self._cx_good["ui_state"] = dict(self.ui_state)
                    self._cx_set("max_activating", max_activating_view(ex, unit, s["max_k"], s["max_layer"]))

            was = self.busy
            self.busy = True
            try:
                self._cx_guard(f"{panel.replace('_', '-')} panel", run)
            finally:
                self.busy = was

    def _cx_refresh_pins(self) -> None:
        ex = self._explorer
        n_t, n_a = self.ui_state["n_typical"], self.ui_state["n_atypical"]
        views = []
        for pin in self.pinned:
            key = f"{pin_key(normalize_pin(ex, pin))}:{n_t}:{n_a}"
            vm = self._cx_pin_cache.get(key)
            if vm is None:
                vm = pin_view(ex, pin, self._cx_naps, n_members=max(n_t, 1), n_atypical=n_a)
                self._cx_pin_cache[key] = vm
                while len(self._cx_pin_cache) > 64:
                    self._cx_pin_cache.popitem(last=False)
            views.append(vm)
        overlap = pin_overlaps(views)
        out = [
            {**{k: v for k, v in vm.items() if k != "_members"}, "overlap": overlap[j]}
            for j, vm in enumerate(views)
        ]
        self._cx_set("pinned_view", out)
        self._cx_strip()

    def _cx_on_input(self, change: Any) -> None:
        if self._cx_busy:
            return
        name = change["name"]
        ex = self._explorer
        if name == "pinned":

            def run():
                pins = [normalize_pin(ex, p) for p in self.pinned]
                uniq = list({pin_key(p): p for p in pins}.values())
                if uniq != list(self.pinned):
                    self._cx_set("pinned", uniq)
                was = self.busy
                self.busy = True
                try:
                    self._cx_refresh_pins()
                finally:
                    self.busy = was
                self._cx_good["pinned"] = copy.deepcopy(uniq)

            self._cx_guard("pinned NAPs", run, revert="pinned")
        elif name == "ui_state":
            old = self._cx_good["ui_state"]

            def run():
                s = validate_ui_state(self.ui_state, ex)
                if s != self.ui_state:
                    self._cx_set("ui_state", s)
                self._cx_good["ui_state"] = dict(s)
                if (s["n_typical"], s["n_atypical"]) != (old["n_typical"], old["n_atypical"]) and self.pinned:
                    self._cx_refresh_pins()
                if any(s[k] != old[k] for k in ("max_unit", "max_k", "max_layer")):
                    self._cx_refresh(["max_activating"])

            self._cx_guard("view options", run, revert="ui_state")
        elif name == "cross_open":
            bad = [p for p in self.cross_open if p not in CROSS_PANELS]
            if bad:
                self.error = f"unknown panel(s) {bad}. Fix: use {', '.join(CROSS_PANELS)}."
                self._cx_set("cross_open", [p for p in self.cross_open if p in CROSS_PANELS])
            old_ = set(change["old"] or [])
            self._cx_refresh((set(self.cross_open) ^ old_) & set(CROSS_PANELS))
