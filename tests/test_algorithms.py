"""find_naps(algorithm=...): the exact engine by default, the hdbscan library itself on request or with
parity=True (persistence bit for bit the reference's, also for D <= 60), bad names refused; and the
package metadata leaves the runtime's torch alone."""

from __future__ import annotations

import re
from pathlib import Path

import hdbscan
import numpy as np
import pytest

from napwidget import NapInputError, find_naps, load_naps, persistence_diagram
from napwidget.algorithms import ALGORITHMS

from synthetic import make_blobs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def low_dim():
    # 16 features: hdbscan's default is Boruvka with an approximate MST, where the exact engine differs
    X, y = make_blobs(n_per=80, k=5, dim=16, seed=1, spread=0.5)
    return X, y


def reference(features, **kw):
    """The reference tool's call: hdbscan.HDBSCAN with the NAP defaults, every other argument as it is."""
    params = {"min_cluster_size": 5, "min_samples": 5, "cluster_selection_method": "leaf", **kw}
    return hdbscan.HDBSCAN(metric="euclidean", cluster_selection_epsilon=0.0, **params).fit(features)


def same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist()))
    one_to_one = len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))
    return one_to_one and all((x < 0) == (y < 0) for x, y in pairs)


def test_hdbscan_algorithm_is_the_library_bit_for_bit(low_dim):
    X, y = low_dim
    naps = find_naps(X, normalize="none", algorithm="hdbscan", labels=y)
    ref = reference(naps.features)
    assert naps.algorithm == "hdbscan" and naps.params["algorithm"] == "hdbscan"
    assert np.array_equal(np.sort(naps.persistence), np.sort(ref.cluster_persistence_))  # bitwise
    assert same_partition(naps.labels, ref.labels_)
    assert np.array_equal(naps.probabilities, ref.probabilities_)
    assert np.array_equal(naps.outlier_scores, ref.outlier_scores_)
    assert np.isfinite(naps.stability).all() and (naps.stability > 0).all()
    # the exact engine is the default and differs from hdbscan's approximate MST on this data
    exact = find_naps(X, normalize="none")
    assert exact.algorithm == "exact"
    assert not np.array_equal(np.sort(exact.persistence), np.sort(ref.cluster_persistence_))


def test_parity_runs_hdbscan_unless_told_otherwise(low_dim):
    X, _ = low_dim
    naps = find_naps(X, parity=True, min_cluster_size=8, cluster_selection_method="eom")
    assert naps.algorithm == "hdbscan"
    ref = reference(naps.features, min_cluster_size=8, cluster_selection_method="eom")
    assert np.array_equal(np.sort(naps.persistence), np.sort(ref.cluster_persistence_))
    assert find_naps(X, parity=True, algorithm="exact").algorithm == "exact"


def test_hdbscan_naps_work_downstream(low_dim, tmp_path):
    X, _ = low_dim
    naps = find_naps(X, algorithm="hdbscan")
    diagram = persistence_diagram(naps)  # hdbscan's own tree and MST
    assert int(np.isinf(diagram[:, 1]).sum()) == 1 and (diagram[:, 1] >= diagram[:, 0]).all()
    again = load_naps(naps.save(tmp_path / "h.npz"))
    assert again.algorithm == "hdbscan" and np.array_equal(again.persistence, naps.persistence)


@pytest.mark.parametrize("bad", ["hdbscan ", "fast", "Exact", 3])
def test_unknown_algorithm_is_refused_before_any_work(bad):
    with pytest.raises(
        NapInputError, match=r"unknown algorithm=.*use one of 'auto', 'exact', 'approximate', 'hdbscan'"
    ):
        find_naps(np.zeros((3, 2)), algorithm=bad)  # 3 inputs would fail later: the name is checked first


def test_dispatch_table_names_every_engine():
    assert set(ALGORITHMS) >= {"auto", "exact", "approximate", "hdbscan"} and all(
        callable(f) for f in ALGORITHMS.values()
    )


def test_metadata_does_not_cap_torch_and_the_cpu_pin_stays_in_the_install_step():
    # the installed metadata is what pip resolves against (an editable install reads pyproject.toml)
    from importlib.metadata import requires

    torch_req = next(r for r in requires("napwidget") if re.match(r"torch\b", r))
    assert not re.search(r"<|==|~=", torch_req), torch_req  # no cap: pip keeps the runtime's torch
    assert 'pip install -q "torch==2.13.0"' in (ROOT / "Makefile").read_text()  # the CPU wheel here
