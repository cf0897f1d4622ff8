"""The approximate engine (k-NN graph HDBSCAN), find_naps(algorithm=...), and downstream use of its NAPs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import napwidget
from napwidget.clustering import build_tree, engines, knn, select_clusters
from napwidget.clustering.approximate import build_approximate_tree
from napwidget.clustering.knn import BruteForceIndex, IVFIndex, faiss_available, knn_graph
from napwidget.clustering.knn_mst import knn_mst
from napwidget.clustering.lean import LazyKey
from napwidget.errors import NapInputError


def activation_mixture(n: int, d: int = 64, k: int = 12, seed: int = 0) -> np.ndarray:
    """ReLU'd Gaussian clusters (each firing its own units) plus 5 % diffuse inputs, abs-max normalised."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1, (k, d)) * (rng.random((k, d)) < 0.3) * 3
    lab = rng.integers(0, k, n)
    x = centers[lab] + rng.normal(0, 0.35, (n, d))
    diffuse = rng.random(n) < 0.05
    x[diffuse] = rng.normal(0, 1.5, (int(diffuse.sum()), d))
    x = np.maximum(x, 0)
    return (x / np.maximum(x.max(axis=0), 1e-12)).astype(np.float32)


def test_core_distances_equal_exact_with_brute_force() -> None:
    x = activation_mixture(800)
    exact = build_tree(x, min_samples=5)
    approx = build_approximate_tree(x, min_samples=5, knn="brute")
    np.testing.assert_allclose(approx.core_distances, exact.core_distances, rtol=1e-9)


def test_disconnected_knn_graph_is_joined_by_its_cheapest_edges() -> None:
    # Three far-apart groups: the 6-NN graph has no edge between them.
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [rng.normal(0, 0.1, (60, 8)), rng.normal(4, 0.1, (40, 8)), rng.normal(-9, 0.1, (30, 8))]
    )
    x = x.astype(np.float32)
    idx, dist = knn_graph(x, 6, BruteForceIndex(x))
    core = dist[:, 5].copy()
    mst = knn_mst(x, BruteForceIndex(x), idx, dist, core)
    assert mst.shape == (129, 3)
    # A spanning tree: connected, and its weight is the exact minimum (the joins are the cheapest edges).
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(129), (mst[:, 0].astype(int), mst[:, 1].astype(int))), shape=(130, 130))
    assert connected_components(graph, directed=False)[0] == 1
    # The two edges between groups are the cheapest mutual-reachability edges between them (exact search).
    from scipy.spatial.distance import cdist

    group = np.repeat([0, 1, 2], [60, 40, 30])
    mr = np.maximum(cdist(x.astype(np.float64), x.astype(np.float64)), np.maximum.outer(core, core))
    between = sorted(mr[np.ix_(group == a, group == b)].min() for a, b in ((0, 1), (0, 2), (1, 2)))[:2]
    joins = mst[group[mst[:, 0].astype(int)] != group[mst[:, 1].astype(int)]]
    np.testing.assert_allclose(np.sort(joins[:, 2]), between, rtol=1e-9)


def test_full_neighbour_lists_give_the_exact_tree_weight() -> None:
    x = activation_mixture(300, d=32, seed=3)
    approx = build_approximate_tree(x, min_samples=5, n_neighbors=300, knn="brute")
    exact = build_tree(x, min_samples=5)
    assert approx.mst[:, 2].sum() == pytest.approx(exact.mst[:, 2].sum(), rel=1e-9)
    assert np.array_equal(select_clusters(approx, 5).labels, select_clusters(exact, 5).labels)


def prim_rows(monkeypatch: pytest.MonkeyPatch, x: np.ndarray, **approx_kwargs) -> tuple:
    """Both engines' MST rows in the order they reach single linkage (Prim order for the exact engine), and
    both trees."""
    from napwidget.clustering import approximate, linkage

    rows: dict[str, np.ndarray] = {}
    for name, module in (("exact", linkage), ("approximate", approximate)):
        original = module.single_linkage
        monkeypatch.setattr(
            module, "single_linkage", lambda mst, o=original, n=name: rows.update({n: mst}) or o(mst)
        )
    exact = build_tree(x, min_samples=5)
    approx = build_approximate_tree(x, min_samples=5, knn="brute", **approx_kwargs)
    return rows["exact"], rows["approximate"], exact, approx


