"""Topology of activations: Mapper graphs (TopoAct), persistence diagrams, and NAP flow across layers.

``mapper_graph`` (lens -> cover -> clustering per interval -> nerve), ``persistence_diagram`` (0-dim from the
NAP engine's single-linkage tree, 1-dim via ripser) and ``nap_flow`` (NAP-to-NAP counts between layers) return
plain objects with ``to_dict()`` for the widget.
"""

from napwidget.topology.flow import FlowLink, NapFlow, nap_flow
from napwidget.topology.mapper import (
    MapperGraph,
    auto_eps,
    compute_lens,
    dbscan_labels,
    interval_cover,
    mapper_graph,
)
from napwidget.topology.persistence import H0Bars, h0_bars, nap_diagram_points, persistence_diagram

__all__ = [
    "FlowLink",
    "H0Bars",
    "MapperGraph",
    "NapFlow",
    "auto_eps",
    "compute_lens",
    "dbscan_labels",
    "h0_bars",
    "interval_cover",
    "mapper_graph",
    "nap_diagram_points",
    "nap_flow",
    "persistence_diagram",
]
