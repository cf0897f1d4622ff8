"""Topology views of the widget: view models of the Mapper graph, the persistence diagram and the NAP flow.

The builders (:func:`mapper_view`, :func:`diagram_view`, :func:`flow_view`) take an
:class:`~napwidget.explorer.Explorer` and return JSON-able dicts; they are testable without a widget.
:class:`TopologyViews` is the widget side: a traitlets mixin of :class:`~napwidget.widget.NapWidget` that
holds the topology traits and recomputes a view model only while its panel is open (the first render stays
fast).

Traits (synced)
---------------
topology_open : which lazy panels are open, a subset of ``["mapper", "flow", "diagram"]`` ("diagram" = the
    scatter shows the persistence diagram). Only open panels are computed; closed ones are emptied.
mapper_params : ``{"lens", "n_intervals", "overlap", "eps", "min_samples", "metric"}`` of the Mapper graph
    (``eps`` is ``"auto"`` or a positive number). Invalid values are reverted, with the problem in ``error``.
flow_layers : layer names of the flow view, in model order; ``[]`` = the current layer and the next one.
mapper, diagram, flow : the view models (kernel -> front end), ``{}`` while the panel is closed.

Selecting from a topology view sets ``selected_indices`` (the members of the clicked Mapper nodes or flow
band), exactly as the front end does; :meth:`TopologyViews.select_mapper_nodes` / :meth:`select_flow_link` do
it from Python.
"""

from __future__ import annotations

import copy
import functools
import math
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import traitlets

from napwidget.errors import NapInputError

PANELS = ("mapper", "flow", "diagram")
LENS_OPTIONS = ("l2norm", "pca")
METRIC_OPTIONS = ("euclidean", "cosine")
MAPPER_DEFAULTS: dict[str, Any] = {
    "lens": "l2norm",
    "n_intervals": 10,
    "overlap": 0.3,
    "eps": "auto",
    "min_samples": 3,
    "metric": "euclidean",
}
MAX_INTERVALS = 200
DIAGRAM_MAX_POINTS = 1500  # persistence bars drawn besides the NAPs' (the most persistent ones)


def _r(x: float, nd: int = 4) -> float | None:
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


