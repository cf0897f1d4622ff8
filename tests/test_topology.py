"""Topology kernels: Mapper graphs equal KeplerMapper's, persistence diagrams, NAP flow, bad input."""

from __future__ import annotations

import json
import sys
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist
from sklearn.cluster import DBSCAN, AgglomerativeClustering
from sklearn.decomposition import PCA

from napwidget.errors import NapInputError
from napwidget.topology import (
    auto_eps,
    compute_lens,
    dbscan_labels,
    h0_bars,
    interval_cover,
    mapper_graph,
    nap_diagram_points,
    nap_flow,
    persistence_diagram,
)

from synthetic import make_blobs

km = pytest.importorskip("kmapper")


# ------------------------------------------------------------------------------------------------ helpers
def kmapper_graph(X, lens, n_cubes, overlap, clusterer):
    mapper = km.KeplerMapper(verbose=0)
    return mapper.map(
        np.asarray(lens).reshape(-1, 1),
        X,
        clusterer=clusterer,
        cover=km.Cover(n_cubes=n_cubes, perc_overlap=overlap),
    )


def kmapper_lens(X, projection="l2norm"):
    return km.KeplerMapper(verbose=0).fit_transform(X, projection=projection, scaler=None)


def node_sets(nodes):
    return Counter(frozenset(int(i) for i in m) for m in nodes)


def edge_sets(node_list, edges):
    return Counter(frozenset((frozenset(node_list[a]), frozenset(node_list[b]))) for a, b in edges)


def assert_same_as_kmapper(g, G):
    ours = [frozenset(m.tolist()) for m in g.nodes]
    ids = list(G["nodes"])
    theirs = [frozenset(G["nodes"][k]) for k in ids]
    assert node_sets(ours) == node_sets(theirs)
    k_edges = [(ids.index(a), ids.index(b)) for a, ends in G["links"].items() for b in ends]
    assert edge_sets(ours, g.edges.tolist()) == edge_sets(theirs, k_edges)
    assert g.n_edges == len(k_edges)


@pytest.fixture(scope="module")
def digits_acts():
    # One epoch (not the shared 8-epoch demo fixture) keeps this file within its time budget on 2 busy cores;
    # the equality tests hold for any activations, and one epoch already gives class-structured ones.
    from napwidget import extract
    from napwidget.datasets import load_digits_images, train_digits_cnn

    images, labels = load_digits_images()
    model = train_digits_cnn(images, labels, epochs=1, seed=0)
    return extract(model, images, ["relu3", "relu4"]), labels


# -------------------------------------------------------------------------------------- mapper vs kmapper
@pytest.mark.parametrize("n_intervals,overlap", [(1, 0.0), (7, 0.2), (10, 0.5), (15, 0.75)])
def test_mapper_equals_kmapper_on_blobs(n_intervals, overlap):
    X, _ = make_blobs(n_per=60, k=5, dim=32, seed=n_intervals)
    g = mapper_graph(X, n_intervals=n_intervals, overlap=overlap, eps=1.6, min_samples=3)
    G = kmapper_graph(X, kmapper_lens(X), n_intervals, overlap, DBSCAN(eps=1.6, min_samples=3))
    assert_same_as_kmapper(g, G)
    assert g.n_nodes > 0 and g.eps == 1.6


def test_sklearn_dbscan_and_generic_clusterers_match_kmapper():
    X, _ = make_blobs(n_per=50, k=4, dim=16, seed=3)
    lens = kmapper_lens(X)
    g = mapper_graph(X, n_intervals=6, overlap=0.4, clusterer=DBSCAN(eps=1.2, min_samples=4))
    assert_same_as_kmapper(g, kmapper_graph(X, lens, 6, 0.4, DBSCAN(eps=1.2, min_samples=4)))
    # a clusterer without eps: run per interval as given; kmapper skips intervals with < n_clusters points
    agg = AgglomerativeClustering(n_clusters=3)
    g = mapper_graph(X, n_intervals=8, overlap=0.3, clusterer=agg)
    assert_same_as_kmapper(g, kmapper_graph(X, lens, 8, 0.3, AgglomerativeClustering(n_clusters=3)))
    assert g.eps is None