def assert_same_tree_and_labels(exact_rows, approx_rows, exact, approx) -> None:
    # Same rows, same order, same bits: single linkage then makes the same tied merges in the same order.
    np.testing.assert_array_equal(approx_rows, exact_rows)
    np.testing.assert_array_equal(approx.merges, exact.merges)
    for mcs in (5, 10, 20):
        np.testing.assert_array_equal(select_clusters(approx, mcs).labels, select_clusters(exact, mcs).labels)


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_mst_rows_in_hdbscan_prim_order_with_tied_core_distances(monkeypatch, seed: int) -> None:
    # Continuous data: ties come from core distances (an edge's weight is often an endpoint's core distance,
    # 30-37 tied weights of 399 here), as on real activations. The k-NN edges hold the exact MST, so the
    # approximate engine must produce hdbscan's rows in hdbscan's order (the Kruskal order did not: labels
    # differed at min_cluster_size 5 for all three seeds).
    x = np.random.default_rng(seed).normal(size=(400, 4)).astype(np.float32)
    exact_rows, approx_rows, exact, approx = prim_rows(monkeypatch, x)
    assert exact_rows.shape[0] - np.unique(exact_rows[:, 2]).size >= 25  # many ties
    assert_same_tree_and_labels(exact_rows, approx_rows, exact, approx)


def test_mst_rows_in_hdbscan_prim_order_on_a_grid_with_duplicates(monkeypatch) -> None:
    # 300 points on 64 grid nodes: almost every weight ties (distances tie, points coincide). With every
    # point a neighbour the k-NN graph is complete, so Prim over it must be hdbscan's Prim exactly.
    x = np.random.default_rng(0).integers(0, 4, (300, 3)).astype(np.float32)
    exact_rows, approx_rows, exact, approx = prim_rows(monkeypatch, x, n_neighbors=300)
    assert exact_rows.shape[0] - np.unique(exact_rows[:, 2]).size > 250
    assert_same_tree_and_labels(exact_rows, approx_rows, exact, approx)


def test_mst_rows_in_hdbscan_prim_order_with_duplicated_points(monkeypatch) -> None:
    # Every point twice (distance-0 pairs, and every distance to a point tied with its copy's), default k.
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (6, 8))
    x = (centres[rng.integers(0, 6, 300)] + rng.normal(size=(300, 8))).astype(np.float32)
    x = np.repeat(x, 2, axis=0)[rng.permutation(600)]
    exact_rows, approx_rows, exact, approx = prim_rows(monkeypatch, x)
    assert exact_rows.shape[0] - np.unique(exact_rows[:, 2]).size > 250
    assert_same_tree_and_labels(exact_rows, approx_rows, exact, approx)


def test_knn_graph_of_duplicated_points_keeps_each_point_itself() -> None:
    # Coinciding points come back from the index in any order; each row keeps its own point (first) and the
    # copies as neighbours at distance 0, so core distances count the copies as hdbscan does.
    x = np.random.default_rng(0).integers(0, 4, (300, 3)).astype(np.float32)
    idx, dist = knn_graph(x, 16, BruteForceIndex(x))
    assert np.array_equal(idx[:, 0], np.arange(300))
    assert np.isfinite(dist).all()
    approx = build_approximate_tree(x, min_samples=5, knn="brute")
    np.testing.assert_array_equal(approx.core_distances, build_tree(x, min_samples=5).core_distances)


@pytest.mark.parametrize("mcs,method", [(5, "leaf"), (15, "leaf"), (10, "eom")])
def test_agrees_with_exact_on_an_activation_mixture(mcs: int, method: str) -> None:
    x = activation_mixture(3000, d=64)
    exact = select_clusters(build_tree(x, min_samples=5), mcs, method)
    approx = select_clusters(build_approximate_tree(x, min_samples=5), mcs, method)
    assert adjusted_rand_score(exact.labels, approx.labels) >= 0.95


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu (napwidget[scale]) not installed")
def test_hnsw_index_agrees_with_brute_force() -> None:
    x = activation_mixture(3000, d=64, seed=5)
    brute = select_clusters(build_approximate_tree(x, min_samples=5, knn="brute"), 5, "leaf")
    hnsw = select_clusters(build_approximate_tree(x, min_samples=5, knn="hnsw"), 5, "leaf")
    assert adjusted_rand_score(brute.labels, hnsw.labels) >= 0.95


