"""Persistence diagrams of activations, read off the single-linkage tree the NAP engine already builds.

Filtration (dim 0). HDBSCAN clusters with the mutual-reachability distance
``d_mr(a, b) = max(core(a), core(b), d(a, b))``, where ``core(a)`` is the distance from ``a`` to its
``min_samples``-th nearest input (itself included). Its natural filtration is the one whose level ``r`` is the
graph with vertices ``{a : core(a) <= r}`` and edges ``{(a, b) : d_mr(a, b) <= r}``, i.e. the Rips filtration
of the mutual-reachability matrix with ``core(a)`` on its diagonal: an input *exists* only from the scale at
which it is dense, which is what makes HDBSCAN robust to outliers. So births are **core distances, not 0**:
with births 0 every isolated outlier would be a long bar from 0 to its (large) core distance, exactly the
noise that ``min_samples`` is meant to suppress. Every edge enters after both its ends
(``d_mr >= max(core)``), so this is a valid filtration, and its 0-dimensional persistence is computed on the
minimum spanning tree of ``d_mr`` with the elder rule: at each MST edge (ascending) the component whose
densest point has the larger core distance dies. It equals ``ripser`` on that matrix (tested). With
``min_samples=1`` all core distances are 0 and this is plain single linkage (births 0, deaths = MST edge
lengths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from napwidget.errors import NapInputError
from napwidget.topology._inputs import as_matrix

_TOPOLOGY_EXTRA = "pip install napwidget[topology]"


@dataclass
class H0Bars:
    """Every 0-dimensional bar of the mutual-reachability filtration, one per input (zero-length ones too).

    Attributes
    ----------
    birth, death : (N,) per input ``v``: the bar born at ``v`` (``birth = core(v)``) and the height of the MST
        edge at which ``v``'s component merged into a denser one (inf for the single surviving component).
    connect : (N-1,) the MST, ascending: [i, j, weight].
    """

    birth: np.ndarray
    death: np.ndarray
    connect: np.ndarray

    def diagram(self, keep_diagonal: bool = False) -> np.ndarray:
        """(n, 2) [birth, death] rows ordered by death then birth; zero-length bars only if ``keep_diagonal``.

        Example
        -------
        >>> h0_bars(np.array([[0, 1, 1.0]]), np.array([0.5, 1.0])).diagram()
        array([[0.5, inf]])
        """
        keep = np.ones(len(self.birth), bool) if keep_diagonal else self.death > self.birth
        d = np.stack([self.birth[keep], self.death[keep]], axis=1)
        return d[np.lexsort((d[:, 0], d[:, 1]))]  # by death, then birth; the inf bar last (ripser's order)


def h0_bars(mst: np.ndarray, core_distances: np.ndarray) -> H0Bars:
    """0-dimensional bars from a mutual-reachability MST and the core distances (vertex births).

    Parameters
    ----------
    mst : (N-1, 3) rows [i, j, weight] in any order (``SingleLinkageTree.mst``).
    core_distances : (N,) the birth of each vertex.

    Example
    -------
    >>> bars = h0_bars(np.array([[0, 1, 1.0], [1, 2, 5.0]]), np.array([0.5, 1.0, 3.0]))
    >>> bars.birth.tolist(), bars.death.tolist()
    ([0.5, 1.0, 3.0], [inf, 1.0, 5.0])
    """
    core = np.asarray(core_distances, dtype=np.float64)
    n = len(core)
    mst = np.asarray(mst, dtype=np.float64).reshape(-1, 3)
    if len(mst) != max(n - 1, 0):
        raise NapInputError(
            f"the MST has {len(mst)} edges for {n} points", "pass a spanning tree with N-1 edges"
        )
    mst = mst[np.argsort(mst[:, 2], kind="stable")]
    parent = np.arange(n)
    eldest = np.arange(n)  # per root: the vertex with the smallest (core, index) in its component
    death = np.full(n, np.inf)

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:  # path compression keeps the loop near-linear
            parent[a], a = root, parent[a]
        return root

    for i, j, w in zip(
        mst[:, 0].astype(np.int64).tolist(), mst[:, 1].astype(np.int64).tolist(), mst[:, 2].tolist()
    ):
        ri, rj = find(i), find(j)
        if ri == rj:
            raise NapInputError("the MST has a cycle", "pass the tree's .mst (a spanning tree)")
        ei, ej = eldest[ri], eldest[rj]
        # Elder rule: the younger component (larger birth; ties: larger index) dies at w.
        old, young = (ei, ej) if (core[ei], ei) <= (core[ej], ej) else (ej, ei)
        death[young] = w
        parent[rj] = ri
        eldest[ri] = old
    return H0Bars(birth=core.copy(), death=death, connect=mst)


def _tree_of(activations: Any, min_samples: int, layer: str | None) -> Any:
    """The single-linkage tree: a NAPs' own (no extra fit), a tree as given, or a fresh one for a matrix."""
    tree = getattr(activations, "tree", None)
    if tree is not None and hasattr(tree, "mst"):
        return tree
    if hasattr(activations, "mst") and hasattr(activations, "core_distances"):
        return activations
    if hasattr(activations, "features") and hasattr(activations, "labels"):  # NAPs loaded without a tree
        min_samples = int(getattr(activations, "params", {}).get("min_samples", min_samples))
    x, _ = as_matrix(activations, layer)
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        raise NapInputError(
            f"min_samples={min_samples!r} is not a positive integer", "use an integer >= 1, e.g. 5"
        )
    if len(x) <= min_samples:
        raise NapInputError(
            f"only {len(x)} inputs for min_samples={min_samples}", "pass more inputs or lower min_samples"
        )
    from napwidget.clustering import build_tree

    return build_tree(x, min_samples=int(min_samples))