@pytest.mark.parametrize("layer", ["relu3", "relu4"])
def test_mapper_equals_kmapper_on_digits_cnn(digits_acts, layer):
    acts, labels = digits_acts
    g = mapper_graph(acts, layer=layer, n_intervals=12, overlap=0.3, eps="auto", labels=labels)
    X = acts[layer]
    G = kmapper_graph(X, kmapper_lens(X), 12, 0.3, DBSCAN(eps=g.eps, min_samples=3))
    assert_same_as_kmapper(g, G)
    assert g.n_nodes >= 5 and g.layer == layer
    # composition: shares add to <= 1 and the top class is the most frequent label of the node
    for members, top in zip(g.nodes, g.top_classes):
        assert top[0][1] == np.bincount(labels[members]).max()
        assert sum(s for _, _, s in top) <= 1 + 1e-12


@pytest.mark.parametrize("min_samples", [1, 4])
def test_cosine_matches_kmapper_including_zero_rows(digits_acts, min_samples):
    acts, _ = digits_acts
    X = acts["relu4"].copy()
    # zero vectors: cosine distance 1 to everything, themselves included (as kmapper's DBSCAN sees it)
    X[:7] = 0.0
    g = mapper_graph(X, metric="cosine", n_intervals=8, overlap=0.3, eps=0.08, min_samples=min_samples)
    G = kmapper_graph(X, kmapper_lens(X), 8, 0.3, DBSCAN(eps=0.08, min_samples=min_samples, metric="cosine"))
    assert_same_as_kmapper(g, G)
    assert g.params["metric"] == "cosine"


def test_lens_pca_and_user_array(blobs):
    X, _ = blobs
    ref = PCA(n_components=1, svd_solver="full").fit_transform(X.astype(np.float64))[:, 0]
    ours = compute_lens(X, "pca")
    np.testing.assert_allclose(ours, ref, atol=1e-9 * np.abs(ref).max())
    g = mapper_graph(X, lens="pca", n_intervals=6, overlap=0.3, eps=2.0)
    assert_same_as_kmapper(g, kmapper_graph(X, ours, 6, 0.3, DBSCAN(eps=2.0, min_samples=3)))
    user = np.random.default_rng(1).normal(size=len(X))
    g = mapper_graph(X, lens=user, n_intervals=5, overlap=0.25, eps=2.0)
    assert_same_as_kmapper(g, kmapper_graph(X, user, 5, 0.25, DBSCAN(eps=2.0, min_samples=3)))
    g2 = mapper_graph(X, lens=lambda a: user, n_intervals=5, overlap=0.25, eps=2.0)
    assert node_sets(g2.nodes) == node_sets(g.nodes) and g.params["lens"] == "custom"


def test_jaccard_and_shared_are_exact(blobs):
    X, y = blobs
    g = mapper_graph(X, n_intervals=10, overlap=0.5, eps=2.0, labels=y)
    assert g.n_edges > 0
    for (a, b), s, j in zip(g.edges.tolist(), g.shared.tolist(), g.jaccard.tolist()):
        A, B = set(g.nodes[a].tolist()), set(g.nodes[b].tolist())
        assert s == len(A & B) > 0
        assert j == float(Fraction(len(A & B), len(A | B)))
    # the nerve includes every intersecting pair, and only those
    pairs = {
        (a, b)
        for a in range(g.n_nodes)
        for b in range(a + 1, g.n_nodes)
        if set(g.nodes[a].tolist()) & set(g.nodes[b].tolist())
    }
    assert pairs == set(map(tuple, g.edges.tolist()))


def test_exports_are_json_and_networkx(blobs):
    nx = pytest.importorskip("networkx")
    X, y = blobs
    g = mapper_graph(
        X, n_intervals=8, overlap=0.3, eps=2.0, labels=y, class_names=[f"c{i}" for i in range(5)]
    )
    d = json.loads(json.dumps(g.to_dict()))
    assert [n["size"] for n in d["nodes"]] == g.sizes.tolist()
    assert d["nodes"][0]["members"] == g.nodes[0].tolist()
    assert {"id", "size", "members", "mean_lens", "top_classes"} <= set(d["nodes"][0])
    assert {"source", "target", "shared", "jaccard"} == set(d["edges"][0])
    top = d["nodes"][0]["top_classes"][0]
    assert top["name"] in {f"c{i}" for i in range(5)} | {"-1"}
    G = g.to_networkx()
    assert isinstance(G, nx.Graph) and G.number_of_nodes() == g.n_nodes and G.number_of_edges() == g.n_edges
    a, b = g.edges[0]
    assert G.edges[a, b]["jaccard"] == g.jaccard[0]
    np.testing.assert_allclose(g.mean_lens, [np.linalg.norm(X[m], axis=1).mean() for m in g.nodes], rtol=1e-6)
    np.testing.assert_allclose(g.mean_activation[0], X[g.nodes[0]].mean(axis=0), rtol=1e-5)
    i = int(g.nodes[0][0])
    assert 0 in g.nodes_containing(i).tolist()


