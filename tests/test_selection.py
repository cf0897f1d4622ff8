"""The kernel owns the selection (napwidget.selection): the front end's intents, the Python API and the
filters all go through one state, and the traits are its outputs."""

from __future__ import annotations

import numpy as np
import pytest

from napwidget.errors import NapInputError
from napwidget.widget import NapWidget

from synthetic import small_blobs


@pytest.fixture
def w():
    X, y = small_blobs(n_per=40, k=4, dim=12, noise=12)
    widget = NapWidget.from_activations(
        {"fc": X}, labels=y, class_names=["a", "b", "c", "d"], min_cluster_size=8
    )
    widget.sent = []
    widget.send = lambda content, buffers=None: widget.sent.append(content)
    return widget


def intent(w, buffers=(), **content):
    w._handle_custom_msg({"req": len(w.sent) + 1, **content}, list(buffers))
    return w.sent[-1]


def test_select_intents_replace_add_toggle_and_answer_after_publishing(w):
    members = w.explorer.members_of
    assert intent(w, type="select", naps=[1], mode="replace") == {"type": "select", "req": 1}
    assert w.selected_naps == [1] and w.selected_indices == members([1])
    intent(w, type="select", naps=[2, 1], mode="add")
    assert w.selected_naps == [1, 2] and w.selected_indices == members([1, 2])
    intent(w, type="select", naps=[1, 0], mode="toggle")
    assert w.selected_naps == [2, 0] and w.selected_indices == members([0, 2])
    intent(w, type="select", naps=[], mode="replace")
    assert w.selected_naps == [] and w.selected_indices == []


def test_input_intents_arrive_as_int32_buffers(w):
    w.selected_naps = [0]
    picked = np.array([9, 4, 150, 4], dtype="<i4")
    reply = intent(w, [picked.tobytes()], type="select", mode="replace", count=4)
    assert "error" not in reply and w.selected_naps == [] and w.selected_indices == [9, 4, 150]
    reply = intent(w, [picked.tobytes()], type="select", mode="replace", count=3)
    assert "3 inputs arrived with 4" in reply["error"] and w.selected_indices == [9, 4, 150]


def test_bad_intents_answer_with_the_problem_and_change_nothing(w):
    w.selected_naps = [1]
    reply = intent(w, type="select", naps=[0], mode="sideways")
    assert "unknown selection mode 'sideways'" in reply["error"] and "Fix:" in reply["error"]
    assert w.selected_naps == [1]
    intent(w, type="select", naps=[0, 77], mode="add")
    assert w.selected_naps == [1, 0] and "NAP(s) [77] do not exist" in w.error


def test_filters_refilter_the_unfiltered_selection_and_a_recompute_keeps_the_inputs(w):
    y = w.explorer.label_codes
    picked = [int(i) for i in np.flatnonzero(y == 1)[:3]] + [int(i) for i in np.flatnonzero(y == 2)[:3]]
    w.select_inputs(picked)
    intent(w, type="filter", filters={"labels": ["b"]})
    assert w.selected_indices == picked[:3]
    intent(w, type="filter", filters={"labels": []})
    assert w.selected_indices == picked  # removing the filter brings them back
    w.select_naps([0])
    before = list(w.selected_indices)
    w.min_cluster_size = 9  # NAP ids mean other NAPs now: cleared; the inputs stay
    assert w.selected_naps == [] and w.selected_indices == before


def test_python_methods_validate_at_the_point_of_entry(w):
    with pytest.raises(NapInputError, match="unknown selection mode"):
        w.select_naps([0], mode="all")
    assert w.select_naps([3, 3]) == [3]
    assert w.select_inputs(np.array([5, 1])) == [5, 1] and w.selected_naps == []
    w.clear_selection()
    assert w.selected_naps == [] and w.selected_indices == []
