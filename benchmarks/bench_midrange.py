"""Benchmark: mid-range curation vs top-logit, random and oracle last-layer retraining on spurious digits.

For each seed: ``spurious_digits(correlation, seed)``; a DigitsCNN(in_channels=3) trained on half of the train
split; curation sets chosen from the other half (logits and class labels only); the head refit on each; average
and worst-group accuracy on the test split, where the background colour is independent of the class.
Prints a markdown table (mean and per-seed values). Run: ``python benchmarks/bench_midrange.py``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

ROWS = [
    ("plain", "plain model (no retraining)"),
    ("midrange", "mid-range curation"),
    ("top", "top-logit curation (same size)"),
    ("random", "random curation (same size)"),
    ("pool", "whole pool, uniform (reference)"),
    ("midrange_weighted", "whole pool, mid-range (class's lowest 5 %) up-weighted x10"),
    ("random_weighted", "whole pool, as many random inputs up-weighted x10"),
    ("oracle", "oracle: whole pool, group-balanced"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--correlation", type=float, default=0.95)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    from napwidget.midrange import evaluate_midrange

    per_seed = []
    t0 = time.perf_counter()
    for seed in args.seeds:
        t = time.perf_counter()
        per_seed.append(evaluate_midrange(args.correlation, seed))
        print(f"seed {seed}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    total = time.perf_counter() - t0

    def cell(name: str, key: str) -> str:
        vals = [r[name][key] for r in per_seed]
        return f"{np.mean(vals):.3f} ({' / '.join(f'{v:.3f}' for v in vals)})"

    print(f"correlation {args.correlation}, seeds {args.seeds}; {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, numpy {np.__version__}; total {total:.0f} s\n")
    print("| row | n retrained on | minority share | average acc, mean (per seed) | worst-group acc, mean (per seed) |")
    print("|---|---:|---:|---:|---:|")
    for name, label in ROWS:
        n = np.mean([r[name]["n"] for r in per_seed])
        share = np.mean([r[name]["minority_share"] for r in per_seed])
        print(f"| {label} | {n:.0f} | {share:.3f} | {cell(name, 'average')} | {cell(name, 'worst_group')} |")
    wg = {name: np.mean([r[name]["worst_group"] for r in per_seed]) for name, _ in ROWS}
    gap = wg["oracle"] - wg["plain"]
    recovered = (wg["midrange"] - wg["plain"]) / gap if gap > 0 else float("nan")
    for name in ("midrange_weighted", "random_weighted"):
        print(f"{name}: recovers {(wg[name] - wg['plain']) / gap if gap > 0 else float('nan'):.0%} of the gap; "
              f"{np.mean([r[name]['n_upweighted'] for r in per_seed]):.0f} inputs up-weighted; minority share is of the weight.")
    print(f"\nmid-range recovers {recovered:.0%} of the plain -> oracle worst-group gap "
          f"({wg['plain']:.3f} -> {wg['oracle']:.3f}); random recovers "
          f"{(wg['random'] - wg['plain']) / gap if gap > 0 else float('nan'):.0%}, top "
          f"{(wg['top'] - wg['plain']) / gap if gap > 0 else float('nan'):.0%}.")


if __name__ == "__main__":
    main()
