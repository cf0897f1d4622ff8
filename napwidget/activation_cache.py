"""On-disk cache of extracted activations, keyed by model weights, inputs, layer and reduction.

Each entry is a ``.npy`` file with a JSON sidecar holding its shape, dtype and SHA-256: an entry whose
sidecar is missing or does not match (an interrupted write, a stale or edited file) is ignored and
recomputed, never returned.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from napwidget.activations import Activations

_OUTPUTS = "__outputs__"
_TARGETS = "__targets__"


def fingerprint_model(model: torch.nn.Module) -> str:
    """SHA-256 over the model's class, parameter and buffer names and values."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, t in list(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(
            t.detach().cpu().contiguous().numpy().tobytes()
            if t.dtype != torch.bfloat16
            else t.detach().float().cpu().numpy().tobytes()
        )
    return h.hexdigest()[:24]


def fingerprint_inputs(inputs: Any) -> str | None:
    """SHA-256 of array/tensor inputs, or of a mapping / tuple of them (model arguments: keys and values);
    None for Datasets and DataLoaders (their content is not hashed)."""
    from napwidget.batches import is_multi_input

    if is_multi_input(inputs):
        items = (
            sorted(inputs.items(), key=lambda kv: str(kv[0]))
            if isinstance(inputs, Mapping)
            else enumerate(inputs)
        )
        h = hashlib.sha256(type(inputs).__name__.encode() if not isinstance(inputs, Mapping) else b"mapping")
        for key, value in items:
            part = fingerprint_inputs(
                value if isinstance(value, (torch.Tensor, np.ndarray)) else np.asarray(value)
            )
            if part is None:
                return None
            h.update(f"{key}={part};".encode())
        return h.hexdigest()[:24]
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.detach().cpu().contiguous().numpy()
    if isinstance(inputs, np.ndarray):
        if inputs.dtype == object:
            return None
        arr = np.ascontiguousarray(inputs)
        h = hashlib.sha256(f"{arr.shape}{arr.dtype}".encode())
        h.update(memoryview(arr).cast("B"))
        return h.hexdigest()[:24]
    return None


def _sha(arr: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(arr)).cast("B")).hexdigest()


class ActivationCache:
    """A directory of cached activation matrices.

    Example
    -------
    >>> cache = ActivationCache("/tmp/napwidget-cache")
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def _path(self, key: str, entry: str, reduce: str) -> Path:
        safe = hashlib.sha256(entry.encode()).hexdigest()[:16]
        return self.root / key / f"{reduce}-{safe}.npy"

    def _read(self, path: Path) -> np.ndarray | None:
        meta_path = path.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text())
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, json.JSONDecodeError):
            return None
        if (
            list(arr.shape) != meta.get("shape")
            or str(arr.dtype) != meta.get("dtype")
            or _sha(arr) != meta.get("sha256")
        ):
            return None
        return arr

    def _write(self, path: Path, arr: np.ndarray, entry: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr, allow_pickle=False)
        os.replace(tmp, path)
        meta = {"entry": entry, "shape": list(arr.shape), "dtype": str(arr.dtype), "sha256": _sha(arr)}
        tmp_meta = path.with_suffix(".tmp.json")
        tmp_meta.write_text(json.dumps(meta))
        os.replace(tmp_meta, path.with_suffix(".json"))

    def load(self, key: str, layers: list[str], reduce: str) -> Activations | None:
        """All requested layers and the outputs, or None if any entry is missing or invalid."""
        from napwidget.activations import Activations

        arrays = {}
        for name in layers:
            arr = self._read(self._path(key, name, reduce))
            if arr is None:
                return None
            arrays[name] = arr
        outputs = self._read(self._path(key, _OUTPUTS, "raw"))
        targets_path = self._path(key, _TARGETS, "raw")
        targets = self._read(targets_path) if targets_path.exists() else None
        shapes_path = self.root / key / "shapes.json"
        try:
            shapes = {k: tuple(v) for k, v in json.loads(shapes_path.read_text()).items()}
        except (OSError, ValueError):
            shapes = {}
        shapes = {n: shapes.get(n, (arrays[n].shape[1],)) for n in layers}
        return Activations(arrays, outputs=outputs, targets=targets, reduce=reduce, shapes=shapes)

    def save(self, key: str, acts: Activations) -> None:
        for name in acts.layers:
            self._write(self._path(key, name, acts.reduce), acts[name], name)
        if acts.outputs is not None:
            self._write(self._path(key, _OUTPUTS, "raw"), acts.outputs, _OUTPUTS)
        if acts.targets is not None and acts.targets.dtype != object:
            self._write(self._path(key, _TARGETS, "raw"), acts.targets, _TARGETS)
        shapes_path = self.root / key / "shapes.json"
        try:
            old = json.loads(shapes_path.read_text())
        except (OSError, ValueError):
            old = {}
        old.update({k: list(v) for k, v in acts.shapes.items()})
        shapes_path.write_text(json.dumps(old))
