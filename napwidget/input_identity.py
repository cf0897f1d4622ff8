"""What an activation store records about its inputs, so a resume with other inputs is refused clearly.

Tensors, arrays and dicts/tuples of them are hashed whole (``fingerprint_inputs``). Datasets and DataLoaders
cannot be hashed cheaply; their first and last chunks are (a few batches read, no forward pass), which tells
apart another dataset of the same length. ``cache_key`` names inputs explicitly and skips the hashing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from napwidget.activation_cache import fingerprint_inputs
from napwidget.batches import MultiInput
from napwidget.chunks import ChunkSource

#: prefix of the fingerprint of a Dataset/DataLoader sample (first and last chunk)
SAMPLE = "sample:"


def inputs_identity(inputs: Any, source: ChunkSource, cache_key: str | None) -> str | None:
    """The manifest's ``inputs`` entry: the user's key, a hash of the whole inputs, or of a sample of them."""
    if cache_key is not None:
        return f"user:{cache_key}"
    whole = fingerprint_inputs(inputs)
    if whole is not None:
        return whole
    h = hashlib.sha256()
    for i in sorted({0, source.n_chunks - 1}):
        _hash_item(h, source.chunk(i))
    return SAMPLE + h.hexdigest()[:24]


def _hash_item(h: Any, item: Any) -> None:
    """Feed a batch (tensors, arrays, numbers, strings, nested in dicts/tuples/lists) into hash ``h``.

    Other objects contribute only their type: their repr may hold memory addresses, which differ per run.
    """
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu()
        item = (item.float() if item.dtype == torch.bfloat16 else item).numpy()
    if isinstance(item, np.ndarray) and item.dtype != object:
        arr = np.ascontiguousarray(item)
        h.update(f"{arr.shape}{arr.dtype}".encode())
        h.update(memoryview(arr).cast("B"))
    elif isinstance(item, Mapping):
        for key in sorted(item, key=str):
            h.update(f"<{key}>".encode())
            _hash_item(h, item[key])
    elif isinstance(item, (tuple, list, np.ndarray)):
        h.update(f"[{len(item)}".encode())
        for part in item:
            _hash_item(h, part)
        h.update(b"]")
    elif isinstance(item, (str, bytes, int, float, bool, type(None))):
        h.update(repr(item).encode())
    else:
        h.update(type(item).__qualname__.encode())


def describe_inputs(source: ChunkSource) -> str:
    """The inputs in a few words for error messages, e.g. ``dict of input_ids (30, 12) int64, ...``."""
    inputs = source.inputs
    if isinstance(inputs, MultiInput):
        parts = ", ".join(f"{k} {_shape(v)}" for k, v in zip(inputs.keys, inputs.values))
        labels = "" if inputs.y is None else " (+ labels)"
        return f"{'dict' if inputs.mapping else 'tuple'} of {parts}{labels}"
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        return f"{type(inputs).__name__} {_shape(inputs)}"
    dataset = getattr(inputs, "dataset", None)
    if dataset is not None:
        return f"DataLoader over a {type(dataset).__name__} of {source.n} rows"
    return f"{type(inputs).__name__} of {source.n} rows"


def _shape(v: Any) -> str:
    return f"{tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}"
