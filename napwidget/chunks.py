"""Inputs cut into numbered chunks of fixed size, so a store can tell which rows each batch holds.

Chunk ``i`` is rows ``[i * size, (i + 1) * size)``. Tensors, arrays, dicts/tuples of them (model
arguments) and Datasets are indexed directly, so a resumed run reads only the missing chunks; a DataLoader
is replayed in its (fixed) order and the finished batches are skipped before the forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler, Subset

from napwidget.batches import MultiInput, _split_xy, is_multi_input, iterate_batches
from napwidget.errors import NapInputError


class ChunkSource:
    """Numbered fixed-size batches of ``inputs``: ``n`` rows in ``n_chunks`` chunks of ``size`` rows.

    Example
    -------
    >>> src = ChunkSource(np.zeros((5, 2), np.float32), 2)
    >>> src.n, src.n_chunks, [i for i, _, _ in src.iter_chunks([0, 2])]
    (5, 3, [0, 2])
    """

    def __init__(self, inputs: Any, size: int) -> None:
        if is_multi_input(inputs):  # {"input_ids": ids, "attention_mask": m} or (a, b): model arguments
            inputs = MultiInput(inputs)
        if isinstance(inputs, np.ndarray):
            iterate_batches(inputs, 1)  # the usual checks (numeric dtype, non-empty)
            inputs = torch.from_numpy(np.ascontiguousarray(inputs))
        if isinstance(inputs, MultiInput):
            n = inputs.n
        elif isinstance(inputs, DataLoader):
            size, n = _loader_layout(inputs)
        elif isinstance(inputs, torch.Tensor):
            iterate_batches(inputs, 1)
            n = int(inputs.shape[0])
        elif isinstance(inputs, Dataset):
            try:
                n = len(inputs)  # type: ignore[arg-type]
            except TypeError:
                raise NapInputError(
                    "extract(store=...) got a Dataset without a length",
                    "give the Dataset a __len__ (chunks are numbered by row), or extract without store=",
                ) from None
            if n == 0:
                raise NapInputError("the Dataset is empty", "pass a Dataset with at least one item")
        else:
            iterate_batches(inputs, size)  # raises the usual clear error for unsupported inputs
            raise NapInputError(
                f"extract(store=...) cannot number the rows of {type(inputs).__name__} inputs",
                "pass a Tensor, an array, a dict or tuple of them, a Dataset "
                "or a DataLoader with shuffle=False",
            )
        self.inputs = inputs
        self.size = int(size)
        self.n = int(n)
        self.n_chunks = -(-self.n // self.size)

    def rows(self, i: int) -> int:
        """Number of rows in chunk ``i`` (the last one may be short)."""
        return min(self.size, self.n - i * self.size)

    def chunk(self, i: int) -> tuple[Any, Any]:
        """``(x, y)`` of chunk ``i``, read on its own (a DataLoader's items go through its ``collate_fn``)."""
        a, b = i * self.size, min((i + 1) * self.size, self.n)
        if isinstance(self.inputs, torch.Tensor):
            return self.inputs[a:b], None
        if isinstance(self.inputs, MultiInput):
            return self.inputs.rows(a, b)
        if isinstance(self.inputs, np.ndarray):  # the portable form of a Tensor (see ``portable``)
            return torch.from_numpy(np.array(self.inputs[a:b])), None
        if isinstance(self.inputs, DataLoader):
            return _split_xy(self.inputs.collate_fn([self.inputs.dataset[j] for j in range(a, b)]))
        loader = DataLoader(Subset(self.inputs, range(a, b)), batch_size=b - a, shuffle=False)
        return _split_xy(next(iter(loader)))

    def portable(self) -> ChunkSource:
        """A copy to ship to other processes: Tensors (also those of dict/tuple inputs) as numpy (zero-copy
        in Ray's object store); a DataLoader as its dataset and collate function (its workers stay here)."""
        out = object.__new__(ChunkSource)
        out.__dict__.update(self.__dict__)
        if isinstance(self.inputs, torch.Tensor):
            out.inputs = self.inputs.detach().cpu().numpy()
        elif isinstance(self.inputs, MultiInput):
            out.inputs = self.inputs.portable()
        elif isinstance(self.inputs, DataLoader):
            out.inputs = DataLoader(
                self.inputs.dataset, batch_size=self.size, shuffle=False, collate_fn=self.inputs.collate_fn
            )
        return out

    def iter_chunks(self, wanted: Sequence[int]) -> Iterator[tuple[int, Any, Any]]:
        """``(i, x, y)`` for each chunk index in ``wanted``, in increasing order.

        A DataLoader is replayed (keeping its worker processes) unless fewer than half of its batches are
        wanted; then those are read from its dataset directly.
        """
        todo = sorted({int(i) for i in wanted})
        if not isinstance(self.inputs, DataLoader) or len(todo) < self.n_chunks // 2:
            for i in todo:
                x, y = self.chunk(i)
                yield i, x, y
            return
        pending = set(todo)
        for i, batch in enumerate(self.inputs):
            if not pending:
                return
            if i in pending:
                pending.discard(i)
                x, y = _split_xy(batch)
                yield i, x, y


def _loader_layout(loader: DataLoader) -> tuple[int, int]:
    """(rows per batch, rows in total) of a DataLoader that yields its dataset in order."""
    if loader.batch_size is None or not isinstance(loader.sampler, SequentialSampler):
        raise NapInputError(
            "extract(store=...) needs a DataLoader that yields rows in a fixed order in equal batches",
            "build it with DataLoader(dataset, batch_size=B, shuffle=False) and no custom sampler, "
            "or pass the Dataset itself",
        )
    try:
        n = len(loader.dataset)  # type: ignore[arg-type]
    except TypeError:
        raise NapInputError(
            "extract(store=...) got a DataLoader over a dataset without a length",
            "give the dataset a __len__ (chunks are numbered by row), or extract without store=",
        ) from None
    if loader.drop_last:
        n = (n // loader.batch_size) * loader.batch_size
    if n == 0:
        raise NapInputError("the DataLoader is empty", "pass a DataLoader over at least one input")
    return int(loader.batch_size), int(n)
