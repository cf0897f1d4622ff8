"""A :class:`~napwidget.topology.MapperGraph` as KeplerMapper's graph dict, for kmapper's own tooling.

KeplerMapper's ``KeplerMapper.map`` returns ``{"nodes": {id: [members]}, "links": {id: [ids]},
"simplices": [[id], ..., [id_a, id_b], ...], "meta_data": {...}, "meta_nodes": {}}`` with node ids
``"cube{i}_cluster{j}"``:
``i`` counts the non-empty cover intervals (kmapper drops empty hypercubes before numbering), ``j`` is the
cluster's label within its interval. Links go from the earlier node to the later one, as kmapper's
``GraphNerve`` lists them. The dict feeds ``KeplerMapper().visualize(graph, ...)`` and kmapper's
``to_networkx``-style helpers unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from napwidget.topology.mapper import MapperGraph


def node_ids(graph: MapperGraph) -> list[str]:
    """kmapper's ``"cube{i}_cluster{j}"`` id of every node, in node order."""
    lens = np.sort(np.asarray(graph.lens))
    lo, hi = graph.intervals[:, 0], graph.intervals[:, 1]
    counts = np.searchsorted(lens, hi, side="right") - np.searchsorted(lens, lo, side="left")
    cube = np.cumsum(counts > 0) - 1  # index among the non-empty intervals
    ids, seen = [], {}
    for k in graph.node_interval.tolist():
        j = seen.get(k, 0)
        seen[k] = j + 1
        ids.append(f"cube{int(cube[k])}_cluster{j}")
    return ids


def to_kmapper_dict(graph: MapperGraph) -> dict[str, Any]:
    """The graph in KeplerMapper's ``map()`` output format (plain Python types)."""
    ids = node_ids(graph)
    nodes = {ids[i]: m.astype(int).tolist() for i, m in enumerate(graph.nodes)}
    links: dict[str, list[str]] = {}
    for a, b in graph.edges.tolist():
        links.setdefault(ids[a], []).append(ids[b])
    simplices = [[i] for i in ids] + [[a, b] for a, ends in links.items() for b in ends]
    p = graph.params
    meta = {
        "projection": p.get("lens", "custom"),
        "n_cubes": p.get("n_intervals"),
        "perc_overlap": p.get("overlap"),
        "clusterer": p.get("clusterer")
        if p.get("clusterer") != "DBSCAN"
        else f"DBSCAN(eps={graph.eps}, min_samples={p.get('min_samples')}, metric={p.get('metric')!r})",
        "scaler": "None",
        "nerve_min_intersection": p.get("min_intersection", 1),
    }
    return {"nodes": nodes, "links": links, "simplices": simplices, "meta_data": meta, "meta_nodes": {}}
