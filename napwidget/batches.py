"""Turn any supported input (Tensor, array, Dataset, DataLoader) into an iterator of (x, y) batches.

A background thread prepares the next batch while the model runs on the current one, so data loading
overlaps with compute (torch releases the GIL inside ops).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from napwidget.errors import NapInputError


class _Batches:
    """Re-iterable batches with a length, so progress bars know the total."""

    def __init__(self, make_iter, length: int | None) -> None:
        self._make_iter = make_iter
        self._length = length

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return _prefetch(self._make_iter())

    def __len__(self) -> int:
        return self._length or 0


def _split_xy(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    if isinstance(batch, (tuple, list)) and len(batch) == 1:
        return batch[0], None
    return batch, None


def iterate_batches(inputs: Any, batch_size: int) -> _Batches:
    """Batches of ``(x, y)``; ``y`` is None when the inputs carry no targets.

    Example
    -------
    >>> [x.shape[0] for x, _ in iterate_batches(np.zeros((5, 2), np.float32), 2)]
    [2, 2, 1]
    """
    if isinstance(inputs, np.ndarray):
        if inputs.dtype == object or inputs.dtype.kind in "USV":
            raise NapInputError(
                f"inputs are a numpy array of dtype {inputs.dtype}, not numbers",
                "tokenise/encode the data into a numeric array or tensor first",
            )
        inputs = torch.from_numpy(np.ascontiguousarray(inputs))
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() == 0 or inputs.shape[0] == 0:
            raise NapInputError(f"inputs have shape {tuple(inputs.shape)} (no samples)", "pass at least one input")
        n = inputs.shape[0]
        return _Batches(
            lambda: ((inputs[i : i + batch_size], None) for i in range(0, n, batch_size)), -(-n // batch_size)
        )
    if isinstance(inputs, DataLoader):
        try:
            length = len(inputs)
        except TypeError:
            length = None
        if length == 0:
            raise NapInputError("the DataLoader is empty", "pass a DataLoader over at least one input")
        return _Batches(lambda: (_split_xy(b) for b in inputs), length)
    if isinstance(inputs, Dataset):
        try:
            n = len(inputs)  # type: ignore[arg-type]
        except TypeError:
            n = None
        if n == 0:
            raise NapInputError("the Dataset is empty", "pass a Dataset with at least one item")
        loader = DataLoader(inputs, batch_size=batch_size, shuffle=False)
        return _Batches(lambda: (_split_xy(b) for b in loader), len(loader) if n is not None else None)
    if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
        raise NapInputError(
            "inputs are strings", "tokenise them first and pass token ids (a tensor or a DataLoader)"
        )
    raise NapInputError(
        f"inputs of type {type(inputs).__name__} are not supported",
        "pass a torch Tensor, a numpy array, a torch Dataset or a DataLoader",
    )


_END = object()


def _prefetch(source: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Yield from ``source`` while a thread fetches up to ``depth`` items ahead; errors are re-raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def worker() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # surface loader errors in the caller's thread
            q.put(exc)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
