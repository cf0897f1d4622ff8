"""Fixtures for the front end's re-selection (js/src/reselect/): trees and the kernel's results for them.

Each data set gives one JSON file in ``js/test/fixtures/reselect/``: the packed single-linkage tree
(:func:`napwidget.reselect_export.tree_bytes`, base64) and, for both selection methods and a range of
``min_cluster_size``, what the kernel computes from it: NAP labels (after :class:`~napwidget.naps.NAPs`'
numbering by persistence), probabilities, GLOSH outlier scores, persistence and stability (float64, base64,
compared bit for bit by vitest). ``tests/test_reselect_fixtures.py`` checks the committed files are current;
``NAPWIDGET_UPDATE_FIXTURES=1`` rewrites them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from napwidget.clustering import SingleLinkageTree, build_tree, select_clusters
from napwidget.naps import NAPs
from napwidget.reselect_export import tree_bytes

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "js" / "test" / "fixtures" / "reselect"
MIN_CLUSTER_SIZES = (2, 3, 5, 8, 13, 30)
METHODS = ("leaf", "eom")


def _blobs(rng: np.random.Generator) -> np.ndarray:
    """Activation-like: sparse non-negative blobs of different spreads in 16 dims, plus diffuse noise."""
    centers = rng.uniform(0, 3, size=(4, 16)) * (rng.uniform(size=(4, 16)) < 0.5)
    parts = [
        c + rng.normal(scale=s, size=(m, 16))
        for c, s, m in zip(centers, (0.05, 0.1, 0.2, 0.4), (60, 50, 40, 30))
    ]
    parts.append(rng.uniform(0, 3, size=(20, 16)))
    return np.maximum(np.concatenate(parts), 0)


def _duplicates(rng: np.random.Generator) -> np.ndarray:
    """Duplicate rows: zero mutual-reachability distances, infinite lambdas (GLOSH/probability edge cases)."""
    base = rng.normal(size=(40, 8))
    reps = rng.integers(1, 8, size=40)
    return np.repeat(base, reps, axis=0)[:180]


def _grid(rng: np.random.Generator) -> np.ndarray:
    """Integer grid points: many tied distances (tie-breaking in the tree, equal lambdas when condensed)."""
    g = np.stack(np.meshgrid(np.arange(12), np.arange(12)), axis=-1).reshape(-1, 2).astype(np.float64)
    g[g[:, 0] >= 6, 0] += 3.0  # two grid halves
    extra = rng.integers(0, 20, size=(36, 2)).astype(np.float64)
    return np.concatenate([g, extra])


def _chain(rng: np.random.Generator) -> np.ndarray:
    """Nested structure: clusters inside clusters at several scales (eom and leaf disagree)."""
    out = []
    for big in range(3):
        for small in range(3):
            c = np.array([big * 10.0, small * 1.5])
            out.append(c + rng.normal(scale=0.2 + 0.1 * small, size=(12 + 4 * small, 2)))
    out.append(rng.uniform(-3, 25, size=(15, 2)))
    return np.concatenate(out)


def _many(rng: np.random.Generator) -> np.ndarray:
    """High-dimensional activation-like data with many small patterns (the many-NAP case real models give)."""
    centers = rng.uniform(0, 2, size=(20, 48)) * (rng.uniform(size=(20, 48)) < 0.3)
    sizes = rng.integers(6, 16, size=20)
    x = np.concatenate(
        [c + rng.normal(scale=rng.uniform(0.05, 0.3), size=(m, 48)) for c, m in zip(centers, sizes)]
    )
    return np.maximum(
        np.concatenate([x, rng.uniform(0, 2, size=(20, 48)) * (rng.uniform(size=(20, 48)) < 0.3)]), 0
    )


DATASETS = {
    "blobs": (_blobs, 5),
    "duplicates": (_duplicates, 5),
    "grid": (_grid, 4),
    "chain": (_chain, 3),
    "many": (_many, 5),
}


def _b64(arr: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode("ascii")


def data_of(name: str) -> np.ndarray:
    make, _ = DATASETS[name]
    return make(np.random.default_rng(sum(map(ord, name))))


def expected_for(tree: SingleLinkageTree) -> list[dict]:
    """The kernel's results for every (method, min_cluster_size) case the fixtures hold."""
    cases = []
    n = tree.n_samples
    for method in METHODS:
        for mcs in MIN_CLUSTER_SIZES:
            if mcs > n:
                continue
            res = select_clusters(tree, min_cluster_size=mcs, method=method)
            naps = NAPs(res, np.zeros((n, 1), dtype=np.float32))
            cases.append(
                {
                    "method": method,
                    "min_cluster_size": mcs,
                    "n_naps": naps.n_naps,
                    "raw_labels": _b64(res.labels, "<i4"),
                    "labels": _b64(naps.labels, "<i4"),
                    "probabilities": _b64(naps.probabilities, "<f8"),
                    "outlier_scores": _b64(naps.outlier_scores, "<f8"),
                    "persistence": _b64(naps.persistence, "<f8"),
                    "stability": _b64(naps.stability, "<f8"),
                    "sizes": naps.sizes.astype(int).tolist(),
                }
            )
    return cases


def fixture_for(name: str) -> dict:
    """The fixture of one data set, built from scratch (tree + the kernel's results)."""
    _, min_samples = DATASETS[name]
    x = data_of(name)
    tree = build_tree(x, min_samples=min_samples)
    return {
        "name": name,
        "n": int(tree.n_samples),
        "min_samples": int(tree.min_samples),
        "tree": base64.b64encode(tree_bytes(tree)).decode("ascii"),
        "cases": expected_for(tree),
    }


def fixture_path(name: str) -> Path:
    return FIXTURE_DIR / f"{name}.json"


def write_all() -> list[Path]:
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in DATASETS:
        path = fixture_path(name)
        path.write_text(json.dumps(fixture_for(name), indent=1) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover - the tests write them with NAPWIDGET_UPDATE_FIXTURES=1
    for p in write_all():
        print(p)
