"""Topology views of the widget without a browser: view models (Mapper graph, persistence diagram, NAP flow),
lazy computation, trait changes that recompute, and selection both ways (node click / band click -> inputs,
NAP selection -> highlighted nodes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napwidget.errors import NapInputError
from napwidget.explorer import Explorer
from napwidget.topology import mapper_graph, nap_diagram_points, nap_flow
from napwidget.views.topology import (
    MAPPER_DEFAULTS,
    default_flow_layers,
    diagram_view,
    flow_view,
    mapper_highlight,
    mapper_members,
    mapper_view,
    validate_mapper_params,
)
from napwidget.widget import NapWidget

from synthetic import small_blobs

EVIL = "<img src=x onerror=alert(1)>"


def blobs(noise: int = 12, **kw):
    return small_blobs(noise=noise, **kw)


@pytest.fixture(scope="module")
def data():
    X, y = blobs()
    return {"early": X[:, :6] * 2.0, "mid": X, "logits": X[:, :4]}, y


@pytest.fixture
def w(data):
    acts, y = data
    return NapWidget.from_activations(
        acts, labels=y, class_names=[EVIL, "one", "two", "three"], min_cluster_size=10
    )


@pytest.fixture
def ex(data):
    acts, y = data
    return Explorer(acts, labels=y, class_names=[EVIL, "one", "two", "three"], min_cluster_size=10)


def sets(nodes):
    return sorted(tuple(m) for m in nodes)


# ------------------------------------------------------------------------------------------- view models
def test_mapper_view_is_the_kernels_graph_with_class_codes(ex, data):
    vm = mapper_view(ex)
    json.dumps(vm, allow_nan=False)
    assert vm["layer"] == "mid" and vm["n"] == ex.n and vm["params"]["eps_used"] > 0
    g = mapper_graph(data[0]["mid"], lens="l2norm", n_intervals=10, overlap=0.3, eps="auto", min_samples=3)
    assert sets(n["members"] for n in vm["nodes"]) == sets(m.tolist() for m in g.nodes)
    assert [(e["source"], e["target"]) for e in vm["edges"]] == [tuple(e) for e in g.edges.tolist()]
    norms = np.linalg.norm(data[0]["mid"].astype(np.float64), axis=1)
    for node in vm["nodes"]:
        members = np.asarray(node["members"])
        assert node["size"] == len(members)
        assert node["l2"] == pytest.approx(norms[members].mean(), abs=1e-4)
        counts = np.bincount(ex.label_codes[members], minlength=len(ex.classes))
        assert node["dominant"] == int(counts.argmax()) and node["top"][0][1] == counts.max()
    assert 0 < vm["covered"] <= ex.n
    # other layers and parameters
    vm2 = mapper_view(ex, {"n_intervals": 4, "overlap": 0.5, "eps": 2.0, "lens": "pca"}, layer="early")
    assert (
        vm2["layer"] == "early"
        and vm2["params"]["eps_used"] == 2.0
        and {n["interval"] for n in vm2["nodes"]} <= set(range(4))
    )


@pytest.mark.parametrize(
    "bad, word",
    [
        ({"lens": "umap"}, "lens"),
        ({"n_intervals": 0}, "intervals"),
        ({"n_intervals": 2.5}, "whole"),
        ({"overlap": 0.95}, "overlap"),
        ({"eps": -1}, "eps"),
        ({"eps": "big"}, "eps"),
        ({"colour": 1}, "unknown"),
    ],
)
def test_mapper_params_are_validated_with_a_fix(bad, word):
    with pytest.raises(NapInputError) as err:
        validate_mapper_params(bad)
    assert word in str(err.value) and "Fix" in str(err.value)
    assert validate_mapper_params({"eps": "", "n_intervals": "8"}) == {**MAPPER_DEFAULTS, "n_intervals": 8}


def test_diagram_links_naps_to_their_points(ex):
    vm = diagram_view(ex)
    json.dumps(vm, allow_nan=False)
    rows = vm["spec"]["data"]["values"]
    naps = [r for r in rows if r["kind"] == "nap"]
    assert sorted(r["nap"] for r in naps) == list(range(ex.naps.n_naps))
    points = nap_diagram_points(ex.naps)
    for r in naps:
        assert r["birth"] == pytest.approx(points[r["nap"], 0], abs=1e-4)
        assert r["input"] == int(points[r["nap"], 2])
        assert r["inf"] == bool(np.isinf(points[r["nap"], 1]))
    # exactly one infinite bar, drawn at the top of the plot (not as null/inf)
    assert sum(r["inf"] for r in rows if r["kind"] in ("nap", "bar")) == 1
    top = max(r["death"] for r in rows if r["kind"] == "infline")
    assert all(r["death"] == top for r in rows if r.get("inf"))
    assert all(r["nap"] == -1 for r in rows if r["kind"] == "bar")
    assert vm["n_shown"] <= vm["n_bars"] + ex.naps.n_naps
    params = vm["spec"].get("params", []) + [
        p for layer in vm["spec"]["layer"] for p in layer.get("params", [])
    ]
    names = {p.get("name") for p in params}
    assert {"napsel", "napHover"} <= names  # the scatter view drives selection/hover through these


def test_flow_view_counts_and_members(ex):
    assert default_flow_layers(ex) == ["mid", "logits"]
    vm = flow_view(ex)
    json.dumps(vm, allow_nan=False)
    assert vm["layers"] == ["mid", "logits"] and vm["current"] == "mid"
    assert sum(link["count"] for link in vm["links"]) == ex.n
    labels_mid = np.asarray(ex.naps.labels)
    other = ex.set_params(layer="logits")
    ref = nap_flow([("mid", labels_mid), ("logits", other.labels)])
    assert [(lk["nap_a"], lk["nap_b"], lk["count"]) for lk in vm["links"]] == [
        (lk.nap_a, lk.nap_b, lk.count) for lk in ref.links
    ]
    for link in vm["links"]:
        assert len(link["members"]) == link["count"]
        assert set(labels_mid[link["members"]]) == {link["nap_a"]}
    ex.set_params(layer="logits")
    assert default_flow_layers(ex) == ["mid", "logits"]  # the last layer flows from the previous one
    three = flow_view(ex, ["logits", "early", "mid"])
    assert three["layers"] == ["early", "mid", "logits"] and {lk["col"] for lk in three["links"]} == {0, 1}
    with pytest.raises(NapInputError):
        flow_view(ex, ["mid"])
    with pytest.raises(NapInputError):
        flow_view(ex, ["mid", "nope"])


# ------------------------------------------------------------------------------------------- the widget
def test_topology_is_lazy(w, monkeypatch):
    import napwidget.views.topology as tv

    assert w.topology_open == [] and w.mapper == {} and w.flow == {} and w.diagram == {}
    calls = []
    real = tv.mapper_view
    monkeypatch.setattr(tv, "mapper_view", lambda *a, **k: calls.append(1) or real(*a, **k))
    w.min_cluster_size = 12  # a recompute with the panel closed computes no Mapper graph
    assert calls == [] and w.mapper == {}
    w.topology_open = ["mapper"]
    assert len(calls) == 1 and w.mapper["layer"] == "mid" and w.flow == {} and w.diagram == {}
    w.topology_open = ["mapper", "flow", "diagram"]
    assert len(calls) == 1 and w.flow["layers"] == ["mid", "logits"] and w.diagram["spec"]
    w.topology_open = ["flow"]
    assert w.mapper == {} and w.diagram == {} and w.flow
    w.topology_open = ["mapper"]  # cached: no second computation
    assert len(calls) == 1 and w.mapper["nodes"] and w.error == ""


def test_trait_changes_recompute_open_views(w):
    w.topology_open = ["mapper", "flow", "diagram"]
    n_nodes = len(w.mapper["nodes"])
    w.mapper_params = {**w.mapper_params, "n_intervals": 4, "eps": 3.0}
    assert w.mapper["params"]["n_intervals"] == 4 and w.mapper["params"]["eps_used"] == 3.0
    assert len(w.mapper["nodes"]) != n_nodes or w.mapper["nodes"] != []
    w.layer = "early"  # switching layer recomputes the graph, the diagram and the default flow
    assert (
        w.mapper["layer"] == "early"
        and w.diagram["layer"] == "early"
        and w.flow["layers"] == ["early", "mid"]
    )
    w.min_cluster_size = 20
    assert w.diagram["params"]["min_cluster_size"] == 20 and w.flow["params"]["min_cluster_size"] == 20
    assert all(r["size"] >= 20 for r in w.view["naps"])
    w.flow_layers = ["early", "logits"]
    assert w.flow["layers"] == ["early", "logits"]
    assert w.error == "" and w.busy is False


def test_bad_topology_input_shows_an_error_and_reverts(w):
    w.topology_open = ["mapper", "flow"]
    good = dict(w.mapper_params)
    before = w.mapper
    w.mapper_params = {**good, "overlap": 2}
    assert "overlap" in w.error and "Fix" in w.error
    assert w.mapper_params == good and w.mapper is before  # the last good graph stays
    w.flow_layers = ["mid"]
    assert "two layers" in w.error and w.flow_layers == [] and w.flow["layers"] == ["mid", "logits"]
    w.topology_open = ["flow"]
    w.mapper_params = {**good, "lens": "tsne"}  # checked even while the panel is closed
    assert "lens" in w.error and w.mapper_params == good and w.mapper == {}
    w.topology_open = ["mapper", "bogus"]
    assert "bogus" in w.error and w.topology_open == ["mapper"]
    w.error = ""
    w.mapper_params = {**good, "n_intervals": 5}  # still alive
    assert w.error == "" and w.mapper["params"]["n_intervals"] == 5


def test_node_click_message_selects_members(w):
    w.topology_open = ["mapper"]
    node = max(w.mapper["nodes"], key=lambda n: n["size"])
    # the front end's click: a "select" intent, the node's members in an int32 buffer (store.selectIndices)
    w.selected_naps = [0]
    members32 = np.asarray(node["members"], dtype="<i4")
    w._handle_custom_msg({"type": "select", "req": 1, "count": len(members32)}, [members32.tobytes()])
    assert w.selected_indices == node["members"] and w.selected_naps == []
    # and from Python: the union of several nodes' members
    a, b = w.mapper["nodes"][0], w.mapper["nodes"][-1]
    got = w.select_mapper_nodes([a["id"], b["id"]])
    assert got == sorted(set(a["members"]) | set(b["members"])) == w.selected_indices
    assert mapper_members(w.mapper, [a["id"]]) == a["members"]
    # a click whose members equal the selected NAP's members: the inputs stay, the NAP selection goes
    w.selected_naps = [1]
    members = list(w.selected_indices)
    w._handle_custom_msg({"type": "select", "req": 2, "indices": members}, [])
    assert w.selected_indices == members and w.selected_naps == []
    # clearing the NAPs alone (from Python) still clears their members
    w.selected_naps = [1]
    w.selected_naps = []
    assert w.selected_indices == []
    with pytest.raises(NapInputError):
        mapper_members(w.mapper, [10_000])


def test_nap_selection_highlights_the_nodes_holding_its_members(w, data):
    w.topology_open = ["mapper"]
    g = mapper_graph(data[0]["mid"], n_intervals=10, overlap=0.3, eps="auto", min_samples=3)
    for nap in range(w.naps.n_naps):
        w.selected_naps = [nap]
        members = w.selected_indices
        assert sorted(members) == sorted(np.flatnonzero(w.naps.labels == nap).tolist())
        lit = mapper_highlight(w.mapper, members)
        expected = set()
        for i in members:
            expected.update(g.nodes_containing(i).tolist())
        assert set(lit) == expected
        for node in w.mapper["nodes"]:
            if node["id"] in lit:
                share = len(set(node["members"]) & set(members)) / node["size"]
                assert lit[node["id"]] == pytest.approx(share)


def test_flow_band_selection(w):
    w.topology_open = ["flow"]
    links = w.flow["links"]
    i = max(range(len(links)), key=lambda j: links[j]["count"])
    w.set_state({"selected_indices": links[i]["members"], "selected_naps": []})  # the front end's band click
    assert w.selected_indices == links[i]["members"]
    assert w.select_flow_link(0) == links[0]["members"] == w.selected_indices
    with pytest.raises(NapInputError):
        w.select_flow_link(len(links))


def test_static_export_keeps_open_topology_views(w, tmp_path):
    w.topology_open = ["mapper"]
    text = w.save_html(tmp_path / "t.html").read_text()
    assert '"mapper":{' in text and EVIL not in text  # class names are escaped for <script>
