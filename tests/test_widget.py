"""NapWidget without a browser: traits after construction and after each change, selection sync both ways,
error paths (never an exception out of a handler), binary thumbnails, and save_html."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from napwidget.widget import NapWidget

from synthetic import small_blobs

EVIL = "<img src=x onerror=alert(1)>"
BUNDLE = Path(__file__).resolve().parents[1] / "napwidget" / "static" / "widget.js"


def blobs(noise: int = 12, **kw):
    return small_blobs(noise=noise, **kw)


@pytest.fixture(scope="module")
def data():
    X, y = blobs()
    imgs = np.random.default_rng(0).random((len(X), 1, 6, 6)).astype(np.float32)
    return {"early": X[:, :6] * 2.0, "mid": X, "logits": X[:, :4]}, y, imgs


@pytest.fixture
def w(data):
    acts, y, imgs = data
    widget = NapWidget.from_activations(
        acts, images=imgs, labels=y, class_names=[EVIL, "one", "two", "three"], min_cluster_size=10
    )
    widget.sent = []
    widget.send = lambda content, buffers=None: widget.sent.append((content, buffers or []))
    return widget


def test_state_after_construction(w):
    assert w.layer == "mid" and w.min_cluster_size == 10 and w.min_samples == 5
    assert w.cluster_selection_method == "leaf" and w.normalize == "unit"
    assert [entry["name"] for entry in w.layers] == ["early", "mid", "logits"]
    assert "leaf" in w.options["methods"] and "unit" in w.options["normalizations"]
    assert w.view["n_naps"] == w.naps.n_naps >= 4 and w.view["layer"] == "mid"
    assert w.error == "" and w.busy is False and w.selected_naps == [] and w.selected_indices == []
    json.dumps(w.view, allow_nan=False)
    # binary traits: per-sample table, labels/predictions, card thumbnails (raw uint8, never base64)
    n = w.view["n"]
    assert isinstance(w._samples, bytes) and len(w._samples) == 12 * n
    assert isinstance(w._truth, bytes) and len(w._truth) == 8 * n
    members = sum(len(r["members"]) for r in w.view["naps"])
    assert isinstance(w._card_thumbs, bytes) and len(w._card_thumbs) == members * 6 * 6
    assert w.view["item"] == {"kind": "image", "h": 6, "w": 6, "c": 1, "count": 0}


def test_parameter_traits_recompute_like_the_controls(w):
    rev = w._revision
    w.min_cluster_size = 30
    assert w.error == "" and w.busy is False and w._revision == rev + 1
    assert w.view["params"]["min_cluster_size"] == 30 and min(r["size"] for r in w.view["naps"]) >= 30
    w.layer = "early"
    assert w.view["layer"] == "early" and w.view["n_features"] == 6
    w.cluster_selection_method = "eom"
    w.normalize = "none"
    w.min_samples = 3
    assert w.view["params"] == {
        "layer": "early",
        "min_cluster_size": 30,
        "min_samples": 3,
        "cluster_selection_method": "eom",
        "normalize": "none",
    }
    # several traits at once (as the front end sends them): one recompute
    with w.hold_trait_notifications():
        w.layer, w.min_cluster_size = "mid", 12
    assert w.view["params"]["layer"] == "mid" and w.view["params"]["min_cluster_size"] == 12


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("min_cluster_size", 1, "too small"),
        ("min_cluster_size", 100_000, "larger than the 172 inputs"),
        ("min_samples", 0, "too small"),
        ("layer", "nope", "unknown layer 'nope'"),
        ("cluster_selection_method", "best", "unknown cluster_selection_method"),
        ("normalize", "zscore", "unknown normalize"),
    ],
)
def test_invalid_values_set_error_and_keep_state(w, name, value, words):
    w.selected_naps = [0]
    view, before, selected = w.view, getattr(w, name), list(w.selected_indices)
    setattr(w, name, value)  # never raises
    assert words in w.error and "Fix:" in w.error
    assert getattr(w, name) == before  # reverted to the last valid value
    assert w.view is view and w.selected_indices == selected and w.busy is False
    w.min_cluster_size = 11  # the next valid change clears the error
    assert w.error == ""


def test_front_end_updates_go_through_set_state(w):
    """What a message from the browser does: no exception, even for invalid values."""
    w.set_state({"min_cluster_size": 1})
    assert "too small" in w.error and w.min_cluster_size == 10
    w.set_state({"min_cluster_size": 20, "layer": "early"})
    assert w.error == "" and w.view["params"]["min_cluster_size"] == 20 and w.view["layer"] == "early"


def test_selection_sync_both_ways(w):
    w.selected_naps = [1]
    assert w.selected_indices == w.explorer.members_of([1]) and len(w.selected_indices) == w.naps.sizes[1]
    w.selected_naps = [0, 2]
    assert sorted(w.selected_indices) == sorted(w.explorer.members_of([0]) + w.explorer.members_of([2]))
    # the front end sends both traits at once (computed with the same rule): consistent, nothing cleared
    members = w.explorer.members_of([3])
    w.set_state({"selected_naps": [3], "selected_indices": members})
    assert w.selected_naps == [3] and w.selected_indices == members
    # selecting inputs directly (e.g. a brush, or Python) clears the NAP selection
    w.selected_indices = [0, 1, 2]
    assert w.selected_naps == [] and w.selected_indices == [0, 1, 2]
    # a recompute clears the NAP ids (they mean something else) but keeps the selected inputs
    w.selected_naps = [0]
    keep = list(w.selected_indices)
    w.layer = "early"
    assert w.selected_naps == [] and w.selected_indices == keep


def test_invalid_selection_is_cleaned_with_a_message(w):
    w.selected_naps = [0, 999]
    assert w.selected_naps == [0] and "999" in w.error
    w.selected_indices = [1, -5, 100_000]
    assert w.selected_indices == [1] and "dropped" in w.error


def test_thumbnail_messages_answer_with_binary_buffers(w):
    w._handle_custom_msg({"type": "thumbs", "req": 7, "indices": [3, 0, 5]}, [])
    content, buffers = w.sent[-1]
    assert content["type"] == "thumbs" and content["req"] == 7 and content["indices"] == [3, 0, 5]
    assert (content["h"], content["w"], content["c"]) == (6, 6, 1)
    assert len(buffers) == 1 and isinstance(buffers[0], bytes) and len(buffers[0]) == 3 * 36
    assert all(not isinstance(v, str) or len(v) < 100 for v in content.values())  # no base64 in the JSON


def test_profile_message_and_errors_never_raise(w):
    member = w.explorer.members_of([0])[0]
    w._handle_custom_msg({"type": "profile", "req": 1, "index": member}, [])
    content, buffers = w.sent[-1]
    assert content["nap"] == 0 and len(content["values"]) == 12 and buffers == []
    w._handle_custom_msg({"type": "profile", "req": 2, "index": 10_000}, [])
    assert "does not exist" in w.sent[-1][0]["error"]
    w._handle_custom_msg({"type": "thumbs", "req": 3, "indices": [-1]}, [])
    assert "do not exist" in w.sent[-1][0]["error"]
    w._handle_custom_msg({"type": "unknown"}, [])
    w._handle_custom_msg("not a dict", [])


def test_sort_by_is_validated(w):
    w.sort_by = "size"
    assert w.sort_by == "size"
    w.sort_by = "colour"
    assert w.sort_by == "size" and "sort_by" in w.error


def test_text_items_and_no_items(data):
    acts, y, _ = data
    texts = [f"sentence number {i} {EVIL}" for i in range(len(y))]
    w = NapWidget.from_activations(acts, images=texts, labels=y, min_cluster_size=10)
    assert w.view["item"]["kind"] == "text" and EVIL in w.view["card_texts"][0]
    assert w._card_thumbs == b""
    header, buffers = w.thumbnails([0])
    assert header["texts"] == [texts[0]] and buffers == []
    bare = NapWidget.from_activations({"a": acts["mid"]}, min_cluster_size=10)
    assert bare.view["item"]["kind"] == "index" and bare.view["has_labels"] is False


def test_from_activations_rejects_non_mappings():
    from napwidget.errors import NapInputError

    with pytest.raises(NapInputError, match="mapping"):
        NapWidget.from_activations(np.zeros((5, 5)))
    with pytest.raises(NapInputError, match="model and its inputs"):
        NapWidget()


@pytest.fixture(scope="module")
def digits_widget(digits_demo):
    return NapWidget(
        digits_demo.model,
        digits_demo.images,
        layers=["conv3", "relu4", "fc2"],
        labels=digits_demo.labels,
        class_names=digits_demo.class_names,
        cache=None,
    )


def test_digits_demo_end_to_end(digits_widget, digits_demo):
    w = digits_widget
    assert w.layer == "relu4" and [entry["name"] for entry in w.layers] == ["conv3", "relu4", "fc2"]
    assert w.layers[0]["type"] == "Conv2d" and w.layers[0]["n_features"] == 64
    assert w.view["n"] == 1797 and w.view["n_naps"] > 5 and w.view["has_predictions"]
    assert w.view["item"]["kind"] == "image"  # images default to the inputs
    assert max(r["purity"] for r in w.view["naps"]) == 1.0
    w.selected_naps = [0]
    assert len(w.selected_indices) == w.naps.sizes[0]


@pytest.mark.skipif(
    not BUNDLE.exists(), reason="front-end bundle not built (cd js && npm ci && npm run build)"
)
def test_save_html_is_standalone(w, tmp_path):
    w.selected_naps = [1]
    w.sort_by = "size"
    path = w.save_html(tmp_path / "naps")
    assert path.suffix == ".html" and path.exists()
    text = path.read_text(encoding="utf-8")
    # the same bundle, inline
    esm = re.search(r'<script type="text/plain" id="napw-esm">([^<]*)</script>', text).group(1)
    assert base64.b64decode(esm) == BUNDLE.read_bytes()
    # no script or stylesheet from a URL; no URL at all outside the (base64) bundle
    assert not re.search(r"<script[^>]+src=", text) and "<link" not in text
    assert not re.search(r"https?://", text.replace(esm, ""))
    # user strings cannot break out: '<' only appears in our own markup
    assert EVIL not in text
    state_json = re.search(
        r'<script type="application/json" id="napw-state">(.*?)</script>', text, re.DOTALL
    ).group(1)
    payload = json.loads(state_json)
    state = payload["state"]
    assert state["static"] is True and state["selected_naps"] == [1] and state["sort_by"] == "size"
    assert state["view"]["classes"][0] == EVIL and state["view"]["n_naps"] == w.naps.n_naps
    assert base64.b64decode(state["_samples"]["__b64__"]) == w._samples
    thumbs = payload["static"]["thumbs"]
    assert thumbs["indices"][: len(w.selected_indices)] == w.selected_indices  # the selection first
    assert len(base64.b64decode(thumbs["data"]["__b64__"])) == len(thumbs["indices"]) * 36
    assert payload["static"]["complete"] is True


@pytest.mark.skipif(not BUNDLE.exists(), reason="front-end bundle not built")
def test_save_html_budget_limits_embedded_items(w, tmp_path):
    path = w.save_html(tmp_path / "small.html", max_bytes=8_000)
    payload = json.loads(re.search(r'id="napw-state">(.*?)</script>', path.read_text(), re.DOTALL).group(1))
    assert 0 < payload["static"]["n_embedded"] < w.view["n"] and payload["static"]["complete"] is False


def test_the_tree_for_kernel_less_reselection_ships_once_per_tree(w, data):
    """The front end re-selects min_cluster_size / method without a kernel from `_reselect_tree`: the shown
    result's single-linkage tree, packed (napwidget.reselect_export), sent again only when the tree
    changes."""
    from napwidget.clustering import select_clusters
    from napwidget.reselect_export import tree_from_bytes

    n = w.view["n"]
    blob = w._reselect_tree
    assert isinstance(blob, bytes) and len(blob) == 16 * (n - 1)
    tree = tree_from_bytes(blob, w.min_samples)
    res = select_clusters(tree, w.min_cluster_size, w.cluster_selection_method)
    assert res.n_clusters == w.naps.n_naps and np.array_equal(res.labels >= 0, w.naps.labels >= 0)
    w.min_cluster_size = 6  # same tree: nothing new is sent
    assert w._reselect_tree is blob and w.view["params"]["min_cluster_size"] == 6
    w.layer = "early"  # another tree
    assert w._reselect_tree != blob and len(w._reselect_tree) == 16 * (n - 1)


@pytest.mark.skipif(not BUNDLE.exists(), reason="front-end bundle not built")
def test_save_html_embeds_the_tree(w, tmp_path):
    path = w.save_html(tmp_path / "tree.html")
    payload = json.loads(re.search(r'id="napw-state">(.*?)</script>', path.read_text(), re.DOTALL).group(1))
    assert base64.b64decode(payload["state"]["_reselect_tree"]["__b64__"]) == w._reselect_tree


def test_trait_groups_come_from_the_tags_and_match_the_js_fixture():
    """One place says which view family a synced trait belongs to: its tag. The front end gets the groups in
    ``_groups``; the vitest fake model uses js/test/fixtures/trait-groups.json, which must match."""
    import json
    from pathlib import Path

    from napwidget.views import exported_traits, state_traits, trait_groups

    groups = trait_groups(NapWidget)
    fixture = Path(__file__).resolve().parents[1] / "js" / "test" / "fixtures" / "trait-groups.json"
    assert json.loads(fixture.read_text()) == groups, "regenerate the fixture from trait_groups(NapWidget)"
    assert {"layer", "min_cluster_size"} <= set(groups["params"]) and "pinned" in groups["cross"]
    assert "busy" not in exported_traits(NapWidget) and "view" in exported_traits(NapWidget)
    order = state_traits(NapWidget)
    assert order[-2:] == ["selected_naps", "selected_indices"] and "mapper" not in order


def test_cyclic_gc_waits_until_a_parameter_change_is_answered(w):
    """No collection of the kernel's heap inside the update handler (a 0.12 s pause at 1,700 NAPs); the
    collector is on again afterwards, and stays off if the user turned it off."""
    import gc

    during, inside = [], [False]
    recompute = w._recompute

    def traced() -> None:  # the handler's work: re-selection, view model, sending the new state
        inside[0] = True
        try:
            recompute()
        finally:
            inside[0] = False

    def seen(phase, info):
        if phase == "start" and inside[0]:
            during.append(info["generation"])

    w._recompute = traced

    old = gc.get_threshold()
    gc.set_threshold(1, 1, 1)  # a collection at almost every allocation, were the collector on
    gc.callbacks.append(seen)
    try:
        w.min_cluster_size = 9
        assert not w.error and w.naps.params["min_cluster_size"] == 9
        assert during == [] and gc.isenabled()
        gc.disable()
        w.min_cluster_size = 11
        assert during == [] and not gc.isenabled()
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*old)
        gc.enable()
