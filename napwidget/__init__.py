"""napwidget: see what a PyTorch model has learned, from inside a notebook.

Data flow: model -> :mod:`~napwidget.activations` -> analyses (:mod:`~napwidget.naps`, topology, mid-range)
-> widget state -> views.
"""
from napwidget.activations import Activations, LayerInfo, extract, list_layers
from napwidget.errors import NapInputError
from napwidget.naps import NAPs, find_naps, load_naps, top_activating
from napwidget.topology import MapperGraph, NapFlow, mapper_graph, nap_flow, persistence_diagram
from napwidget.tree_cache import clear_tree_cache

__version__ = "0.1.0"

__all__ = [
    "Activations",
    "LayerInfo",
    "MapperGraph",
    "NapFlow",
    "NAPs",
    "NapInputError",
    "clear_tree_cache",
    "extract",
    "find_naps",
    "list_layers",
    "load_naps",
    "mapper_graph",
    "nap_flow",
    "persistence_diagram",
    "top_activating",
]
