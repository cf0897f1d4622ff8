"""Benchmark napwidget.clustering (exact HDBSCAN) against hdbscan and scikit-learn.

Each measurement runs in a fresh subprocess so that peak memory (ru_maxrss) belongs to that case alone.
Prints a markdown table. Baselines whose predicted time exceeds --max-baseline-s are skipped and their time
extrapolated as O(N^2) from the largest measured N of the same library and D (marked "~ ... (extrapolated)").

Usage
-----
    python benchmarks/bench_clustering.py --quick          # 1k and 3k points, a minute or two
    python benchmarks/bench_clustering.py                  # 1k, 10k, 50k x 64, 512 (about 15 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_data(n: int, d: int, seed: int = 0):
    """10-cluster Gaussian mixture, 5 % diffuse noise, ReLU'd, scaled per unit, abs-max normalised."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(10, d))
    x = centers[rng.integers(0, 10, n)] + rng.normal(scale=0.5, size=(n, d))
    n_noise = int(0.05 * n)
    x[:n_noise] = rng.uniform(-3.0, 3.0, size=(n_noise, d))
    x = np.maximum(x, 0.0) * rng.uniform(0.5, 2.0, size=d)  # activation-like: ReLU, per-unit scale
    x /= np.maximum(np.abs(x).max(axis=0), 1e-12)
    return x.astype(np.float32)


def _worker(spec: dict) -> dict:
    """Run one case in this process; return timings, labels file and ru_maxrss."""
    import resource

    import numpy as np

    sys.path.insert(0, str(ROOT))
    x = make_data(spec["n"], spec["d"])
    mcs, ms = spec["min_cluster_size"], spec["min_samples"]
    out: dict = {}
    # Imports happen before the clock starts (torch alone takes seconds to import).
    if spec["lib"] == "napwidget":
        from napwidget.clustering import build_tree, select_clusters
    elif spec["lib"] == "hdbscan":
        import warnings

        import hdbscan

        warnings.filterwarnings("ignore")
    else:
        from sklearn.cluster import HDBSCAN
    t0 = time.perf_counter()
    if spec["lib"] == "napwidget":
        tree = build_tree(x, min_samples=ms)
        t1 = time.perf_counter()
        res = select_clusters(tree, mcs, spec["method"])
        out["build_s"] = t1 - t0
        labels = res.labels
        if spec.get("recluster"):
            for name, kwargs in (
                ("recluster_mcs", {"min_cluster_size": mcs * 2, "method": spec["method"]}),
                ("recluster_method", {"min_cluster_size": mcs, "method": "eom"}),
            ):
                times = []
                for _ in range(20):
                    t = time.perf_counter()
                    select_clusters(tree, **kwargs)
                    times.append(time.perf_counter() - t)
                out[name + "_ms"] = 1e3 * statistics.median(times)
    elif spec["lib"] == "hdbscan":
        model = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms, cluster_selection_method=spec["method"])
        labels = model.fit(x).labels_
    else:
        model = HDBSCAN(min_cluster_size=mcs, min_samples=ms, cluster_selection_method=spec["method"])
        labels = model.fit(x).labels_
    out["total_s"] = time.perf_counter() - t0
    out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    np.save(spec["labels_path"], np.asarray(labels))
    out["n_clusters"] = int(np.asarray(labels).max()) + 1
    out["noise"] = float((np.asarray(labels) < 0).mean())
    return out


def run_case(spec: dict, timeout: float) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes only (1k, 3k)")
    parser.add_argument("--sizes", type=int, nargs="*", help="N values (default 1000 10000 50000)")
    parser.add_argument("--dims", type=int, nargs="*", default=[64, 512])
    parser.add_argument("--min-cluster-size", type=int, default=5)
    parser.add_argument("--min-samples", type=int, default=5)
    parser.add_argument("--method", default="leaf", choices=["leaf", "eom"])
    parser.add_argument("--max-baseline-s", type=float, default=300.0, help="skip baselines predicted slower")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    sizes = args.sizes or ([1000, 3000] if args.quick else [1000, 10000, 50000])
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_clustering_{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    print(
        f"Machine: {machine()}; min_cluster_size={args.min_cluster_size}, min_samples={args.min_samples}, "
        f"method={args.method}\n"
    )
    print(
        "| N x D | napwidget build+select | peak RSS | hdbscan 0.8 | peak RSS | sklearn HDBSCAN | peak RSS "
        "| ARI vs hdbscan | labels equal | clusters / noise |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    last: dict = {}
    recluster = None
    for d in args.dims:
        for n in sizes:
            row, labels = {}, {}
            for lib in ("napwidget", "hdbscan", "sklearn"):
                spec = dict(
                    lib=lib,
                    n=n,
                    d=d,
                    min_cluster_size=args.min_cluster_size,
                    method=args.method,
                    min_samples=args.min_samples,
                    labels_path=str(tmp / f"{lib}_{n}_{d}.npy"),
                    recluster=(lib == "napwidget" and n == 10000 and d == 512),
                )
                prev = last.get((lib, d))
                predicted = prev[1] * (n / prev[0]) ** 2 if prev else 0.0
                if lib != "napwidget" and predicted > args.max_baseline_s:
                    row[lib] = {"extrapolated": predicted}
                    continue
                res = run_case(spec, timeout=max(600.0, 3 * predicted))
                row[lib] = res
                if res and "total_s" in res:
                    last[(lib, d)] = (n, res["total_s"])
                    labels[lib] = np.load(spec["labels_path"])
                    if lib == "napwidget" and "recluster_mcs_ms" in res:
                        recluster = res

            def fmt(r: dict | None) -> tuple[str, str]:
                if not r:
                    return "-", "-"
                if "extrapolated" in r:
                    return f"~{r['extrapolated']:.0f} s (extrapolated, skipped)", "-"
                if "total_s" not in r:
                    return ("timeout" if r.get("timeout") else f"error: {r.get('error')}"), "-"
                return f"{r['total_s']:.2f} s", f"{r['peak_gib']:.2f} GiB"

            ari = eq = "-"
            if "napwidget" in labels and "hdbscan" in labels:
                ari = f"{adjusted_rand_score(labels['hdbscan'], labels['napwidget']):.4f}"
                eq = str(bool(np.array_equal(labels["hdbscan"], labels["napwidget"])))
            nw = row.get("napwidget") or {}
            cn = f"{nw.get('n_clusters', '-')} / {100 * nw.get('noise', 0):.1f} %" if "total_s" in nw else "-"
            cells = [*fmt(row.get("napwidget")), *fmt(row.get("hdbscan")), *fmt(row.get("sklearn"))]
            print(f"| {n // 1000}k x {d} | " + " | ".join(cells) + f" | {ari} | {eq} | {cn} |", flush=True)
    if recluster:
        print(
            f"\nRe-cluster from the cached tree at 10k x 512 (median of 20): min_cluster_size "
            f"{args.min_cluster_size}->{2 * args.min_cluster_size}: {recluster['recluster_mcs_ms']:.1f} ms; "
            f"method {args.method}->eom: {recluster['recluster_method_ms']:.1f} ms; "
            f"full refit (build_tree): {recluster['build_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
