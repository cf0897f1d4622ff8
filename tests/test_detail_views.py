"""Detail views without a browser: the unit statistics view model equals ``NAPs.stats`` exactly, the per-NAP
chart data and the distribution matrix equal counts taken from the inputs, and the label / prediction filters
restrict ``selected_indices`` (whichever side sets them) with clear errors for bad values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napwidget.errors import NapInputError
from napwidget.explorer import Explorer
from napwidget.views.detail import (
    MAX_COMPARE,
    NEAR_ZERO,
    STAT_KEYS,
    apply_filters,
    filter_mask,
    nap_detail_view,
    unit_stats_view,
    validate_filters,
)
from napwidget.widget import NapWidget

from synthetic import small_blobs

NAMES = ["zero", "one", "two", "three"]


def blobs(noise: int = 12, seed: int = 0, **kw):
    X, y = small_blobs(noise=noise, seed=seed, **kw)
    X[:, 0] = 0.0  # a dead unit: near zero in every NAP
    rng = np.random.default_rng(seed + 1)
    pred = np.where(rng.uniform(size=len(y)) < 0.15, (y + 1) % (y.max() + 1), y)
    return X, y, pred


@pytest.fixture(scope="module")
def data():
    X, y, pred = blobs()
    return {"early": X[:, :6] * 2.0, "mid": X}, y, pred


@pytest.fixture(scope="module")
def ex(data):
    acts, y, pred = data
    return Explorer(acts, labels=y, predictions=pred, class_names=NAMES, layer="mid", min_cluster_size=10)


@pytest.fixture
def w(data):
    acts, y, pred = data
    return NapWidget.from_activations(
        acts, labels=y, predictions=pred, class_names=NAMES, layer="mid", min_cluster_size=10
    )


# ------------------------------------------------------------------------------------------- view models
def test_unit_stats_equal_naps_stats_exactly(ex):
    k = ex.naps.n_naps
    assert k >= 3
    vm = unit_stats_view(ex, [2, 0])
    json.dumps(vm, allow_nan=False)
    assert [r["id"] for r in vm["naps"]] == [2, 0] and vm["n_units"] == ex.naps.features.shape[1]
    assert vm["naps"][0]["color"] != vm["naps"][1]["color"]
    for row in vm["naps"]:
        i = row["id"]
        assert row["size"] == len(ex.naps.members(i))
        for key in STAT_KEYS:
            got = np.asarray(row["stats"][key], dtype=np.float32)
            assert np.array_equal(got, ex.naps.stats[key][i]), key  # bit for bit
        st = ex.naps.stats
        assert np.all(st["lower_whisker"][i] >= st["min"][i]) and np.all(
            st["upper_whisker"][i] <= st["max"][i]
        )
        amp = np.maximum(np.abs(st["min"][i]), np.abs(st["max"][i]))
        assert row["near_zero"] == np.flatnonzero(amp < NEAR_ZERO).tolist()
    assert 0 in vm["near_zero"]  # the dead unit
    assert set(vm["near_zero"]) == set(vm["naps"][0]["near_zero"]) & set(vm["naps"][1]["near_zero"])
    assert vm["truncated"] is False


def test_unit_stats_compare_limit_and_bad_ids(ex):
    k = ex.naps.n_naps
    ids = list(range(k)) * 3
    vm = unit_stats_view(ex, ids, max_naps=2)
    assert [r["id"] for r in vm["naps"]] == [0, 1] and vm["truncated"] is True
    assert len(unit_stats_view(ex, list(range(k)))["naps"]) == min(k, MAX_COMPARE)
    with pytest.raises(NapInputError, match="do not exist"):
        unit_stats_view(ex, [k + 5])
    assert unit_stats_view(ex, [])["naps"] == []


def test_nap_detail_counts_histograms_and_specs(ex, data):
    _, y, pred = data
    vm = nap_detail_view(ex)
    json.dumps(vm, allow_nan=False)
    k = ex.naps.n_naps
    assert vm["n_naps"] == k and vm["classes"] == NAMES and vm["has_labels"] and vm["has_predictions"]
    nap = ex.naps.labels
    for i in range(k):
        m = nap == i
        want = np.bincount(y[m], minlength=4)
        assert dict(map(tuple, vm["label_counts"][i])) == {c: int(n) for c, n in enumerate(want) if n}
        wantp = np.bincount(pred[m], minlength=4)
        assert dict(map(tuple, vm["pred_counts"][i])) == {c: int(n) for c, n in enumerate(wantp) if n}
        assert sum(vm["prob_hist"][i]) == m.sum()
        p = ex.naps.probabilities[m]
        assert vm["prob_hist"][i][-1] == np.sum(p >= vm["prob_edges"][-2])
    noise = nap < 0
    assert sum(c for _, c in vm["noise_label_counts"]) == noise.sum()
    # the distribution matrix is the engine's label_counts when the engine is given the labels
    from napwidget.naps import find_naps

    ref = find_naps(data[0]["mid"], labels=y, min_cluster_size=10)
    assert np.array_equal(ref.labels, nap)
    dense = np.zeros((k, 4), dtype=int)
    for i, pairs in enumerate(vm["label_counts"]):
        for c, n in pairs:
            dense[i, c] = n
    assert np.array_equal(dense, ref.label_counts)
    for name in ("stats", "hist", "bars"):
        spec = vm["specs"][name]
        assert "$schema" not in spec and spec["data"] == {"name": name}
        assert "http" not in json.dumps(spec)


# ------------------------------------------------------------------------------------------- filters
def test_validate_filters_accepts_names_codes_and_raw_labels(ex):
    assert validate_filters(ex, None) == {"labels": [], "predictions": []}
    assert validate_filters(ex, {"labels": ["two", 3, "two"]}) == {
        "labels": ["two", "three"],
        "predictions": [],
    }
    assert validate_filters(ex, {"predictions": np.int64(1)}) == {"labels": [], "predictions": ["one"]}
    for bad, match in (
        ({"labels": ["seven"]}, "unknown label 'seven'"),
        ({"colour": ["x"]}, "unknown filter kind"),
        ({"labels": [True]}, "unknown label"),
        ([1, 2], "must be a dict"),
        ({"labels": [9]}, "unknown label 9"),
    ):
        with pytest.raises(NapInputError, match=match) as info:
            validate_filters(ex, bad)
        assert "Fix:" in str(info.value)


def test_filter_mask_is_and_across_kinds_or_within(ex, data):
    _, y, pred = data
    assert filter_mask(ex, {}) is None
    m = filter_mask(ex, {"labels": ["one", "two"], "predictions": ["two"]})
    assert np.array_equal(m, np.isin(y, [1, 2]) & (pred == 2))
    assert apply_filters(ex, [5, 41, 90, 0], {"labels": ["one"]}) == [i for i in [5, 41, 90, 0] if y[i] == 1]


def test_filter_without_predictions_is_a_clear_error(data):
    acts, y, _ = data
    ex = Explorer(acts, labels=y, class_names=NAMES, layer="mid", min_cluster_size=10)
    with pytest.raises(NapInputError, match="no predictions"):
        validate_filters(ex, {"predictions": ["one"]})


# ------------------------------------------------------------------------------------------- widget
def test_filters_restrict_selected_indices_both_orders(w, data):
    _, y, pred = data
    ex = w.explorer
    nap = int(np.bincount(ex.naps.labels[ex.naps.labels >= 0]).argmax())
    members = ex.members_of([nap])
    dominant = NAMES[int(np.bincount(y[members]).argmax())]
    w.selected_naps = [nap]
    assert w.selected_indices == members and w.nap_stats["naps"][0]["id"] == nap
    w.filters = {"predictions": [dominant]}
    want = [i for i in members if NAMES[pred[i]] == dominant]
    assert 0 < len(want) < len(members)
    assert w.selected_indices == want and w.selected_naps == [nap] and w.error == ""
    # selecting another NAP keeps the filter
    w.selected_naps = [nap, (nap + 1) % ex.naps.n_naps]
    assert w.selected_indices == [i for i in ex.members_of(w.selected_naps) if NAMES[pred[i]] == dominant]
    w.clear_filters()
    assert w.filters == {"labels": [], "predictions": []}
    assert w.selected_indices == ex.members_of(w.selected_naps)


def test_direct_selection_is_refiltered_and_restored(w, data):
    _, y, _ = data
    picked = [3, 50, 90, 130, 170, 171]
    w.selected_indices = picked
    w.toggle_filter("labels", 1)
    assert w.filters["labels"] == ["one"]
    assert w.selected_indices == [i for i in picked if y[i] == 1]
    w.toggle_filter("labels", "one")
    assert w.filters["labels"] == [] and w.selected_indices == picked
    # a Python selection made while filtering is filtered
    w.filters = {"labels": ["zero"]}
    w.selected_indices = picked
    assert w.selected_indices == [i for i in picked if y[i] == 0]


def test_bad_filters_set_error_and_revert(w):
    w.filters = {"labels": ["two"]}
    good = dict(w.filters)
    w.filters = {"labels": ["no-such-class"]}
    assert "unknown label 'no-such-class'" in w.error and "Fix:" in w.error
    assert w.filters == good
    w.error = ""
    w.filters = {"weird": 1}
    assert "unknown filter kind" in w.error and w.filters == good


def test_front_end_intents_select_and_filter_in_order(w, data):
    """The front end sends intents ("select", then "filter"); the kernel applies them in order, publishes the
    selection and answers each with its req (napwidget.selection)."""
    _, y, _ = data
    nap = 0
    members = w.explorer.members_of([nap])
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append(content)
    w._handle_custom_msg({"type": "select", "req": 1, "naps": [nap], "mode": "replace"}, [])
    assert w.selected_naps == [nap] and w.selected_indices == members
    cls = NAMES[int(y[members[0]])]
    w._handle_custom_msg({"type": "filter", "req": 2, "filters": {"labels": [cls]}}, [])
    assert w.filters == {"labels": [cls], "predictions": []} and w.selected_naps == [nap]
    assert w.selected_indices == [i for i in members if NAMES[y[i]] == cls]
    w._handle_custom_msg({"type": "filter", "req": 3, "filters": {"labels": ["no-such-class"]}}, [])
    assert "no-such-class" in w.error and w.filters["labels"] == [cls]  # reverted, with the problem
    assert [m["req"] for m in w.sent] == [1, 2, 3] and all("error" not in m for m in w.sent)


def test_detail_traits_follow_results(w):
    w.selected_naps = [0]
    assert w.nap_stats["layer"] == "mid"
    w.layer = "early"
    assert w.selected_naps == [] and w.nap_stats == {}
    assert w.nap_detail["layer"] == "early" and w.nap_detail["params"]["layer"] == "early"
    w.selected_naps = [0]
    assert w.nap_stats["n_units"] == 6
    assert np.array_equal(
        np.asarray(w.unit_stats()["naps"][0]["stats"]["mean"], np.float32), w.naps.stats["mean"][0]
    )


def test_html_state_carries_filters(w):
    from napwidget.html_export import widget_state

    w.filters = {"labels": ["one"]}
    w.selected_naps = [0]
    state = widget_state(w)
    assert state["filters"]["labels"] == ["one"] and state["nap_stats"]["naps"][0]["id"] == 0
    assert state["nap_detail"]["n_naps"] == w.naps.n_naps