def test_ivf_probing_every_cell_is_exact() -> None:
    x = activation_mixture(1500, d=32, seed=3)
    exact_idx, exact_dist = knn_graph(x, 12, BruteForceIndex(x))
    ivf_idx, ivf_dist = knn_graph(x, 12, IVFIndex(x, n_cells=6, n_probe=6))
    np.testing.assert_array_equal(ivf_dist, exact_dist)  # float64 re-check: identical distances
    assert (ivf_idx == exact_idx).mean() > 0.999  # only equal-distance ties may swap


def test_ivf_index_default_agrees_with_brute_force() -> None:
    x = activation_mixture(4000, d=64, seed=5)
    idx_ivf, _ = knn_graph(x, 16, IVFIndex(x))  # sqrt(N) = 63 cells, 8 probed: 13 % of the points searched
    idx_brute, _ = knn_graph(x, 16, BruteForceIndex(x))
    recall = np.mean([len(set(a) & set(b)) / 16 for a, b in zip(idx_ivf, idx_brute, strict=True)])
    assert recall >= 0.97
    brute = select_clusters(build_approximate_tree(x, min_samples=5, knn="brute"), 5, "leaf")
    ivf = select_clusters(build_approximate_tree(x, min_samples=5, knn="ivf"), 5, "leaf")
    assert adjusted_rand_score(brute.labels, ivf.labels) >= 0.95


