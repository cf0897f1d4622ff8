"""Extraction throughput: napwidget.extract (hooks on layer1-4) vs the plain loop a user would write.

Baseline: ``with torch.no_grad(): for batch: model(batch)`` — no hooks, nothing kept.
Prints a markdown table; median of --repeats runs. ResNet-18 architecture with random weights.

    python benchmarks/bench_extract.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resnet import ResNet18  # noqa: E402

from napwidget import extract  # noqa: E402


def plain_loop(model, x, batch_size):
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ResNet18().eval()
    layers = ["layer1", "layer2", "layer3", "layer4"]
    cases = [(64, 512 if not args.quick else 128), (224, 128 if not args.quick else 32)]
    bs = 64
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {args.threads}"
    )
    print("| input | N | plain loop (img/s) | extract, 4 hooks (img/s) | speed-up |")
    print("|---|---|---|---|---|")
    for size, n in cases:
        x = torch.rand(n, 3, size, size)
        plain_loop(model, x[:bs], bs)  # warm-up
        extract(model, x[:bs], layers, batch_size=bs, progress=False)
        t_plain = timed(lambda x=x: plain_loop(model, x, bs), args.repeats)
        t_ext = timed(lambda x=x: extract(model, x, layers, batch_size=bs, progress=False), args.repeats)
        print(
            f"| {size}x{size} | {n} | {n / t_plain:.0f} | {n / t_ext:.0f} | {t_plain / t_ext:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
