"""The kernel's share of a min_cluster_size update, stage by stage (not a test; no browser).

Builds the widget of ``bench_widget.py --scenario resnet`` (a random-init ResNet-18's layer4 spatial means of
N upsampled digits, ``benchmarks/digits_resnet.py``, cached under ``benchmarks/.cache/``) with NAP 0 selected,
gives it a comm that serialises every message as the kernel does (jupyter_client's JSON packer; binary
buffers are counted, not encoded), then times ``w.min_cluster_size = v`` for 5 -> 20 -> 50 -> 100: the whole
trait handler as a front end's update message runs it (``set_state``: re-selection, view models, card
sprite, the views' observers, JSON, sending). Each repeat
shifts the values by one (21, 51, 101, ...) so that no result comes from the explorer's cache.

Per stage: inclusive milliseconds (a stage's time includes the stages it calls), summed over one update,
median over the repeats; the message bytes (JSON / binary) of the update.

    .venv/bin/python benchmarks/bench_handler.py                   # 10k inputs, 5 repeats
    .venv/bin/python benchmarks/bench_handler.py --n 10000 --repeats 9 --profile   # + cProfile top 25
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# (label, module, class, method): wrapped when present, so the script follows the code as it changes
STAGES = [
    ("explorer.set_params (re-selection)", "napwidget.explorer", "Explorer", "set_params"),
    ("explorer.view_model", "napwidget.explorer", "Explorer", "view_model"),
    ("  nap_rows", "napwidget.explorer", "Explorer", "nap_rows"),
    ("  heatmap", "napwidget.explorer", "Explorer", "heatmap"),
    ("  scatter_spec", "napwidget.explorer", "Explorer", "scatter_spec"),
    ("NAPs.means", "napwidget.naps", "NAPs", "means"),
    ("NAPs.stats", "napwidget.naps", "NAPs", "stats"),
    ("card sprite (renderer.render)", "napwidget.renderers", "ImageRenderer", "render"),
    ("sample_table", "napwidget.explorer", "Explorer", "sample_table"),
    ("_push_tree", "napwidget.widget", "NapWidget", "_push_tree"),
    ("detail views", "napwidget.views.detail", "DetailViews", "_detail_on_view"),
    ("topology views", "napwidget.views.topology", "TopologyViews", "_topo_on_view"),
    ("cross-layer views", "napwidget.views.crosslayer", "CrossLayerViews", "_cx_on_view"),
    ("mid-range views", "napwidget.views.midrange", "MidrangeViews", "_mr_on_view"),
    ("comm send (JSON)", None, None, "send"),
]


class Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)

    def wrap(self, label: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ms[label] += (time.perf_counter() - t0) * 1000

        return timed


def instrument(timer: Timer) -> None:
    import importlib
    from functools import cached_property

    for label, mod, cls, name in STAGES:
        if mod is None:
            continue
        owner = getattr(importlib.import_module(mod), cls, None)
        attr = owner.__dict__.get(name) if owner is not None else None
        if attr is None:
            continue
        if isinstance(attr, cached_property):
            wrapped = cached_property(timer.wrap(label, attr.func))
            wrapped.__set_name__(owner, name)
            setattr(owner, name, wrapped)
        elif callable(attr):
            setattr(owner, name, timer.wrap(label, attr))


class PackingComm:
    """A comm that encodes each message as the kernel's session does (JSON; buffers travel as they are)."""

    comm_id = "bench"
    kernel = "bench"  # ipywidgets sends only on a comm with a kernel

    def __init__(self, timer: Timer) -> None:
        self.timer = timer
        self.json_bytes = 0
        self.binary_bytes = 0

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        t0 = time.perf_counter()
        packed = json.dumps(data, ensure_ascii=False, allow_nan=False).encode(
            "utf8", errors="surrogateescape"
        )
        self.json_bytes += len(packed)
        self.binary_bytes += sum(memoryview(b).nbytes for b in buffers or [])
        self.timer.ms["comm send (JSON)"] += (time.perf_counter() - t0) * 1000

    def on_msg(self, *_: Any) -> None: ...
    def on_close(self, *_: Any) -> None: ...
    def close(self, *_: Any, **__: Any) -> None: ...


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--values", default="5,20,50,100", help="min_cluster_size steps (the first is the start)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="also print cProfile's top 25 (cumulative)")
    args = ap.parse_args()
    values = [int(v) for v in args.values.split(",")]

    from digits_resnet import digits_resnet_layer4

    timer = Timer()
    instrument(timer)
    from napwidget.widget import NapWidget

    acts, images, labels = digits_resnet_layer4(args.n)
    t0 = time.perf_counter()
    w = NapWidget.from_activations(
        {"fc": acts},
        images=images,
        labels=labels,
        class_names=[f"class {i}" for i in range(10)],
        min_cluster_size=values[0],
    )
    print(
        f"N={args.n}: widget built in {time.perf_counter() - t0:.1f} s, {w.naps.n_naps} NAPs; load {load()}"
    )
    comm = PackingComm(timer)
    w.comm = comm
    prof = cProfile.Profile() if args.profile else None

    totals: dict[int, list[float]] = defaultdict(list)
    stages: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    sizes: dict[int, tuple[int, int, int]] = {}
    for r in range(args.repeats):
        w.min_cluster_size = values[0] + r
        w.selected_naps = [0]
        for step, v in enumerate(values[1:]):
            timer.ms.clear()
            comm.json_bytes = comm.binary_bytes = 0
            t0 = time.perf_counter()
            if prof is not None:
                prof.enable()
            w.set_state({"min_cluster_size": v + r})  # what a front end's update message runs
            if prof is not None:
                prof.disable()
            totals[step].append((time.perf_counter() - t0) * 1000)
            for label, ms in timer.ms.items():
                stages[step][label].append(ms)
            sizes[step] = (int(w.naps.n_naps), comm.json_bytes, comm.binary_bytes)

    steps = [f"{values[i]}->{values[i + 1]}" for i in range(len(values) - 1)]
    width = max(len(s[0]) for s in STAGES) + 2
    print(f"median over {args.repeats} repeats (values +0..+{args.repeats - 1}); load {load()}")
    print("stage".ljust(width) + "".join(f"{s:>12}" for s in steps))
    print(
        "handler total (ms)".ljust(width) + "".join(f"{statistics.median(totals[i]):>12.1f}" for i in totals)
    )
    print("  slowest repeat".ljust(width) + "".join(f"{max(totals[i]):>12.1f}" for i in totals))
    for label, *_ in STAGES:
        row = [statistics.median(stages[i][label]) if stages[i][label] else 0.0 for i in totals]
        if any(row):
            print(label.ljust(width) + "".join(f"{ms:>12.1f}" for ms in row))
    print("NAPs after".ljust(width) + "".join(f"{sizes[i][0]:>12}" for i in totals))
    print("JSON kB".ljust(width) + "".join(f"{sizes[i][1] / 1e3:>12.1f}" for i in totals))
    print("binary kB".ljust(width) + "".join(f"{sizes[i][2] / 1e3:>12.1f}" for i in totals))
    if prof is not None:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
