"""The single-linkage tree in the compact binary form the front end re-selects clusters from.

With the tree in the page, changing ``min_cluster_size`` or the selection method needs no kernel: the front
end (``js/src/reselect/``) condenses and selects exactly as :func:`napwidget.clustering.select_clusters` and
numbers NAPs as :class:`napwidget.naps.NAPs` does, with the same floating-point steps, so its labels,
probabilities, outlier scores and persistence equal the kernel's. A ``save_html`` file and a notebook output
whose kernel is gone use it.

Layout (little-endian, 16 bytes per merge, no header): ``left`` int32[N-1], ``right`` int32[N-1],
``distance`` float64[N-1] -- the scipy/hdbscan linkage without the size column (the front end recomputes it).
At 10,000 inputs that is 160 kB (213 kB as base64), against ~1 MB for the same numbers as JSON text.
"""

from __future__ import annotations

import numpy as np

from napwidget.clustering import SingleLinkageTree


def tree_bytes(tree: SingleLinkageTree | None) -> bytes:
    """Pack ``tree``'s merges for the front end (``b""`` for no tree).

    Example
    -------
    >>> from napwidget.clustering import build_tree
    >>> tree = build_tree(np.random.default_rng(0).normal(size=(50, 3)), min_samples=5)
    >>> len(tree_bytes(tree)) == 16 * 49
    True
    """
    if tree is None:
        return b""
    merges = np.asarray(tree.merges)
    left = merges[:, 0].astype("<i4")
    right = merges[:, 1].astype("<i4")
    distance = merges[:, 2].astype("<f8")
    return left.tobytes() + right.tobytes() + distance.tobytes()


def tree_from_bytes(data: bytes, min_samples: int = 0) -> SingleLinkageTree:
    """Rebuild a :class:`SingleLinkageTree` from :func:`tree_bytes` output (sizes recomputed).

    Only its merges are kept: the MST and core distances are zeros (re-selection does not use them).

    Example
    -------
    >>> from napwidget.clustering import build_tree, select_clusters
    >>> tree = build_tree(np.random.default_rng(0).normal(size=(50, 3)), min_samples=5)
    >>> back = tree_from_bytes(tree_bytes(tree), 5)
    >>> bool((select_clusters(back, 5).labels == select_clusters(tree, 5).labels).all())
    True
    """
    m = len(data) // 16
    if m == 0 or len(data) != 16 * m:
        raise ValueError(f"a packed tree has 16 bytes per merge, got {len(data)} bytes")
    left = np.frombuffer(data, "<i4", m, 0).astype(np.int64)
    right = np.frombuffer(data, "<i4", m, 4 * m).astype(np.int64)
    distance = np.frombuffer(data, "<f8", m, 8 * m)
    n = m + 1
    size = np.ones(2 * n - 1, dtype=np.int64)
    for i in range(m):  # children precede parents: one pass
        size[n + i] = size[left[i]] + size[right[i]]
    merges = np.column_stack((left, right, distance, size[n:])).astype(np.float64)
    return SingleLinkageTree.from_merges(merges, np.zeros((m, 3)), np.zeros(n), min_samples)