# ------------------------------------------------------------------------------------------- parameters
def validate_mapper_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Complete ``params`` with the defaults and check them; raise :class:`NapInputError` (problem + fix).

    Example
    -------
    >>> (validate_mapper_params({"n_intervals": "12", "eps": ""})["n_intervals"],
    ...  validate_mapper_params({})["eps"])
    (12, 'auto')
    """
    p = dict(MAPPER_DEFAULTS)
    unknown = set(params or {}) - set(MAPPER_DEFAULTS)
    if unknown:
        raise NapInputError(
            f"unknown Mapper parameter(s) {sorted(unknown)}", f"use {', '.join(MAPPER_DEFAULTS)}"
        )
    p.update(params or {})
    if p["lens"] not in LENS_OPTIONS:
        raise NapInputError(
            f"unknown Mapper lens {p['lens']!r}", f"use one of {', '.join(map(repr, LENS_OPTIONS))}"
        )
    if p["metric"] not in METRIC_OPTIONS:
        raise NapInputError(
            f"unknown Mapper metric {p['metric']!r}", f"use one of {', '.join(map(repr, METRIC_OPTIONS))}"
        )
    for key, lo, hi in (("n_intervals", 1, MAX_INTERVALS), ("min_samples", 1, 10_000)):
        v = p[key]
        try:
            iv = int(float(v))
            ok = not isinstance(v, bool) and float(v) == iv
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise NapInputError(
                f"Mapper {key.replace('_', ' ')}={v!r} is not a whole number", "type an integer such as 10"
            )
        if not lo <= iv <= hi:
            raise NapInputError(
                f"Mapper {key.replace('_', ' ')}={iv} is out of range", f"use a value between {lo} and {hi}"
            )
        p[key] = iv
    try:
        p["overlap"] = float(p["overlap"])
    except (TypeError, ValueError):
        raise NapInputError(
            f"Mapper overlap={p['overlap']!r} is not a number", "use a fraction such as 0.3"
        ) from None
    if not 0.0 <= p["overlap"] <= 0.9:
        raise NapInputError(
            f"Mapper overlap={p['overlap']:g} is outside 0..0.9", "use a fraction such as 0.3 (30 %)"
        )
    eps = p["eps"]
    if eps is None or (isinstance(eps, str) and eps.strip().lower() in ("", "auto")):
        p["eps"] = "auto"
    else:
        try:
            eps = float(eps)
        except (TypeError, ValueError):
            raise NapInputError(
                f"Mapper eps={p['eps']!r} is not a number", "type a positive radius or 'auto'"
            ) from None
        if not math.isfinite(eps) or eps <= 0:
            raise NapInputError(
                f"Mapper eps={eps:g} is not a positive radius", "type a positive number or leave it on 'auto'"
            )
        p["eps"] = eps
    return p


def default_flow_layers(explorer: Any) -> list[str]:
    """The current layer and the next one (the previous one for the last layer)."""
    layers = list(explorer.layers)
    i = layers.index(explorer.params["layer"])
    if len(layers) < 2:
        return layers
    return layers[i : i + 2] if i + 1 < len(layers) else layers[i - 1 : i + 1]


def validate_flow_layers(explorer: Any, layers: Sequence[str] | None) -> list[str]:
    """Flow layers in model order (``[]``/None: the default pair); raise when unknown or fewer than two."""
    if not layers:
        chosen = default_flow_layers(explorer)
    else:
        unknown = [name for name in layers if name not in explorer.layers]
        if unknown:
            raise NapInputError(
                f"unknown flow layer(s) {unknown[:3]}", f"pick from {', '.join(explorer.layers[:12])}"
            )
        want = set(layers)
        chosen = [name for name in explorer.layers if name in want]
    if len(chosen) < 2:
        raise NapInputError(
            "the flow needs at least two layers",
            "pick two or more layers (the widget has only one)"
            if len(explorer.layers) < 2
            else "pick two or more layers",
        )
    return chosen


# ------------------------------------------------------------------------------------------- helpers
def _matrix(explorer: Any, layer: str) -> np.ndarray:
    x = explorer.activations[layer]
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x.reshape(len(x), -1) if x.ndim != 2 else x


def _dominant(explorer: Any, members: np.ndarray) -> tuple[int | None, float | None, list[list[float]]]:
    """(dominant class code, its share, [[code, count, share], ...] top 3) of ``members``."""
    codes = explorer.label_codes
    if codes is None or len(members) == 0:
        return None, None, []
    c = codes[members]
    c = c[c >= 0]
    if not len(c):
        return None, None, []
    counts = np.bincount(c, minlength=len(explorer.classes))
    order = np.lexsort((np.arange(len(counts)), -counts))
    order = order[counts[order] > 0][:3]
    top = [[int(k), int(counts[k]), _r(counts[k] / len(members), 4)] for k in order]
    return int(order[0]), _r(counts[order[0]] / len(members), 4), top


def naps_at(explorer: Any, layer: str, cache: dict | None = None) -> Any:
    """The NAPs of ``layer`` at the explorer's current clustering parameters, without changing its state."""
    from napwidget.views.crosslayer import naps_with

    return naps_with(explorer, {"layer": layer}, cache)


