"""napwidget.clustering: exact HDBSCAN equal to the hdbscan package, instant re-selection, input errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from napwidget.clustering import (
    ClusterResult,
    SingleLinkageTree,
    build_tree,
    distances,
    hdbscan_fit,
    select_clusters,
)

hdbscan = pytest.importorskip("hdbscan")


def activation_like(n: int, d: int, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """10 Gaussian blobs + diffuse noise, ReLU'd, scaled per unit, abs-max normalised per column (float32)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(10, d))
    x = centers[rng.integers(0, 10, n)] + rng.normal(scale=0.5, size=(n, d))
    n_noise = int(noise * n)
    x[:n_noise] = rng.uniform(-3.0, 3.0, size=(n_noise, d))
    x = np.maximum(x, 0.0) * rng.uniform(0.5, 2.0, size=d)
    x /= np.maximum(np.abs(x).max(axis=0), 1e-12)
    return x.astype(np.float32)


_DATA = {64: activation_like(700, 64, seed=1), 512: activation_like(600, 512, seed=2)}
_TREES: dict = {}


def tree_for(d: int, min_samples: int) -> SingleLinkageTree:
    if (d, min_samples) not in _TREES:
        _TREES[d, min_samples] = build_tree(_DATA[d], min_samples=min_samples)
    return _TREES[d, min_samples]


def reference(x: np.ndarray, min_cluster_size: int, min_samples: int, method: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hdbscan.HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            cluster_selection_method=method,
            metric="euclidean",
            cluster_selection_epsilon=0.0,
        ).fit(x)


