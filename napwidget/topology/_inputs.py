"""Input checks shared by the topology kernels: each problem is a ValueError naming it and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from napwidget.errors import NapInputError


def as_matrix(
    activations: Any, layer: str | None, *, what: str = "activations"
) -> tuple[np.ndarray, str | None]:
    """(N, D) real matrix and layer name from an array, Tensor, Activations / mapping (+ ``layer``) or NAPs.

    The array keeps its dtype (KeplerMapper computes its lens on the array as given; equality needs the same).
    """
    if hasattr(activations, "features") and hasattr(activations, "labels") and hasattr(activations, "tree"):
        return as_matrix(activations.features, None, what=what)[0], getattr(activations, "layer", None)
    if isinstance(activations, Mapping):
        from napwidget.activations import default_layer

        names = list(activations.keys())
        layer = default_layer(names, layer, "say which one with layer='...'")
        if layer not in activations:
            raise NapInputError(f"unknown layer {layer!r}", f"use one of {names[:12]}")
        activations = activations[layer]
    if hasattr(activations, "detach"):  # torch.Tensor, without importing torch here
        activations = activations.detach().cpu().numpy()
    x = np.asarray(activations)
    if x.ndim != 2:
        raise NapInputError(
            f"{what} have shape {x.shape}, expected a 2-D (N, D) matrix",
            "reduce conv maps first (extract(..., reduce='mean')) or reshape with x.reshape(len(x), -1)",
        )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise NapInputError(f"{what} have dtype {x.dtype}", "pass real numbers (e.g. float32)")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise NapInputError(
            f"{what} have shape {x.shape}", "pass at least 2 inputs with at least 1 feature each"
        )
    check_finite(x, what)
    return x, layer


def check_finite(x: np.ndarray, what: str) -> None:
    """Raise if ``x`` holds NaN or inf, naming the first bad row."""
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))
            raise NapInputError(
                f"{what} contain {int(bad.sum())} NaN/inf values in {len(rows)} rows "
                f"(first: row {int(rows[0])})",
                "drop or impute those rows before the topology analysis",
            )


def per_input(values: Any, n: int, what: str) -> np.ndarray | None:
    """A length-``n`` 1-D array (or None)."""
    if values is None:
        return None
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise NapInputError(
            f"{what} have shape {arr.shape}, expected ({n},): one per input", f"pass {n} {what}"
        )
    return arr


def default_labels(activations: Any) -> np.ndarray | None:
    """Class labels carried by the input object, if any (NAPs.input_labels, Activations.targets / labels)."""
    for attr in ("input_labels", "labels", "targets"):
        if attr == "labels" and hasattr(activations, "tree"):
            continue  # a NAPs' .labels are NAP ids, not classes
        val = getattr(activations, attr, None)
        if val is not None and not isinstance(activations, np.ndarray):
            return np.asarray(val)
    return None
