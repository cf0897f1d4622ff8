"""Mapper graphs of activations (TopoAct): lens -> overlapping 1-D cover -> clusters per interval -> nerve.

The pieces are small functions (:func:`compute_lens`, :func:`interval_cover`, :func:`dbscan_labels`,
:func:`auto_eps`) composed by :func:`mapper_graph`. For the same lens, cover and clusterer the node membership
sets and the edge set equal KeplerMapper 2.1's ``KeplerMapper().map(lens, X, clusterer, Cover(n, p))``: the
cover repeats its float arithmetic operation for operation, cubes with fewer points than the clusterer's
minimum are skipped as KeplerMapper skips them, and the built-in DBSCAN reproduces scikit-learn's labelling
exactly.

Speed and memory: KeplerMapper re-fits scikit-learn's DBSCAN on every interval and holds every eps-neighbour
list. Here the points are sorted by lens, so each interval is a contiguous run, clustered by
:mod:`napwidget.topology._dbscan` from BLAS distance blocks between tiles of nearby points: blocks that cannot
hold an eps-pair or cannot change the clusters are skipped, and no list of all eps-pairs is ever built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from napwidget.errors import NapInputError
from napwidget.progress import ProgressBar, expected_seconds
from napwidget.topology._dbscan import Geometry, cluster_intervals, labels_from_pairs
from napwidget.topology._inputs import as_matrix, default_labels, per_input

METRICS = ("euclidean", "cosine")
LENSES = ("l2norm", "pca")


# ---------------------------------------------------------------------------------------------------- lens
def compute_lens(
    x: np.ndarray, lens: str | np.ndarray | Callable[[np.ndarray], Any] = "l2norm"
) -> np.ndarray:
    """The 1-D filter function of the Mapper pipeline, one value per input.

    Parameters
    ----------
    x : (N, D) activations.
    lens : ``"l2norm"`` (TopoAct's lens: the L2 norm of each activation vector, computed on ``x`` in its own
        dtype exactly as ``KeplerMapper().fit_transform(x, projection="l2norm", scaler=None)`` does),
        ``"pca"`` (projection on the first principal component, sign fixed as scikit-learn's ``PCA`` fixes it:
        the loading of largest magnitude is positive), an (N,) array, or a callable ``f(x) -> (N,)``.

    Returns
    -------
    (N,) float64 lens values.

    Example
    -------
    >>> compute_lens(np.array([[3.0, 4.0], [0.0, 1.0]]))
    array([5., 1.])
    """
    n = len(x)
    if isinstance(lens, str):
        if lens == "l2norm":
            values = np.linalg.norm(x, axis=1)
        elif lens == "pca":
            values = _pca_lens(x)
        else:
            raise NapInputError(f"unknown lens={lens!r}", f"use one of {LENSES}, an (N,) array or a callable")
    elif callable(lens):
        values = np.asarray(lens(x))
    else:
        values = lens
    values = per_input(values, n, "lens values")
    if not np.issubdtype(values.dtype, np.number):
        raise NapInputError(f"lens values have dtype {values.dtype}", "pass one real number per input")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise NapInputError("the lens holds NaN/inf values", "pass finite lens values (one per input)")
    return values


def _pca_lens(x: np.ndarray) -> np.ndarray:
    xc = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    # The D x D covariance eigenproblem is cheaper than an SVD of the N x D matrix when N >> D.
    if xc.shape[1] <= xc.shape[0]:
        _, vecs = np.linalg.eigh(xc.T @ xc)
        v = vecs[:, -1]
    else:
        v = np.linalg.svd(xc, full_matrices=False)[2][0]
    v = v * np.sign(v[np.argmax(np.abs(v))])  # scikit-learn's svd_flip(u_based_decision=False) convention
    return xc @ v


# ---------------------------------------------------------------------------------------------------- cover
def interval_cover(lens: np.ndarray, n_intervals: int = 10, overlap: float = 0.3) -> np.ndarray:
    """The (n_intervals, 2) closed intervals [low, high] of KeplerMapper's 1-D cover of ``lens``.

    With r = max - min, the centres are evenly spaced from min + r/(2n) to max - r/(2n) and every interval has
    radius r / (2 n (1 - overlap)), so neighbouring intervals share the fraction ``overlap`` of their length.
    The arithmetic is KeplerMapper's, operation for operation, so boundary points fall the same way.

    Example
    -------
    >>> interval_cover(np.array([0.0, 10.0]), n_intervals=2, overlap=0.5)
    array([[-2.5,  7.5],
           [ 2.5, 12.5]])
    """
    n_intervals, overlap = _check_cover(n_intervals, overlap)
    lens = np.asarray(lens, dtype=np.float64)
    lo, hi = lens.min(), lens.max()
    ranges = hi - lo
    inner_range = ((n_intervals - 1) / n_intervals) * ranges
    inset = (ranges - inner_range) / 2
    radius = ranges / (2 * n_intervals * (1 - overlap))
    centers = np.linspace(lo + inset, hi - inset, num=n_intervals)
    return np.stack([centers - radius, centers + radius], axis=1)


def _check_cover(n_intervals: Any, overlap: Any) -> tuple[int, float]:
    if isinstance(n_intervals, bool) or not isinstance(n_intervals, (int, np.integer)) or n_intervals < 1:
        raise NapInputError(
            f"n_intervals={n_intervals!r} is not a positive integer", "use an integer >= 1, e.g. 10"
        )
    try:
        overlap = float(overlap)
    except (TypeError, ValueError):
        raise NapInputError(
            f"overlap={overlap!r} is not a number", "use a fraction in [0, 1), e.g. 0.3"
        ) from None
    if not 0.0 <= overlap < 1.0:
        raise NapInputError(
            f"overlap={overlap} is outside [0, 1)", "use a fraction in [0, 1), e.g. 0.3 for 30 %"
        )
    return int(n_intervals), overlap


# ---------------------------------------------------------------------------------------------------- eps
def auto_eps(
    activations: Any,
    *,
    min_samples: int = 3,
    metric: str = "euclidean",
    max_points: int = 2000,
    seed: int = 0,
    layer: str | None = None,
) -> float:
    """Adaptive DBSCAN radius: the elbow of the sorted k-nearest-neighbour distance curve.

    Method (Ester et al.'s k-dist heuristic, with the elbow found as in "Kneedle"): for up to ``max_points``
    inputs (a seeded random subsample, queried against *all* inputs so densities are not thinned) take the
    distance to the k-th nearest input, k = ``min_samples`` counting the input itself, i.e. the smallest eps
    at which that input is a DBSCAN core point (k = 2, the nearest other input, when ``min_samples=1``). Sort
    ascending, rescale both axes to [0, 1] and return the distance at the point farthest below the chord from
    the first to the last point: where the curve turns from dense inputs (flat part) to sparse ones (steep
    part). One eps for the whole graph, so the result can be reproduced with ``DBSCAN(eps=graph.eps)`` in
    KeplerMapper.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 20])
    >>> 0 < auto_eps(x, min_samples=3) < 2
    True
    """
    x, _ = as_matrix(activations, layer)
    _check_dbscan(min_samples, metric)
    if max_points < 2:
        raise NapInputError(f"max_points={max_points} is too small", "use at least a few hundred, e.g. 2000")
    return _auto_eps(Geometry(x, metric), min_samples, max_points, seed)


def _auto_eps(geom: Geometry, min_samples: int, max_points: int, seed: int) -> float:
    n = len(geom.xs)
    # min_samples=1 makes every input core and its "1st neighbour" itself (distance 0): use the nearest other.
    k = min(max(min_samples, 2), n)
    query = np.arange(n)
    if n > max_points:
        query = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    kd = np.sort(geom.kth_distance(query, k))
    positive = kd[kd > 0]
    if positive.size == 0:  # every input has k exact duplicates: any positive radius gives the same clusters
        return 1e-12
    span = kd[-1] - kd[0]
    if span <= 0 or len(kd) < 3:
        return float(max(kd[-1], positive[0]))
    xs = np.linspace(0.0, 1.0, len(kd))
    ys = (kd - kd[0]) / span
    eps = float(kd[int(np.argmax(xs - ys))])
    return eps if eps > 0 else float(positive[0])


# ---------------------------------------------------------------------------------------------------- DBSCAN
def _check_dbscan(min_samples: Any, metric: str) -> None:
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        raise NapInputError(
            f"min_samples={min_samples!r} is not a positive integer", "use an integer >= 1, e.g. 3"
        )
    if metric not in METRICS:
        raise NapInputError(
            f"unknown metric={metric!r}", f"use one of {METRICS}, or pass your own clusterer="
        )


def dbscan_labels(
    adjacency: sparse.spmatrix | np.ndarray, min_samples: int, *, order_key: np.ndarray | None = None
) -> np.ndarray:
    """scikit-learn's DBSCAN labels from a boolean eps-neighbour matrix (self-pairs may be present or not).

    Core points have at least ``min_samples`` neighbours counting themselves; clusters are the connected
    components of core points; a border point joins the first cluster, in label order, that reaches it; labels
    are numbered by each cluster's lowest core index. This is exactly the order in which scikit-learn's
    ``dbscan_inner`` assigns them, so the labels equal ``DBSCAN(...).fit_predict`` on the same rows.
    ``order_key`` (N,) gives the rows' positions in the order scikit-learn would see them (default: as given),
    so rows can be passed in any order.

    Example
    -------
    >>> a = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], bool)
    >>> dbscan_labels(a, min_samples=2)
    array([0, 0, 1, 1])
    """
    coo = sparse.coo_matrix(adjacency)
    n = coo.shape[0]
    off = (coo.row < coo.col) & (coo.data != 0)  # one entry per unordered pair; self-pairs are implicit
    key = np.arange(n) if order_key is None else np.asarray(order_key, dtype=np.int64)
    return labels_from_pairs(
        n, coo.col[off].astype(np.int64), coo.row[off].astype(np.int64), min_samples, key
    )


def _min_cluster_samples(clusterer: Any) -> int:
    """KeplerMapper's rule for the smallest interval it clusters (fewer points: the interval has no node)."""
    params = clusterer.get_params() if hasattr(clusterer, "get_params") else {}
    for name in ("n_clusters", "min_cluster_size", "min_samples"):
        value = params.get(name)
        if value and isinstance(value, int):
            return value
    return 2