# ------------------------------------------------------------------------------------------- mapper
def mapper_view(
    explorer: Any, params: Mapping[str, Any] | None = None, layer: str | None = None
) -> dict[str, Any]:
    """The Mapper graph of ``layer`` (default: the current one) as the mapper view draws it.

    ``{"layer", "params" (validated, "eps_used"), "n", "nodes": [{id, size, members, interval, mean_lens, l2,
    dominant, purity, top: [[class code, count, share]]}], "edges": [{source, target, shared, jaccard}],
    "l2_range", "n_intervals", "covered"}``. Class codes index the main view model's
    ``classes``/``class_colors``.
    """
    from napwidget.topology import mapper_graph

    p = validate_mapper_params(params)
    layer = layer or explorer.params["layer"]
    x = _matrix(explorer, layer)
    try:
        g = mapper_graph(
            x,
            lens=p["lens"],
            n_intervals=p["n_intervals"],
            overlap=p["overlap"],
            eps=p["eps"],
            min_samples=p["min_samples"],
            metric=p["metric"],
        )
    except NapInputError:
        raise
    except MemoryError:
        raise NapInputError(
            f"not enough memory for the Mapper graph of layer {layer!r}",
            "use fewer intervals, a smaller eps or fewer inputs",
        ) from None
    except Exception as exc:  # any kernel failure is a readable message
        raise NapInputError(
            f"the Mapper graph of layer {layer!r} failed ({type(exc).__name__}: {exc})",
            "try other Mapper parameters",
        ) from exc
    norms = np.linalg.norm(x.astype(np.float64, copy=False), axis=1)
    nodes = []
    for i, members in enumerate(g.nodes):
        dom, purity, top = _dominant(explorer, members)
        nodes.append(
            {
                "id": i,
                "size": int(len(members)),
                "members": members.astype(int).tolist(),
                "interval": int(g.node_interval[i]),
                "mean_lens": _r(g.mean_lens[i], 5),
                "l2": _r(norms[members].mean(), 5),
                "dominant": dom,
                "purity": purity,
                "top": top,
            }
        )
    edges = [
        {"source": int(a), "target": int(b), "shared": int(s), "jaccard": _r(j, 5)}
        for (a, b), s, j in zip(g.edges.tolist(), g.shared.tolist(), g.jaccard.tolist())
    ]
    l2 = [n["l2"] for n in nodes if n["l2"] is not None]
    covered = np.unique(np.concatenate(g.nodes)).size if g.nodes else 0
    return {
        "layer": layer,
        "params": {**p, "eps_used": _r(g.eps, 6) if g.eps is not None else None},
        "n": int(len(x)),
        "n_intervals": p["n_intervals"],
        "nodes": nodes,
        "edges": edges,
        "l2_range": [min(l2), max(l2)] if l2 else [0.0, 1.0],
        "covered": int(covered),
    }


def mapper_members(vm: Mapping[str, Any], node_ids: Iterable[int]) -> list[int]:
    """Union of the members of the given Mapper nodes, ascending (what a node click selects)."""
    by_id = {n["id"]: n for n in vm.get("nodes", [])}
    out: set[int] = set()
    for i in node_ids:
        node = by_id.get(int(i))
        if node is None:
            raise NapInputError(f"Mapper node {i} does not exist", f"pick ids 0..{len(by_id) - 1}")
        out.update(node["members"])
    return sorted(out)


def mapper_highlight(vm: Mapping[str, Any], indices: Iterable[int]) -> dict[int, float]:
    """Node id -> share of its members among ``indices``, for the nodes holding at least one of them
    (the nodes the mapper view highlights for a selection, e.g. a selected NAP's members)."""
    sel = set(int(i) for i in indices)
    out = {}
    for node in vm.get("nodes", []):
        hit = sum(1 for m in node["members"] if m in sel)
        if hit:
            out[node["id"]] = hit / node["size"]
    return out


