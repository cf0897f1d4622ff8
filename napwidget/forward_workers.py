"""CPU forward passes side by side: one batch runs as W sub-batches on W threads, each with its own share of
the torch threads.

Why: on a CPU, one forward pass with all threads parallelises inside each op, and the threads wait for each
other at every op's end. W passes of W-th batches, each op on fewer threads, keep the cores busy. Measured in
``extract`` on 2 cores (ResNet-18, 4 hooked layers): 1.30-1.32x -> 1.55-1.60x a plain ``no_grad`` loop at
224x224; at 64x64 no gain (1.35-1.39x -> 1.37-1.42x) (benchmarks/README.md, "Extraction").

The numbers agree with one pass at a time to float32 rounding, not bit for bit: oneDNN's summation order
depends on the thread count and batch shape (as it does for any change of ``batch_size``); they equal, bit
for bit, the same sub-batches run one after the other on one thread each (tests).

Hooks see the sub-batches from the worker threads; :meth:`CpuWorkers.sink` is the running thread's own dict,
so their results never mix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from napwidget.errors import NapInputError
from napwidget.torch_threads import run_blocks


def check_workers(value: Any, compiled: bool = False) -> int:
    """``extract``'s ``workers`` as an int >= 1, or a NapInputError naming the fix.

    Example
    -------
    >>> check_workers(2)
    2
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NapInputError(
            f"workers={value!r} must be a whole number >= 1",
            "pass e.g. workers=2 (forward passes side by side on a CPU) or workers=1 (one at a time)",
        )
    if compiled and value > 1:  # the sub-batches call the eager model: compile would silently not run
        raise NapInputError(
            f"compile=True runs one forward pass at a time, but workers={value}",
            "pass workers=1 with compile=True, or drop compile=True to run passes side by side",
        )
    return value


class CpuWorkers:
    """Runs one batch as ``n`` sub-batches side by side (:func:`~napwidget.torch_threads.run_blocks`), and
    keeps what hooks write in each sub-batch apart.

    Example
    -------
    >>> workers = CpuWorkers(2)
    >>> def double(part):
    ...     workers.sink({})["rows"] = len(part)
    ...     return part * 2
    >>> out, sinks = workers.run(double, torch.arange(5.0))
    >>> out.tolist(), [s["rows"] for s in sinks]
    ([0.0, 2.0, 4.0, 6.0, 8.0], [3, 2])
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._local = threading.local()

    def sink(self, default: dict[str, Any]) -> dict[str, Any]:
        """The dict that hooks running in this thread write to: the sub-batch's own while one runs here,
        ``default`` otherwise (a batch that ran as one pass, e.g. a dict of model arguments)."""
        return getattr(self._local, "sink", default)

    def run(
        self, fn: Callable[[torch.Tensor], Any], x: torch.Tensor
    ) -> tuple[torch.Tensor | None, list[dict]]:
        """``fn`` on each of ``n`` row blocks of ``x`` (in threads); its tensor results concatenated in row
        order (None when ``fn`` returns None), and each block's sink, in row order."""

        def one(part: torch.Tensor) -> tuple[Any, dict[str, Any]]:
            sink = self._local.sink = {}
            try:
                return fn(part), sink
            finally:
                del self._local.sink

        parts = torch.tensor_split(x, self.n)
        results = run_blocks(one, parts, torch.device("cpu"), workers=self.n, name="napwidget-forward")
        outs = [r[0] for r in results]
        out = None if any(o is None for o in outs) else torch.cat(outs)
        return out, [r[1] for r in results]
