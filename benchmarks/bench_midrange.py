"""Benchmark: does mid-range curation beat random curation and JTT at last-layer retraining?

Settings (``--setting``): ``digits`` (augmented spurious digits, 20 groups, ~20k-input pool) and ``binary``
(digits 0-4 vs 5-9 on horizontal vs vertical stripes, 4 groups: Waterbirds-like). Per seed a DigitsCNN is
trained once on the fit half; its pool / test features are cached (``--cache``); every row refits the head
only (``napwidget.midrange.benchmark``). Rows: plain, pool, midrange, midrange_weighted, random,
random_weighted, top, jtt, oracle.

    python benchmarks/bench_midrange.py --setting binary --seeds 0 1 2 --json out.json

writes ``{"rows": {name: {"worst_group": [per seed], "average": [per seed]}}, "seeds": [...], ...}`` and
prints a markdown table: means, share of the plain -> oracle worst-group gap, paired bootstrap 95 % CIs.
``--dev`` instead runs the grid of choices (bands, up-weights) on development seeds and prints its table.
"""

from __future__ import annotations

import os

# One BLAS thread: on a shared 2-core machine a spinning multi-threaded BLAS makes each head refit ~10x
# slower.
# Set one per call (not in a loop) so that the imports below still count as the module's import block.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import functools
import itertools
import json
import multiprocessing
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

# Epochs of the feature extractor per setting (fixed for cost, not tuned; see benchmarks/README.md).
EPOCHS = {"digits": 2, "binary": 2}
# Bands and up-weights per setting, each the best of its grid on development seeds 100-102
# (benchmarks/README.md).
CHOICES = {
    "binary": {
        "subset_bands": (0.0, 0.5),
        "weighted_bands": (0.0, 0.05),
        "upweight": 19.0,
        "jtt_upweight": 39.0,
    },
    "digits": {
        "subset_bands": (0.0, 0.25),
        "weighted_bands": (0.0, 0.05),
        "upweight": 9.0,
        "jtt_upweight": 19.0,
    },
}
LABELS = {
    "plain": "plain model (no retraining)",
    "pool": "whole pool, uniform",
    "midrange": "mid-range subset",
    "midrange_weighted": "whole pool, mid-range up-weighted",
    "random": "random subset (same size as mid-range)",
    "random_weighted": "whole pool, as many random up-weighted (same weights)",
    "top": "top-logit subset (same size)",
    "jtt": "JTT (error set up-weighted)",
    "oracle": "oracle (group-balanced pool)",
}


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def run_seeds(
    setting: str, seeds: list[int], epochs: int, cache: str | None, choices, log, jobs: int = 1, **feature_kw
) -> dict:
    """Every row for every seed (seeds in ``jobs`` worker processes), in the order of ``seeds``."""
    from napwidget.midrange.benchmark import ROWS

    rows: dict[str, dict[str, list[float]]] = {k: {"worst_group": [], "average": []} for k in ROWS}
    extra: dict[str, dict[str, list[float]]] = {k: {"n": [], "minority_share": []} for k in ROWS}
    loads = []
    job = functools.partial(
        _one_seed, setting, epochs=epochs, cache=cache, choices=choices, feature_kw=feature_kw
    )
    with multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 else contextlib.nullcontext() as pool:
        results = pool.imap(job, seeds) if pool is not None else map(job, seeds)
        for seed, (r, secs) in zip(seeds, results):
            _collect(rows, extra, r)
            loads.append(load_average())
            log(
                f"{setting} seed {seed}: {secs:.0f} s, load {loads[-1]}; worst-group "
                + ", ".join(f"{k} {r[k]['worst_group']:.3f}" for k in ROWS)
            )
    return {"rows": rows, "details": extra, "loads": loads}


def _one_seed(
    setting: str, seed: int, *, epochs: int, cache: str | None, choices, feature_kw: dict
) -> tuple[dict, float]:
    import torch

    from napwidget.midrange.benchmark import benchmark_rows, seed_features

    torch.set_num_threads(1)
    t = time.perf_counter()
    sf = seed_features(setting, seed, epochs=epochs, cache_dir=cache, **feature_kw)
    return benchmark_rows(sf, choices, seed=seed), time.perf_counter() - t


def _collect(rows: dict, extra: dict, r: dict) -> None:
    from napwidget.midrange.benchmark import ROWS

    for k in ROWS:
        for m in rows[k]:
            rows[k][m].append(r[k][m])
        for m in extra[k]:
            extra[k][m].append(r[k][m])