# ------------------------------------------------------------------------------------------- diagram
def diagram_view(explorer: Any, max_points: int = DIAGRAM_MAX_POINTS) -> dict[str, Any]:
    """The current layer's 0-dim persistence diagram as a Vega-Lite spec, NAPs linked to their points.

    Points are bars (birth = core distance, death = merge height) of HDBSCAN's single-linkage tree; a NAP's
    point is the bar of its densest input (:func:`~napwidget.topology.nap_diagram_points`); it carries ``nap``
    (>= 0), the others ``nap = -1``. The infinite bar is drawn at the top (``inf`` true, triangle marker).
    """
    from napwidget.topology import h0_bars, nap_diagram_points

    naps = explorer.naps
    tree = getattr(naps, "tree", None)
    if tree is None:
        raise NapInputError(
            "these NAPs carry no single-linkage tree", "recompute them (find_naps keeps the tree)"
        )
    bars = h0_bars(tree.mst, tree.core_distances)
    k = int(naps.n_naps)
    points = nap_diagram_points(naps) if k else np.zeros((0, 5))
    nap_of_vertex = {}
    for i in range(k):
        nap_of_vertex.setdefault(int(points[i, 2]), i)
    birth, death = bars.birth, bars.death
    length = np.where(np.isinf(death), np.inf, death - birth)
    candidates = np.flatnonzero((death > birth) & ~np.isin(np.arange(len(birth)), list(nap_of_vertex)))
    n_bars = int(np.sum(death > birth))
    shown = candidates[np.argsort(-length[candidates], kind="stable")[:max_points]]
    finite = death[np.isfinite(death)]
    hi = float(max(finite.max() if finite.size else 0.0, birth.max() if birth.size else 0.0))
    lo = float(birth.min()) if birth.size else 0.0
    lo = (
        max(0.0, lo - 0.06 * (hi - lo)) if hi > lo else 0.0
    )  # zoomed to the bars: births start at core distances
    top = hi + 0.08 * (hi - lo or 1.0)  # where infinite deaths are drawn
    rows = []
    for v in shown.tolist():
        inf = bool(np.isinf(death[v]))
        rows.append(
            {
                "kind": "bar",
                "nap": -1,
                "birth": _r(birth[v], 5),
                "death": _r(top if inf else death[v], 5),
                "inf": inf,
                "persistence": None if inf else _r(death[v] - birth[v], 5),
                "input": int(v),
            }
        )
    vm_rows = {r["id"]: r for r in explorer.view_model()["naps"]}
    for v, i in sorted(nap_of_vertex.items(), key=lambda t: t[1]):
        inf = bool(np.isinf(death[v]))
        row = vm_rows.get(i, {})
        dom = row.get("dominant")
        rows.append(
            {
                "kind": "nap",
                "nap": i,
                "birth": _r(birth[v], 5),
                "death": _r(top if inf else death[v], 5),
                "inf": inf,
                "persistence": None if inf else _r(death[v] - birth[v], 5),
                "input": int(v),
                "size": int(row.get("size", 0)),
                "dominant": explorer.classes[dom] if dom is not None else "",
            }
        )
    rows += [
        {"kind": "diag", "birth": _r(lo, 5), "death": _r(lo, 5)},
        {"kind": "diag", "birth": _r(top, 5), "death": _r(top, 5)},
    ]
    rows += [
        {"kind": "infline", "birth": _r(lo, 5), "death": _r(top, 5)},
        {"kind": "infline", "birth": _r(top, 5), "death": _r(top, 5)},
    ]
    has_labels = explorer.label_codes is not None
    spec = copy.deepcopy(_diagram_template(has_labels, k <= 60))
    spec["data"] = {"values": rows}
    present = sorted({r["dominant"] for r in vm_rows.values() if r.get("dominant") is not None})
    for layer in spec["layer"]:
        enc = layer.get("encoding", {})
        for ch in ("x", "y"):
            if ch in enc and "scale" in enc[ch]:
                enc[ch]["scale"]["domain"] = [_r(lo, 5), _r(top, 5)]
        if has_labels and isinstance(enc.get("color"), dict) and enc["color"].get("field") == "dominant":
            enc["color"]["scale"] = {
                "domain": [explorer.classes[c] for c in present],
                "range": [explorer.class_color(c) for c in present],
            }
    return {
        "layer": explorer.params["layer"],
        "params": dict(explorer.params),
        "spec": spec,
        "n_bars": n_bars,
        "n_shown": int(len(shown)) + len(nap_of_vertex),
        "naps": [
            {"nap": i, "birth": _r(points[i, 0], 5), "death": _r(points[i, 1], 5), "input": int(points[i, 2])}
            for i in range(k)
        ],
    }