def test_deterministic_and_auto_eps(blobs):
    X, _ = blobs
    g1 = mapper_graph(X, n_intervals=8, overlap=0.3)
    g2 = mapper_graph(X.copy(), n_intervals=8, overlap=0.3)
    assert g1.eps == g2.eps and g1.to_dict() == g2.to_dict()
    # the elbow lies between within-blob and between-blob distances
    kth = np.sort(cdist(X[:100], X[:100]), axis=1)[:, 2]  # core distance for min_samples=3
    assert np.median(kth) <= g1.eps < cdist(X[:100], X[100:200]).min()
    assert auto_eps(X, min_samples=3) == g1.eps


def test_dbscan_labels_equal_sklearn_in_any_row_order():
    rng = np.random.default_rng(0)
    for seed in range(6):
        X = np.random.default_rng(seed).normal(size=(150, 2))
        for eps, ms in [(0.2, 3), (0.35, 5), (0.5, 8)]:
            adj = cdist(X, X) <= eps
            ref = DBSCAN(eps=eps, min_samples=ms).fit_predict(X)
            np.testing.assert_array_equal(dbscan_labels(adj, ms), ref)
            perm = rng.permutation(len(X))
            out = dbscan_labels(adj[perm][:, perm], ms, order_key=perm)
            np.testing.assert_array_equal(out, ref[perm])


def test_cover_geometry():
    lens = np.array([0.0, 1.0, 2.5, 10.0])
    iv = interval_cover(lens, 4, 0.2)
    r = 10.0
    np.testing.assert_allclose((iv[:, 0] + iv[:, 1]) / 2, np.linspace(r / 8, r - r / 8, 4))
    np.testing.assert_allclose(iv[:, 1] - iv[:, 0], r / (4 * 0.8))
    assert interval_cover(lens, 1, 0.0).shape == (1, 2)


# ------------------------------------------------------------------------------------------- persistence
def test_h0_equals_ripser_on_mutual_reachability():
    ripser = pytest.importorskip("ripser").ripser
    X = np.random.default_rng(2).normal(size=(80, 3))
    D = cdist(X, X)
    core = np.sort(D, axis=1)[:, 4]
    mr = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(mr, 0)
    t = minimum_spanning_tree(mr).tocoo()
    ours = h0_bars(np.c_[t.row, t.col, t.data], core).diagram()
    np.fill_diagonal(mr, core)  # ripser: a non-zero diagonal is each vertex's birth
    ref = ripser(mr, distance_matrix=True, maxdim=0)["dgms"][0]
    ref = ref[np.lexsort((ref[:, 0], ref[:, 1]))]
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_persistence_k_blobs_long_lived():
    k = 4
    X, _ = make_blobs(n_per=60, k=k, dim=16, noise_frac=0.0, seed=7)
    d = persistence_diagram(X, min_samples=5)
    assert d.ndim == 2 and d.shape[1] == 2 and np.isinf(d[:, 1]).sum() == 1
    assert np.all(d[:, 1] >= d[:, 0])
    life = d[:, 1] - d[:, 0]
    within = np.sort(life[np.isfinite(life)])[-(k - 1) - 1]  # the longest bar that is not a blob
    assert np.sum(life > 3 * within) == k


def test_persistence_reuses_naps_tree(monkeypatch, blobs):
    from napwidget import clustering, find_naps

    X, _ = blobs
    naps = find_naps(X, min_cluster_size=20)
    monkeypatch.setattr(clustering, "build_tree", lambda *a, **k: pytest.fail("refit"))
    d = persistence_diagram(naps)
    ref = h0_bars(naps.tree.mst, naps.tree.core_distances).diagram()
    np.testing.assert_array_equal(d, ref)
    full = persistence_diagram(naps, keep_diagonal=True)
    assert len(full) == len(X) and np.isinf(full[:, 1]).sum() == 1
    # NAP -> diagram point: distinct points, each born at a member, alive when its members connect
    pts = nap_diagram_points(naps)
    assert pts.shape == (naps.n_naps, 5)
    assert len(set(pts[:, 2].astype(int))) == naps.n_naps
    assert np.all(pts[:, 1] >= pts[:, 3]) and np.all(pts[:, 4] == 1.0)
    for i, (b, dth, v, _, _) in enumerate(pts):
        assert naps.labels[int(v)] == i and b == naps.tree.core_distances[int(v)]
        assert any((row == [b, dth]).all() for row in full)