def test_ivf_tunes_its_probes_to_the_recall_target() -> None:
    # Diffuse data (no clusters): 8 of 60 cells miss many neighbours, so the index probes more.
    x = np.random.default_rng(11).normal(size=(3000, 24)).astype(np.float32)
    index = IVFIndex(x, n_cells=60)
    assert index.n_probe > 8 and index.recall >= 0.98
    tuned = index.n_probe
    # the fewest probes that reach the target, to within an eighth: a few less miss it
    assert index.recall_at(tuned - max(1, tuned // 8)) < 0.98 <= index.recall_at(tuned)
    assert index.n_probe == tuned
    held_out = np.arange(0, 3000, 7)  # recall on other points than the tuning sample stays near the target
    got, _ = index.search(held_out, 16)
    truth, _ = BruteForceIndex(x).search(held_out, 16)
    assert np.mean([np.intersect1d(a, b).size / 16 for a, b in zip(got, truth, strict=True)]) >= 0.95
    assert IVFIndex(x, n_cells=60, n_probe=8).n_probe == 8  # an explicit n_probe is kept


def test_ivf_search_of_new_vectors_and_auto_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    x = activation_mixture(2000, d=32, seed=7)
    index = IVFIndex(x, n_cells=10, n_probe=10)
    new = x[:50] + 1e-3
    np.testing.assert_array_equal(
        index.search_vectors(new, 1)[:, 0], BruteForceIndex(x).search_vectors(new, 1)[:, 0]
    )
    monkeypatch.setattr(knn, "BRUTE_FORCE_MAX", 1000)  # "auto" switches to IVF above this many points
    assert isinstance(knn.make_index(x), IVFIndex)
    assert isinstance(knn.make_index(x[:900]), BruteForceIndex)


def test_find_naps_algorithm_choice_and_record() -> None:
    x = activation_mixture(600)
    exact = napwidget.find_naps(x, algorithm="exact")
    approx = napwidget.find_naps(x, algorithm="approximate")
    assert exact.algorithm == "exact" and approx.algorithm == "approximate"
    assert approx.params["algorithm"] == "approximate"
    assert adjusted_rand_score(exact.labels, approx.labels) >= 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # small data: auto runs exact and says nothing
        assert napwidget.find_naps(x).algorithm == "exact"
    with pytest.raises(NapInputError, match="algorithm"):
        napwidget.find_naps(x, algorithm="fastest")


def test_auto_switches_to_approximate_when_exact_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    napwidget.clear_tree_cache()
    x = activation_mixture(700, seed=9)
    need = engines.required_memory_bytes(*x.shape)
    monkeypatch.setattr(engines, "available_memory_bytes", lambda: int(need * 1.5))  # fits, not comfortably
    with pytest.warns(UserWarning, match="approximate"):
        naps = napwidget.find_naps(x, min_cluster_size=5)
    assert naps.algorithm == "approximate"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # re-selection from the cached tree: no second warning
        again = napwidget.find_naps(x, min_cluster_size=12)
    assert again.tree is naps.tree and again.algorithm == "approximate"
    monkeypatch.setattr(engines, "available_memory_bytes", lambda: int(need * 3))
    assert napwidget.find_naps(x).algorithm == "exact"


def test_downstream_works_on_approximate_naps(tmp_path) -> None:
    x = activation_mixture(900, seed=2)
    labels = np.arange(900) % 7
    naps = napwidget.find_naps(x, algorithm="approximate", labels=labels)
    assert naps.n_naps > 3
    stats = naps.stats
    assert stats["mean"].shape == (naps.n_naps, x.shape[1])
    assert naps.label_counts.sum() == (naps.labels >= 0).sum()
    loaded = napwidget.load_naps(naps.save(tmp_path / "n.npz"))
    assert loaded.algorithm == "approximate" and np.array_equal(loaded.labels, naps.labels)
    diagram = napwidget.persistence_diagram(naps)  # reuses the approximate tree
    assert np.isinf(diagram[:, 1]).sum() == 1 and (diagram[:, 1] >= diagram[:, 0]).all()
    graph = napwidget.mapper_graph(naps.features, n_intervals=5, labels=labels)
    assert graph.n_nodes > 0


def test_explorer_and_widget_run_the_approximate_engine() -> None:
    from napwidget.explorer import Explorer

    x = activation_mixture(500, seed=4)
    ex = Explorer({"fc": x}, algorithm="approximate")
    assert ex.naps.algorithm == "approximate"
    from napwidget.widget import NapWidget

    widget = NapWidget.from_activations({"fc": x}, algorithm="approximate")
    assert widget._explorer.naps.algorithm == "approximate"


def test_widget_keeps_the_engine_auto_chose_when_memory_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A min_cluster_size change re-selects from the tree "auto" built, even when memory is short by then
    (it used to rebuild the whole tree with the approximate engine: a minute at 50k, and other NAPs)."""
    from napwidget.widget import NapWidget

    napwidget.clear_tree_cache()
    x = activation_mixture(600, seed=11)
    need = engines.required_memory_bytes(*x.shape)
    monkeypatch.setattr(engines, "available_memory_bytes", lambda: int(need * 4))
    widget = NapWidget.from_activations({"fc": x})
    first = widget.explorer.naps
    assert first.algorithm == "exact"
    monkeypatch.setattr(engines, "available_memory_bytes", lambda: int(need * 1.2))  # "auto" now: approximate
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        widget.min_cluster_size = 12
    assert not widget.error and widget.explorer.naps.params["min_cluster_size"] == 12
    assert widget.explorer.naps.algorithm == "exact" and widget.explorer.naps.tree is first.tree
    assert not [w for w in said if "approximate" in str(w.message)]
    with pytest.warns(UserWarning, match="approximate"):  # find_naps itself decides anew on each call
        assert napwidget.find_naps(x, min_cluster_size=12).algorithm == "approximate"


# ------------------------------------------------------------------------------------------------ predict
def _mixture_with_truth(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1, (8, 32)) * (rng.random((8, 32)) < 0.4) * 4
    truth = rng.integers(0, 8, n)
    x = np.maximum(centers[truth] + rng.normal(0, 0.3, (n, 32)), 0).astype(np.float32)
    return x, truth


@pytest.mark.parametrize("algorithm", ["exact", "approximate"])
def test_predict_extends_naps_of_a_subsample(algorithm: str) -> None:
    x, truth = _mixture_with_truth(3000)
    naps = napwidget.find_naps(
        x[:1500], min_cluster_size=20, cluster_selection_method="eom", algorithm=algorithm
    )
    nap, prob = naps.predict(x[1500:])
    assert nap.shape == prob.shape == (1500,)
    assert ((prob >= 0) & (prob <= 1)).all() and (prob[nap < 0] == 0).all()
    assigned = nap >= 0
    assert assigned.mean() > 0.8
    # Each NAP stands for one generating cluster: new inputs land in the NAP of their own cluster.
    nap_truth = {i: np.bincount(truth[:1500][naps.labels == i]).argmax() for i in range(naps.n_naps)}
    agree = np.array([nap_truth[int(a)] == t for a, t in zip(nap[assigned], truth[1500:][assigned])])
    assert agree.mean() > 0.97


def test_predict_matches_hdbscan_approximate_predict() -> None:
    import hdbscan

    x, _ = _mixture_with_truth(1600, seed=3)
    train, new = x[:1200], x[1200:]
    naps = napwidget.find_naps(train, min_cluster_size=10, algorithm="exact")
    ref = hdbscan.HDBSCAN(
        min_cluster_size=10, min_samples=5, cluster_selection_method="leaf", prediction_data=True
    ).fit(naps.features.astype(np.float64))
    # Same clustering (the exact engine equals hdbscan), so NAP ids map one to one onto hdbscan's labels.
    to_nap = {int(r): int(n) for r, n in zip(ref.labels_, naps.labels)}
    ref_labels, ref_prob = hdbscan.approximate_predict(
        ref, napwidget.normalize.apply_scale(new, naps.feature_scale)
    )
    ref_nap = np.array([to_nap.get(int(r), -1) if r >= 0 else -1 for r in ref_labels])
    nap, prob = naps.predict(new)
    # hdbscan recomputes the clustered points' core distances one neighbour shorter for prediction: a few
    # borderline inputs may differ, the rest agree.
    same = nap == ref_nap
    assert same.mean() >= 0.95
    assert np.abs(prob[same] - ref_prob[same]).mean() < 0.05


def test_predict_errors(tmp_path) -> None:
    x, _ = _mixture_with_truth(400)
    naps = napwidget.find_naps(x)
    with pytest.raises(NapInputError, match="features"):
        naps.predict(np.zeros((3, 7)))
    with pytest.raises(NapInputError, match="NaN"):
        naps.predict(np.full((2, 32), np.nan))
    loaded = napwidget.load_naps(naps.save(tmp_path / "n.npz"))
    with pytest.raises(NapInputError, match="find_naps"):
        loaded.predict(x[:3])


# ------------------------------------------------------------------------------------ lean exact path
@pytest.mark.parametrize("d,min_samples", [(64, 5), (512, 3)])
def test_lean_exact_path_builds_the_same_tree(d: int, min_samples: int) -> None:
    x = activation_mixture(1500, d=d, seed=d)
    x[10] = x[3]  # duplicates: ties must resolve the same way
    dense = build_tree(x, min_samples=min_samples, lean=False)
    lean = build_tree(x, min_samples=min_samples, lean=True)
    assert np.array_equal(dense.merges, lean.merges)
    assert np.array_equal(dense.core_distances, lean.core_distances)


@pytest.mark.parametrize("cache_rows", [None, 80])
def test_lean_prim_batches_its_rows_and_keeps_the_tree(
    monkeypatch: pytest.MonkeyPatch, cache_rows: int | None
) -> None:
    from napwidget.clustering import lean, linkage

    x = activation_mixture(2000, d=32, seed=5)
    dense = build_tree(x, min_samples=5, lean=False)
    if cache_rows is not None:  # a cache smaller than the batches' spill: rows get evicted and recomputed
        monkeypatch.setattr(lean, "cache_bytes", lambda: 4 * len(x) * cache_rows)
    keys: list[LazyKey] = []
    monkeypatch.setattr(linkage, "LazyKey", lambda *a: keys.append(LazyKey(*a)) or keys[-1])
    tree = build_tree(x, min_samples=5, lean=True)
    assert np.array_equal(tree.merges, dense.merges)
    key = keys[0]
    n_steps = len(x) - 1
    if cache_rows is None:
        # one GEMM per miss instead of one matrix-vector product per Prim's step, each row computed once
        assert key.misses < n_steps / 4
        assert n_steps <= key.rows_computed <= 1.05 * n_steps
    else:  # prefetched rows were evicted before Prim's reached them, and computed again
        assert key._slots == cache_rows
        assert key.rows_computed > 1.5 * n_steps and key.misses < n_steps


def test_exact_goes_lean_when_the_matrix_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    from napwidget.clustering import distances, linkage

    x = activation_mixture(400, seed=11)
    dense = build_tree(x, min_samples=5)
    have = distances.required_memory_bytes(*x.shape) - 1  # the N x N path no longer fits, the lean one does
    monkeypatch.setattr(linkage, "available_memory_bytes", lambda: have)
    monkeypatch.setattr(distances, "available_memory_bytes", lambda: have)
    built = []
    monkeypatch.setattr(linkage, "LazyKey", lambda *a: built.append(1) or LazyKey(*a))
    tree = build_tree(x, min_samples=5)
    assert built == [1] and np.array_equal(tree.merges, dense.merges)
    monkeypatch.setattr(distances, "available_memory_bytes", lambda: 1024)
    with pytest.raises(MemoryError, match="approximate"):
        build_tree(x, min_samples=5)
