"""``extract(..., store=path)``: stream each batch's activations into an activation store, resumably.

The same call after an interruption computes only the chunks that are missing or fail their checksums;
a store written by another model, layer set, reduction, batch size or other inputs is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from napwidget.activation_cache import fingerprint_model
from napwidget.batches import _prefetch
from napwidget.chunks import ChunkSource
from napwidget.errors import NapInputError
from napwidget.forward import HookedForward
from napwidget.input_identity import describe_inputs, inputs_identity
from napwidget.store import ActivationStore
from napwidget.stored_activations import StoredActivations, open_activations

ENGINES = ("local", "ray")


def extract_to_store(
    model: nn.Module,
    inputs: Any,
    names: list[str],
    *,
    store: str | os.PathLike | None,
    engine: str = "local",
    engine_options: Mapping[str, Any] | None = None,
    reduce: str = "mean",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    forward: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    cache_key: str | None = None,
) -> StoredActivations:
    """Fill the store at ``store`` with the activations of ``names``; return it opened (see ``extract``).

    ``forward``: :class:`~napwidget.forward.HookedForward` settings (channels_last, autocast, compile).
    """
    forward = dict(forward or {})
    if engine not in ENGINES:
        raise NapInputError(f"unknown engine={engine!r}", f"use one of {', '.join(map(repr, ENGINES))}")
    if store is None:
        raise NapInputError(f"engine={engine!r} writes to an activation store", "pass store='acts.zarr'")
    if engine_options and engine != "ray":
        raise NapInputError(
            "engine_options only apply to engine='ray'", "drop engine_options or use engine='ray'"
        )
    source = ChunkSource(inputs, batch_size)
    manifest = {
        "model": fingerprint_model(model),
        "inputs": inputs_identity(inputs, source, cache_key),
        "input_kind": describe_inputs(source),  # not part of the identity: named in the refusal message
        "layers": list(names),
        "reduce": reduce,
        "n": source.n,
        "chunk_rows": source.size,
        "autocast": None if forward.get("autocast") is None else str(forward["autocast"]),
    }
    st = ActivationStore.create_or_open(store, manifest)
    todo = st.missing()
    if todo and engine == "local":
        _run_local(model, source, st, todo, reduce, device, forward, progress)
    elif todo:
        from napwidget.ray_engine import run_on_ray

        run_on_ray(model, source, st, todo, reduce, device, forward, progress, dict(engine_options or {}))
    return open_activations(store)


def targets_array(y: Any) -> np.ndarray | None:
    """A batch's targets as a numeric array, or None (no targets, or not numeric: then not stored)."""
    if y is None:
        return None
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return arr if arr.dtype.kind in "biuf" else None


def _run_local(
    model: nn.Module,
    source: ChunkSource,
    st: ActivationStore,
    todo: list[int],
    reduce: str,
    device: str | torch.device | None,
    forward: dict[str, Any],
    progress: bool | None,
) -> None:
    with HookedForward(model, st.layers, reduce, device, **forward) as step:
        for i, x, y in with_progress(_prefetch(source.iter_chunks(todo)), len(todo), progress):
            layers, outputs = step(x)
            st.write_chunk(i, layers, outputs, targets_array(y), step.shapes)


def with_progress(items: Iterable[Any], total: int, progress: bool | None) -> Iterable[Any]:
    """A tqdm bar over ``items`` when asked, or by default for more than 20 chunks."""
    if progress is None:
        progress = total > 20
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc="extract", unit="chunk")
