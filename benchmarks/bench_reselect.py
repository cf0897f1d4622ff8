"""Kernel-less re-selection in the browser's JavaScript engine vs the kernel's, on the same 10k-input tree.

``python benchmarks/bench_reselect.py [--n 10000] [--source resnet|mixture]`` builds the single-linkage tree
the widget would ship (napwidget.reselect_export), then times, for each selection method and min_cluster_size:
the kernel's re-selection (``select_clusters`` + the NAP numbering of ``NAPs``, what a kernel handler runs)
and the JS one (``js/src/reselect``, in node, the V8 engine Chromium uses). It checks both give the same
labels (SHA-1 of the int32 NAP labels). ``--source resnet``: a random-init ResNet-18's layer4 spatial means of
N upsampled sklearn digits (the issue's many-NAP case); ``mixture``: bench_clustering's 10-cluster mixture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def resnet_layer4(n: int) -> np.ndarray:
    """Layer4 spatial means of a random-init ResNet-18 on n digits upsampled to 64x64 (3 channels)."""
    import torch
    from resnet import ResNet18
    from sklearn.datasets import load_digits

    from napwidget import extract

    torch.manual_seed(0)
    digits = load_digits().images.astype(np.float32) / 16.0
    idx = np.random.default_rng(0).integers(0, len(digits), n)
    x = torch.from_numpy(digits[idx])[:, None]
    x = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear").repeat(1, 3, 1, 1)
    acts = extract(ResNet18().eval(), x, ["layer4"], reduce="mean", batch_size=256, cache=None)
    return np.asarray(acts["layer4"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--source", choices=("resnet", "mixture"), default="resnet")
    ap.add_argument("--mcs", default="5,20,50,100")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--tree", type=Path, help="reuse (or write) the packed tree at this path instead of rebuilding"
    )
    args = ap.parse_args()
    from napwidget.clustering import build_tree, select_clusters
    from napwidget.naps import NAPs
    from napwidget.normalize import normalize_features
    from napwidget.reselect_export import tree_bytes, tree_from_bytes

    build_s = float("nan")
    if args.tree is not None and args.tree.exists():
        blob = args.tree.read_bytes()
        tree = tree_from_bytes(blob, 5)
        dims = "?"
    else:
        if args.source == "resnet":
            x = normalize_features(resnet_layer4(args.n), "unit")
        else:
            from bench_clustering import make_data

            x = make_data(args.n, 512)
        t = time.perf_counter()
        tree = build_tree(x, min_samples=5)
        build_s = time.perf_counter() - t
        blob = tree_bytes(tree)
        dims = x.shape[1]
        if args.tree is not None:
            args.tree.write_bytes(blob)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(blob)
    try:
        out = subprocess.run(
            ["node", str(ROOT / "benchmarks" / "bench_reselect.mjs"), f.name, str(args.repeats), args.mcs],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(f.name)
    js = [json.loads(line) for line in out.splitlines() if line.strip()]
    print(
        f"source={args.source} N={tree.n_samples} x {dims}; tree built in {build_s:.1f} s; "
        f"shipped tree {len(blob) / 1e3:.0f} kB ({len(blob) * 4 / 3 / 1e3:.0f} kB base64); "
        f"JS decode {js[0]['decode_ms']:.1f} ms; load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| method | min_cluster_size | NAPs | kernel re-select (ms) | JS re-select (ms) "
        "| JS whole answer (ms) | same labels |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    feats = np.zeros((tree.n_samples, 1), dtype=np.float32)
    for row in js:
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            naps = NAPs(select_clusters(tree, row["mcs"], row["method"]), feats)
            times.append(time.perf_counter() - t)
        digest = hashlib.sha1(np.ascontiguousarray(naps.labels, dtype="<i4").tobytes()).hexdigest()
        same = "yes" if digest == row["labels_sha1"] and naps.n_naps == row["n_naps"] else "NO"
        print(
            f"| {row['method']} | {row['mcs']} | {naps.n_naps} | {1e3 * float(np.median(times)):.1f} "
            f"| {row['ms']:.1f} | {row['apply_ms']:.1f} | {same} |"
        )


if __name__ == "__main__":
    main()
