"""Extraction throughput: napwidget.extract (hooks on layer1-4) and its options vs a plain no_grad loop.

Baseline: ``with torch.no_grad(): for batch: model(batch)`` — contiguous memory, no hooks, nothing kept.
Variants: ``extract`` with its defaults (channels-last on CPU except tiny 2x2 maps, inference mode, eval
BatchNorms folded into their convolutions, one pass at a time), ``fold_batchnorm=False``, ``workers=2`` (two
half-batch passes side by side), ``autocast="bf16"`` and ``compile=True`` (its one-off compilation timed
apart), all at the same batch size. ResNet-18 architecture with random weights.

The variants run interleaved (each repeat runs all of them in a shuffled order), so load from other processes
hits them alike; a ratio is the median over repeats of ``baseline time / variant time`` in the same repeat.
Two ratios: wall clock, and CPU time of this process (steadier on a shared machine, but with more than one
thread it also counts threads spinning while the other is descheduled). ``--threads 1`` gives the cleanest
CPU-time numbers. ``--precision`` also reports what bf16 autocast does to activations and NAP labels.

    python benchmarks/bench_extract.py [--quick] [--threads 1] [--precision] [--no-compile] [--no-bf16]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resnet import ResNet18  # noqa: E402

from napwidget import extract  # noqa: E402

LAYERS = ["layer1", "layer2", "layer3", "layer4"]


def plain_loop(model, x, batch_size):
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])


def interleaved(variants: dict[str, Callable[[], None]], repeats: int) -> dict[str, tuple[list, list]]:
    """(wall times, CPU times) of each variant, run in a shuffled order in every repeat."""
    out: dict[str, tuple[list, list]] = {k: ([], []) for k in variants}
    names = list(variants)
    for r in range(repeats):
        random.Random(r).shuffle(names)
        for k in names:
            wall, cpu = time.perf_counter(), time.process_time()
            variants[k]()
            out[k][0].append(time.perf_counter() - wall)
            out[k][1].append(time.process_time() - cpu)
    return out


def ratio(base: list[float], other: list[float]) -> float:
    return statistics.median(b / o for b, o in zip(base, other))


def speed_table(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    model = ResNet18().eval()
    cases = [(64, 512 if not args.quick else 128), (224, 128 if not args.quick else 32)]
    bs = args.batch_size
    print("| input | N | variant | img/s (wall) | vs plain loop, wall | vs plain loop, CPU time | load |")
    print("|---|---|---|---|---|---|---|")
    for size, n in cases:
        x = torch.rand(n, 3, size, size)
        variants = {
            "plain loop": lambda x=x: plain_loop(model, x, bs),
            "extract": lambda x=x: extract(model, x, LAYERS, batch_size=bs, progress=False),
            "extract fold_batchnorm=False": lambda x=x: extract(
                model, x, LAYERS, batch_size=bs, progress=False, fold_batchnorm=False
            ),
            "extract workers=2": lambda x=x: extract(
                model, x, LAYERS, batch_size=bs, progress=False, workers=2
            ),
        }
        if not args.no_bf16:
            variants["extract autocast=bf16"] = lambda x=x: extract(
                model, x, LAYERS, batch_size=bs, progress=False, autocast="bf16"
            )
        if not args.no_compile:
            variants["extract compile=True"] = lambda x=x: extract(
                model, x, LAYERS, batch_size=bs, progress=False, compile=True
            )
        compile_s = None
        for k, fn in variants.items():  # warm-up; the first compile=True call compiles
            t = time.perf_counter()
            fn()
            if k == "extract compile=True":
                compile_s = time.perf_counter() - t
        times = interleaved(variants, args.repeats)
        load = os.getloadavg()[0]
        base_wall, base_cpu = times["plain loop"]
        for k, (wall, cpu) in times.items():
            note = f" (first call {compile_s:.0f} s)" if k == "extract compile=True" else ""
            print(
                f"| {size}x{size} | {n} | {k}{note} | {n / statistics.median(wall):.1f} | "
                f"{ratio(base_wall, wall):.2f}x | {ratio(base_cpu, cpu):.2f}x | {load:.1f} |",
                flush=True,
            )


def _nap_agreement(a32: np.ndarray, a16: np.ndarray) -> str:
    from sklearn.metrics import adjusted_rand_score

    from napwidget import find_naps

    n32, n16 = find_naps(a32), find_naps(a16)
    ari = adjusted_rand_score(n32.labels, n16.labels)
    same = float(np.mean((n32.labels >= 0) == (n16.labels >= 0)))
    return f"{n32.n_naps} / {n16.n_naps} | {ari:.3f} | {same:.3f}"


def precision_table() -> None:
    """bf16 autocast vs float32 on a trained digits CNN and a random-init ResNet-18 on upsampled digits."""
    import torch.nn.functional as F

    from napwidget.datasets import load_digits_images, train_digits_cnn

    images, _ = load_digits_images()
    x8 = torch.from_numpy(images)
    x32 = F.interpolate(x8, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    torch.manual_seed(0)
    cases = [
        ("DigitsCNN (trained)", train_digits_cnn(), x8, ["conv3", "fc1"]),
        ("ResNet-18 (random init), 32x32", ResNet18().eval(), x32, ["layer3", "layer4"]),
    ]
    print()
    print(
        "| model | layer | max abs error / max abs | median relative error | NAPs fp32 / bf16 | ARI | "
        "same NAP-or-noise |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, model, x, layers in cases:
        a32 = extract(model, x, layers, progress=False)
        a16 = extract(model, x, layers, progress=False, autocast="bf16")
        for layer in layers:
            p, q = a32[layer], a16[layer]
            rel = np.abs(q - p) / np.maximum(np.abs(p), 1e-3 * np.abs(p).max())
            print(
                f"| {name} | {layer} | {np.abs(q - p).max() / np.abs(p).max():.1e} | "
                f"{np.median(rel):.1e} | {_nap_agreement(p, q)} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--no-compile", action="store_true", help="skip the compile=True variant")
    ap.add_argument("--no-bf16", action="store_true", help="skip the autocast=bf16 variant (5x slower here)")
    ap.add_argument("--precision", action="store_true", help="bf16 effect on activations and NAP labels")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {args.threads}, batch size {args.batch_size}, {args.repeats} interleaved repeats"
    )
    speed_table(args)
    if args.precision:
        precision_table()


if __name__ == "__main__":
    main()
