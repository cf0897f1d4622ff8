"""The front end's re-selection fixtures (js/test/fixtures/reselect/) are current with the engine.

vitest checks the JS re-selection against these files; this test checks the files against the kernel, so
neither side can drift silently. Regenerate with
``NAPWIDGET_UPDATE_FIXTURES=1 pytest tests/test_reselect_fixtures.py``.
"""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
from reselect_fixtures import DATASETS, data_of, expected_for, fixture_path, write_all

from napwidget.clustering import build_tree, select_clusters
from napwidget.reselect_export import tree_bytes, tree_from_bytes

FIX = (
    "regenerate with NAPWIDGET_UPDATE_FIXTURES=1 pytest tests/test_reselect_fixtures.py "
    "and commit js/test/fixtures"
)


@pytest.fixture(scope="module", autouse=True)
def maybe_write():
    if os.environ.get("NAPWIDGET_UPDATE_FIXTURES") == "1":
        write_all()


def _load(name: str) -> dict:
    path = fixture_path(name)
    assert path.exists(), f"{path} is missing: {FIX}"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(DATASETS))
def test_fixture_results_equal_the_engine(name):
    """What the kernel computes today from each stored tree is exactly what the fixture says (bit for bit)."""
    fx = _load(name)
    tree = tree_from_bytes(base64.b64decode(fx["tree"]), fx["min_samples"])
    assert expected_for(tree) == fx["cases"], f"the engine's results changed for {name!r}: {FIX}"


@pytest.mark.parametrize("name", list(DATASETS))
def test_fixture_trees_equal_build_tree(name):
    """Each stored tree is the engine's tree of its data set (same merges; distances to float64 rounding)."""
    fx = _load(name)
    _, min_samples = DATASETS[name]
    fresh = build_tree(data_of(name), min_samples=min_samples)
    stored = tree_from_bytes(base64.b64decode(fx["tree"]), fx["min_samples"])
    assert np.array_equal(fresh.merges[:, :2], stored.merges[:, :2]), f"tree of {name!r} changed: {FIX}"
    np.testing.assert_allclose(fresh.merges[:, 2], stored.merges[:, 2], rtol=1e-12, atol=0)


def test_fixtures_cover_the_edge_cases():
    """The data sets cover what makes selection subtle: infinite lambdas, methods that disagree, many NAPs."""
    dup = _load("duplicates")
    dist = np.frombuffer(base64.b64decode(dup["tree"]), "<f8", offset=8 * (dup["n"] - 1))
    assert (dist == 0).any()  # zero distances -> infinite lambdas
    chain = _load("chain")
    by = {(c["method"], c["min_cluster_size"]): c for c in chain["cases"]}
    assert any(by[("leaf", m)]["labels"] != by[("eom", m)]["labels"] for m in (2, 3, 5, 8))
    many = _load("many")
    assert max(c["n_naps"] for c in many["cases"]) >= 15


def test_packed_tree_round_trips():
    x = data_of("blobs")
    tree = build_tree(x, min_samples=5)
    back = tree_from_bytes(tree_bytes(tree), 5)
    assert np.array_equal(back.merges, tree.merges)
    for mcs, method in ((5, "leaf"), (9, "eom")):
        a, b = select_clusters(tree, mcs, method), select_clusters(back, mcs, method)
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.probabilities, b.probabilities)


def test_unpacking_rejects_a_truncated_tree():
    with pytest.raises(ValueError, match="16 bytes per merge"):
        tree_from_bytes(b"\x00" * 17)