@functools.lru_cache(maxsize=4)
def _diagram_template(has_labels: bool, with_text: bool) -> dict:
    """Vega-Lite structure of the diagram (built with Altair and validated once); data and domains filled
    later."""
    import altair as alt

    from napwidget.views.chart_templates import highlight, nap_color

    napsel = alt.param(name="napsel", value=[])
    hover = alt.param(name="napHover", value=-1)
    is_sel = "indexof(napsel, datum.nap) >= 0"
    any_sel = "length(napsel) > 0"
    lit = f"{is_sel} || datum.nap == napHover"
    x = alt.X(
        "birth:Q", title="birth (core distance)", scale=alt.Scale(domain=[0, 1], nice=False, zero=False)
    )
    y = alt.Y(
        "death:Q",
        title="death (merge height) · ∞ at the top",
        scale=alt.Scale(domain=[0, 1], nice=False, zero=False),
    )
    base = alt.Chart(alt.Data(values=[{"kind": "bar", "birth": 0.0, "death": 0.0}]))
    shape = alt.condition("datum.inf", alt.value("triangle-up"), alt.value("circle"))
    diag = (
        base.transform_filter("datum.kind == 'diag'")
        .mark_line(strokeDash=[4, 3], strokeWidth=1, color="#9aa1ab")
        .encode(x=x, y=y)
    )
    infline = (
        base.transform_filter("datum.kind == 'infline'")
        .mark_line(strokeDash=[2, 3], strokeWidth=1, color="#9aa1ab")
        .encode(x=x, y=y)
    )
    inflabel = (
        base.transform_filter("datum.kind == 'infline' && datum.birth < datum.death")
        .mark_text(align="left", dx=3, dy=-7, fontSize=12, color="#9aa1ab")
        .encode(x=x, y=y, text=alt.value("∞"))
    )
    others = (
        base.transform_filter("datum.kind == 'bar'")
        .mark_point(filled=True, size=22)
        .encode(
            x=x,
            y=y,
            shape=shape,
            color=alt.value("#9aa1ab"),
            opacity=alt.value(0.55),
            tooltip=[
                alt.Tooltip("birth:Q", format=".3f"),
                alt.Tooltip("death:Q", format=".3f"),
                alt.Tooltip("input:Q", title="densest input"),
            ],
        )
    )
    color = nap_color(alt, has_labels)
    tooltip = [
        alt.Tooltip("nap:Q", title="NAP"),
        alt.Tooltip("size:Q", title="members"),
        alt.Tooltip("birth:Q", format=".3f"),
        alt.Tooltip("death:Q", format=".3f"),
        alt.Tooltip("persistence:Q", title="bar length", format=".3f"),
    ]
    if has_labels:
        tooltip.append(alt.Tooltip("dominant:N", title="dominant label"))
    nap_points = (
        base.transform_filter("datum.kind == 'nap'")
        .mark_point(filled=True, size=120)
        .encode(
            x=x,
            y=y,
            shape=shape,
            color=color,
            tooltip=tooltip,
            **highlight(alt, lit, f"{lit} || !({any_sel})", stroke_dim=0.3),
        )
        .add_params(napsel, hover)
    )
    layers = [diag, infline, inflabel, others, nap_points]
    if with_text:
        layers.append(
            base.transform_filter("datum.kind == 'nap'")
            .mark_text(align="left", dx=7, dy=-6, fontSize=10)
            .encode(
                x=x,
                y=y,
                text=alt.Text("nap:Q"),
                opacity=alt.condition(f"{is_sel} || !({any_sel})", alt.value(0.85), alt.value(0.3)),
            )
        )
    chart = (
        alt.layer(*layers)
        .properties(width=340, height=250)
        .configure_view(stroke=None)
        .configure(background="transparent")
        .configure_axis(
            grid=True, gridOpacity=0.35, labelFontSize=10, titleFontSize=11, titleFontWeight="normal"
        )
    )
    spec = chart.to_dict()
    spec.pop("$schema", None)
    spec.pop("datasets", None)
    for layer in spec["layer"]:
        layer.pop("data", None)
    return spec


