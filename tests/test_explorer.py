"""Explorer (the widget's session without a widget), renderers and thumbnails: fast, synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napwidget.errors import NapInputError
from napwidget.explorer import Explorer
from napwidget.renderers import ImageRenderer, IndexRenderer, RowRenderer, TextRenderer, make_renderer
from napwidget.thumbnails import ThumbnailSource, is_image_batch

from synthetic import small_blobs

EVIL = "<img src=x onerror=alert(1)>"


def blobs(noise: int = 10, **kw):
    return small_blobs(noise=noise, **kw)


@pytest.fixture(scope="module")
def data():
    X, y = blobs()
    acts = {"early": X[:, :6] * 2.0, "mid": X, "logits": X[:, :4]}
    return acts, y


@pytest.fixture
def ex(data):
    acts, y = data
    return Explorer(acts, labels=y, class_names=[EVIL, "one", "two", "three"], min_cluster_size=10)


def test_defaults_and_view_model_is_json(ex):
    assert ex.layers == ["early", "mid", "logits"]
    assert ex.params == {
        "layer": "mid",
        "min_cluster_size": 10,
        "min_samples": 5,
        "cluster_selection_method": "leaf",
        "normalize": "unit",
    }
    vm = ex.view_model()
    json.dumps(vm, allow_nan=False)  # strictly JSON-able
    assert vm["n"] == 170 and vm["n_naps"] == ex.naps.n_naps >= 4
    assert len(vm["naps"]) == vm["n_naps"]
    row = vm["naps"][0]
    assert row["size"] == int(ex.naps.sizes[0]) and 0 < len(row["members"]) <= 8
    assert row["purity"] == 1.0 and row["composition"][0][1] == row["size"]
    assert [r["persistence"] for r in vm["naps"]] == sorted(
        (r["persistence"] for r in vm["naps"]), reverse=True
    )
    hm = vm["heatmap"]
    assert len(hm["values"]) == vm["n_naps"] and len(hm["values"][0]) == len(hm["units"]) == 12
    assert sorted(hm["units"]) == list(range(12))


def test_scatter_spec_is_inline_typed_and_offline(ex):
    spec = ex.view_model()["scatter"]
    assert "$schema" not in spec and "http" not in json.dumps(spec)
    layer = spec["layer"][0]
    assert layer["encoding"]["x"]["type"] == "quantitative" and layer["encoding"]["x"]["field"] == "size"
    assert layer["encoding"]["y"]["field"] == "persistence"
    params = spec.get("params", []) + layer.get("params", [])
    assert {p["name"] for p in params} >= {"napsel", "napHover", "brush"}
    values = spec["data"]["values"] if "data" in spec else spec["datasets"][next(iter(spec["datasets"]))]
    assert [v["nap"] for v in values] == list(range(ex.naps.n_naps))


def test_html_in_class_names_stays_plain_data(ex):
    vm = ex.view_model()
    assert vm["classes"][0] == EVIL  # raw data: escaping is the front end's job (textContent)
    assert EVIL in json.dumps(vm["scatter"])


def test_parameter_changes_recompute_and_cache(ex):
    first = ex.naps
    ex.set_params(min_cluster_size=25)
    assert ex.params["min_cluster_size"] == 25 and ex.naps is not first
    assert ex.view_model()["params"]["min_cluster_size"] == 25
    assert ex.naps.sizes.min() >= 25
    ex.set_params(min_cluster_size=10)
    assert ex.naps is first  # recent results are kept
    ex.set_params(layer="early", cluster_selection_method="eom", normalize="none")
    assert ex.view_model()["layer"] == "early" and ex.view_model()["n_features"] == 6


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"layer": "mdi"}, ["unknown layer", "did you mean 'mid'"]),
        ({"min_cluster_size": 1}, ["too small", "Fix"]),
        ({"min_cluster_size": 10_000}, ["larger than the 170 inputs", "between 2 and 170"]),
        ({"min_samples": 0}, ["too small"]),
        ({"min_samples": 170}, ["min_samples=170"]),
        ({"cluster_selection_method": "best"}, ["unknown cluster_selection_method", "'leaf'"]),
        ({"normalize": "zscore"}, ["unknown normalize"]),
        ({"min_cluster_size": 2.5}, ["not a whole number"]),
        ({"colour": 1}, ["unknown parameter"]),
    ],
)
def test_invalid_parameters_leave_the_session_unchanged(ex, changes, words):
    before, naps = dict(ex.params), ex.naps
    with pytest.raises(NapInputError) as err:
        ex.set_params(**changes)
    for w in words:
        assert w in str(err.value)
    assert ex.params == before and ex.naps is naps


def test_members_order_matches_the_front_end_rule(ex):
    for i in range(ex.naps.n_naps):
        m = np.asarray(ex.members_of([i]))
        assert set(m) == set(ex.naps.members(i))
        p = ex.probabilities32[m]
        assert np.all(np.diff(p) <= 0)
        ties = np.flatnonzero(np.diff(p) == 0)
        assert np.all(m[ties] < m[ties + 1])
    both = ex.members_of([0, 1])
    assert sorted(both) == sorted(ex.members_of([0]) + ex.members_of([1]))
    assert ex.members_of([]) == [] and ex.members_of([999]) == []


def test_binary_tables_round_trip(ex):
    n = ex.n
    s = ex.sample_table()
    assert isinstance(s, bytes) and len(s) == 12 * n
    nap = np.frombuffer(s[: 4 * n], "<i4")
    np.testing.assert_array_equal(nap, ex.naps.labels)
    prob = np.frombuffer(s[4 * n : 8 * n], "<f4")
    np.testing.assert_allclose(prob, ex.naps.probabilities, atol=1e-6)
    t = ex.truth_table()
    lab = np.frombuffer(t[: 4 * n], "<i4")
    assert ex.classes[lab[0]] == EVIL
    assert np.all(np.frombuffer(t[4 * n :], "<i4") == -1)  # no predictions given


def test_string_labels_and_predictions_from_outputs(data):
    from napwidget.activations import Activations

    acts, y = data
    names = np.array(["cat", "dog", "eel", "fox"])[y]
    logits = np.eye(4, dtype=np.float32)[(y + (np.arange(len(y)) % 7 == 0)) % 4]
    ex = Explorer(
        Activations(acts, outputs=logits),
        labels=names,
        class_names=["cat", "dog", "eel", "fox"],
        min_cluster_size=10,
    )
    assert ex.classes[:4] == ["cat", "dog", "eel", "fox"]
    vm = ex.view_model()
    assert vm["has_predictions"] and vm["classes"][vm["naps"][0]["dominant"]] in {"cat", "dog", "eel", "fox"}
    assert any(r["accuracy"] < 1 for r in vm["naps"])
    assert all(r["accuracy"] > 0.5 for r in vm["naps"])  # argmax index = class_names index: mostly right


def test_profile_against_nap_mean_and_noise(ex):
    member = ex.members_of([0])[0]
    p = ex.profile(member)
    assert p["nap"] == 0 and len(p["values"]) == len(p["mean"]) == len(p["q1"]) == 12
    np.testing.assert_allclose(p["mean"], ex.naps.stats["mean"][0], atol=1e-4)
    noise = int(np.flatnonzero(ex.naps.labels < 0)[0])
    assert ex.profile(noise)["nap"] == -1
    with pytest.raises(NapInputError):
        ex.profile(10_000)


def test_no_naps_gives_a_hint_not_an_error():
    rng = np.random.default_rng(1)
    ex = Explorer({"u": rng.uniform(size=(40, 8)).astype(np.float32)}, min_cluster_size=30, min_samples=20)
    vm = ex.view_model()
    json.dumps(vm, allow_nan=False)
    if vm["n_naps"] == 0:
        assert "No NAPs" in vm["hint"] and vm["heatmap"]["units"] == []


def test_bad_activations_are_named():
    with pytest.raises(NapInputError, match="non-empty mapping"):
        Explorer({})
    with pytest.raises(NapInputError, match="rows"):
        Explorer({"a": np.zeros((10, 2)), "b": np.zeros((9, 2))})
    with pytest.raises(NapInputError, match="labels have 3 entries"):
        Explorer({"a": np.zeros((10, 2))}, labels=[1, 2, 3])


def test_heatmap_picks_characteristic_units_for_wide_layers():
    X, y = blobs(dim=200)
    ex = Explorer({"wide": X}, labels=y, min_cluster_size=10, heatmap_units=24)
    hm = ex.view_model()["heatmap"]
    assert len(hm["units"]) == 24 and len(set(hm["units"])) == 24 and "24 of 200" in hm["note"]
    top0 = int(ex.naps.top_units(0, n=1)[0])
    assert top0 in hm["units"]


# ------------------------------------------------------------------------------- renderers


def test_thumbnails_are_raw_uint8_bytes():
    imgs = np.random.default_rng(0).random((6, 1, 8, 8)).astype(np.float32)
    src = ThumbnailSource(imgs)
    header, data = src.encode([5, 0])
    assert header == {"h": 8, "w": 8, "c": 1, "count": 2}
    assert isinstance(data, bytes) and len(data) == 128
    np.testing.assert_array_equal(
        np.frombuffer(data, np.uint8)[:64], np.rint(imgs[5, 0] * 255).ravel().astype(np.uint8)
    )


def test_thumbnails_downsample_and_rescale():
    rgb = np.random.default_rng(0).normal(size=(3, 3, 100, 90)).astype(np.float32)  # normalised inputs, NCHW
    src = ThumbnailSource(rgb, size=32)
    assert (src.h, src.w, src.channels) == (25, 22, 3)
    px = src.get([0, 2])
    assert px.shape == (2, 25, 22, 3) and px.dtype == np.uint8 and px.max() > 100
    nhwc = ThumbnailSource(np.zeros((2, 16, 16, 3), np.uint8) + 200)
    assert nhwc.get([1])[0, 0, 0, 0] == 200
    gray = ThumbnailSource(np.ones((2, 5, 5)))
    assert gray.channels == 1 and gray.get([0]).max() == 255


def test_make_renderer_picks_by_data():
    assert isinstance(make_renderer(np.zeros((3, 3, 8, 8))), ImageRenderer)
    assert isinstance(make_renderer(np.zeros((3, 8, 8))), ImageRenderer)
    text = make_renderer(["a  long\nsentence " * 30, EVIL])
    assert isinstance(text, TextRenderer)
    header, bufs = text.render([1, 0])
    assert header["texts"][0] == EVIL and len(header["texts"][1]) <= text.max_chars == 400 and bufs == []
    rows = make_renderer(np.arange(20.0).reshape(2, 10))
    assert isinstance(rows, RowRenderer) and rows.render([1])[0]["texts"][0].startswith("x0=10")
    assert isinstance(make_renderer(None, n=5), IndexRenderer)
    assert not is_image_batch(np.zeros((4, 64)))


def test_heatmap_hides_silent_units():
    X, y = blobs()
    X = np.concatenate([X, np.zeros((len(X), 3), np.float32)], axis=1)  # three dead units
    hm = Explorer({"a": X}, labels=y, min_cluster_size=10).view_model()["heatmap"]
    assert not {12, 13, 14} & set(hm["units"]) and "3 silent units hidden" in hm["note"]