def _fast_dbscan_params(clusterer: Any) -> tuple[float, int, str] | None:
    """(eps, min_samples, metric) when ``clusterer`` is a scikit-learn DBSCAN the built-in one reproduces."""
    try:
        from sklearn.cluster import DBSCAN
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return None
    if type(clusterer) is not DBSCAN:
        return None
    p = clusterer.get_params()
    metric = p["metric"]
    if metric == "minkowski" and p.get("p") in (None, 2, 2.0):
        metric = "euclidean"
    if metric not in METRICS or p.get("metric_params") or (p.get("p") not in (None, 2, 2.0)):
        return None
    return float(p["eps"]), int(p["min_samples"]), metric


# ------------------------------------------------------------------------------------------------ the graph
@dataclass
class MapperGraph:
    """A Mapper graph: nodes are clusters of inputs within one lens interval, edges join nodes sharing inputs.

    Attributes
    ----------
    nodes : list of (size,) int64 arrays, the input indices of each node (ascending). Nodes are ordered by
        interval, then by cluster label within the interval.
    node_interval : (n_nodes,) the cover interval each node came from.
    edges : (n_edges, 2) int64 node pairs (source < target), in lexicographic order.
    shared : (n_edges,) number of inputs the two nodes share.
    jaccard : (n_edges,) |A & B| / |A | B|.
    lens : (N,) lens value of every input; ``intervals`` (n_intervals, 2) the cover.
    mean_lens : (n_nodes,) mean lens value of each node's members (TopoAct's node colour).
    mean_activation : (n_nodes, D) float32 mean activation vector of each node.
    top_classes : per node, a list of (label, count, share) for its ``top_k`` most frequent classes
        (empty lists when no labels were given).
    eps : the DBSCAN radius used (the chosen one when ``eps="auto"``), None with a custom clusterer.
    params : the parameters used, JSON-able.

    Example
    -------
    >>> x = np.random.default_rng(0).normal(size=(200, 5))
    >>> g = mapper_graph(x, n_intervals=5, overlap=0.3, eps=1.5)
    >>> g.n_nodes > 0, sorted(g.to_dict()["nodes"][0])
    (True, ['id', 'interval', 'mean_lens', 'members', 'size', 'top_classes'])
    """

    nodes: list[np.ndarray]
    node_interval: np.ndarray
    edges: np.ndarray
    shared: np.ndarray
    jaccard: np.ndarray
    lens: np.ndarray
    intervals: np.ndarray
    mean_lens: np.ndarray
    mean_activation: np.ndarray
    top_classes: list[list[tuple[Any, int, float]]]
    eps: float | None
    params: dict[str, Any]
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    layer: str | None = None
    _membership: sparse.csr_matrix | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def sizes(self) -> np.ndarray:
        """(n_nodes,) members per node."""
        return np.array([len(m) for m in self.nodes], dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"MapperGraph(n_nodes={self.n_nodes}, n_edges={self.n_edges}, layer={self.layer!r}, "
            f"lens={self.params.get('lens')!r}, eps={self.eps})"
        )

    def nodes_containing(self, i: int) -> np.ndarray:
        """Ids of the nodes that hold input ``i`` (none when it was DBSCAN noise in every interval).

        Example
        -------
        >>> g = mapper_graph(np.arange(20.0)[:, None], n_intervals=2, overlap=0.5, eps=1.5, min_samples=2)
        >>> g.nodes_containing(10).tolist()
        [0, 1]
        """
        m = self._membership
        if m is None:
            return np.flatnonzero([np.isin(i, nd) for nd in self.nodes])
        col = m[:, int(i)]
        return np.sort(col.nonzero()[0]).astype(np.int64)

    def to_networkx(self):
        """A ``networkx.Graph``: node attributes size, members, mean_lens, interval, top_classes; edge
        attributes shared and jaccard (also as ``weight``).

        Example
        -------
        >>> g = mapper_graph(np.arange(20.0)[:, None], n_intervals=2, overlap=0.5, eps=1.5, min_samples=2)
        >>> g.to_networkx().number_of_edges()
        1
        """
        try:
            import networkx as nx
        except ImportError:
            raise ImportError(
                "MapperGraph.to_networkx needs networkx: pip install napwidget[topology]"
            ) from None
        graph = nx.Graph(**{k: v for k, v in self.params.items() if v is not None})
        for i, members in enumerate(self.nodes):
            graph.add_node(
                i,
                size=len(members),
                members=members.tolist(),
                mean_lens=float(self.mean_lens[i]),
                interval=int(self.node_interval[i]),
                top_classes=self.top_classes[i],
            )
        for (a, b), s, j in zip(self.edges.tolist(), self.shared.tolist(), self.jaccard.tolist()):
            graph.add_edge(a, b, shared=s, jaccard=j, weight=j)
        return graph

    def to_kmapper(self) -> dict[str, Any]:
        """The graph in KeplerMapper's format (``KeplerMapper.map``'s dict), for kmapper's own tools.

        Node ids are kmapper's ``"cube{i}_cluster{j}"``; see :mod:`napwidget.topology.kmapper_format`.

        Example
        -------
        >>> g = mapper_graph(np.arange(20.0)[:, None], n_intervals=2, overlap=0.5, eps=1.5, min_samples=2)
        >>> g.to_kmapper()["links"]
        {'cube0_cluster0': ['cube1_cluster0']}
        >>> kmapper.KeplerMapper().visualize(g.to_kmapper(), path_html="mapper.html")  # doctest: +SKIP
        """
        from napwidget.topology.kmapper_format import to_kmapper_dict

        return to_kmapper_dict(self)

    def to_dict(
        self, *, include_members: bool = True, include_mean_activation: bool = False
    ) -> dict[str, Any]:
        """JSON-able view model for the widget.

        ``{"nodes": [{id, interval, size, members, mean_lens, top_classes: [{label, name, count, share}]}],
        "edges": [{source, target, shared, jaccard}], "intervals": [[low, high], ...], "params": {...}}``.

        Example
        -------
        >>> import json
        >>> g = mapper_graph(np.arange(20.0)[:, None], n_intervals=2, overlap=0.5, eps=1.5, min_samples=2)
        >>> json.loads(json.dumps(g.to_dict()))["edges"]
        [{'source': 0, 'target': 1, 'shared': 10, 'jaccard': 0.5}]
        """
        nodes = []
        for i, members in enumerate(self.nodes):
            node: dict[str, Any] = {
                "id": i,
                "interval": int(self.node_interval[i]),
                "size": len(members),
                "mean_lens": float(self.mean_lens[i]),
                "top_classes": [
                    {
                        "label": _jsonable(lab),
                        "name": self._class_name(lab),
                        "count": int(c),
                        "share": float(s),
                    }
                    for lab, c, s in self.top_classes[i]
                ],
            }
            if include_members:
                node["members"] = members.tolist()
            if include_mean_activation:
                node["mean_activation"] = self.mean_activation[i].tolist()
            nodes.append(node)
        edges = [
            {"source": a, "target": b, "shared": s, "jaccard": j}
            for (a, b), s, j in zip(self.edges.tolist(), self.shared.tolist(), self.jaccard.tolist())
        ]
        return {
            "layer": self.layer,
            "n_inputs": len(self.lens),
            "nodes": nodes,
            "edges": edges,
            "intervals": self.intervals.tolist(),
            "lens_range": [float(self.lens.min()), float(self.lens.max())],
            "params": dict(self.params),
        }

    def _class_name(self, lab: Any) -> str:
        if (
            self.class_names is not None
            and isinstance(lab, (int, np.integer))
            and 0 <= lab < len(self.class_names)
        ):
            return str(self.class_names[int(lab)])
        return str(lab)


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def mapper_graph(
    activations: Any,
    *,
    layer: str | None = None,
    lens: str | np.ndarray | Callable[[np.ndarray], Any] = "l2norm",
    n_intervals: int = 10,
    overlap: float = 0.3,
    clusterer: Any = None,
    eps: float | str = "auto",
    min_samples: int = 3,
    metric: str = "euclidean",
    labels: Any = None,
    class_names: list[str] | None = None,
    min_intersection: int = 1,
    top_k: int = 3,
    max_points_eps: int = 2000,
    seed: int = 0,
    progress: bool | None = None,
) -> MapperGraph:
    """Build the Mapper graph of a layer's activations (TopoAct's pipeline).

    1. lens: one value per input (default the L2 norm of its activation vector);
    2. cover: ``n_intervals`` closed intervals overlapping by the fraction ``overlap`` (KeplerMapper's
       geometry, see :func:`interval_cover`);
    3. clustering of each interval's inputs in activation space: DBSCAN(``eps``, ``min_samples``, ``metric``)
       by default, or any scikit-learn-style ``clusterer`` (``fit_predict`` or ``fit`` + ``labels_``; label -1
       is noise and gives no node). Intervals with fewer points than the clusterer's minimum
       (``n_clusters``/``min_cluster_size``/``min_samples``, else 2) are skipped, as KeplerMapper skips them;
    4. nerve: two nodes are joined when they share at least ``min_intersection`` inputs.

    Deterministic: the same input and parameters give the same graph (``eps="auto"`` uses a seeded subsample).

    Parameters
    ----------
    activations : an (N, D) array or Tensor, an Activations / mapping with ``layer=``, or a NAPs (its
        features).
    lens : ``"l2norm"``, ``"pca"``, an (N,) array or a callable, see :func:`compute_lens`.
    n_intervals : number of intervals, >= 1.
    overlap : fraction of each interval shared with its neighbour, in [0, 1); TopoAct uses 0.2, 0.3, 0.5.
    clusterer : None for the built-in DBSCAN. A scikit-learn ``DBSCAN`` with metric euclidean/cosine runs the
        built-in (faster, same labels); any other object is fitted per interval on float64 rows.
    eps : DBSCAN radius, or ``"auto"``: the elbow of the sorted k-NN distance curve (:func:`auto_eps`).
    min_samples : DBSCAN's minimum neighbourhood size, counting the point itself.
    metric : ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity). An all-zero activation vector has no
        direction: it is at cosine distance 1 from every input, itself included (KeplerMapper's behaviour), so
        with eps < 1 it is never clustered.
    labels : (N,) class labels for the node composition; default the labels the input object carries.
    class_names : names for integer labels.
    min_intersection : shared inputs needed for an edge.
    top_k : classes listed per node.
    max_points_eps, seed : subsample size and seed for ``eps="auto"``.
    progress : a tqdm progress bar over the intervals: ``None`` (default) when the run is predicted to take
        more than ~2 s, ``True`` always, ``False`` never.

    Returns
    -------
    MapperGraph

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.uniform(0, 2 * np.pi, 400)
    >>> circle = np.c_[np.cos(theta), np.sin(theta)] + rng.normal(scale=0.05, size=(400, 2))
    >>> g = mapper_graph(circle, lens=circle[:, 0], n_intervals=6, overlap=0.3, eps=0.3)
    >>> g.n_nodes, g.n_edges   # a loop: two arcs in the middle intervals
    (10, 10)
    """
    x, layer = as_matrix(activations, layer)
    n_intervals, overlap = _check_cover(n_intervals, overlap)
    if (
        isinstance(min_intersection, bool)
        or not isinstance(min_intersection, (int, np.integer))
        or min_intersection < 1
    ):
        raise NapInputError(
            f"min_intersection={min_intersection!r} is not a positive integer", "use 1 (the default) or more"
        )
    n = len(x)
    label_arr = per_input(labels if labels is not None else default_labels(activations), n, "labels")
    lens_values = compute_lens(x, lens)
    intervals = interval_cover(lens_values, n_intervals, overlap)

    fast = None
    if clusterer is None:
        _check_dbscan(min_samples, metric)
        fast = (eps, int(min_samples), metric)
    else:
        if not (hasattr(clusterer, "fit_predict") or hasattr(clusterer, "fit")):
            raise NapInputError(
                f"clusterer {clusterer!r} has neither fit_predict nor fit",
                "pass a scikit-learn-style clusterer, e.g. sklearn.cluster.DBSCAN(eps=0.5)",
            )
        fast = _fast_dbscan_params(clusterer)

    # Sorting by lens makes every interval a contiguous run [start, stop) of the sorted order.
    order = np.argsort(lens_values, kind="stable")
    sorted_lens = lens_values[order]
    starts = np.searchsorted(sorted_lens, intervals[:, 0], side="left")
    stops = np.searchsorted(sorted_lens, intervals[:, 1], side="right")

    report = ProgressBar(
        progress, f"Mapper {layer}" if layer else "Mapper", expected=expected_seconds("mapper", n, x.shape[1])
    )
    used_eps: float | None = None
    if fast is not None:
        f_eps, f_min, f_metric = fast
        geom = Geometry(x, f_metric)
        if isinstance(f_eps, str):
            if f_eps != "auto":
                raise NapInputError(f"eps={f_eps!r}", "use a positive number or 'auto'")
            report(0.0, "auto eps")
            f_eps = _auto_eps(geom, f_min, max_points_eps, seed)
        elif not np.isfinite(f_eps) or f_eps <= 0:
            raise NapInputError(
                f"eps={f_eps!r} is not a positive number", "use a positive radius or eps='auto'"
            )
        used_eps = float(f_eps)
        # KeplerMapper skips intervals with fewer points than its _min_cluster_samples rule gives.
        min_pts = f_min if clusterer is None else _min_cluster_samples(clusterer)
        cube_labels = cluster_intervals(geom, order, starts, stops, used_eps, f_min, min_pts, report)
    else:
        min_pts = _min_cluster_samples(clusterer)
        x64 = np.asarray(x, dtype=np.float64)
        cube_labels = []
        for k, (s, e) in enumerate(zip(starts, stops)):
            report(k / len(starts), "intervals")
            if e - s < max(min_pts, 1):
                cube_labels.append(None)
                continue
            idx = np.sort(order[s:e])  # original row order, as KeplerMapper passes the rows
            cube_labels.append((idx, _fit_labels(clusterer, x64[idx])))
    report.close()

    nodes: list[np.ndarray] = []
    node_interval: list[int] = []
    for k, item in enumerate(cube_labels):
        if item is None:
            continue
        idx, lab = item
        for c in np.unique(lab[lab >= 0]) if lab.dtype.kind in "iu" else _unique_clusters(lab):
            nodes.append(idx[lab == c].astype(np.int64))
            node_interval.append(k)

    membership, edges, shared, jaccard = _nerve(nodes, n, min_intersection)
    mean_lens = np.array([lens_values[m].mean() for m in nodes], dtype=np.float64)
    mean_act = np.zeros((len(nodes), x.shape[1]), dtype=np.float32)
    for i, m in enumerate(nodes):
        mean_act[i] = x[m].mean(axis=0, dtype=np.float64)
    top = [_top_classes(label_arr[m], top_k) if label_arr is not None else [] for m in nodes]

    params = {
        "lens": lens if isinstance(lens, str) else "custom",
        "n_intervals": n_intervals,
        "overlap": overlap,
        "clusterer": "DBSCAN" if clusterer is None else repr(clusterer),
        "eps": used_eps,
        "eps_mode": "auto" if isinstance(eps, str) and clusterer is None else "fixed",
        "min_samples": fast[1] if fast else None,
        "metric": metric if clusterer is None else (fast[2] if fast else None),
        "min_intersection": int(min_intersection),
        "layer": layer,
    }
    return MapperGraph(
        nodes=nodes,
        node_interval=np.asarray(node_interval, dtype=np.int64),
        edges=edges,
        shared=shared,
        jaccard=jaccard,
        lens=lens_values,
        intervals=intervals,
        mean_lens=mean_lens,
        mean_activation=mean_act,
        top_classes=top,
        eps=used_eps,
        params=params,
        labels=label_arr,
        class_names=list(class_names) if class_names is not None else None,
        layer=layer,
        _membership=membership,
    )


