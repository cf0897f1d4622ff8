"""NAPs: cluster recovery, the method's defaults, ordering, statistics, re-clustering, persistence, errors."""

from __future__ import annotations

import time

import hdbscan
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from napwidget import extract, find_naps, load_naps, top_activating
from napwidget.errors import NapInputError
from napwidget.normalize import normalize_features

from synthetic import make_blobs


@pytest.mark.parametrize("dim", [64, 512])
def test_blob_recovery(dim):
    X, y = make_blobs(n_per=80, k=6, dim=dim, seed=dim)
    naps = find_naps(X, min_cluster_size=15, cluster_selection_method="eom")
    clean = y >= 0
    assert adjusted_rand_score(y[clean], naps.labels[clean]) >= 0.9
    # every blob is one NAP of its own (the diffuse noise may form a loose extra NAP with min_samples=5)
    majority = [np.bincount(naps.labels[y == b] + 1).argmax() - 1 for b in range(6)]
    assert len(set(majority)) == 6 and -1 not in majority


def test_defaults_match_reference_hdbscan(blobs):
    X, _ = blobs
    naps = find_naps(X)
    assert naps.params["min_cluster_size"] == 5 and naps.params["min_samples"] == 5
    assert naps.params["cluster_selection_method"] == "leaf"
    ref = hdbscan.HDBSCAN(
        min_cluster_size=5,
        min_samples=5,
        cluster_selection_method="leaf",
        cluster_selection_epsilon=0.0,
        metric="euclidean",
    ).fit(normalize_features(X))
    assert adjusted_rand_score(ref.labels_, naps.labels) >= 0.99
    assert naps.n_naps == ref.labels_.max() + 1
    # persistence values are hdbscan's cluster_persistence_, re-ordered descending
    np.testing.assert_allclose(
        np.sort(naps.persistence)[::-1], np.sort(ref.cluster_persistence_)[::-1], rtol=1e-4
    )
    assert np.all(np.diff(naps.persistence) <= 1e-12)


def test_unit_normalisation_is_abs_max_per_unit():
    X = np.array([[1.0, -4.0, 0.0], [2.0, 2.0, 0.0], [0.5, 1.0, 0.0]])
    F = normalize_features(X)
    np.testing.assert_allclose(F, [[0.5, -1, 0], [1, 0.5, 0], [0.25, 0.25, 0]])
    np.testing.assert_allclose(normalize_features(X, "layer"), X / 4)


def test_members_sorted_by_probability_and_stats(blobs):
    X, y = blobs
    naps = find_naps(X, min_cluster_size=10, labels=y)
    for i in range(naps.n_naps):
        m = naps.members(i)
        assert len(m) == naps.sizes[i]
        p = naps.probabilities[m]
        assert np.all(np.diff(p) <= 0)
        ties = np.flatnonzero(np.diff(p) == 0)
        assert np.all(m[ties] < m[ties + 1])  # ties keep data order
    i = 0
    f = naps.features[naps.members(i)]
    q1, q3 = np.quantile(f, [0.25, 0.75], axis=0)
    np.testing.assert_allclose(naps.stats["q1"][i], q1, atol=1e-6)
    np.testing.assert_allclose(naps.stats["mean"][i], f.mean(0), atol=1e-6)
    np.testing.assert_allclose(
        naps.stats["lower_whisker"][i], np.maximum(q1 - 1.5 * (q3 - q1), f.min(0)), atol=1e-6
    )
    np.testing.assert_allclose(
        naps.stats["upper_whisker"][i], np.minimum(q3 + 1.5 * (q3 - q1), f.max(0)), atol=1e-6
    )
    # top units of a blob NAP are units that blob fires and the others mostly do not
    top = naps.top_units(i, 3)
    assert np.all(f[:, top].mean(0) > naps.features[:, top].mean(0))
    assert naps.label_counts.sum() == naps.sizes.sum()
    assert np.all(naps.purity > 0.9)
    assert set(naps.noise) == set(np.flatnonzero(naps.labels < 0))


def test_reclustering_reuses_tree_and_equals_full_fit(blobs):
    X, _ = make_blobs(n_per=150, k=8, dim=128, seed=3)
    first = find_naps(X, min_cluster_size=5)
    t0 = time.perf_counter()
    second = find_naps(X, min_cluster_size=25, cluster_selection_method="eom")
    assert second.tree is first.tree  # cached single-linkage tree, no refit
    ref = hdbscan.HDBSCAN(min_cluster_size=25, min_samples=5, cluster_selection_method="eom").fit(
        normalize_features(X)
    )
    assert adjusted_rand_score(ref.labels_, second.labels) >= 0.99
    assert time.perf_counter() - t0 < 5  # generous: a sanity bound, speed is measured in benchmarks/


def test_deeper_digits_layer_is_purer(digits_demo):
    d = digits_demo
    acts = extract(d.model, d.images, ["conv1", "relu4"])
    shallow = find_naps(acts, layer="conv1", labels=d.labels)
    deep = find_naps(acts, layer="relu4", labels=d.labels)
    assert deep.n_naps >= 5
    assert deep.mean_purity() > shallow.mean_purity() + 0.1
    assert deep.mean_purity() > 0.8


def test_save_load_round_trip(blobs, tmp_path):
    X, y = blobs
    naps = find_naps(X, labels=y, class_names=[f"c{i}" for i in range(6)])
    back = load_naps(naps.save(tmp_path / "naps"))
    np.testing.assert_array_equal(back.labels, naps.labels)
    np.testing.assert_allclose(back.persistence, naps.persistence)
    np.testing.assert_array_equal(back.members(0), naps.members(0))
    assert back.params == naps.params
    df = naps.to_pandas()
    assert list(df.columns[:3]) == ["nap", "probability", "outlier_score"] and len(df) == len(X)


def test_top_activating():
    X = np.array([[0.0, 1], [3, 0], [2, 5], [3, 1]])
    assert top_activating(X, unit=0, k=2).tolist() == [1, 3]
    assert top_activating(X, unit=None, k=1).tolist() == [2]
    with pytest.raises(NapInputError, match="unit 7"):
        top_activating(X, unit=7)


@pytest.mark.parametrize(
    "kwargs,X,match",
    [
        ({"min_cluster_size": 1}, np.zeros((20, 3)), "min_cluster_size=1"),
        ({"min_cluster_size": 50}, np.zeros((20, 3)), "only 20 inputs"),
        ({"cluster_selection_method": "best"}, np.zeros((20, 3)), "'leaf'"),
        ({}, np.zeros((0, 3)), "empty"),
        ({}, np.array([[1.0, np.nan]] * 10 + [[1.0, 2.0]] * 10), "NaN or inf values in 10 of 20"),
        ({}, np.array(["a"] * 10, dtype=object)[:, None], "dtype"),
    ],
)
def test_bad_input(kwargs, X, match):
    with pytest.raises(NapInputError, match=match):
        find_naps(X, **kwargs)


def test_unknown_layer_and_ambiguous_layer(digits_demo):
    acts = extract(digits_demo.model, digits_demo.images[:50], ["conv3", "relu4"])
    with pytest.raises(KeyError, match="relu4"):
        find_naps(acts, layer="relu")
    with pytest.raises(NapInputError, match="layer="):
        find_naps(acts)
