"""Benchmark: napwidget.mapper_graph vs KeplerMapper on the same lens, cover and DBSCAN (N = 10k, D = 512).

Prints a markdown table (seconds, best of ``--repeats`` for napwidget; one KeplerMapper run) and checks that
both produce the same node membership sets and edge set. Run: ``python benchmarks/bench_topology.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def activation_blobs(n: int, d: int, k: int = 10, seed: int = 0) -> np.ndarray:
    """ReLU-like activations: k blobs, each firing its own ~30 % of the units, plus 5 % diffuse inputs."""
    rng = np.random.default_rng(seed)
    centers = 3.0 * rng.uniform(size=(k, d)) * (rng.uniform(size=(k, d)) < 0.3)
    n_noise = n // 20
    which = rng.integers(0, k, size=n - n_noise)
    x = centers[which] + rng.normal(scale=0.15, size=(n - n_noise, d))
    x = np.concatenate([x, rng.uniform(0, 3, size=(n_noise, d)) * (rng.uniform(size=(n_noise, d)) < 0.3)])
    return np.maximum(x, 0).astype(np.float32)[rng.permutation(n)]


def kmapper_run(x: np.ndarray, n_intervals: int, overlap: float, eps: float, min_samples: int, metric: str):
    import kmapper as km
    from sklearn.cluster import DBSCAN

    mapper = km.KeplerMapper(verbose=0)
    lens = mapper.fit_transform(x, projection="l2norm", scaler=None)
    return mapper.map(
        lens,
        x,
        clusterer=DBSCAN(eps=eps, min_samples=min_samples, metric=metric),
        cover=km.Cover(n_cubes=n_intervals, perc_overlap=overlap),
    )


def same_graph(g, G) -> bool:
    ours = [frozenset(m.tolist()) for m in g.nodes]
    ids = list(G["nodes"])
    theirs = [frozenset(G["nodes"][k]) for k in ids]
    e_ours = Counter(frozenset((ours[a], ours[b])) for a, b in g.edges.tolist())
    e_theirs = Counter(
        frozenset((theirs[ids.index(a)], theirs[ids.index(b)]))
        for a, ends in G["links"].items()
        for b in ends
    )
    return Counter(ours) == Counter(theirs) and e_ours == e_theirs


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-kmapper", action="store_true")
    args = ap.parse_args()

    from napwidget.topology import auto_eps, mapper_graph, persistence_diagram

    x = activation_blobs(args.n, args.d)
    cases = [  # (n_intervals, overlap, metric)
        (10, 0.3, "euclidean"),
        (10, 0.5, "euclidean"),
        (20, 0.3, "euclidean"),
        (10, 0.3, "cosine"),
    ]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; numpy {np.__version__}; N={args.n}, D={args.d}, float32\n"
    )
    t_eps = {}
    for metric in ("euclidean", "cosine"):
        t_eps[metric], eps = best_of(lambda m=metric: auto_eps(x, min_samples=3, metric=m), args.repeats)
        print(f"auto_eps({metric}) = {eps:.4g}: {t_eps[metric]:.2f} s")
    print()
    print(
        "| intervals | overlap | metric | eps | nodes | edges | napwidget (s) | KeplerMapper (s) "
        "| speed-up | same graph |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for n_int, ov, metric in cases:
        eps = auto_eps(x, min_samples=3, metric=metric)
        params = {"n_intervals": n_int, "overlap": ov, "eps": eps, "min_samples": 3, "metric": metric}
        t_ours, g = best_of(lambda p=params: mapper_graph(x, **p), args.repeats)
        if args.no_kmapper:
            t_km, same = float("nan"), "n/a"
        else:
            t0 = time.perf_counter()
            G = kmapper_run(x, n_int, ov, eps, 3, metric)
            t_km = time.perf_counter() - t0
            same = "yes" if same_graph(g, G) else "NO"
        print(
            f"| {n_int} | {ov} | {metric} | {eps:.3g} | {g.n_nodes} | {g.n_edges} | {t_ours:.2f} | "
            f"{t_km:.2f} | {t_km / t_ours:.1f}x | {same} |"
        )
    # H0 from a ready single-linkage tree (what a NAPs already holds): the diagram itself is the cost here.
    from napwidget.clustering import build_tree

    sub = x[: min(len(x), 4000)]
    t_tree, tree = best_of(lambda: build_tree(sub, min_samples=5), 1)
    t_h0, d = best_of(lambda: persistence_diagram(tree), args.repeats)
    print(
        f"\npersistence_diagram(dim=0) from a tree of N={len(sub)}: {t_h0 * 1000:.0f} ms "
        f"({len(d)} bars; building the tree itself, done once by find_naps: {t_tree:.2f} s)"
    )


if __name__ == "__main__":
    main()
