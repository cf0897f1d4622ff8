"""The mid-range curation benchmark: its data settings, JTT curation, paired statistics and the CLI's JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napwidget.datasets import (
    augment_digits,
    augmented_spurious_digits,
    load_digits_images,
    textured_binary_digits,
)
from napwidget.midrange import curate
from napwidget.midrange.benchmark import (
    ROWS,
    Choices,
    benchmark_rows,
    gap_share,
    paired_bootstrap,
    seed_features,
    summarize,
)

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------- data
def test_augment_digits_is_seeded_and_varies_each_image():
    x, _ = load_digits_images()
    a = augment_digits(x[:50], np.random.default_rng(3))
    b = augment_digits(x[:50], np.random.default_rng(3))
    c = augment_digits(x[:50], np.random.default_rng(4))
    assert a.shape == (50, 1, 8, 8) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert (np.abs(a - x[:50]).reshape(50, -1).max(axis=1) > 0.05).all()  # every image changed
    # Still the same digit: each variant is closer to its own source than to most other digits.
    d = ((a.reshape(50, 1, -1) - x[:50].reshape(1, 50, -1)) ** 2).sum(-1)
    assert (np.argsort(d, axis=1)[:, :5] == np.arange(50)[:, None]).any(axis=1).mean() > 0.8


def test_augmented_spurious_digits_groups_rates_and_disjoint_sources():
    train, test = augmented_spurious_digits(7, copies=4, test_copies=2)
    assert train.images.shape[1:] == (3, 8, 8) and len(train) == 4 * len(np.unique(train.source))
    assert not np.intersect1d(train.source, test.source).size  # no test image is a variant of a train digit
    for k in range(10):  # exact per-class rate
        assert abs((train.aligned[train.labels == k]).mean() - 0.95) < 1.5 / (train.labels == k).sum()
    assert np.array_equal(train.groups, train.labels * 2 + train.confounder)
    counts = np.bincount(test.groups, minlength=20)
    assert (counts > 0).all() and len(set(counts[0::2] - counts[1::2])) == 1  # each digit in both colours
    assert test.aligned.mean() == 0.5
    again, _ = augmented_spurious_digits(7, copies=4, test_copies=2)
    assert np.array_equal(again.images, train.images) and np.array_equal(again.confounder, train.confounder)


def test_default_digits_setting_has_the_sizes_the_benchmark_needs():
    train, test = augmented_spurious_digits(0)
    pool_src = np.random.default_rng(1000).permutation(np.unique(train.source))[
        : len(np.unique(train.source)) // 2
    ]
    pool = train.subset(np.flatnonzero(np.isin(train.source, pool_src)))
    assert len(pool) >= 20_000
    assert np.bincount(pool.groups, minlength=20).min() >= 30
    assert np.bincount(test.groups, minlength=20).min() >= 200


def test_textured_binary_digits_is_waterbirds_shaped():
    train, test = textured_binary_digits(1, copies=2, test_copies=1)
    assert train.images.shape[1:] == (1, 8, 8)
    assert set(np.unique(train.labels)) == {0, 1} and set(np.unique(test.groups)) == {0, 1, 2, 3}
    assert abs(train.aligned.mean() - 0.95) < 0.01 and test.aligned.mean() == 0.5
    _, digit_labels = load_digits_images()
    assert np.array_equal(train.labels, (digit_labels[train.source] >= 5).astype(int))
    # Horizontal stripes add change down a column, vertical ones along a row (the strokes add both alike).
    x = train.images[:, 0]
    down, along = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)), np.abs(np.diff(x, axis=2)).mean(axis=(1, 2))
    h = train.confounder == 0
    assert down[h].mean() > down[~h].mean() + 0.05 and along[~h].mean() > along[h].mean() + 0.03


# ------------------------------------------------------------------------------------------- JTT
def test_jtt_upweights_exactly_the_error_set_of_the_whole_pool():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    z = np.eye(3)[y] * 2 + rng.normal(size=(300, 3))
    wrong = z.argmax(1) != y
    held = np.arange(0, 300, 10)
    c = curate(z, y, strategy="jtt", upweight=4, weighting="uniform", exclude=held)
    pool = np.setdiff1d(np.arange(300), held)
    assert c.strategy == "jtt" and np.array_equal(c.indices, pool)
    up = wrong[pool]
    assert 0 < up.sum() < len(pool)
    assert np.allclose(c.weights[up] / c.weights[~up][0], 5.0) and np.allclose(
        c.weights[~up], c.weights[~up][0]
    )
    assert np.array_equal(c.source_class >= 0, up)
    d = curate(z, y, strategy="jtt")  # class-balanced by default, default lambda_up
    assert np.allclose([d.weights[y == k].sum() for k in range(3)], d.weights[y == 0].sum())
    with pytest.raises(ValueError, match="upweight"):
        curate(z, y, strategy="jtt", upweight=-2)


# ------------------------------------------------------------------------------------------- statistics
def test_paired_bootstrap_and_gap_share():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, 12)
    m, lo, hi = paired_bootstrap(base + 0.05 + rng.normal(0, 0.01, 12), base)
    assert lo < m < hi and lo > 0.03 and hi < 0.07
    m0, lo0, hi0 = paired_bootstrap(base + rng.normal(0, 0.1, 12), base)
    assert lo0 < 0 < hi0 or abs(m0) > 0.05  # noise alone rarely clears zero
    assert paired_bootstrap(base, base) == (0.0, 0.0, 0.0)
    assert gap_share(np.array([0.4, 0.6]), np.array([0.2, 0.2]), np.array([0.6, 0.6])) == pytest.approx(0.75)
    assert np.isnan(gap_share(np.array([0.4]), np.array([0.5]), np.array([0.5])))
    with pytest.raises(ValueError, match="seeds"):
        paired_bootstrap(np.array([0.1]), np.array([0.2]))


# ------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_features(tmp_path_factory):
    cache = tmp_path_factory.mktemp("features")
    kw = {"copies": 3, "test_copies": 1}
    return seed_features("binary", 0, epochs=1, fit_size=1500, cache_dir=cache, data_kwargs=kw), cache, kw


def test_seed_features_are_cached_and_rows_complete(tiny_features):
    sf, cache, kw = tiny_features
    again = seed_features("binary", 0, epochs=1, fit_size=1500, cache_dir=cache, data_kwargs=kw)
    assert len(list(cache.glob("*.npz"))) == 1 and np.array_equal(again.f_pool, sf.f_pool)
    assert sf.f_pool.shape[1] == 64 and sf.z_pool.shape[1] == 2 and len(sf.y_test) == len(sf.f_test)
    rows = benchmark_rows(sf, Choices())
    assert tuple(rows) == ROWS
    assert all(0.0 <= r["worst_group"] <= r["average"] <= 1.0 for r in rows.values())
    n_pool = len(sf.y_pool)
    assert (
        rows["pool"]["n"]
        == rows["jtt"]["n"]
        == rows["oracle"]["n"]
        == rows["midrange_weighted"]["n"]
        == n_pool
    )
    assert rows["random"]["n"] == rows["midrange"]["n"] < n_pool
    # The oracle balances groups, so minority inputs hold half the weight of each class.
    assert rows["oracle"]["minority_share"] == pytest.approx(0.5, abs=1e-6)
    assert rows["midrange_weighted"]["minority_share"] > rows["pool"]["minority_share"]


def test_cli_writes_the_json_the_issue_fixes(tmp_path):
    out = tmp_path / "r.json"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_midrange.py"),
        "--setting",
        "binary",
        "--seeds",
        "3",
        "4",
        "--json",
        str(out),
        "--epochs",
        "1",
        "--fit-size",
        "1000",
        "--copies",
        "2",
        "--test-copies",
        "1",
        "--cache",
        str(tmp_path / "cache"),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert list(doc["rows"]) == list(ROWS) and doc["seeds"] == [3, 4]
    for row in doc["rows"].values():
        assert len(row["worst_group"]) == len(row["average"]) == 2
    s = summarize(doc, n_boot=200)
    assert s["gap_share"]["plain"] == pytest.approx(0.0) or np.isnan(s["gap_share"]["plain"])
    assert "| midrange - random |" in proc.stdout and "share of gap" in proc.stdout
