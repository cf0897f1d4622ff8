"""A small in-memory cache of (normalised features, single-linkage tree) per activation matrix.

Re-clustering with a new min_cluster_size or selection method only needs the tree, so keeping the last
few trees makes parameter changes in the widget instant. Keys use a cheap content fingerprint (shape,
dtype, buffer address and a strided sample of values) rather than hashing the whole matrix, which would
cost more than the re-clustering itself.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

from napwidget.clustering import SingleLinkageTree
from napwidget.clustering.engines import build_with, resolve_tree_engine

_MAX_ENTRIES = 8
_SAMPLE = 65536
_lock = threading.Lock()
_cache: OrderedDict[tuple, tuple[np.ndarray, SingleLinkageTree, str, np.ndarray]] = OrderedDict()


def fingerprint_matrix(x: np.ndarray) -> str:
    """Shape, dtype, address and a strided sample of the values (plus row/column sums of the sample)."""
    flat = x.reshape(-1)
    step = max(1, flat.size // _SAMPLE)
    sample = np.ascontiguousarray(flat[::step])
    h = hashlib.blake2b(f"{x.shape}{x.dtype}{x.__array_interface__['data'][0]}".encode(), digest_size=16)
    h.update(memoryview(sample).cast("B"))
    return h.hexdigest()


def cached_tree(
    matrix: np.ndarray,
    variant: Hashable,
    min_samples: int,
    make_features: Callable[[], tuple[np.ndarray, np.ndarray]],
    algorithm: str = "exact",
    progress: Callable[[float, str], None] | None = None,
) -> tuple[np.ndarray, SingleLinkageTree, str, np.ndarray]:
    """Return (features, tree, engine that built it, feature scale) for ``matrix``; builds on a cache miss.

    ``make_features()`` returns the normalised features and the per-column divisors that made them;
    ``progress`` is called as ``progress(fraction_done, stage)`` while a tree is built.

    ``algorithm="auto"`` is resolved first (by the matrix's size and the memory available), so a tree built
    by the engine "auto" picks is reused by a later call that names that engine, and vice versa.
    """
    used = resolve_tree_engine(algorithm, *matrix.shape)
    key = (fingerprint_matrix(matrix), variant, int(min_samples), used)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    features, scale = make_features()
    tree, used = build_with(used, features, min_samples, progress=progress)
    if algorithm == "auto" and used != "exact":
        from napwidget.clustering.engines import announce_auto

        announce_auto(*features.shape)
    with _lock:
        _cache[key] = (features, tree, used, scale)
        while len(_cache) > _MAX_ENTRIES:
            _cache.popitem(last=False)
    return features, tree, used, scale


def clear_tree_cache() -> None:
    """Forget every cached tree (e.g. to free memory after large runs).

    Example
    -------
    >>> clear_tree_cache()
    """
    with _lock:
        _cache.clear()
