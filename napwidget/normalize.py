"""Activation profile -> clustering features: the NAP method's aggregation and normalisation."""

from __future__ import annotations

import numpy as np

from napwidget.errors import NapInputError

NORMALIZATIONS = ("unit", "layer", "none")
AGGREGATIONS = ("mean", "max", "mean_std", "min_max", "none")

# Divisors below this are treated as zero: a unit that never fires maps to 0, not to noise / 1e-30.
_EPS = 1e-12


def aggregate(x: np.ndarray, how: str = "mean") -> np.ndarray:
    """Aggregate raw layer outputs (N, C, *spatial) per channel, like the reference implementation.

    (N, F) inputs are returned as they are (dense outputs are never aggregated); ``mean_std`` and
    ``min_max`` return [mean | std] and [min | max] blocks side by side.

    Example
    -------
    >>> aggregate(np.ones((2, 3, 4, 4)), "mean").shape
    (2, 3)
    """
    if how not in AGGREGATIONS:
        raise NapInputError(
            f"unknown aggregation {how!r}", f"use one of {', '.join(map(repr, AGGREGATIONS))}"
        )
    x = np.asarray(x)
    if x.ndim <= 2:
        return x.reshape(len(x), -1) if x.ndim == 1 else x
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    if how == "none":
        return x.reshape(x.shape[0], -1)
    if how == "mean":
        return flat.mean(axis=2)
    if how == "max":
        return flat.max(axis=2)
    if how == "mean_std":
        return np.concatenate([flat.mean(axis=2), flat.std(axis=2)], axis=1)
    return np.concatenate([flat.min(axis=2), flat.max(axis=2)], axis=1)


def normalize_features(
    x: np.ndarray, how: str = "unit", *, parity: bool = False, mean_std: bool = False
) -> np.ndarray:
    """Scale an (N, F) activation matrix for clustering (float32, new array).

    ``"unit"`` (default, as the method describes): divide each unit (column) by its largest absolute value
    over the N inputs; values end in [-1, 1] ([0, 1] after ReLU); a unit whose largest value is ~0 maps to 0.
    No centring: "not firing" stays 0, which is what makes patterns comparable across inputs.
    ``"layer"``: divide the whole matrix by one scalar, the layer's largest |activation| (what the reference
    implementation does for dense layers). ``"none"``: use the values as they are.

    ``parity=True`` reproduces the reference implementation's quirk for ``mean_std`` features
    (``mean_std=True``: the first half of the columns are means, the second half stds): the std block is
    divided by the square root of the mean block's largest |value| instead of its own maxima.

    Example
    -------
    >>> normalize_features(np.array([[1.0, -4.0], [2.0, 2.0]]))
    array([[ 0.5, -1. ],
           [ 1. ,  0.5]], dtype=float32)
    """
    x = np.asarray(x, dtype=np.float32)
    return apply_scale(x, feature_scale(x, how, parity=parity, mean_std=mean_std))


def feature_scale(
    x: np.ndarray, how: str = "unit", *, parity: bool = False, mean_std: bool = False
) -> np.ndarray:
    """The (F,) divisor per column that :func:`normalize_features` uses (0 marks a column mapped to 0).

    Kept with the NAPs so that new inputs (``NAPs.predict``) are scaled exactly like the clustered ones.

    Example
    -------
    >>> feature_scale(np.array([[1.0, -4.0], [2.0, 2.0]])).tolist()
    [2.0, 4.0]
    """
    if how not in NORMALIZATIONS:
        raise NapInputError(
            f"unknown normalize={how!r}", f"use one of {', '.join(map(repr, NORMALIZATIONS))}"
        )
    x = np.asarray(x, dtype=np.float32)
    if how == "none":
        return np.ones(x.shape[1], dtype=np.float32)
    if how == "layer":
        m = float(np.abs(x).max()) if x.size else 0.0
        return np.full(x.shape[1], 0.0 if m < _EPS else m, dtype=np.float32)
    scale = np.abs(x).max(axis=0)
    if parity and mean_std:
        half = x.shape[1] // 2
        scale = scale.copy()
        scale[half:] = np.sqrt(scale[:half].max()) if half else 1.0
    return np.where(scale < _EPS, 0.0, scale).astype(np.float32)


def apply_scale(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Divide each column by its divisor from :func:`feature_scale` (columns with divisor 0 become 0).

    Example
    -------
    >>> apply_scale(np.array([[1.0, 3.0]], np.float32), np.array([2.0, 0.0], np.float32)).tolist()
    [[0.5, 0.0]]
    """
    x = np.asarray(x, dtype=np.float32)
    zero = scale == 0
    out = x / np.where(zero, 1.0, scale).astype(np.float32)
    out[:, zero] = 0.0
    return out


def check_finite(x: np.ndarray, what: str = "activations") -> None:
    """Raise a :class:`NapInputError` naming how many inputs have NaN/inf values and how to drop them."""
    finite = np.isfinite(x)
    if finite.all():
        return
    bad_rows = np.flatnonzero(~finite.all(axis=1))
    raise NapInputError(
        f"{what} contain NaN or inf values in {len(bad_rows)} of {len(x)} inputs "
        f"(first: {bad_rows[:5].tolist()})",
        "drop those inputs (keep = np.isfinite(X).all(axis=1)) or check the model for overflow / bad inputs",
    )