def matching(ref_labels: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Map each of our clusters to the reference cluster holding most of its points."""
    out = {}
    for c in np.unique(labels[labels >= 0]):
        vals, counts = np.unique(ref_labels[labels == c], return_counts=True)
        out[int(c)] = int(vals[np.argmax(counts)])
    return out


@pytest.mark.parametrize("d", [64, 512])
@pytest.mark.parametrize("min_samples", [3, 5])
@pytest.mark.parametrize("min_cluster_size", [5, 12])
@pytest.mark.parametrize("method", ["leaf", "eom"])
def test_matches_hdbscan(d: int, min_samples: int, min_cluster_size: int, method: str) -> None:
    x = _DATA[d]
    ref = reference(x, min_cluster_size, min_samples, method)
    res = select_clusters(tree_for(d, min_samples), min_cluster_size, method)

    assert adjusted_rand_score(ref.labels_, res.labels) >= 0.99
    np.testing.assert_array_equal(res.labels < 0, ref.labels_ < 0)  # noise masks agree
    m = matching(ref.labels_, res.labels)
    assert sorted(m.values()) == list(range(ref.labels_.max() + 1))
    ours = np.array([m[c] for c in range(res.n_clusters)])
    np.testing.assert_allclose(res.persistence, ref.cluster_persistence_[ours], rtol=1e-9, atol=0)
    np.testing.assert_allclose(res.probabilities, ref.probabilities_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.outlier_scores, ref.outlier_scores_, rtol=1e-9, atol=1e-12)
    # Stronger: the computation is exact, so hdbscan's numbering and bits are reproduced.
    np.testing.assert_array_equal(res.labels, ref.labels_)
    np.testing.assert_array_equal(res.condensed_tree, ref.condensed_tree_.to_numpy())


@pytest.mark.parametrize("d", [64, 512])
def test_single_linkage_tree_equals_hdbscan(d: int) -> None:
    ref = reference(_DATA[d], 5, 5, "leaf")
    tree = tree_for(d, 5)
    np.testing.assert_array_equal(tree.merges, ref.single_linkage_tree_.to_numpy())
    np.testing.assert_array_equal(tree.merge_heights, tree.mst[:, 2])
    assert np.all(np.diff(tree.mst[:, 2]) >= 0)
    assert tree.n_samples == len(_DATA[d]) and tree.min_samples == 5


def unsettled_rows_data(seed: int = 6) -> np.ndarray:
    """512-d points whose core distances few nearest-neighbour candidates cannot settle: a dense cluster far
    from the data's mean, whose members are nearly equidistant (high dimension) within the float32 error bound
    (which grows with |x - mean|^2), so each row needs many exact distances, not its 14 candidates; beside
    ordinary blobs and diffuse points."""
    rng = np.random.default_rng(seed)
    d = 512
    dense = 8.0 + rng.normal(scale=0.1, size=(320, d))
    diffuse = rng.gamma(1.0, 0.4, size=(200, d))
    blobs = activation_like(250, d, seed=seed) * 4.0
    return np.concatenate([blobs, dense, diffuse]).astype(np.float32)


@pytest.mark.parametrize("lean", [False, True])
def test_core_distances_of_unsettled_rows_equal_row_wise_and_hdbscan(
    monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    from sklearn.neighbors import KDTree

    x = unsettled_rows_data()
    x64, n = x.astype(np.float64), len(x)
    redone: list[int] = []
    batched = distances.full_row_core_distances
    monkeypatch.setattr(
        distances, "full_row_core_distances", lambda *a: redone.append(a[3].size) or batched(*a)
    )
    tree = build_tree(x, min_samples=5, lean=lean)
    assert len(redone) == 1 and redone[0] >= 300  # most rows at once, not one at a time
    # the former path: each such row's exact distances to all points, sorted
    row_wise = np.array([np.sort(distances.exact_distances(x64, i, np.arange(n)))[5] for i in range(n)])
    np.testing.assert_array_equal(tree.core_distances, row_wise)
    # what hdbscan computes: a KD-tree query for min_samples + 1 neighbours (the point itself included)
    kd = KDTree(x64).query(x64, k=6, dualtree=True, breadth_first=True)[0][:, -1]
    np.testing.assert_array_equal(tree.core_distances, kd)
    np.testing.assert_array_equal(tree.merges, reference(x, 5, 5, "leaf").single_linkage_tree_.to_numpy())


@pytest.mark.parametrize("k", [1, 3, 7])
def test_full_row_core_distances_with_tight_bounds_keeps_every_deciding_point(k: int) -> None:
    # The float32 bounds are loose (a worst-case error slope); here they are as tight as valid bounds can be
    # (exact squared distances rounded down to float32), so the pruning threshold itself is what is tested:
    # one point short of the k-th neighbour, or a threshold a hair too low, changes the result.
    rng = np.random.default_rng(k)
    x64 = rng.normal(size=(300, 16))
    x64[50:60] = x64[40:50]  # duplicates: tied distances
    n = len(x64)
    d2 = np.stack([distances.exact_distances(x64, i, np.arange(n)) ** 2 for i in range(n)])
    key = np.nextafter(d2.astype(np.float32), np.float32(-np.inf))  # <= d2, within 2 float32 ulps
    np.fill_diagonal(key, -3.0e38)
    width = 2.0**-21 * (x64**2).sum(axis=1)  # 2 ulps of d2 <= 2**-22 * 2 (|x_i|^2 + |x_j|^2)
    rows = np.arange(n)
    off = ~np.eye(n, dtype=bool)  # the diagonal is a marker (each point its own first neighbour)
    assert np.all(key <= d2) and np.all((d2 <= key + width[:, None] + width[None, :])[off])  # valid bounds
    got = distances.full_row_core_distances(x64, key, width, rows, k)
    row_wise = np.sort(np.sqrt(d2), axis=1)[:, k]
    np.testing.assert_array_equal(got, row_wise)


def test_low_dimensional_matches_hdbscan_prims() -> None:
    # For <= 60 features hdbscan's default is Boruvka with an *approximate* MST (approx_min_span_tree=True);
    # its exact Prim's path gives our result bit for bit, its default agrees closely.
    x = activation_like(1000, 8, seed=3)
    res = hdbscan_fit(x, min_cluster_size=10, min_samples=5, method="eom")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prims = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5, algorithm="prims_kdtree").fit(x)
    np.testing.assert_array_equal(res.labels, prims.labels_)
    np.testing.assert_array_equal(res.probabilities, prims.probabilities_)
    assert adjusted_rand_score(reference(x, 10, 5, "eom").labels_, res.labels) >= 0.95


def test_duplicate_points_match_hdbscan() -> None:
    # Zero distances give infinite lambdas (hdbscan then reports persistence 1.0 and probability 1.0).
    x = activation_like(300, 96, seed=4)
    x = np.concatenate([x, x[:40]])
    ref = reference(x, 5, 3, "leaf")
    res = select_clusters(build_tree(x, min_samples=3), 5, "leaf")
    np.testing.assert_array_equal(res.labels, ref.labels_)
    np.testing.assert_array_equal(res.probabilities, ref.probabilities_)
    np.testing.assert_array_equal(res.outlier_scores, ref.outlier_scores_)
    np.testing.assert_array_equal(res.persistence, ref.cluster_persistence_)


def test_recovers_known_blobs() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 6, 900)
    centers = rng.normal(scale=4.0, size=(6, 128))
    x = centers[truth] + rng.normal(scale=0.5, size=(900, 128))
    for method in ("eom", "leaf"):
        res = hdbscan_fit(x, min_cluster_size=20, min_samples=5, method=method)
        assert res.n_clusters == 6
        assert adjusted_rand_score(truth, res.labels) >= 0.9


def test_reselection_from_cached_tree_equals_full_fit() -> None:
    x = _DATA[512]
    cached = tree_for(512, 5)
    for mcs in (5, 8, 20):
        for method in ("leaf", "eom"):
            again = select_clusters(cached, mcs, method)
            fresh = select_clusters(build_tree(x, min_samples=5), mcs, method)
            for field in (
                "labels",
                "probabilities",
                "outlier_scores",
                "persistence",
                "stability",
                "condensed_tree",
                "cluster_ids",
            ):
                np.testing.assert_array_equal(getattr(again, field), getattr(fresh, field))
    with pytest.raises(ValueError):
        cached.merges[0, 0] = 1.0  # the cache is read-only, so a caller cannot corrupt later selections


def test_result_fields() -> None:
    res = select_clusters(tree_for(64, 5), 5, "leaf")
    n = len(_DATA[64])
    assert isinstance(res, ClusterResult)
    assert res.labels.dtype == np.int64 and res.labels.shape == (n,)
    assert res.probabilities.shape == res.outlier_scores.shape == (n,)
    assert res.persistence.shape == res.stability.shape == res.cluster_ids.shape == (res.n_clusters,)
    assert res.labels.max() + 1 == res.n_clusters
    assert np.all((res.probabilities >= 0) & (res.probabilities <= 1))
    assert np.all(res.probabilities[res.labels < 0] == 0)
    assert res.condensed_tree.dtype.names == ("parent", "child", "lambda_val", "child_size")
    assert 0 < res.noise_fraction < 1


def test_no_split_gives_all_noise() -> None:
    x = np.random.default_rng(6).normal(size=(40, 70))
    for method in ("leaf", "eom"):
        res = hdbscan_fit(x, min_cluster_size=30, min_samples=3, method=method)
        ref = reference(x, 30, 3, method)
        np.testing.assert_array_equal(res.labels, ref.labels_)
        assert res.n_clusters == ref.labels_.max() + 1


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.zeros((4, 2, 2)), {}, "2-D"),
        (np.zeros(5), {}, "2-D"),
        (np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0]]), {}, "NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 1.0], [2.0, 2.0]]), {}, "NaN or infinite"),
        (np.zeros((1, 3)), {}, "at least 2 samples"),
        (np.zeros((10, 3)), {"min_samples": 0}, "min_samples"),
        (np.zeros((10, 3)), {"min_samples": 2.5}, "min_samples"),
    ],
)
def test_build_tree_errors(x: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        build_tree(x, **kwargs)
    assert "Fix:" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_cluster_size": 1}, "min_cluster_size"),
        ({"min_cluster_size": 31}, "exceeds the number of samples"),
        ({"method": "excess"}, "unknown cluster selection method"),
    ],
)
def test_select_clusters_errors(kwargs: dict, match: str) -> None:
    tree = build_tree(np.random.default_rng(7).normal(size=(30, 3)), min_samples=3)
    with pytest.raises(ValueError, match=match) as err:
        select_clusters(tree, **kwargs)
    assert "Fix:" in str(err.value)
    with pytest.raises(ValueError, match="SingleLinkageTree"):
        select_clusters(np.zeros((29, 4)))  # type: ignore[arg-type]


def test_memory_error_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distances, "available_memory_bytes", lambda: 1024)
    with pytest.raises(MemoryError, match="subsample"):
        build_tree(np.zeros((100, 3)))


def test_min_samples_clamped_like_hdbscan() -> None:
    x = np.random.default_rng(8).normal(size=(6, 70))
    tree = build_tree(x, min_samples=50)
    assert tree.min_samples == 5
    ref = reference(x, 2, 50, "leaf")
    np.testing.assert_array_equal(tree.merges, ref.single_linkage_tree_.to_numpy())


def test_prefaulted_buffer_is_a_writable_populated_mapping_shared_with_torch():
    """The N x N buffer (above 64 MiB: an mmap with MAP_POPULATE on Linux) is written through torch."""
    import mmap

    import torch

    from napwidget.clustering.buffers import PREFAULT_MIN_BYTES, prefaulted_empty

    side = int((PREFAULT_MIN_BYTES / 4) ** 0.5) + 1
    buf = prefaulted_empty((side, side), np.float32)
    assert buf.shape == (side, side) and buf.dtype == np.float32
    torch.from_numpy(buf)[-1, :3].fill_(1.5)
    assert buf[-1, :3].tolist() == [1.5, 1.5, 1.5]
    root = buf
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    root = root.obj if isinstance(root, memoryview) else root
    assert isinstance(root, mmap.mmap) == hasattr(mmap, "MAP_POPULATE")