def _nerve(
    nodes: list[np.ndarray], n: int, min_intersection: int
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Node x input incidence, and the edges between nodes sharing >= min_intersection inputs.

    One sparse product gives every pairwise intersection size (KeplerMapper tests all node pairs with Python
    sets); Jaccard = shared / (|A| + |B| - shared), an exact integer ratio rounded once.
    """
    sizes = np.array([len(m) for m in nodes], dtype=np.int64)
    rows = np.repeat(np.arange(len(nodes)), sizes)
    cols = np.concatenate(nodes) if nodes else np.zeros(0, dtype=np.int64)
    membership = sparse.csr_matrix((np.ones(len(cols), dtype=np.int64), (rows, cols)), shape=(len(nodes), n))
    inter = sparse.triu(membership @ membership.T, k=1).tocoo()
    keep = inter.data >= min_intersection
    a, b, shared = (
        inter.row[keep].astype(np.int64),
        inter.col[keep].astype(np.int64),
        inter.data[keep].astype(np.int64),
    )
    o = np.lexsort((b, a))
    a, b, shared = a[o], b[o], shared[o]
    jaccard = shared / (sizes[a] + sizes[b] - shared)
    return membership, np.stack([a, b], axis=1).reshape(-1, 2), shared, jaccard.astype(np.float64)


def _top_classes(labels: np.ndarray, top_k: int) -> list[tuple[Any, int, float]]:
    """The ``top_k`` most frequent labels (ties: smaller label first) with counts and shares."""
    values, counts = np.unique(labels, return_counts=True)
    o = np.lexsort((np.arange(len(values)), -counts))[:top_k]
    total = len(labels)
    return [(_jsonable(values[i]), int(counts[i]), float(counts[i] / total)) for i in o]


def _unique_clusters(lab: np.ndarray) -> np.ndarray:
    """Cluster ids of a float/other label array, noise (-1) and NaN dropped (as KeplerMapper drops them)."""
    u = np.unique(lab)
    keep = [c for c in u if not (c == -1 or (isinstance(c, float) and np.isnan(c)))]
    return np.asarray(keep)


def _fit_labels(clusterer: Any, rows: np.ndarray) -> np.ndarray:
    if hasattr(clusterer, "fit_predict"):
        lab = clusterer.fit_predict(rows)
    else:
        lab = clusterer.fit(rows).labels_
    lab = np.asarray(lab)
    if lab.shape != (len(rows),):
        raise NapInputError(
            f"clusterer returned labels of shape {lab.shape} for {len(rows)} rows",
            "pass a clusterer whose fit_predict returns one label per row",
        )
    return lab
