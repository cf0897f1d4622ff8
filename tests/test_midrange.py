"""Mid-range kernel: logit bands, band NAPs, curation, last-layer retraining, spurious digits, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napwidget.datasets.digits import DigitsCNN
from napwidget.datasets.spurious import spurious_digits
from napwidget.midrange import (
    band_naps,
    curate,
    evaluate_midrange,
    group_accuracy,
    head_features,
    head_predict,
    logit_bands,
    retrain_last_layer,
)


def _logits(n: int = 500, k: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, k)).astype(np.float32)


# ------------------------------------------------------------------------------------------ bands
def _assert_partition(b, n: int) -> None:
    parts = [b[k] for k in ("low", "mid", "high")]
    assert list(b) == ["low", "mid", "high"]
    allidx = np.concatenate(parts)
    assert len(allidx) == n and np.array_equal(np.sort(allidx), np.arange(n))
    for p in parts:
        assert p.dtype == np.int64 and np.all(np.diff(p) > 0)


@pytest.mark.parametrize("edges", [(1 / 3, 2 / 3), (0.1, 0.9), (0.0, 0.5), (0.5, 1.0), (0.25, 0.26)])
def test_quantile_bands_partition_and_respect_quantiles(edges):
    z = _logits(n=501)
    b = logit_bands(z, 4, bands=edges)
    _assert_partition(b, 501)
    lo, hi = edges
    assert abs(len(b["low"]) / 501 - lo) <= 1 / 501
    assert abs((len(b["low"]) + len(b["mid"])) / 501 - hi) <= 1 / 501
    v = z[:, 4]
    if len(b["low"]) and len(b["mid"]):
        assert v[b["low"]].max() < v[b["mid"]].min()
    if len(b["mid"]) and len(b["high"]):
        assert v[b["mid"]].max() < v[b["high"]].min()


def test_quantile_bands_with_ties_stay_a_partition():
    z = np.repeat(np.arange(5.0), 20)[:, None]  # heavy ties: bands cut between values, never through them
    b = logit_bands(z, 0, bands=(0.3, 0.7))
    _assert_partition(b, 100)
    for name in b:
        assert len(np.unique(z[b[name], 0])) == len(set(z[b[name], 0]))
    assert not set(z[b["low"], 0]) & set(z[b["mid"], 0])


def test_range_and_value_bands():
    z = np.array([0.0, 1.0, 2.0, 5.0, 8.0, 9.0, 10.0])[:, None]
    b = logit_bands(z, 0, bands=(0.25, 0.75), mode="range")  # thresholds 2.5 and 7.5
    assert b.thresholds == (2.5, 7.5)
    assert b["low"].tolist() == [0, 1, 2] and b["mid"].tolist() == [3] and b["high"].tolist() == [4, 5, 6]
    v = logit_bands(z, 0, bands=(1.0, 9.0), mode="value")
    assert v["low"].tolist() == [0] and v["mid"].tolist() == [1, 2, 3, 4] and v["high"].tolist() == [5, 6]
    _assert_partition(logit_bands(_logits(), 2, bands=(-0.5, 0.5), mode="value"), 500)
    assert v.band_of().tolist() == [0, 1, 1, 1, 1, 2, 2]


def test_bands_accept_tensors_and_activations_like_objects():
    z = _logits(60, 3)

    class Acts:
        outputs = z

    a = logit_bands(torch.as_tensor(z), 1)
    b = logit_bands(Acts(), 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "outputs, target, kw, words",
    [
        (np.zeros(10), 0, {}, "(N, K)"),
        (np.zeros((2, 3, 4)), 0, {}, "(N, K)"),
        (np.zeros((0, 3)), 0, {}, "non-empty"),
        (np.zeros((10, 3)), 3, {}, "out of range"),
        (np.zeros((10, 3)), -1, {}, "out of range"),
        (np.zeros((10, 3)), 1.5, {}, "int"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), 0, {}, "NaN"),
        (np.zeros((10, 3)), 0, {"bands": (0.6, 0.4)}, "increasing"),
        (np.zeros((10, 3)), 0, {"bands": (0.5, 0.5)}, "increasing"),
        (np.zeros((10, 3)), 0, {"bands": (0.2, 1.5)}, "[0, 1]"),
        (np.zeros((10, 3)), 0, {"bands": (0.2,)}, "two edges"),
        (np.zeros((10, 3)), 0, {"mode": "zscore"}, "mode"),
    ],
)
def test_bad_band_input_names_problem_and_fix(outputs, target, kw, words):
    with pytest.raises(ValueError) as err:
        logit_bands(outputs, target, **kw)
    assert words in str(err.value) and "Fix:" in str(err.value)


def test_band_naps_members_map_back_to_original_indices():
    rng = np.random.default_rng(0)
    centers = np.eye(8)[:3] * 6
    x = np.concatenate([centers[i] + rng.normal(scale=0.2, size=(30, 8)) for i in range(3)]).astype(
        np.float32
    )
    x = np.maximum(x, 0)
    band = np.arange(0, 90, 2)  # every other input: 15 of each blob
    bn = band_naps({"fc": x}, "fc", band, min_cluster_size=5, labels=np.repeat(np.arange(3), 30))
    assert bn.n_naps >= 2
    members = np.concatenate([bn.members(i) for i in range(bn.n_naps)])
    assert set(members) <= set(band)
    for i in range(bn.n_naps):  # each NAP is one blob, in original coordinates
        assert len(np.unique(bn.members(i) // 30)) == 1
    labels = bn.labels
    assert labels.shape == (90,) and (labels[1::2] == -2).all()
    assert len(bn.persistence) == bn.n_naps  # NAPs attributes pass through
    with pytest.raises(ValueError, match="duplicates"):
        band_naps(x, None, [0, 0, 1])


# --------------------------------------------------------------------------------------- curation
def test_curation_strategies_sizes_and_held_out():
    z = _logits(600, 10, seed=1)
    y = np.random.default_rng(1).integers(0, 10, size=600)
    held = np.arange(0, 600, 3)
    mid = curate(z, y, exclude=held)
    assert len(mid) > 0 and not np.intersect1d(mid.indices, held).size
    for strategy in ("top", "random"):
        c = curate(z, y, strategy=strategy, exclude=held)
        assert len(c) == len(mid), strategy  # same size as mid-range by default
        assert not np.intersect1d(c.indices, held).size
        assert len(np.unique(c.indices)) == len(c)
    for strategy in ("midrange", "top", "random"):
        c = curate(z, y, strategy=strategy, size=50, exclude=held, seed=3)
        assert len(c) == 50 and not np.intersect1d(c.indices, held).size
        assert c.weights.shape == (50,) and np.isclose(c.weights.mean(), 1.0)
    top = curate(z, y, strategy="top", exclude=held, among="class")
    for k in range(10):  # top picks exactly the highest logits of each class's own pool inputs
        chosen = np.sort(top.indices[top.source_class == k])
        pool_k = np.setdiff1d(np.flatnonzero(y == k), held)
        expected = np.sort(pool_k[np.argsort(-z[pool_k, k])[: len(chosen)]])
        assert np.array_equal(chosen, expected)


def test_weighted_curation_covers_the_pool_and_upweights_the_mid_band():
    z = _logits(400, 4, seed=4)
    y = np.random.default_rng(4).integers(0, 4, size=400)
    held = np.arange(0, 400, 5)
    pool = np.setdiff1d(np.arange(400), held)
    mid = curate(z, y, bands=(0, 0.1), exclude=held)
    c = curate(
        z, y, strategy="midrange_weighted", bands=(0, 0.1), upweight=4, weighting="uniform", exclude=held
    )
    assert c.strategy == "midrange_weighted" and np.array_equal(c.indices, pool)
    up = np.isin(c.indices, mid.indices)
    assert np.allclose(c.weights[up] / c.weights[~up].max(), 5.0) and np.allclose(
        c.weights[~up], c.weights[~up][0]
    )
    assert np.array_equal(c.source_class[up], mid.source_class) and (c.source_class[~up] == -1).all()
    assert np.isclose(c.weights.mean(), 1.0)
    # Class-balanced (default): each class gets the same total weight; default band (0, 0.05), upweight 9.
    d = curate(z, y, strategy="midrange_weighted", exclude=held)
    assert np.allclose([d.weights[y[pool] == k].sum() for k in range(4)], d.weights[y[pool] == 0].sum())
    n_mid = len(curate(z, y, bands=(0, 0.05), exclude=held))
    r = curate(z, y, strategy="random_weighted", exclude=held, seed=1)
    assert np.array_equal(r.indices, pool) and (r.source_class == -1).all()
    uw = curate(z, y, strategy="random_weighted", exclude=held, seed=1, weighting="uniform").weights
    assert (uw > uw.min()).sum() == n_mid  # as many up-weighted as the mid-range set holds
    # The subset strategies keep their default band and reject upweight.
    assert len(curate(z, y, exclude=held)) == len(curate(z, y, bands=(0, 0.5), exclude=held))
    with pytest.raises(ValueError, match="upweight"):
        curate(z, y, strategy="midrange", upweight=3)
    with pytest.raises(ValueError, match="upweight"):
        curate(z, y, strategy="midrange_weighted", upweight=-1)


def test_curation_from_a_selection_and_weights():
    z, y = _logits(200, 4, seed=2), np.arange(200) % 4
    sel = np.arange(0, 100)
    c = curate(z, y, selection=sel, exclude=[0, 1, 2])
    assert c.indices.tolist() == list(range(3, 100))
    w = curate(z, y, selection=np.r_[0:40, 40:44], weighting="class_balanced").weights
    ys = y[np.r_[0:44]]
    totals = [w[ys == k].sum() for k in range(4)]
    assert np.allclose(totals, totals[0])  # each class gets equal total weight
    r = curate(z, y, strategy="random", selection=sel, exclude=np.arange(100, 150))
    assert len(r) == 100 and not np.intersect1d(r.indices, np.arange(100, 150)).size


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"strategy": "best"}, "strategy"),
        ({"size": 0}, "size"),
        ({"size": 10_000}, "exceeds"),
        ({"weighting": "inverse"}, "weighting"),
        ({"exclude": [500]}, "exclude"),
        ({"bands": (0.9, 0.1)}, "increasing"),
    ],
)
def test_bad_curation_input(kw, words):
    z, y = _logits(100, 4), np.arange(100) % 4
    with pytest.raises(ValueError) as err:
        curate(z, y, **kw)
    assert words in str(err.value) and "Fix:" in str(err.value)
    with pytest.raises(ValueError, match="labels"):
        curate(z, y[:50])


# --------------------------------------------------------------------------------------- retraining
def test_retrain_last_layer_is_deterministic_and_leaves_model_alone():
    torch.manual_seed(0)
    model = DigitsCNN(in_channels=3)
    before = model.fc2.weight.detach().clone()
    rng = np.random.default_rng(0)
    y = np.arange(300) % 10
    f = (rng.normal(size=(300, 64)) + np.eye(10, 64)[y] * 5).astype(np.float32)
    cur = curate(rng.normal(size=(300, 10)), y, strategy="random", size=200)
    a = retrain_last_layer(model, f, y, cur, seed=1)
    b = retrain_last_layer(model, f, y, cur, seed=1)
    assert torch.equal(a.fc2.weight, b.fc2.weight) and torch.equal(a.fc2.bias, b.fc2.bias)
    assert torch.equal(model.fc2.weight, before) and a is not model
    assert (head_predict(a, f).argmax(1) == y).mean() > 0.95
    # The refit head in the full model equals the head on precomputed features.
    x = torch.rand(5, 3, 8, 8)
    feats, logits = head_features(a, x)
    assert np.allclose(logits, head_predict(a, feats), atol=1e-5)
    with pytest.raises(ValueError, match="columns"):
        retrain_last_layer(model, f[:, :10], y, cur)
    with pytest.raises(ValueError, match="labels"):
        retrain_last_layer(model, f, y + 10, cur)


# ------------------------------------------------------------------------------------ spurious data
def test_spurious_digits_rates_independence_and_determinism():
    for corr in (0.95, 0.6):
        train, test = spurious_digits(correlation=corr, seed=3)
        assert train.images.shape[1:] == (3, 8, 8) and train.images.dtype == np.float32
        assert 0.0 <= train.images.min() and train.images.max() <= 1.0
        for cls in range(10):  # exact per class, up to rounding
            m = train.labels == cls
            assert abs(train.aligned[m].mean() - corr) <= 0.5 / m.sum() + 1e-9
        assert np.array_equal(train.aligned, train.confounder == train.labels % train.n_confounders)
        assert np.array_equal(train.groups, train.labels * train.n_confounders + train.confounder)
        # Test: every digit in every colour, so the colour is exactly independent of the class.
        table = np.zeros((10, test.n_confounders))
        np.add.at(table, (test.labels, test.confounder), 1)
        assert np.allclose(table / table.sum(1, keepdims=True), 1 / test.n_confounders)
        assert not np.intersect1d(train.source, test.source).size
    _, t2 = spurious_digits(0.95, seed=3, balanced_test=False, n_confounders=2)
    table = np.zeros((10, 2))
    np.add.at(table, (t2.labels, t2.confounder), 1)
    from scipy.stats import chi2_contingency

    assert chi2_contingency(table).pvalue > 0.001  # a random draw, independent of the class
    a, b = spurious_digits(0.9, seed=7), spurious_digits(0.9, seed=7)
    assert np.array_equal(a[0].images, b[0].images) and np.array_equal(a[1].groups, b[1].groups)
    assert not np.array_equal(a[0].confounder, spurious_digits(0.9, seed=8)[0].confounder)
    with pytest.raises(ValueError, match="correlation"):
        spurious_digits(1.5)


def test_group_accuracy():
    g = group_accuracy(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), np.array([0, 0, 1, 1]))
    assert g.average == 0.75 and g.worst_group == 0.5 and g.per_group == {0: 1.0, 1: 0.5}
    with pytest.raises(ValueError, match="1-D"):
        group_accuracy(np.zeros(3), np.zeros(4), np.zeros(3))


# ------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def spurious_run():
    """A small seeded instance: the CNN trained on half the spurious train split, the other half as pool."""
    from napwidget.datasets.digits import train_digits_cnn

    train, test = spurious_digits(0.95, seed=0)
    order = np.random.default_rng(1000).permutation(len(train))
    fit, pool = (
        train.subset(np.sort(order[len(train) // 2 :])),
        train.subset(np.sort(order[: len(train) // 2])),
    )
    torch.manual_seed(0)
    model = train_digits_cnn(fit.images, fit.labels, seed=0, model=DigitsCNN(in_channels=3))
    return model, pool, test


def test_confounder_over_represented_in_mid_band(spurious_run):
    """The paper's observation: a class's mid band holds inputs that carry its confounder without being it."""
    model, pool, _ = spurious_run
    _, z = head_features(model, pool.images)
    k = pool.n_confounders
    lifted = []
    for cls in range(10):
        b = logit_bands(z, cls, bands=(0.7, 0.9))  # over all inputs: the mid band sits just under the class
        others = pool.labels != cls
        has_conf = pool.confounder == cls % k
        in_mid = np.zeros(len(pool), bool)
        in_mid[b["mid"]] = True
        base = has_conf[others].mean()
        lifted.append(has_conf[others & in_mid].mean() / base)
    # Other classes' inputs in the mid band carry this class's colour far more often than other classes do
    # overall.
    assert np.mean(lifted) > 1.3 and np.median(lifted) > 1.2


def test_midrange_curation_improves_worst_group(spurious_run):
    model, pool, test = spurious_run
    f_pool, z_pool = head_features(model, pool.images)
    f_test, z_test = head_features(model, test.images)
    plain = group_accuracy(z_test.argmax(1), test.labels, test.groups)
    cur = curate(z_pool, pool.labels)  # no group labels: logits and class labels only
    refit = retrain_last_layer(model, f_pool, pool.labels, cur)
    mid = group_accuracy(head_predict(refit, f_test).argmax(1), test.labels, test.groups)
    assert mid.worst_group > plain.worst_group + 0.05
    assert mid.average >= plain.average - 0.01


def test_evaluate_midrange_rows():
    rows = evaluate_midrange(0.95, seed=0, epochs=2)  # structure only; the benchmark runs the full training
    assert set(rows) == {
        "plain",
        "midrange",
        "top",
        "random",
        "pool",
        "midrange_weighted",
        "random_weighted",
        "oracle",
    }
    assert rows["midrange_weighted"]["n"] == rows["random_weighted"]["n"] == rows["pool"]["n"]
    assert rows["midrange_weighted"]["n_upweighted"] == rows["random_weighted"]["n_upweighted"] > 0
    assert rows["top"]["n"] == rows["midrange"]["n"] == rows["random"]["n"]
    assert all(0.0 <= r["worst_group"] <= r["average"] <= 1.0 for r in rows.values())
