"""napwidget: see what a PyTorch model has learned, from inside a notebook.

Data flow: model -> :mod:`~napwidget.activations` -> analyses (:mod:`~napwidget.naps`, topology, mid-range)
-> widget state -> views.
"""
from napwidget.activations import Activations, LayerInfo, extract, list_layers
from napwidget.errors import NapInputError
from napwidget.midrange import band_naps, curate, evaluate_midrange, logit_bands, retrain_last_layer
from napwidget.naps import NAPs, find_naps, load_naps, top_activating
from napwidget.stored_activations import StoredActivations, open_activations
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
    "StoredActivations",
    "band_naps",
    "clear_tree_cache",
    "curate",
    "evaluate_midrange",
    "extract",
    "find_naps",
    "list_layers",
    "logit_bands",
    "load_naps",
    "mapper_graph",
    "nap_flow",
    "open_activations",
    "persistence_diagram",
    "retrain_last_layer",
    "top_activating",
]
