"""Torch work side by side on Python threads, each running torch with its own small share of the threads.

Why: torch's intra-op (OpenMP) parallelism synchronises its threads at every op. When the cores are shared
with other processes a descheduled thread stalls the rest (a 16 MB copy was measured here at 84 ms with 2
threads against 2 ms with 1), and even on a quiet machine the threads wait for each other at each op's end
(ResNet-18 at 224x224 on 2 cores: one pass with 2 threads 1.30x a plain loop, two half-batch passes with one
thread each 1.55-1.60x). Independent items on separate Python threads need no such barrier. Used by the k-NN
blocks (:mod:`napwidget.clustering.knn`) and by ``extract``'s CPU workers (:mod:`napwidget.forward_workers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch


def run_blocks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    device: torch.device,
    *,
    workers: int | None = None,
    name: str = "napwidget",
) -> list[Any]:
    """``[fn(item) for item in items]``: on CPU from ``workers`` Python threads (default: one per torch
    thread), the torch threads shared out among them; on CUDA (the GPU is the parallel part) in order.

    The thread count is given back afterwards, also when ``fn`` raises or the call is interrupted; the first
    exception of an item is raised here.

    Example
    -------
    >>> run_blocks(lambda v: v * 2, [1, 2, 3], torch.device("cpu"))
    [2, 4, 6]
    """
    threads = torch.get_num_threads()
    workers = threads if workers is None else workers
    if device.type != "cpu" or workers == 1 or len(items) < 2:
        return [fn(item) for item in items]
    torch.set_num_threads(max(1, threads // workers))  # process-wide: the pool's threads run with it
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
            return list(pool.map(fn, items))  # re-raises an item's exception here
    finally:
        torch.set_num_threads(threads)
