"""``extract(..., engine="ray")``: the chunks run on Ray Data, in an actor pool that holds the model.

Each actor receives the model and the inputs once (the inputs through Ray's object store, zero-copy for
arrays), computes whole chunks and sends them back; the driver writes them into the same activation store
as the local engine, so a killed worker or an interrupted driver loses at most the chunks in flight, and
rerunning the call resumes. Runs on the cluster ``ray.init(address=...)`` connected to, or on a local one
started on demand.
"""

from __future__ import annotations

import copy
import os
import pickle
from typing import Any

import numpy as np
import torch
from torch import nn

from napwidget.activations import _model_device
from napwidget.chunks import ChunkSource
from napwidget.errors import NapInputError
from napwidget.forward import HookedForward
from napwidget.store import ActivationStore

OPTIONS = ("concurrency", "num_cpus", "num_gpus", "threads", "chunks_per_task")
# Chunks per Ray Data task at most: enough to amortise Ray Data's per-block cost, few enough that a killed
# actor loses little work and the progress bar moves.
MAX_CHUNKS_PER_TASK = 16


def _ray():
    try:
        import ray
        import ray.data
    except ImportError:  # pragma: no cover - depends on the install
        raise NapInputError("engine='ray' needs Ray Data", "pip install 'napwidget[scale]'") from None
    return ray


# Ray starts its workers at niceness 15 so that they never starve its own daemons; on a machine shared with
# anything else that puts the extraction behind every normal-priority process (measured here: 8,192 images
# 2.35-4x local extraction's time at load 3-5, the actors computing at a third of their quiet speed). The
# local cluster napwidget starts runs them at 0, the priority local extraction has.
LOCAL_SYSTEM_CONFIG = {"worker_niceness": 0}


def start_local_ray(**init_kwargs: Any) -> None:
    """Start the local Ray cluster that ``extract(..., engine="ray")`` uses when none is connected: no
    dashboard, workers at normal priority (``LOCAL_SYSTEM_CONFIG``). With ``RAY_ADDRESS`` set it connects
    to that cluster instead, whose configuration is its own.

    Example
    -------
    >>> from napwidget.ray_engine import start_local_ray
    >>> start_local_ray(num_cpus=2)  # doctest: +SKIP
    """
    ray = _ray()
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **init_kwargs}
    if not os.environ.get("RAY_ADDRESS") and "address" not in init_kwargs:
        kwargs["_system_config"] = {**LOCAL_SYSTEM_CONFIG, **kwargs.get("_system_config", {})}
    ray.init(**kwargs)


class ChunkWorker:
    """A Ray Data actor: holds the model with its hooks, computes one chunk per call."""

    def __init__(
        self,
        model: nn.Module,
        names: list[str],
        reduce: str,
        forward: dict[str, Any] | None,
        source: list,
        device: str,
        threads: int,
    ) -> None:
        torch.set_num_threads(max(1, threads))
        if isinstance(source[0], ChunkSource):  # already here (in-process use)
            self.source = source[0]
        else:
            import ray

            self.source = ray.get(source[0])
        self.step = HookedForward(model, names, reduce, device, **(forward or {})).__enter__()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from napwidget.store_extract import targets_array

        chunks, payloads = [], []
        for i in batch["chunk"]:
            x, y = self.source.chunk(int(i))
            layers, outputs = self.step(x)
            chunks.append(int(i))
            payloads.append(
                pickle.dumps((layers, outputs, targets_array(y), dict(self.step.shapes)), protocol=5)
            )
        out = np.empty(len(payloads), dtype=object)
        out[:] = payloads
        return {"chunk": np.asarray(chunks, np.int64), "payload": out}