def persistence_diagram(
    activations: Any,
    dim: int = 0,
    *,
    min_samples: int = 5,
    layer: str | None = None,
    keep_diagonal: bool = False,
    max_points: int = 1000,
    seed: int = 0,
    metric: str = "euclidean",
) -> np.ndarray:
    """Persistence diagram of a layer's activations: an (n, 2) array of (birth, death) pairs.

    ``dim=0``: connected components of the mutual-reachability filtration (see the module docstring: births
    are core distances, deaths are merge heights of HDBSCAN's single-linkage tree). Given a NAPs, its own tree
    is reused, so the diagram costs no extra fit and describes exactly the filtration its NAPs were selected
    from (on its normalised features). Exactly one death is ``inf``. Zero-length bars (an input joining a
    denser component at its own core distance) are dropped unless ``keep_diagonal``. Rows are ordered by
    death, then birth.

    ``dim=1``: loops, via ``ripser`` (optional extra) on the plain Rips filtration (births 0) of a seeded
    random subsample of at most ``max_points`` inputs (H1 is far more expensive than H0).

    Parameters
    ----------
    activations : a NAPs (reuses ``naps.tree``), a SingleLinkageTree, an (N, D) array, or
        Activations + ``layer``.
    min_samples : for arrays: the HDBSCAN ``min_samples`` defining core distances (NAPs use their own).
    max_points, seed, metric : subsample size, its seed, and the ripser metric for ``dim=1``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 30])
    >>> d = persistence_diagram(x, min_samples=5)
    >>> int(np.isinf(d[:, 1]).sum()), bool(d[-2, 1] > 20)   # one infinite bar, one long finite bar
    (1, True)
    """
    if dim == 0:
        tree = _tree_of(activations, min_samples, layer)
        return h0_bars(tree.mst, tree.core_distances).diagram(keep_diagonal)
    if dim == 1:
        try:
            from ripser import ripser
        except ImportError:
            raise ImportError(f"persistence_diagram(dim=1) needs ripser: {_TOPOLOGY_EXTRA}") from None
        if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 3:
            raise NapInputError(f"max_points={max_points!r}", "use an integer >= 3, e.g. 1000")
        x, _ = as_matrix(getattr(activations, "features", activations), layer)
        if len(x) > max_points:
            x = x[np.sort(np.random.default_rng(seed).choice(len(x), size=max_points, replace=False))]
        d = ripser(np.asarray(x, dtype=np.float64), maxdim=1, metric=metric)["dgms"][1]
        return d[np.lexsort((d[:, 0], d[:, 1]))] if len(d) else np.zeros((0, 2))
    raise NapInputError(f"dim={dim!r} is not supported", "use dim=0 (components) or dim=1 (loops)")