def test_h1_noisy_circle_one_long_bar():
    pytest.importorskip("ripser")
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 600)
    X = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.05, size=(600, 2))
    d = persistence_diagram(X, dim=1, max_points=200, seed=0)
    life = d[:, 1] - d[:, 0]
    assert np.sum(life > 0.5) == 1 and np.sort(life)[-2] < 0.2
    np.testing.assert_array_equal(d, persistence_diagram(X, dim=1, max_points=200, seed=0))


def test_h1_without_ripser_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ripser", None)
    with pytest.raises(ImportError, match=r"pip install napwidget\[topology\]"):
        persistence_diagram(np.random.default_rng(0).normal(size=(20, 2)), dim=1)


# ------------------------------------------------------------------------------------------------- flow
def test_flow_counts_add_up(digits_acts):
    from napwidget import find_naps

    acts, labels = digits_acts
    n3 = find_naps(acts, layer="relu3", min_cluster_size=20)
    n4 = find_naps(acts, layer="relu4", min_cluster_size=20)
    flow = nap_flow({"relu3": n3, "relu4": n4})
    both = int(np.sum((n3.labels >= 0) & (n4.labels >= 0)))
    assert sum(link.count for link in flow.links if not link.noise_a and not link.noise_b) == both
    assert sum(link.count for link in flow.links) == len(labels)
    for link in flow.links:
        assert np.all(n3.labels[link.members] == link.nap_a) and np.all(n4.labels[link.members] == link.nap_b)
        assert link.count == len(link.members) and np.all(np.diff(link.members) > 0)
    assert flow.matrix("relu3", "relu4").sum() == len(labels)
    d = json.loads(json.dumps(flow.to_dict()))
    assert any(node["noise"] for node in d["nodes"]) == bool((n3.labels < 0).any() or (n4.labels < 0).any())
    no_noise = nap_flow([("relu3", n3.labels), ("relu4", n4.labels)], include_noise=False)
    assert sum(link.count for link in no_noise.links) == both


def test_flow_three_layers_lists():
    flow = nap_flow(
        [("a", np.array([0, 0, 1, -1])), ("b", np.array([1, 1, 0, 0])), ("c", np.array([0, -1, 0, 0]))]
    )
    assert [(link.layer_a, link.nap_a, link.nap_b, link.count) for link in flow.links] == [
        ("a", -1, 0, 1),
        ("a", 0, 1, 2),
        ("a", 1, 0, 1),
        ("b", 0, 0, 2),
        ("b", 1, -1, 1),
        ("b", 1, 0, 1),
    ]
    assert flow.links[0].noise_a and not flow.links[0].noise_b


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_intervals": 0}, "n_intervals"),
        ({"n_intervals": 2.5}, "n_intervals"),
        ({"overlap": 1.0}, "overlap"),
        ({"overlap": -0.1}, "overlap"),
        ({"lens": "tsne"}, "lens"),
        ({"lens": np.zeros(3)}, "lens"),
        ({"metric": "manhattan"}, "metric"),
        ({"eps": -1.0}, "eps"),
        ({"min_samples": 0}, "min_samples"),
        ({"labels": np.zeros(5)}, "labels"),
        ({"clusterer": object()}, "clusterer"),
    ],
)
def test_mapper_bad_parameters(kwargs, match):
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match=match) as err:
        mapper_graph(X, **kwargs)
    assert "Fix:" in str(err.value)


def test_bad_matrices():
    with pytest.raises(NapInputError, match="2-D"):
        mapper_graph(np.zeros((4, 2, 2)))
    x = np.ones((10, 3))
    x[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN.*row 4"):
        mapper_graph(x)
    with pytest.raises(ValueError, match="NaN"):
        persistence_diagram(x)
    with pytest.raises(ValueError, match="layer"):
        mapper_graph({"a": np.ones((5, 2)), "b": np.ones((5, 2))})
    with pytest.raises(ValueError, match="dim"):
        persistence_diagram(np.ones((10, 2)), dim=2)
    with pytest.raises(ValueError, match="same inputs"):
        nap_flow({"a": np.zeros(4, int), "b": np.zeros(5, int)})
    with pytest.raises(ValueError, match="two layers"):
        nap_flow({"a": np.zeros(4, int)})
    with pytest.raises(ValueError, match="integer"):
        nap_flow({"a": np.zeros(4) + 0.5, "b": np.zeros(4, int)})
