"""How large synced values travel to the front end: binary buffers instead of JSON lists.

Python sees plain values (``w.view["naps"]`` is a list of dicts, ``w.selected_indices`` a list of ints); the
traits' ``to_json`` serialisers below turn their bulky parts into typed-array buffers that ipywidgets sends
as binary message parts, and ``js/src/wire.js`` turns them back into the same values. With hundreds of NAPs
the JSON lists were most of an update's kernel time (encoding, and ipywidgets walking every list element in
search of buffers) and of the browser's parsing.

- ``view["naps"]``: the NAP rows as columns (``{"__rows__": k, "f8": {...}, "i4": {...}, "w": {...}}``): float
  columns as float64 (already rounded; NaN = None), int columns as int32 (-1 = None), list columns
  (``composition`` pairs, ``top_units``, ``members``) as int32 ``k x width`` padded with -1;
  ``top_unit_values`` as float64 ``k x width`` (its row length is ``top_units``').
- ``view["heatmap"]["values"]``: ``{"__f32__": [k, units], "b": float32 buffer}``; the front end rounds them
  back to their 3 decimals (exact below 16,384 in magnitude, where float32 steps are under 0.001).
- ``view["scatter"]["data"]``: ``{"__from_naps__": true}``: the points are the NAP rows' columns, rebuilt by
  the front end exactly as :meth:`Explorer.scatter_spec <napwidget.explorer.Explorer.scatter_spec>` does.
- ``selected_naps`` / ``selected_indices``: ``{"__i32__": count, "b": int32 buffer}`` from
  :data:`SELECTION_BINARY_MIN` ids on (short lists stay JSON: easier to read in a message log).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

ROW_FLOATS = ("persistence", "purity", "accuracy", "mean_probability")
ROW_INTS = ("size", "dominant", "other")
ROW_LISTS = ("top_units", "members")
SELECTION_BINARY_MIN = 64


def _buffer(a: np.ndarray, dtype: str) -> memoryview:
    return memoryview(np.ascontiguousarray(a, dtype=dtype).tobytes())


def _padded(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, int]:
    width = max((len(x) for x in lists), default=0)
    out = np.full((len(lists), width), -1, dtype="<i4")
    for i, x in enumerate(lists):
        out[i, : len(x)] = x
    return out, width


def pack_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The NAP rows of :meth:`Explorer.nap_rows <napwidget.explorer.Explorer.nap_rows>` as binary
    columns (rows in id order)."""
    k = len(rows)
    f8: dict[str, memoryview] = {}
    i4: dict[str, memoryview] = {}
    width: dict[str, int] = {}
    for name in ROW_FLOATS:
        f8[name] = _buffer(np.array([r[name] for r in rows], dtype=np.float64).reshape(k), "<f8")
    for name in ROW_INTS:
        i4[name] = _buffer(np.array([-1 if r[name] is None else r[name] for r in rows]).reshape(k), "<i4")
    for name in ROW_LISTS:
        table, width[name] = _padded([r[name] for r in rows])
        i4[name] = _buffer(table, "<i4")
    comp, width["composition"] = _padded([[v for pair in r["composition"] for v in pair] for r in rows])
    i4["composition"] = _buffer(comp, "<i4")
    vals = np.full((k, width["top_units"]), np.nan)
    for i, r in enumerate(rows):
        vals[i, : len(r["top_unit_values"])] = [np.nan if v is None else v for v in r["top_unit_values"]]
    f8["top_unit_values"] = _buffer(vals, "<f8")
    width["top_unit_values"] = width["top_units"]
    return {"__rows__": k, "f8": f8, "i4": i4, "w": width}


def pack_view(vm: Mapping[str, Any]) -> dict[str, Any]:
    """The ``view`` trait's wire form (see the module docstring)."""
    out = dict(vm)
    rows = vm.get("naps") or []
    if any(r.get("id") != i for i, r in enumerate(rows)):  # columns are positional: only id-ordered rows
        return out
    out["naps"] = pack_rows(rows)
    hm = vm.get("heatmap")
    if isinstance(hm, Mapping) and hm.get("values"):
        vals = np.asarray(hm["values"], dtype="<f4")
        out["heatmap"] = {**hm, "values": {"__f32__": list(vals.shape), "b": _buffer(vals, "<f4")}}
    sc = vm.get("scatter")
    if isinstance(sc, Mapping) and isinstance(sc.get("data"), Mapping) and "values" in sc["data"]:
        out["scatter"] = {**sc, "data": {"__from_naps__": True}}
    return out


def view_to_json(vm: Any, widget: Any) -> Any:
    """``to_json`` of the ``view`` trait: :func:`pack_view`, once per view model (ipywidgets may serialise
    the same value twice: to send it and to compare it with what the front end last sent)."""
    if not isinstance(vm, Mapping) or not vm:
        return vm
    cached = getattr(widget, "_wire_view", None)
    if cached is not None and cached[0] is vm:
        return cached[1]
    packed = pack_view(vm)
    widget._wire_view = (vm, packed)
    return packed


def ids_to_json(ids: Any, _widget: Any = None) -> Any:
    """``to_json`` of ``selected_naps`` / ``selected_indices``: a list, or an int32 buffer when long."""
    if ids is None or len(ids) < SELECTION_BINARY_MIN:
        return None if ids is None else [int(i) for i in ids]
    return {"__i32__": len(ids), "b": _buffer(np.asarray(ids), "<i4")}


def ids_from_json(value: Any, _widget: Any = None) -> list[int]:
    """``from_json`` of the selection traits: a JSON list or :func:`ids_to_json`'s buffer form."""
    if isinstance(value, Mapping) and "__i32__" in value:
        buf = value.get("b")
        data = np.frombuffer(bytes(buf) if buf is not None else b"", dtype="<i4")
        return data[: int(value["__i32__"])].astype(int).tolist()
    return list(value or [])
