"""Argument checks shared by :func:`build_tree` and :func:`select_clusters`.

Every error is a :class:`ValueError` whose message names the problem and the fix, so notebooks and the widget
can show it as it is.
"""

from __future__ import annotations

import numbers

import numpy as np

METHODS = ("eom", "leaf")


def _fail(problem: str, fix: str) -> ValueError:
    return ValueError(f"{problem}. Fix: {fix}.")


def check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as a Python int, or raise ValueError if it is not an integer >= ``minimum``.

    Example
    -------
    >>> check_int(5, "min_samples", 1)
    5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(f"{name}={value!r} is not an integer", f"pass a whole number >= {minimum}")
    if value < minimum:
        raise _fail(f"{name}={value} is too small", f"use {name} >= {minimum}")
    return int(value)


def check_matrix(x: object) -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 (N, D) array with N >= 2 finite rows, or raise ValueError.

    float64 is what hdbscan computes in, and the exact distances here must match its bits.

    Example
    -------
    >>> check_matrix([[0.0, 1.0], [1.0, 0.0]]).shape
    (2, 2)
    """
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise _fail(
            f"expected a 2-D (n_samples, n_features) matrix, got {arr.ndim}-D with shape {arr.shape}",
            "reshape to (n_samples, n_features), e.g. x.reshape(len(x), -1)",
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise _fail(f"the matrix has non-numeric dtype {arr.dtype}", "pass a float array")
    if arr.shape[0] < 2:
        raise _fail(f"need at least 2 samples to cluster, got {arr.shape[0]}", "pass 2 or more rows")
    if arr.shape[1] < 1:
        raise _fail("the matrix has 0 features", "pass at least one column")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise _fail(
            f"the matrix holds NaN or infinite values in {bad.size} row(s) (first: row {int(bad[0])})",
            "drop or impute those rows (e.g. np.nan_to_num) before clustering",
        )
    return arr


def check_method(method: object) -> str:
    """Return the cluster selection method, or raise ValueError if it is not 'eom' or 'leaf'.

    Example
    -------
    >>> check_method("leaf")
    'leaf'
    """
    if method not in METHODS:
        raise _fail(f"unknown cluster selection method {method!r}", "use 'leaf' (the NAP default) or 'eom'")
    return str(method)
