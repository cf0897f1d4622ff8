"""Activations backed by a zarr store: each layer is read (and checked) when first asked for."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from napwidget.activations import Activations, unknown_layer_error
from napwidget.errors import NapInputError
from napwidget.store import ActivationStore


class StoredActivations(Activations):
    """An :class:`~napwidget.Activations` whose layers live in an activation store (:func:`open_activations`).

    ``acts[layer]`` reads that layer's (N, F) array from disk on first use, checks every chunk against its
    checksum and for NaN/inf, and keeps it in memory; :meth:`release` drops loaded layers again. Everything
    that accepts an ``Activations`` (find_naps, mapper_graph, NapWidget, ...) accepts this.

    Example
    -------
    >>> acts = open_activations("acts.zarr")  # doctest: +SKIP
    >>> acts["layer4"].shape  # doctest: +SKIP
    (1000000, 512)
    """

    def __init__(self, store: ActivationStore, *, verify: bool = True) -> None:
        self.store = store
        self.verify = verify
        self.reduce = str(store.manifest.get("reduce", "mean"))
        saved = store.manifest.get("shapes") or {}
        self.shapes = {n: tuple(saved[n]) if n in saved else self._width(n) for n in store.layers}
        self._loaded: dict[str, np.ndarray] = {}
        self._extras: dict[str, np.ndarray | None] = {}

    def _width(self, layer: str) -> tuple[int, ...]:
        name = f"layers/{layer}"
        return tuple(self.store.group[name].shape[1:]) if name in self.store.group else ()

    @property
    def layers(self) -> list[str]:
        return list(self.store.layers)

    @property
    def n_samples(self) -> int:
        return self.store.n

    @property
    def path(self) -> str:
        """Where the store lives."""
        return str(self.store.path)

    def __getitem__(self, layer: str) -> np.ndarray:
        if layer not in self.store.layers:
            raise unknown_layer_error(layer, self.layers)
        if layer not in self._loaded:
            arr = self.store.read(f"layers/{layer}", verify=self.verify)
            if arr is None:
                raise NapInputError(
                    f"layer {layer!r} has no data in {self.path}", "rerun extract to finish it"
                )
            self._loaded[layer] = np.ascontiguousarray(arr, dtype=np.float32)
        return self._loaded[layer]

    def __contains__(self, layer: object) -> bool:  # without reading the layer
        return layer in self.store.layers

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.layers)

    def __len__(self) -> int:
        return len(self.store.layers)

    def _extra(self, name: str) -> np.ndarray | None:
        if name not in self._extras:
            self._extras[name] = self.store.read(name, verify=self.verify)
        return self._extras[name]

    @property
    def outputs(self) -> np.ndarray | None:  # type: ignore[override]
        out = self._extra("outputs")
        return None if out is None else out.astype(np.float32, copy=False)

    @property
    def targets(self) -> np.ndarray | None:  # type: ignore[override]
        return self._extra("targets")

    def release(self, layer: str | None = None) -> None:
        """Forget a loaded layer (all of them with None) to free memory; it is read again when next used."""
        if layer is None:
            self._loaded.clear()
        else:
            self._loaded.pop(layer, None)

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{k}: {self._width(k)[:1][0] if self._width(k) else '?'}" for k in self.store.layers
        )
        return (
            f"StoredActivations({self.path!r}, n={self.n_samples}, reduce={self.reduce!r}, "
            f"layers={{{inner}}})"
        )


def open_activations(path: str | os.PathLike, *, verify: bool = True) -> StoredActivations:
    """Open an activation store written by ``extract(..., store=path)``, lazily, one layer at a time.

    Parameters
    ----------
    path : the store directory (e.g. ``"acts.zarr"``).
    verify : check each chunk against the checksum written with it and for NaN/inf when a layer is read
        (a corrupt chunk raises :class:`~napwidget.NapInputError` naming it; rerunning the extract call that
        wrote the store recomputes it).

    Returns
    -------
    StoredActivations
        ``acts[layer]`` is the (N, F) float32 array; ``acts.outputs`` and ``acts.targets`` as for
        :func:`~napwidget.extract`.

    Example
    -------
    >>> acts = napwidget.open_activations("acts.zarr")  # doctest: +SKIP
    >>> naps = napwidget.find_naps(acts, layer="layer4")  # doctest: +SKIP
    """
    store = ActivationStore.open(path)
    missing = store.n_chunks - len(store.finished())
    if missing:
        raise NapInputError(
            f"the activation store {path} is unfinished: {missing} of {store.n_chunks} chunks are missing",
            "rerun the extract(..., store=...) call that wrote it: it computes only the missing chunks",
        )
    return StoredActivations(store, verify=verify)