def _plan(ray: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Actor count and resources: one actor per GPU when the cluster has GPUs, else one single-threaded CPU
    actor per CPU of the cluster.

    Why single-threaded: torch's OpenMP threads synchronise at every op, and next to Ray's own processes a
    descheduled thread stalls the rest. Measured here (4,096 64x64 images, ResNet-18, 2 cores): at load ~8,
    with Ray's default worker niceness 15, one actor with 2 torch threads 78 s, two actors with 1 thread
    each 26 s; on a quiet machine, workers at normal priority, 14.4 s against 16.8 s (local: 9.8 s). The
    single-threaded plan is the one that degrades gracefully; 32,768 images took 0.92x local's time with it.
    ``engine_options={"threads": 2}`` gives the other plan."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise NapInputError(f"unknown engine_options {unknown}", f"use some of {list(OPTIONS)}")
    chunks_per_task(1, 1, options)  # a bad value is refused here, before Ray starts any work
    resources = ray.cluster_resources()
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    num_gpus = float(options.get("num_gpus", 1 if gpus >= 1 else 0))
    threads = int(options.get("threads", torch.get_num_threads() if num_gpus > 0 else 1))
    # An actor asks Ray for one CPU by default; its torch threads are set separately.
    num_cpus = float(options.get("num_cpus", 1))
    if num_gpus > 0:
        default_actors = max(1, int(gpus // num_gpus))
    else:
        default_actors = max(1, int(cpus // max(threads, num_cpus)))
    return {
        "concurrency": int(options.get("concurrency", default_actors)),
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "threads": threads,
    }


def chunks_per_task(n_todo: int, concurrency: int, options: dict[str, Any]) -> int:
    """How many chunks one Ray Data task computes: each Ray Data block has a fixed cost, so chunks go in
    groups, still at least 4 tasks per actor so that the actors stay busy to the end. Measured here with
    2 actors and 40 chunks of 0.1 s work: 6.6 s one chunk per task against 5.6 s ten per task on a quiet
    machine; 19 s against 8 s at load ~7 with Ray's default worker niceness (before ``start_local_ray``).
    ``engine_options={"chunks_per_task": k}`` sets it."""
    if "chunks_per_task" in options:
        k = options["chunks_per_task"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise NapInputError(
                f"engine_options chunks_per_task={k!r} is not a positive integer", "use e.g. 1, 4 or 16"
            )
        return k
    return max(1, min(MAX_CHUNKS_PER_TASK, n_todo // (4 * max(1, concurrency))))


def run_on_ray(
    model: nn.Module,
    source: ChunkSource,
    st: ActivationStore,
    todo: list[int],
    reduce: str,
    device: str | torch.device | None,
    forward: dict[str, Any],
    progress: bool | None,
    options: dict[str, Any],
) -> None:
    """Compute chunks ``todo`` on Ray and write each into ``st`` as it arrives."""
    from napwidget.store_extract import with_progress

    ray = _ray()
    if not ray.is_initialized():  # RAY_ADDRESS or a local cluster; ray.init(address=...) before uses that one
        start_local_ray()
    plan = _plan(ray, options)
    ship = model if _model_device(model).type == "cpu" else copy.deepcopy(model).cpu()
    run_device = str(device) if device is not None else ("cuda" if plan["num_gpus"] > 0 else "cpu")
    source_ref = ray.put(source.portable())
    group = chunks_per_task(len(todo), plan["concurrency"], options)
    ds = ray.data.from_items([{"chunk": i} for i in todo], override_num_blocks=-(-len(todo) // group))
    ds = ds.map_batches(
        ChunkWorker,
        fn_constructor_kwargs={
            "model": ship,
            "names": st.layers,
            "reduce": reduce,
            "forward": forward,
            "source": [source_ref],
            "device": run_device,
            "threads": plan["threads"],
        },
        batch_size=group,
        batch_format="numpy",
        concurrency=plan["concurrency"],
        num_cpus=plan["num_cpus"],
        num_gpus=plan["num_gpus"],
    )
    batches = ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2)
    write_results(st, with_progress(batches, len(todo), progress))


def write_results(st: ActivationStore, batches: Any) -> None:
    """Write the chunks in ``ChunkWorker`` output batches into ``st`` (on the driver, as they arrive)."""
    for batch in batches:
        for i, payload in zip(batch["chunk"], batch["payload"]):
            layers, outputs, targets, shapes = pickle.loads(payload)
            st.write_chunk(int(i), layers, outputs, targets, shapes)
