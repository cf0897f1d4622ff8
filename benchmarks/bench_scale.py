"""NAPs at scale: the approximate engine against exact NAPs and the shortcuts users take today.

Cases (each runs in its own subprocess so that peak memory, ``ru_maxrss``, is its own):

* ``approx``  - ``find_naps(algorithm="approximate")`` on an N x D activation-like mixture: time per stage,
  peak RSS, NAPs, re-selection time. Goals: 200k x 512 <= 3 min and <= 6 GiB; 1M x 512 <= 15 min, <= 16 GiB.
* ``agree``   - exact vs approximate NAPs (ARI) at 30k-50k, on the mixture or on real model activations
  (``--data resnet``: random-init ResNet-18, layer4 spatial means of upsampled, jittered sklearn digits), with
  PCA(50)+hdbscan, fast_hdbscan and scikit-learn's HDBSCAN on a subsample side by side (time, ARI vs exact).
  Beyond 60k the exact engine runs row by row (no N x N matrix) and brute-force k-NN is added beside IVF.
* ``mapper``  - ``mapper_graph`` at N x 512 (TopoAct's 300k); KeplerMapper on the same input where it finishes
  within ``--max-baseline-s``.

Examples::

    nice .venv/bin/python benchmarks/bench_scale.py approx --n 200000
    nice .venv/bin/python benchmarks/bench_scale.py agree --n 30000 --data resnet
    nice .venv/bin/python benchmarks/bench_scale.py agree --n 100000 --data resnet --skip-baselines
    nice .venv/bin/python benchmarks/bench_scale.py mapper --n 300000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("NAPWIDGET_BENCH_CACHE", "/tmp/napwidget-bench"))


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_s() -> float:
    """CPU seconds of this process (all threads): on a shared machine wall time / cpu time shows the wait."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def mixture(n: int, d: int = 512, n_clusters: int = 60, seed: int = 0) -> np.ndarray:
    """Activation-like data, made in chunks (float32 only): ReLU'd Gaussian clusters, each firing ~30 % of
    the units at its own strengths, sizes varying 10x, plus 5 % diffuse inputs; like post-ReLU layer means."""
    rng = np.random.default_rng(seed)
    centers = (rng.gamma(2.0, 0.5, (n_clusters, d)) * (rng.random((n_clusters, d)) < 0.3)).astype(np.float32)
    spread = rng.uniform(0.05, 0.25, n_clusters).astype(np.float32)
    weights = rng.uniform(1, 10, n_clusters)
    lab = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        part = (
            centers[lab[start:stop]]
            + rng.standard_normal((stop - start, d), dtype=np.float32) * spread[lab[start:stop], None]
        )
        diffuse = rng.random(stop - start) < 0.05
        part[diffuse] = rng.gamma(1.0, 0.4, (int(diffuse.sum()), d)).astype(np.float32)
        out[start:stop] = np.maximum(part, 0)
    return out


