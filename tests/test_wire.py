"""Large synced values travel as binary buffers (napwidget.views.wire) and Python still sees plain values.

``js/test/fixtures/wire/views.json`` holds what ipywidgets sends for two widgets (the state with its buffers
taken out, as ``_remove_buffers`` does) next to the plain values Python holds; vitest (js/test/wire.test.js)
decodes the first and must get the second. This test checks the committed file is what the code sends today.
Regenerate with ``NAPWIDGET_UPDATE_FIXTURES=1 pytest tests/test_wire.py``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

from napwidget.views.wire import SELECTION_BINARY_MIN, ids_from_json, ids_to_json, pack_view
from napwidget.widget import NapWidget

from synthetic import small_blobs

FIXTURE = Path(__file__).resolve().parents[1] / "js" / "test" / "fixtures" / "wire" / "views.json"
FIX = "regenerate with NAPWIDGET_UPDATE_FIXTURES=1 pytest tests/test_wire.py and commit js/test/fixtures"
WIRE_TRAITS = ["view", "selected_naps", "selected_indices"]


def _widgets() -> dict[str, NapWidget]:
    X, y = small_blobs(n_per=40, k=4, dim=12, noise=12)
    pred = np.where(np.arange(len(y)) % 7 == 0, (y + 1) % 4, y)
    full = NapWidget.from_activations(
        {"fc": X}, labels=y, predictions=pred, class_names=["a", "b", "c", "d"], min_cluster_size=8
    )
    full.selected_naps = [0, 2]  # more members than SELECTION_BINARY_MIN: a binary selection
    bare = NapWidget.from_activations({"fc": X}, min_cluster_size=8)  # no labels: None everywhere
    bare.selected_indices = [5, 3, 1]
    return {"labelled": full, "unlabelled": bare}


def _wire(w: NapWidget) -> dict:
    state, paths, buffers = _remove_buffers(w.get_state(WIRE_TRAITS))
    plain = json.loads(json.dumps({k: getattr(w, k) for k in WIRE_TRAITS}))
    return {
        "state": state,
        "buffer_paths": paths,
        "buffers": [base64.b64encode(bytes(b)).decode("ascii") for b in buffers],
        "plain": plain,
    }


def _longest_list(x) -> int:
    if isinstance(x, dict):
        return max((_longest_list(v) for v in x.values()), default=0)
    if isinstance(x, list):
        return max([len(x), *(_longest_list(v) for v in x)])
    return 0


def _current() -> dict:
    return {name: _wire(w) for name, w in _widgets().items()}


@pytest.fixture(scope="module")
def current() -> dict:
    data = _current()
    if os.environ.get("NAPWIDGET_UPDATE_FIXTURES") == "1":
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return data


def test_the_js_fixture_is_what_the_kernel_sends(current):
    assert FIXTURE.exists(), f"{FIXTURE} is missing: {FIX}"
    assert json.loads(FIXTURE.read_text(encoding="utf-8")) == current, f"the wire form changed: {FIX}"


def test_view_travels_as_buffers_and_json_only_for_the_small_parts(current):
    labelled = current["labelled"]
    state = labelled["state"]
    assert state["view"]["naps"]["__rows__"] == len(labelled["plain"]["view"]["naps"]) >= 3
    assert state["view"]["scatter"]["data"] == {"__from_naps__": True}
    assert ["view", "heatmap", "values", "b"] in labelled["buffer_paths"]
    assert ["selected_indices", "b"] in labelled["buffer_paths"]  # > SELECTION_BINARY_MIN members
    assert len(labelled["plain"]["selected_indices"]) >= SELECTION_BINARY_MIN
    # no per-NAP or per-input list is left in the JSON: its longest list is the heatmap's units
    units = labelled["plain"]["view"]["heatmap"]["units"]
    assert _longest_list(state) == len(units) < labelled["plain"]["view"]["n"] / 10
    assert current["unlabelled"]["state"]["selected_indices"] == [5, 3, 1]  # short: a plain list


def test_python_sees_plain_values():
    w = _widgets()["labelled"]
    assert isinstance(w.view["naps"], list) and isinstance(w.view["naps"][0], dict)
    assert isinstance(w.selected_indices, list) and all(isinstance(i, int) for i in w.selected_indices)
    assert pack_view(w.view)["naps"]["__rows__"] == w.naps.n_naps


def test_selection_round_trips_through_its_wire_form():
    for ids in ([], [3], list(range(SELECTION_BINARY_MIN - 1)), list(range(500, 0, -3))):
        wire = ids_to_json(ids)
        if len(ids) >= SELECTION_BINARY_MIN:
            assert set(wire) == {"__i32__", "b"} and isinstance(wire["b"], memoryview)
        assert ids_from_json(wire) == ids


def test_the_front_end_can_send_a_binary_selection_back():
    """An old front end (or a saved state) that sets the trait in its wire form: Python gets a list."""
    w = _widgets()["unlabelled"]
    ids = np.arange(20, 100, dtype="<i4")[::-1]
    w.set_state({"selected_indices": {"__i32__": len(ids), "b": memoryview(ids.tobytes())}})
    assert w.selected_indices == ids.tolist() and w.selected_naps == []


def test_non_integer_ids_raise_a_clear_error():
    w = _widgets()["unlabelled"]
    with pytest.raises(traitlets.TraitError, match=r"selected_indices must be a list of integer ids.*Fix:"):
        w.selected_indices = [1, "two"]
    with pytest.raises(traitlets.TraitError, match="selected_naps must be a list of integer ids"):
        w.selected_naps = [0.5]
    with pytest.raises(traitlets.TraitError, match="dtype float64"):
        w.selected_indices = np.array([1.0, 2.0])
    w.selected_indices = np.array([4, 2], dtype=np.int64)  # integer arrays are fine
    assert w.selected_indices == [4, 2]
