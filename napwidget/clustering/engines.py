"""Which clustering engine builds the single-linkage tree: a small table of name -> builder, and "auto".

Every builder takes ``(features, min_samples, progress)`` and returns a :class:`SingleLinkageTree`, so
selection, statistics, topology, the widget and save/load work the same on each. Add an engine by adding a
row to :data:`ENGINES`.

``"auto"`` picks the exact engine while its N x N matrix fits comfortably (at most half of the memory that is
available now), else the approximate one, and says so once per build (a ``UserWarning`` and a log line).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np

from napwidget.clustering.approximate import build_approximate_tree
from napwidget.clustering.distances import available_memory_bytes, required_memory_bytes
from napwidget.clustering.linkage import SingleLinkageTree, build_tree

log = logging.getLogger("napwidget")

Progress = Callable[[float, str], None]
TreeBuilder = Callable[[np.ndarray, int, "Progress | None"], SingleLinkageTree]

ENGINES: dict[str, TreeBuilder] = {
    "exact": lambda x, min_samples, progress: build_tree(x, min_samples=min_samples, progress=progress),
    # the k-NN engine reports no fractions: a bar shows its stage only
    "approximate": lambda x, min_samples, progress: build_approximate_tree(x, min_samples=min_samples),
}
# Share of the available memory the exact engine may plan to use under "auto" ("fits comfortably").
AUTO_MEMORY_SHARE = 0.5


def resolve_tree_engine(
    algorithm: str, n_samples: int, n_features: int, *, available: int | None = None
) -> str:
    """The engine that runs for ``algorithm`` on an (N, D) matrix; ``"auto"`` decides by memory.

    Example
    -------
    >>> resolve_tree_engine("auto", 1_000, 512, available=8 * 2**30)
    'exact'
    >>> resolve_tree_engine("auto", 200_000, 512, available=8 * 2**30)
    'approximate'
    """
    if algorithm != "auto":
        return algorithm
    need = required_memory_bytes(n_samples, n_features)
    have = available_memory_bytes() if available is None else available
    if have is None or need <= AUTO_MEMORY_SHARE * have:
        return "exact"
    return "approximate"


def auto_message(n_samples: int, n_features: int) -> str:
    """What "auto" says when it switches to the approximate engine."""
    need = required_memory_bytes(n_samples, n_features) / 2**30
    have = (available_memory_bytes() or 0) / 2**30
    return (
        f"napwidget: exact HDBSCAN on {n_samples} x {n_features} needs ~{need:.1f} GiB "
        f"(available: {have:.1f} GiB), so find_naps(algorithm='auto') uses the approximate engine "
        f"(k-NN graph, O(N*k) memory). "
        f"Pass algorithm='exact' or 'approximate' to choose; naps.algorithm records which ran."
    )


def announce_auto(n_samples: int, n_features: int) -> None:
    """Say (once per build: a log line and a ``UserWarning``) that "auto" chose the approximate engine."""
    message = auto_message(n_samples, n_features)
    log.info(message)
    warnings.warn(message, UserWarning, stacklevel=4)


def build_with(
    algorithm: str, features: np.ndarray, min_samples: int, progress: Progress | None = None
) -> tuple[SingleLinkageTree, str]:
    """Build the tree with the engine ``algorithm`` resolves to; returns (tree, engine name).

    Example
    -------
    >>> tree, used = build_with("approximate", np.random.default_rng(0).normal(size=(50, 4)), 5)
    >>> used, tree.n_samples
    ('approximate', 50)
    """
    used = resolve_tree_engine(algorithm, *features.shape)
    if progress is not None and used != "exact":
        progress(0.0, f"{used} k-NN tree")
    return ENGINES[used](features, int(min_samples), progress), used