# ------------------------------------------------------------------------------------------- flow
def flow_view(
    explorer: Any, layers: Sequence[str] | None = None, cache: dict | None = None
) -> dict[str, Any]:
    """Alluvial view model of NAP membership across ``layers`` (default: current + next) at the current
    clustering parameters (:func:`~napwidget.topology.nap_flow` on each layer's NAPs).

    ``{"layers", "current", "params", "n", "columns": [{"layer", "n_naps", "nodes": [{nap, size, noise,
    dominant, purity}]}], "links": [{"col", "nap_a", "nap_b", "count", "members", "dominant", "noise"}]}``:
    link ``col`` joins column ``col`` to ``col + 1``.
    """
    from napwidget.topology import nap_flow

    chosen = validate_flow_layers(explorer, layers)
    per_layer = [(name, naps_at(explorer, name, cache)) for name in chosen]
    flow = nap_flow(per_layer)
    columns = []
    for name, lab in zip(flow.layers, flow.labels):
        values, counts = np.unique(lab, return_counts=True)
        nodes = []
        for v, c in zip(values.tolist(), counts.tolist()):
            dom, purity, _ = _dominant(explorer, np.flatnonzero(lab == v))
            nodes.append({"nap": int(v), "size": int(c), "noise": v < 0, "dominant": dom, "purity": purity})
        columns.append({"layer": name, "n_naps": int(max(lab.max() + 1, 0)), "nodes": nodes})
    links = []
    col_of = {name: i for i, name in enumerate(flow.layers)}
    for link in flow.links:
        dom, purity, _ = _dominant(explorer, link.members)
        links.append(
            {
                "col": col_of[link.layer_a],
                "nap_a": link.nap_a,
                "nap_b": link.nap_b,
                "count": link.count,
                "members": link.members.astype(int).tolist(),
                "dominant": dom,
                "purity": purity,
                "noise": bool(link.noise_a or link.noise_b),
            }
        )
    return {
        "layers": list(flow.layers),
        "current": explorer.params["layer"],
        "params": dict(explorer.params),
        "n": int(explorer.n),
        "columns": columns,
        "links": links,
    }