def print_table(setting: str, seeds: list[int], result: dict) -> None:
    from napwidget.midrange.benchmark import ROWS, summarize

    s = summarize(result)
    print(f"\n### {setting}: {len(seeds)} seeds {seeds}\n")
    print("| row | n | minority share (of weight) | average | worst group | share of gap |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in ROWS:
        d = result["details"][k]
        share = np.nanmean(d["minority_share"]) if k != "plain" else float("nan")
        print(
            f"| {LABELS[k]} | {np.mean(d['n']):.0f} | {'-' if k == 'plain' else f'{share:.3f}'} | "
            f"{s['mean'][k]['average']:.3f} | {s['mean'][k]['worst_group']:.3f} | {s['gap_share'][k]:.0%} |"
        )
    print("\n| paired difference (worst group) | mean | 95 % bootstrap CI |\n|---|---:|---|")
    for name, (m, lo, hi) in s["paired"].items():
        print(f"| {name} | {m:+.3f} | [{lo:+.3f}, {hi:+.3f}] |")


def dev_grid(setting: str, seeds: list[int], epochs: int, cache: str | None, log, **feature_kw) -> None:
    """Mean worst-group accuracy on dev seeds of each candidate (bands, up-weights); each refit once."""
    from napwidget.midrange.benchmark import Choices, benchmark_rows, seed_features

    base = Choices()
    variants: list[tuple[str, Choices, tuple[str, ...]]] = [("defaults", base, tuple(LABELS))]
    variants.append(
        ("subset band (0, 0.25)", Choices(subset_bands=(0.0, 0.25)), ("midrange", "random", "top"))
    )
    for wb, u in itertools.product([(0.0, 0.05), (0.0, 0.1), (0.0, 0.25)], [3.0, 9.0]):
        if (wb, u) != (base.weighted_bands, base.upweight):
            variants.append(
                (
                    f"weighted band {wb}, up-weight {u:g}",
                    Choices(weighted_bands=wb, upweight=u),
                    ("midrange_weighted", "random_weighted"),
                )
            )
    for u in (3.0, 19.0):
        variants.append((f"JTT up-weight {u:g}", Choices(jtt_upweight=u), ("jtt",)))
    feats = {}
    for s in seeds:
        feats[s] = seed_features(setting, s, epochs=epochs, cache_dir=cache, **feature_kw)
        log(f"{setting}: dev seed {s} features ready, load {load_average()}")
    print(f"\n### dev grid, {setting}, seeds {seeds}, epochs {epochs}\n")
    print(
        "| choice | row | worst group, mean (per seed) | average | minority share |\n|---|---|---|---:|---:|"
    )
    for label, c, only in variants:
        rs = [benchmark_rows(feats[s], c, seed=s, only=only) for s in seeds]
        for k in rs[0]:
            wg = [r[k]["worst_group"] for r in rs]
            print(
                f"| {label} | {k} | {np.mean(wg):.3f} ({' / '.join(f'{v:.3f}' for v in wg)}) | "
                f"{np.mean([r[k]['average'] for r in rs]):.3f} | "
                f"{np.mean([r[k]['minority_share'] for r in rs]):.3f} |",
                flush=True,
            )
        log(f"{setting}: {label} done, load {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=["digits", "binary"], default="binary")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--json", type=Path, help="write the per-seed rows here")
    parser.add_argument(
        "--epochs", type=int, help="feature extractor epochs (default: the setting's chosen value)"
    )
    parser.add_argument(
        "--cache", default=os.environ.get("NAPWIDGET_CACHE"), help="folder for cached features"
    )
    parser.add_argument(
        "--dev", action="store_true", help="run the grid of choices on these (development) seeds"
    )
    parser.add_argument("--fit-size", type=int, default=8000, help="images the feature extractor trains on")
    parser.add_argument(
        "--copies", type=int, help="augmented images per train digit (default: the setting's)"
    )
    parser.add_argument(
        "--test-copies", type=int, help="augmented images per test digit (default: the setting's)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in this many processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from napwidget.midrange.benchmark import Choices

    choices = Choices(**CHOICES[args.setting])
    epochs = args.epochs or EPOCHS[args.setting]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data_kw = {k: v for k, v in (("copies", args.copies), ("test_copies", args.test_copies)) if v is not None}
    feature_kw = {"fit_size": args.fit_size, "data_kwargs": data_kw}
    if args.dev:
        dev_grid(args.setting, args.seeds, epochs, args.cache, log, **feature_kw)
        return
    t0 = time.perf_counter()
    result = run_seeds(
        args.setting, args.seeds, epochs, args.cache, choices, log, jobs=args.jobs, **feature_kw
    )
    total = time.perf_counter() - t0
    result.update(
        {
            "setting": args.setting,
            "seeds": args.seeds,
            "epochs": epochs,
            "fit_size": args.fit_size,
            "data_kwargs": data_kw,
            "choices": vars(choices),
            "machine": f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, torch "
            f"{torch.__version__}, numpy {np.__version__}, {args.threads} torch thread(s)",
            "seconds": round(total, 1),
        }
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    print(f"{result['machine']}; {total:.0f} s; load averages per seed: {', '.join(result['loads'])}")
    print_table(args.setting, args.seeds, result)


if __name__ == "__main__":
    main()
