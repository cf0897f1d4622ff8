"""Activation store: reading a layer back, and extraction into the store (local vs Ray) vs in memory.

    python benchmarks/bench_store.py read [--n 1000000] [--d 512] [--chunk 256]
    python benchmarks/bench_store.py extract [--n 2048] [--size 64] [--ray]

``read``: a store of N x D float32 written chunk by chunk as ``extract(store=...)`` writes it, then
``open_activations(path)[layer]`` (zarr read + CRC check of every chunk + NaN/inf check) against what a user
would otherwise keep: one ``np.save``d matrix read with ``np.load``. Page cache dropped where possible
(root), so reads come from disk.

``extract``: ResNet-18 (random weights, 4 hooked layers) over N random images: in-memory ``extract`` vs
``extract(store=...)`` (local engine) vs ``extract(store=..., engine="ray")`` on a local Ray started here.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resnet import ResNet18  # noqa: E402

from napwidget import extract, open_activations  # noqa: E402
from napwidget.store import ActivationStore  # noqa: E402


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
        return True
    except OSError:
        return False


def bench_read(n: int, d: int, chunk: int, root: Path) -> None:
    path = root / "read.zarr"
    manifest = {
        "model": "synthetic",
        "inputs": None,
        "layers": ["layer4"],
        "reduce": "mean",
        "n": n,
        "chunk_rows": chunk,
    }
    st = ActivationStore.create_or_open(path, manifest)
    rng = np.random.default_rng(0)
    block = np.abs(rng.normal(size=(chunk, d))).astype(np.float32)
    t = time.perf_counter()
    for i in range(st.n_chunks):
        a, b = st.rows(i)
        st.write_chunk(i, {"layer4": block[: b - a] + np.float32(i)}, None, None)
    t_write = time.perf_counter() - t
    ref = np.empty((n, d), np.float32)
    for i in range(st.n_chunks):
        a, b = st.rows(i)
        ref[a:b] = block[: b - a] + np.float32(i)
    np.save(root / "plain.npy", ref)
    del ref
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load before: {_load()}")
    print(
        f"wrote {n:,} x {d} ({n * d * 4 / 2**30:.2f} GiB) in {st.n_chunks} chunks of {chunk} rows: "
        f"{t_write:.1f} s"
    )
    print("| read | cold (s) | warm (s) |")
    print("|---|---|---|")
    rows = {
        "open_activations(path)[layer], CRC + NaN check": lambda: open_activations(path)["layer4"],
        "open_activations(path, verify=False)[layer]": lambda: open_activations(path, verify=False)["layer4"],
        "np.load of one .npy (baseline)": lambda: np.load(root / "plain.npy"),
    }
    for name, fn in rows.items():
        times = []
        for cold in (True, False):
            dropped = _drop_caches() if cold else False
            t = time.perf_counter()
            arr = fn()
            times.append(
                f"{time.perf_counter() - t:.2f}" + ("" if dropped or not cold else " (cache not dropped)")
            )
            assert arr.shape == (n, d)
            del arr
        print(f"| {name} | {times[0]} | {times[1]} |", flush=True)
    print(f"load after: {_load()}")


def bench_extract(n: int, size: int, use_ray: bool, root: Path, repeats: int) -> None:
    torch.manual_seed(0)
    model = ResNet18().eval()
    layers = ["layer1", "layer2", "layer3", "layer4"]
    x = torch.rand(n, 3, size, size)
    bs = 64

    def in_memory():
        return extract(model, x, layers, batch_size=bs, progress=False)

    def to_store(engine: str):
        def run():
            path = root / f"{engine}.zarr"
            shutil.rmtree(path, ignore_errors=True)
            return extract(model, x, layers, batch_size=bs, progress=False, store=path, engine=engine)

        return run

    cases = {"extract (in memory)": in_memory, "extract(store=...), local": to_store("local")}
    if use_ray:
        import ray

        from napwidget.ray_engine import start_local_ray

        start_local_ray(num_cpus=os.cpu_count())  # as extract(engine="ray") starts it when none is running
        ray.data.DataContext.get_current().enable_progress_bars = False
        cases["extract(store=..., engine='ray')"] = to_store("ray")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"load before: {_load()}"
    )
    print(
        f"ResNet-18, {n} x 3 x {size} x {size}, batch {bs}, hooks on {layers}; "
        f"best of {repeats} (rounds interleaved)"
    )
    best = {k: float("inf") for k in cases}
    results = {}
    for _ in range(repeats):
        for name, fn in cases.items():
            t = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    base = best["extract (in memory)"]
    print("| path | time (s) | img/s | vs in memory |")
    print("|---|---|---|---|")
    for name, t in best.items():
        print(f"| {name} | {t:.2f} | {n / t:.0f} | {t / base:.2f}x time |")
    ref = results["extract (in memory)"]
    for name, acts in results.items():
        diff = max(float(np.abs(np.asarray(acts[layer]) - ref[layer]).max()) for layer in layers)
        print(f"max |difference| vs in memory, {name}: {diff:.2e}")
    print(f"load after: {_load()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["read", "extract"])
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to write the stores (default: a temporary directory)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="napwidget-bench-store-", dir=args.dir))
    try:
        if args.what == "read":
            bench_read(args.n or 1_000_000, args.d, args.chunk, root)
        else:
            bench_extract(args.n or 1024, args.size, args.ray, root, args.repeats)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
