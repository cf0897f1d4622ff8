"""Exact vs approximate engine, row by row: MST rows in Prim order, tie order, and NAP agreement (ARI).

The exact engine's Prim-order MST, core distances and labels (min_cluster_size 5/10/20, leaf) are cached
once per data set (``$NAPWIDGET_BENCH_CACHE/exact_tree_{data}_{n}_{seed}.npz``), so iterating on the
approximate engine costs only its own build. Data as ``bench_scale.py`` (``--data resnet`` or ``mixture``),
normalised as ``find_naps`` does (unit scaling, float32).

Prints one JSON line: rows differing from the exact engine's (same position), edges not in the exact MST,
whether sorted weights and core distances are bitwise equal, tied weights, ARI at min_cluster_size 5/10/20.

Example::

    nice -n 10 .venv/bin/python benchmarks/tie_order.py --n 30000 --data resnet
    nice -n 10 .venv/bin/python benchmarks/tie_order.py --n 30000 --data mixture --knn ivf
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# this checkout's napwidget, also where the virtual environment's editable install points at another one
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_scale import CACHE, load_data  # noqa: E402

MCS = (5, 10, 20)


def _capture(module) -> tuple[dict, object]:
    """Wrap ``module.single_linkage`` so that the MST rows it receives (Prim order) are kept."""
    seen: dict = {}
    original = module.single_linkage

    def wrapper(mst):
        seen["mst"] = mst.copy()
        return original(mst)

    module.single_linkage = wrapper
    return seen, original


def exact_reference(feats: np.ndarray, path: Path) -> dict:
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from napwidget.clustering import linkage, select_clusters

    seen, original = _capture(linkage)
    t = time.perf_counter()
    tree = linkage.build_tree(feats, min_samples=5)
    seconds = time.perf_counter() - t
    linkage.single_linkage = original
    ref = {"mst": seen["mst"], "core": tree.core_distances, "seconds": np.array(seconds)}
    for mcs in MCS:
        ref[f"labels{mcs}"] = select_clusters(tree, mcs, "leaf").labels
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **ref)
    return ref


def compare(ref: dict, mst: np.ndarray, core: np.ndarray, labels: dict) -> dict:
    from sklearn.metrics import adjusted_rand_score

    emst = ref["mst"]
    same_row = (emst == mst).all(axis=1)
    e_edges = {(min(a, b), max(a, b)) for a, b in emst[:, :2].astype(np.int64).tolist()}
    a_edges = {(min(a, b), max(a, b)) for a, b in mst[:, :2].astype(np.int64).tolist()}
    w = mst[:, 2]
    return {
        "rows_differing_in_order": int((~same_row).sum()),
        "first_differing_row": int(np.argmin(same_row)) if not same_row.all() else None,
        "edges_not_in_exact": len(a_edges - e_edges),
        "weights_sorted_bitwise_equal": bool((np.sort(emst[:, 2]) == np.sort(w)).all()),
        "max_weight_diff": float(np.abs(np.sort(emst[:, 2]) - np.sort(w)).max()),
        "core_bitwise_equal": bool((ref["core"] == core).all()),
        "tied_weights": int(w.size - np.unique(w).size),
        **{f"ari_mcs{m}": float(adjusted_rand_score(ref[f"labels{m}"], labels[m])) for m in MCS},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=30_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("mixture", "resnet"), default="resnet")
    p.add_argument("--knn", default="auto")
    a = p.parse_args()

    from napwidget.clustering import approximate, select_clusters
    from napwidget.normalize import normalize_features

    feats = normalize_features(load_data(a.data, a.n, a.d, a.seed))
    ref = exact_reference(feats, CACHE / f"exact_tree_{a.data}_{a.n}_{a.seed}.npz")
    seen, _ = _capture(approximate)
    t = time.perf_counter()
    tree = approximate.build_approximate_tree(feats, min_samples=5, knn=a.knn)
    seconds = time.perf_counter() - t
    labels = {m: select_clusters(tree, m, "leaf").labels for m in MCS}
    out = {"data": a.data, "n": a.n, "knn": a.knn, "exact_s": float(ref["seconds"]), "approx_s": seconds}
    out.update(compare(ref, seen["mst"], tree.core_distances, labels))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