# ------------------------------------------------------------------------------------------- widget mixin
class TopologyViews(traitlets.HasTraits):
    """The topology traits and their lazy recomputation; mixed into NapWidget (call ``_init_topology()``)."""

    topology_open = traitlets.List(traitlets.Unicode()).tag(sync=True, view="topology", state=True)
    mapper_params = traitlets.Dict(dict(MAPPER_DEFAULTS)).tag(sync=True, view="topology", state=True)
    flow_layers = traitlets.List(traitlets.Unicode()).tag(sync=True, view="topology", state=True)
    mapper = traitlets.Dict().tag(sync=True, view="topology")
    diagram = traitlets.Dict().tag(sync=True, view="topology")
    flow = traitlets.Dict().tag(sync=True, view="topology")

    def _init_topology(self) -> None:
        self._topo_cache: OrderedDict[tuple, dict] = OrderedDict()
        self._topo_naps: dict = {}
        self._topo_busy = False
        self._topo_good = {"mapper_params": dict(self.mapper_params), "flow_layers": list(self.flow_layers)}
        self.observe(self._topo_on_view, names=["view"])
        self.observe(self._topo_on_input, names=["topology_open", "mapper_params", "flow_layers"])
        self._topo_refresh(set(PANELS))

    # ---------------------------------------------------------------------------- python API
    def mapper_graph_view(self) -> dict[str, Any]:
        """The Mapper view model of the current layer (computed now if its panel is closed)."""
        return self.mapper or self._topo_compute("mapper")

    def select_mapper_nodes(self, node_ids: Iterable[int]) -> list[int]:
        """Select the members of Mapper nodes (as clicking them does); return the selected indices."""
        self.selected_indices = mapper_members(self.mapper_graph_view(), node_ids)
        return list(self.selected_indices)

    def select_flow_link(self, link: int) -> list[int]:
        """Select the inputs of flow band ``link`` (an index into ``flow["links"]``), as clicking it does."""
        vm = self.flow or self._topo_compute("flow")
        links = vm.get("links", [])
        if not 0 <= int(link) < len(links):
            raise NapInputError(f"flow link {link} does not exist", f"pick 0..{len(links) - 1}")
        self.selected_indices = list(links[int(link)]["members"])
        return list(self.selected_indices)

    # ---------------------------------------------------------------------------- internals
    @contextmanager
    def _topo_working(self):
        was = self.busy
        self.busy = True
        try:
            yield
        finally:
            self.busy = was

    def _topo_key(self, panel: str) -> tuple:
        ex = self._explorer
        p = tuple(ex.params.get(k) for k in sorted(ex.params))
        if panel == "mapper":
            mp = validate_mapper_params(self.mapper_params)
            return ("mapper", ex.params["layer"], tuple(sorted((k, str(v)) for k, v in mp.items())))
        if panel == "flow":
            return ("flow", p, tuple(validate_flow_layers(ex, self.flow_layers)))
        return ("diagram", p)

    def _topo_compute(self, panel: str) -> dict[str, Any]:
        key = self._topo_key(panel)
        hit = self._topo_cache.get(key)
        if hit is not None:
            self._topo_cache.move_to_end(key)
            return hit
        ex = self._explorer
        if panel == "mapper":
            vm = mapper_view(ex, self.mapper_params)
        elif panel == "flow":
            vm = flow_view(ex, self.flow_layers, cache=self._topo_naps)
        else:
            vm = diagram_view(ex)
        self._topo_cache[key] = vm
        while len(self._topo_cache) > 12:
            self._topo_cache.popitem(last=False)
        return vm

    def _topo_refresh(self, panels: Iterable[str]) -> None:
        """Recompute the given panels if open (closed ones are emptied); problems go to ``error``."""
        open_ = set(self.topology_open)
        for panel in panels:
            if panel not in open_:
                if getattr(self, panel):
                    setattr(self, panel, {})
                continue
            try:
                with self._topo_working():
                    vm = self._topo_compute(panel)
            except NapInputError as exc:
                self.error = str(exc)
                self._topo_revert(panel)
            except Exception as exc:  # never let an exception kill the comm
                self.error = (
                    f"Unexpected error in the {panel} view: {type(exc).__name__}: {exc}. Fix: try other "
                    "parameters; details are in the log."
                )
                traceback.print_exc()
                self._topo_revert(panel)
            else:
                setattr(self, panel, vm)
                if panel == "mapper":
                    self._topo_good["mapper_params"] = dict(self.mapper_params)
                elif panel == "flow":
                    self._topo_good["flow_layers"] = list(self.flow_layers)

    def _topo_revert(self, panel: str) -> None:
        name = {"mapper": "mapper_params", "flow": "flow_layers"}.get(panel)
        if name is None:
            return
        good = self._topo_good[name]
        if getattr(self, name) != good:
            self._topo_busy = True
            try:
                setattr(self, name, copy.deepcopy(good))
            finally:
                self._topo_busy = False

    def _topo_on_view(self, change: Any) -> None:
        # a new clustering result (parameters or layer): every open topology panel follows it
        self._topo_refresh(PANELS)

    def _topo_on_input(self, change: Any) -> None:
        if self._topo_busy:
            return
        name = change["name"]
        if name == "topology_open":
            bad = [p for p in change["new"] if p not in PANELS]
            if bad:
                self.error = f"unknown topology panel(s) {bad}. Fix: use {', '.join(PANELS)}."
                self._topo_busy = True
                try:
                    self.topology_open = [p for p in change["new"] if p in PANELS]
                finally:
                    self._topo_busy = False
            old = set(change["old"] or [])
            new = set(self.topology_open)
            self._topo_refresh((new ^ old) & set(PANELS))
        elif name == "mapper_params":
            if "mapper" not in self.topology_open:  # closed: check now, compute when opened
                try:
                    validate_mapper_params(self.mapper_params)
                except NapInputError as exc:
                    self.error = str(exc)
                    self._topo_revert("mapper")
                    return
            self._topo_refresh(["mapper"])
        elif name == "flow_layers":
            self._topo_refresh(["flow"])
