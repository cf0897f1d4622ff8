"""Cross-layer views without a browser: most / least typical members, average images, noise on demand, GLOSH
outlier scores, pinned NAPs across layers, following inputs through every layer, the max-activating baseline,
the layer strip, and the whole view state round-tripping (``get_state_dict`` / ``set_state_dict``,
``save_html``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napwidget.errors import NapInputError
from napwidget.explorer import Explorer
from napwidget.naps import top_activating
from napwidget.renderers import make_renderer
from napwidget.views import exported_traits
from napwidget.views.crosslayer import (
    UI_DEFAULTS,
    average_images,
    follow_counts,
    layer_strip,
    max_activating_view,
    nap_extremes,
    nap_order,
    naps_with,
    outlier_summary,
    pin_view,
    state_from_html,
    validate_ui_state,
)
from napwidget.widget import NapWidget

from synthetic import small_blobs


def blobs(noise: int = 16, **kw):
    return small_blobs(noise=noise, **kw)


@pytest.fixture(scope="module")
def data():
    X, y = blobs()
    rng = np.random.default_rng(1)
    pred = y.copy()
    wrong = rng.choice(len(y), 20, replace=False)
    pred[wrong] = (y[wrong] + 1) % 4
    images = rng.uniform(size=(len(y), 1, 8, 8)).astype(np.float32)
    return {"early": X[:, :6] * 2.0, "mid": X, "logits": X[:, :4]}, y, pred, images


@pytest.fixture
def w(data):
    acts, y, pred, images = data
    return NapWidget.from_activations(
        acts,
        labels=y,
        predictions=pred,
        images=images,
        class_names=["zero", "one", "two", "three"],
        min_cluster_size=10,
    )


@pytest.fixture
def ex(data):
    acts, y, pred, images = data
    return Explorer(acts, labels=y, predictions=pred, renderer=make_renderer(images), min_cluster_size=10)


# ------------------------------------------------------------------------------------- members, images, noise
def test_typical_and_least_typical_members(ex):
    naps = ex.naps
    assert naps.n_naps >= 2
    for i in range(naps.n_naps):
        members = ex.members_of([i])  # the grid's / gallery's order
        assert nap_order(naps, i).tolist() == members
        e = nap_extremes(ex, i, 3, 2)
        assert e["typical"] == members[:3]
        assert e["atypical"] == members[::-1][:2]  # least typical first
        p = np.asarray(naps.probabilities)
        assert min(p[e["typical"]]) >= max(p[e["atypical"]])
        # counts are adjustable; the two lists never overlap, even for small NAPs
        big = nap_extremes(ex, i, 1000, 1000)
        assert big["typical"] == members and big["atypical"] == []
        e = nap_extremes(ex, i, len(members) - 3, 10)
        assert set(e["typical"]).isdisjoint(e["atypical"]) and len(e["atypical"]) == 3
    with pytest.raises(NapInputError):
        nap_extremes(ex, naps.n_naps, 3, 3)


def test_noise_is_ordered_by_glosh_and_selectable(w):
    naps = w.naps
    noise = nap_order(naps, -1)
    assert len(noise) == int(np.sum(naps.labels < 0)) > 0
    scores = np.asarray(naps.outlier_scores, dtype=np.float32)[noise]
    assert np.all(np.diff(scores) >= 0)  # least outlying first
    e = nap_extremes(w.explorer, -1, 4, 3)
    assert e["typical"] == noise[:4].tolist() and e["atypical"] == noise[::-1][:3].tolist()
    assert w.typical_members(-1, 2) == noise[:2].tolist() and w.least_typical_members(-1, 1) == [
        int(noise[-1])
    ]
    assert w.ui_state["show_noise"] is False
    sel = w.select_noise()
    assert sel == noise.tolist() and list(w.selected_indices) == sel and w.ui_state["show_noise"] is True
    assert w.selected_naps == []


def test_average_images_are_pixel_means_of_members(w, ex):
    sprite = average_images(ex)
    src = ex.renderer.source
    size = src.h * src.w * src.channels
    assert len(sprite) == (ex.naps.n_naps + 1) * size  # every NAP, then the noise
    for nap in [0, 1, -1]:
        members = nap_order(ex.naps, nap)
        want = np.clip(np.rint(src.get(members[:512]).astype(np.float32).mean(axis=0)), 0, 255).astype(
            np.uint8
        )
        j = ex.naps.n_naps if nap < 0 else nap
        got = np.frombuffer(sprite[j * size : (j + 1) * size], dtype=np.uint8).reshape(want.shape)
        assert np.array_equal(got, want)
    assert len(w._avg_thumbs) == (w.naps.n_naps + 1) * size
    assert w.average_image(0).shape == (src.h, src.w, src.channels)
    # text / index items have no average image
    acts = {"a": np.asarray(ex.activations["mid"])}
    assert average_images(Explorer(acts, min_cluster_size=10)) == b""


def test_outlier_scores_and_misclassified_per_nap(ex, data):
    _, y, pred, _ = data
    rows = outlier_summary(ex)
    assert [r["nap"] for r in rows] == [*range(ex.naps.n_naps), -1]
    scores = np.nan_to_num(np.asarray(ex.naps.outlier_scores))
    for r in rows:
        m = np.flatnonzero(ex.naps.labels == r["nap"])
        assert r["size"] == len(m)
        assert r["outlier_mean"] == pytest.approx(scores[m].mean(), abs=1e-4)
        assert r["misclassified"] == int(np.sum(y[m] != pred[m]))
    assert sum(r["misclassified"] for r in rows) == int(np.sum(y != pred))


# ------------------------------------------------------------------------------------------- follow
def test_follow_counts_sum_to_the_inputs_for_every_layer(w, ex):
    idx = [0, 1, 2, 45, 90, 130, 161, 170, 2, 0]  # duplicates count once
    out = w.follow(idx)
    assert list(out) == ["early", "mid", "logits"]  # model order
    uniq = sorted(set(idx))
    for layer, counts in out.items():
        assert sum(counts.values()) == len(uniq)
        naps = naps_with(ex, {"layer": layer})
        lab = np.asarray(naps.labels)[uniq]
        assert counts == {int(v): int(np.sum(lab == v)) for v in np.unique(lab)}
        assert list(counts.values()) == sorted(counts.values(), reverse=True)
    # the current layer's counts are the shown NAPs'
    assert out["mid"] == {int(v): int(c) for v, c in zip(*np.unique(w.naps.labels[uniq], return_counts=True))}
    # a whole NAP: its members sit in exactly that NAP in its own layer
    members = w.explorer.members_of([1])
    assert w.follow(members)["mid"] == {1: len(members)}
    w.selected_naps = [1]
    assert w.follow() == w.follow(members)  # default: the selection
    assert follow_counts(ex, []) == {"early": {}, "mid": {}, "logits": {}}
    with pytest.raises(NapInputError):
        w.follow([0, 10_000])


def test_follow_panel_is_lazy_and_sends_every_layers_naps(w):
    assert w.follow_layers == [] and w._follow_labels == b""
    w.cross_open = ["follow"]
    assert w.error == ""
    rows = w.follow_layers
    assert [r["layer"] for r in rows] == ["early", "mid", "logits"]
    n = w.explorer.n
    labels = np.frombuffer(w._follow_labels, dtype="<i4").reshape(len(rows), n)
    for j, r in enumerate(rows):
        naps = naps_with(w.explorer, {"layer": r["layer"]})
        assert np.array_equal(labels[j], naps.labels)
        assert r["n_naps"] == naps.n_naps and r["sizes"] == naps.sizes.tolist()
        assert r["noise"] == int(np.sum(naps.labels < 0)) and len(r["purity"]) == naps.n_naps
    # counting from the sent labels gives w.follow()
    sel = [3, 50, 51, 99, 150]
    for j, r in enumerate(rows):
        vals, counts = np.unique(labels[j][sel], return_counts=True)
        assert dict(zip(vals.tolist(), counts.tolist())) == w.follow(sel)[r["layer"]]
    # every layer's NAP count is now known in the layer strip
    assert all(s["n_naps"] is not None for s in w.layer_strip)
    w.cross_open = []
    assert w.follow_layers == [] and w._follow_labels == b""
    w.cross_open = ["follow", "nonsense"]
    assert "unknown panel" in w.error and w.cross_open == ["follow"]


def test_goto_switches_layer_and_selects_the_nap(w):
    w.goto("early", 1)
    assert w.layer == "early" and w.selected_naps == [1]
    assert list(w.selected_indices) == w.explorer.members_of([1])
    w.goto("mid")
    assert w.layer == "mid" and w.selected_naps == []
    with pytest.raises(NapInputError):
        w.goto("nope", 0)


# ------------------------------------------------------------------------------------------- pins
def test_pins_survive_layer_changes_and_carry_stats(w):
    w.pin(0)
    w.pin(0)  # pinned once
    assert (
        len(w.pinned) == 1
        and w.pinned[0]["layer"] == "mid"
        and w.pinned[0]["params"]["min_cluster_size"] == 10
    )
    mid_naps = w.naps
    w.layer = "early"
    assert len(w.pinned) == 1 and w.pinned_view[0]["layer"] == "mid"  # still there after switching layers
    w.pin(1)
    w.min_cluster_size = 12  # parameters change: pins keep theirs
    assert [(p["layer"], p["nap"]) for p in w.pinned] == [("mid", 0), ("early", 1)]
    views = w.pinned_view
    assert [(v["layer"], v["nap"]) for v in views] == [("mid", 0), ("early", 1)]
    v0 = views[0]
    assert v0["size"] == int(mid_naps.sizes[0]) and v0["n_features"] == 12
    assert v0["mean"] == pytest.approx(mid_naps.stats["mean"][0].tolist(), abs=1e-3)
    assert v0["q1"] == pytest.approx(mid_naps.stats["q1"][0].tolist(), abs=1e-3)
    assert v0["members"] == [int(i) for i in mid_naps.members(0)[:8]]
    assert v0["atypical"] == [int(i) for i in mid_naps.members(0)[::-1][:4]]
    assert views[1]["n_features"] == 6
    # overlap: the diagonal is the size, off-diagonal the shared members
    early = naps_with(w.explorer, {"layer": "early", "min_cluster_size": 10})
    shared = len(set(mid_naps.members(0).tolist()) & set(early.members(1).tolist()))
    assert v0["overlap"] == [v0["size"], shared] and views[1]["overlap"][0] == shared
    json.dumps(views, allow_nan=False)
    # the adjustable member counts apply to pins too
    w.ui_state = {**w.ui_state, "n_typical": 3, "n_atypical": 2}
    assert len(w.pinned_view[0]["members"]) == 3 and len(w.pinned_view[0]["atypical"]) == 2
    w.unpin(0, layer="mid")
    assert [(p["layer"], p["nap"]) for p in w.pinned] == [("early", 1)]
    w.unpin()
    assert w.pinned == [] and w.pinned_view == []


def test_invalid_pins_are_reverted_with_a_fix(w):
    w.pin(0)
    good = list(w.pinned)
    w.pinned = [*good, {"layer": "mid", "nap": 999}]
    assert "does not exist" in w.error and "Fix" in w.error
    assert w.pinned == good and len(w.pinned_view) == 1
    w.error = ""
    w.pinned = [*good, {"layer": "nope", "nap": 0}]
    assert "unknown layer" in w.error and w.pinned == good
    # from the front end: params completed, duplicates dropped
    w.pinned = [{"layer": "logits", "nap": 0}, {"layer": "logits", "nap": 0, "params": {}}]
    assert len(w.pinned) == 1 and w.pinned[0]["params"]["min_cluster_size"] == 10
    v = pin_view(w.explorer, {"layer": "logits", "nap": 0})
    assert v["size"] == w.pinned_view[0]["size"]


# ------------------------------------------------------------------------------------------- max activating
def test_max_activating_panel(w, data):
    acts = data[0]
    assert w.max_activating == {}
    w.cross_open = ["max_activating"]
    vm = w.max_activating
    assert vm["unit"] is None and vm["layer"] == "mid"
    assert vm["indices"] == top_activating(acts["mid"], None, 16).tolist()
    norms = np.linalg.norm(acts["mid"].astype(np.float64), axis=1)
    assert vm["scores"] == pytest.approx(norms[vm["indices"]], abs=1e-3)
    assert vm["naps"] == w.naps.labels[vm["indices"]].tolist()
    assert sum(b["count"] for b in vm["by_nap"]) == 16
    w.ui_state = {**w.ui_state, "max_unit": 5, "max_k": 7}
    vm = w.max_activating
    assert vm["unit"] == 5 and vm["indices"] == top_activating(acts["mid"], 5, 7).tolist()
    means = w.naps.stats["mean"][:, 5]
    assert [u["nap"] for u in vm["unit_naps"]] == np.argsort(-means, kind="stable")[:5].tolist()
    assert w.max_activating_inputs(5, 7) == vm["indices"]
    # another layer's unit; an impossible unit is refused and reverted
    w.ui_state = {**w.ui_state, "max_layer": "logits", "max_unit": 2}
    assert (
        w.max_activating["layer"] == "logits"
        and w.max_activating["indices"] == top_activating(acts["logits"], 2, 7).tolist()
    )
    w.ui_state = {**w.ui_state, "max_unit": 99}
    assert "does not exist" in w.error and w.ui_state["max_unit"] == 2
    # switching the shown layer where the unit does not exist falls back to the L2 norm
    w.ui_state = {**w.ui_state, "max_layer": None, "max_unit": 10}
    w.layer = "early"
    assert (
        w.ui_state["max_unit"] is None
        and w.max_activating["unit"] is None
        and w.max_activating["layer"] == "early"
    )


def test_max_activating_view_direct(ex, data):
    vm = max_activating_view(ex, 3, 5, "early")
    assert vm["indices"] == top_activating(data[0]["early"], 3, 5).tolist()
    assert vm["misclassified"] == int(np.sum(data[1][vm["indices"]] != data[2][vm["indices"]]))
    with pytest.raises(NapInputError):
        max_activating_view(ex, 3, 5, "nope")


# ------------------------------------------------------------------------------------------- strip, options
def test_layer_strip_in_model_order(w, ex):
    strip = w.layer_strip
    assert [s["name"] for s in strip] == ["early", "mid", "logits"]
    assert [s["current"] for s in strip] == [False, True, False]
    assert strip[1]["n_naps"] == w.naps.n_naps and strip[0]["n_naps"] is None and strip[0]["shape"] == [6]
    w.layer = "logits"
    strip = w.layer_strip
    assert strip[2]["current"] and strip[2]["n_naps"] == w.naps.n_naps and strip[1]["n_naps"] is not None
    assert layer_strip(ex)[1]["n_features"] == 12


def test_view_options_are_validated(w):
    assert validate_ui_state({}) == UI_DEFAULTS
    w.ui_state = {**w.ui_state, "n_typical": 3, "gallery_sort": "outlier", "gallery_filter": "wrong"}
    assert w.error == "" and w.ui_state["n_typical"] == 3
    for bad in (
        {"n_typical": -1},
        {"gallery_sort": "random"},
        {"gallery_filter": "x"},
        {"bogus": 1},
        {"max_k": 0},
    ):
        w.error = ""
        w.ui_state = {**w.ui_state, **bad}
        assert w.error and "Fix" in w.error, bad
        assert (
            w.ui_state["n_typical"] == 3
            and w.ui_state["gallery_sort"] == "outlier"
            and "bogus" not in w.ui_state
        )


# ------------------------------------------------------------------------------------------- whole view state
def test_state_round_trips(w, data):
    acts, y, pred, images = data
    w.layer = "early"
    w.min_cluster_size = 8
    w.sort_by = "size"
    w.pin(1)
    w.layer = "mid"
    w.pin(0)
    w.cross_open = ["follow", "max_activating"]
    w.ui_state = {**w.ui_state, "n_typical": 5, "show_noise": True, "gallery_filter": "wrong", "max_unit": 2}
    w.selected_naps = [1]
    assert w.error == ""
    d = w.get_state_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["layer"] == "mid" and d["min_cluster_size"] == 8 and d["selected_naps"] == [1]
    assert d["selected_indices"] == w.explorer.members_of([1]) and len(d["pinned"]) == 2

    w2 = NapWidget.from_activations(
        acts, labels=y, predictions=pred, images=images, class_names=["zero", "one", "two", "three"]
    )
    w2.set_state_dict(d)
    assert w2.error == ""
    assert w2.get_state_dict() == d
    assert w2.naps.n_naps == w.naps.n_naps and np.array_equal(w2.naps.labels, w.naps.labels)
    assert [v["key"] for v in w2.pinned_view] == [v["key"] for v in w.pinned_view]
    assert w2.max_activating == w.max_activating and w2.follow_layers == w.follow_layers

    # an input selection that is not a NAP round-trips too
    w.selected_indices = [5, 3, 140]
    d = w.get_state_dict()
    w2.set_state_dict(d)
    assert w2.get_state_dict() == d and w2.selected_naps == []
    # unknown keys are reported, the rest applied
    w2.set_state_dict({**d, "from_the_future": 1, "sort_by": "persistence"})
    assert "from_the_future" in w2.error and w2.sort_by == "persistence"
    with pytest.raises(NapInputError):
        w2.set_state_dict({"layer": "nope"})
    assert w2.layer == "mid"


def test_save_html_embeds_the_view_state(w, tmp_path):
    for name in (
        "pinned",
        "pinned_view",
        "ui_state",
        "cross_open",
        "follow_layers",
        "_follow_labels",
        "max_activating",
        "layer_strip",
        "_avg_thumbs",
    ):
        assert name in exported_traits(w)
    w.pin(0)
    w.cross_open = ["follow"]
    w.selected_naps = [1]
    w.ui_state = {**w.ui_state, "gallery_sort": "outlier"}
    path = w.save_html(tmp_path / "x.html")
    state = state_from_html(path)
    assert state == w.get_state_dict()
    text = path.read_text(encoding="utf-8")
    assert '"pinned_view"' in text and '"_follow_labels"' in text
    bad = tmp_path / "other.html"
    bad.write_text("<html></html>")
    with pytest.raises(NapInputError):
        state_from_html(bad)