def nap_diagram_points(naps: Any, *, min_samples: int = 5) -> np.ndarray:
    """Link NAPs to points of their 0-dimensional persistence diagram.

    A NAP is a set of inputs that the single-linkage tree joins at some height; the first component (going
    up the MST) that contains all of its members is the NAP's component. That component's bar is the one
    born at its densest input (smallest core distance) -- the elder rule keeps it alive while the component
    grows -- and it dies when the component merges into a denser one. So the NAP's point is
    ``(core(densest), death of that bar)``. When the NAP's component meets a denser sibling first, the death
    is the height at which the NAP separates; when it is itself the denser one, its bar continues until a
    later merge (inf for the globally densest). Distinct NAPs have disjoint members, so their components are
    disjoint when they form and get distinct points.

    Returns
    -------
    (k, 5) float64 array, row i for NAP i: [birth, death, densest input, height at which all members are
    connected, 1.0 if the densest input is itself a member of the NAP else 0.0].

    Example
    -------
    >>> from napwidget import find_naps
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 30])
    >>> points = nap_diagram_points(find_naps(x, min_cluster_size=10, normalize="none"))
    >>> points.shape, int(np.isinf(points[:, 1]).sum())    # two NAPs; the denser one never dies
    ((2, 5), 1)
    """
    labels = np.asarray(naps.labels, dtype=np.int64)
    tree = _tree_of(naps, min_samples, None)
    bars = h0_bars(tree.mst, tree.core_distances)
    core = bars.birth
    n = len(labels)
    k = int(labels.max()) + 1 if n and labels.max() >= 0 else 0
    out = np.zeros((k, 5))
    if k == 0:
        return out
    remaining = np.bincount(labels[labels >= 0], minlength=k)  # components still holding each NAP's members
    parent = np.arange(n)
    eldest = np.arange(n)
    naps_in: list[dict[int, int] | None] = [{int(labels[v]): 1} if labels[v] >= 0 else None for v in range(n)]

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    def record(nap: int, root: int, height: float) -> None:
        e = eldest[root]
        out[nap] = [core[e], bars.death[e], e, height, float(labels[e] == nap)]

    for nap in np.flatnonzero(remaining == 1):  # a single-member NAP is connected from the start
        v = int(np.flatnonzero(labels == nap)[0])
        record(int(nap), v, core[v])
    for i, j, w in zip(
        bars.connect[:, 0].astype(np.int64).tolist(),
        bars.connect[:, 1].astype(np.int64).tolist(),
        bars.connect[:, 2].tolist(),
    ):
        ri, rj = find(i), find(j)
        a, b = naps_in[ri], naps_in[rj]
        if a is not None and b is not None and len(a) < len(b):
            ri, rj, a, b = rj, ri, b, a  # merge the smaller NAP table into the larger
        ei, ej = eldest[ri], eldest[rj]
        parent[rj] = ri
        eldest[ri] = ei if (core[ei], ei) <= (core[ej], ej) else ej
        if b:
            if a is None:
                naps_in[ri] = a = {}
            for nap, c in b.items():
                if nap in a:
                    a[nap] += c
                    remaining[nap] -= 1
                    if remaining[nap] == 1:
                        record(nap, ri, w)
                else:
                    a[nap] = c
            naps_in[rj] = None
    return out