def resnet_activations(n: int, seed: int = 0) -> np.ndarray:
    """layer4 spatial means of a random-init ResNet-18 on n jittered, upsampled (32x32) sklearn digits."""
    path = CACHE / f"resnet_layer4_{n}_{seed}.npy"
    if path.exists():
        return np.load(path)
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    sys.path.insert(0, str(HERE))
    from resnet import ResNet18

    import napwidget

    torch.manual_seed(seed)
    digits = torch.tensor(load_digits().images, dtype=torch.float32) / 16.0
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, len(digits), (n,), generator=g)
    imgs = digits[pick].unsqueeze(1)
    shift = torch.randint(-1, 2, (n, 2), generator=g)
    imgs = torch.stack([torch.roll(im, (int(s[0]), int(s[1])), dims=(1, 2)) for im, s in zip(imgs, shift)])
    imgs = F.interpolate(imgs, size=32, mode="bilinear", align_corners=False)
    imgs = (imgs + 0.05 * torch.randn(imgs.shape, generator=g)).repeat(1, 3, 1, 1)
    model = ResNet18(num_classes=10).eval()
    acts = napwidget.extract(model, imgs, ["layer4"], batch_size=256, cache=None)
    x = np.asarray(acts["layer4"], dtype=np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def load_data(kind: str, n: int, d: int, seed: int) -> np.ndarray:
    return resnet_activations(n, seed) if kind == "resnet" else mixture(n, d, seed=seed)


# ------------------------------------------------------------------------------------------------ cases
def case_approx(a: argparse.Namespace) -> dict:
    from napwidget.clustering import approximate, knn, knn_mst, select_clusters
    from napwidget.normalize import normalize_features

    x = load_data(a.data, a.n, a.d, a.seed)
    t0 = time.perf_counter()
    feats = normalize_features(x)
    del x
    stages: dict[str, float] = {}
    captured: dict[str, object] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            s = time.perf_counter()
            out = fn(*args, **kwargs)
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - s
            captured[name] = out
            return out

        return wrapper

    approximate.make_index = timed("index build", knn.make_index)
    approximate.knn_graph = timed("k-NN search", knn.knn_graph)
    approximate.knn_mst = timed("MST + joins", knn_mst.knn_mst)
    approximate.single_linkage = timed("merges", approximate.single_linkage)
    tree = approximate.build_approximate_tree(feats, min_samples=5, knn=a.knn)
    s = time.perf_counter()
    res = select_clusters(tree, 5, "leaf")
    stages["select"] = time.perf_counter() - s
    total = time.perf_counter() - t0
    stage_times = dict(stages)  # before the optional brute-force run below adds to the same stages
    s = time.perf_counter()
    select_clusters(tree, 10, "leaf")
    reselect = time.perf_counter() - s
    extra = {"knn_recall@16": knn_recall(feats, captured["k-NN search"][0])}
    if a.compare_brute:  # the same engine with exact (brute-force) neighbours: what the index's recall costs
        s = time.perf_counter()
        brute = select_clusters(
            approximate.build_approximate_tree(feats, min_samples=5, knn="brute"), 5, "leaf"
        )
        extra["brute_knn_s"] = time.perf_counter() - s
        extra["ari_vs_brute_knn"] = _ari(brute.labels, res.labels)
    return {
        **extra,
        "n": a.n,
        "d": feats.shape[1],
        "total_s": total,
        "stages": stage_times,
        "reselect_ms": reselect * 1e3,
        "n_naps": res.n_clusters,
        "noise": res.noise_fraction,
        "peak_gib": peak_gib(),
    }


def knn_recall(feats: np.ndarray, idx: np.ndarray, n_queries: int = 500) -> float:
    """Mean recall@k of the k-NN graph ``idx`` on a seeded sample of rows, against exact neighbours."""
    import torch

    rows = np.random.default_rng(1).choice(len(feats), size=min(n_queries, len(feats)), replace=False)
    k = idx.shape[1]
    x = torch.from_numpy(feats)
    truth = torch.topk(torch.cdist(x[torch.from_numpy(rows)], x), k, largest=False).indices.numpy()
    return float(np.mean([len(set(idx[r]) & set(t)) / k for r, t in zip(rows, truth, strict=True)]))


def _ari(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def _row(seconds: float, exact_labels: np.ndarray, labels: np.ndarray) -> tuple:
    """One table row: (wall s, ARI vs exact, NAPs, noise fraction)."""
    return seconds, _ari(exact_labels, labels), int(labels.max() + 1), float((labels < 0).mean())


def case_agree(a: argparse.Namespace) -> dict:
    import napwidget
    from napwidget.clustering.knn import BRUTE_FORCE_MAX

    x = load_data(a.data, a.n, a.d, a.seed)
    out: dict = {"n": len(x), "d": x.shape[1], "data": a.data}
    rows = {}
    t = time.perf_counter()
    exact = napwidget.find_naps(x, algorithm="exact")
    rows["napwidget exact"] = (time.perf_counter() - t, 1.0, exact.n_naps, float((exact.labels < 0).mean()))
    print("progress", rows, file=sys.stderr, flush=True)
    feats = exact.features
    t = time.perf_counter()
    approx = napwidget.find_naps(x, algorithm="approximate")
    rows["napwidget approximate"] = (
        time.perf_counter() - t,
        _ari(exact.labels, approx.labels),
        approx.n_naps,
        float((approx.labels < 0).mean()),
    )
    print("progress", rows, file=sys.stderr, flush=True)
    ivf_tree = _knn_row(feats, exact.labels, rows, "ivf")
    if len(x) > BRUTE_FORCE_MAX:  # "auto" searched with the IVF index above: exact neighbours side by side
        _knn_row(feats, exact.labels, rows, "brute")
    for mcs in (10, 20):
        e = napwidget.find_naps(x, algorithm="exact", min_cluster_size=mcs).labels
        p = napwidget.find_naps(x, algorithm="approximate", min_cluster_size=mcs).labels
        out[f"ari_mcs{mcs}"] = _ari(e, p)  # both trees are cached: re-selection only
        out[f"ari_mcs{mcs}_ivf"] = _ari(e, _select(ivf_tree, mcs))
    print("progress", out, file=sys.stderr, flush=True)
    if not a.skip_baselines:
        rows.update(_baselines(feats, exact.labels, a))
    out["rows"] = rows
    out["peak_gib"] = peak_gib()
    return out


def _select(tree, mcs: int) -> np.ndarray:
    from napwidget.clustering import select_clusters

    return select_clusters(tree, mcs, "leaf").labels


def _knn_row(feats: np.ndarray, exact_labels: np.ndarray, rows: dict, knn: str):
    """The approximate engine with k-NN backend ``knn`` forced at this N: the IVF index that "auto" uses
    beyond 60k inputs (below 60k "auto" searches by brute force), or brute force beyond 60k, so that both are
    measured where exact NAPs exist."""
    from napwidget.clustering.approximate import build_approximate_tree

    t = time.perf_counter()
    tree = build_approximate_tree(feats, min_samples=5, knn=knn)
    lab = _select(tree, 5)
    name = {"ivf": "IVF k-NN", "brute": "brute-force k-NN"}[knn]
    rows[f"napwidget approximate, {name}"] = _row(time.perf_counter() - t, exact_labels, lab)
    print("progress", rows, file=sys.stderr, flush=True)
    return tree


def _baselines(feats: np.ndarray, exact_labels: np.ndarray, a: argparse.Namespace) -> dict:
    import hdbscan
    from sklearn.decomposition import PCA

    rows = {}
    t = time.perf_counter()
    low = PCA(50, random_state=0).fit_transform(feats)
    lab = hdbscan.HDBSCAN(min_cluster_size=5, min_samples=5, cluster_selection_method="leaf").fit(low).labels_
    rows["PCA(50) + hdbscan"] = _row(time.perf_counter() - t, exact_labels, lab)
    print("progress", rows, file=sys.stderr, flush=True)
    # before fast_hdbscan, whose KD-tree in 512-d can take long: a stopped run keeps this row
    from sklearn.cluster import HDBSCAN

    sub = np.random.default_rng(0).choice(len(feats), size=min(a.subsample, len(feats)), replace=False)
    t = time.perf_counter()
    lab = HDBSCAN(min_cluster_size=5, min_samples=5, cluster_selection_method="leaf").fit(feats[sub]).labels_
    rows[f"sklearn HDBSCAN on a {len(sub)} subsample"] = _row(time.perf_counter() - t, exact_labels[sub], lab)
    print("progress", rows, file=sys.stderr, flush=True)
    try:
        import fast_hdbscan

        small = fast_hdbscan.HDBSCAN(min_cluster_size=5, min_samples=5, cluster_selection_method="leaf")
        small.fit(feats[:500])  # numba JIT once, outside the timing
        t = time.perf_counter()
        lab = (
            fast_hdbscan.HDBSCAN(min_cluster_size=5, min_samples=5, cluster_selection_method="leaf")
            .fit(feats)
            .labels_
        )
        rows["fast_hdbscan (JIT excluded)"] = _row(time.perf_counter() - t, exact_labels, lab)
        print("progress", rows, file=sys.stderr, flush=True)
    except ImportError as exc:  # not installed, or (for high-dimensional data) without pynndescent
        rows["fast_hdbscan"] = (f"not run: {exc}"[:160], None, None, None)
    return rows


def case_mapper(a: argparse.Namespace) -> dict:
    import napwidget

    x = load_data(a.data, a.n, a.d, a.seed)
    t = time.perf_counter()
    g = napwidget.mapper_graph(x, n_intervals=10, overlap=0.3)
    out = {
        "n": a.n,
        "d": x.shape[1],
        "napwidget_s": time.perf_counter() - t,
        "nodes": g.n_nodes,
        "edges": len(g.edges),
        "eps": g.eps,
        "peak_gib": peak_gib(),
    }
    if a.max_baseline_s > 0:
        out["kmapper"] = _kmapper_timed(a, g)
    return out


def _kmapper_timed(a: argparse.Namespace, g) -> dict:
    """KeplerMapper on the same lens, cover and DBSCAN, in a child process killed after max_baseline_s."""
    cmd = [
        sys.executable,
        __file__,
        "kmapper",
        "--n",
        str(a.n),
        "--d",
        str(a.d),
        "--seed",
        str(a.seed),
        "--data",
        a.data,
        "--eps",
        repr(float(g.eps)),
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=a.max_baseline_s, check=False)
        if res.returncode != 0:  # e.g. killed for memory: say so instead of failing the whole case
            return {"kmapper_s": f"failed (exit {res.returncode})", "stderr": res.stderr[-500:]}
        got = json.loads(res.stdout.strip().splitlines()[-1])
        nodes = {frozenset(map(int, m)) for m in got.pop("members")}
        got["same_graph"] = nodes == {frozenset(map(int, m)) for m in g.nodes}
        return got
    except subprocess.TimeoutExpired:
        return {"kmapper_s": f"> {a.max_baseline_s} (stopped)"}


def case_kmapper(a: argparse.Namespace) -> dict:
    import kmapper
    from sklearn.cluster import DBSCAN

    x = load_data(a.data, a.n, a.d, a.seed)
    t = time.perf_counter()
    km = kmapper.KeplerMapper(verbose=0)
    lens = km.fit_transform(x, projection="l2norm", scaler=None)
    graph = km.map(
        lens, x, clusterer=DBSCAN(eps=a.eps, min_samples=3), cover=kmapper.Cover(n_cubes=10, perc_overlap=0.3)
    )
    return {"kmapper_s": time.perf_counter() - t, "members": [list(v) for v in graph["nodes"].values()]}


CASES = {"approx": case_approx, "agree": case_agree, "mapper": case_mapper, "kmapper": case_kmapper}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case", choices=sorted(CASES))
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("mixture", "resnet"), default="mixture")
    p.add_argument("--knn", default="auto")
    p.add_argument("--subsample", type=int, default=5000)
    p.add_argument("--skip-baselines", action="store_true")
    p.add_argument("--max-baseline-s", type=float, default=600)
    p.add_argument("--eps", type=float, default=0.0)
    p.add_argument(
        "--compare-brute", action="store_true", help="approx: also with exact k-NN, ARI between them"
    )
    a = p.parse_args()
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    result = CASES[a.case](a)
    result["process_cpu_s"] = cpu_s()
    result["loadavg_start"] = load
    with open("/proc/loadavg") as fh:
        result["loadavg_end"] = fh.read().split()[:3]
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
