"""napwidget: see what a PyTorch model has learned, from inside a notebook.

Data flow: model -> :mod:`~napwidget.activations` -> analyses (:mod:`~napwidget.naps`, topology, mid-range)
-> widget state -> views.

``import napwidget`` is light: torch, scipy, altair and the widget load when a name that needs them is first
used (PEP 562 module ``__getattr__``), so command-line tools and worker processes that only need one piece
do not pay for all of them.

Example
-------
>>> import napwidget
>>> napwidget.NapWidget.__name__, napwidget.find_naps.__module__
('NapWidget', 'napwidget.naps')
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from napwidget.errors import NapInputError

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first use)
_LAZY = {
    "Activations": "napwidget.activations",
    "LayerInfo": "napwidget.activations",
    "extract": "napwidget.activations",
    "list_layers": "napwidget.activations",
    "band_naps": "napwidget.midrange",
    "curate": "napwidget.midrange",
    "evaluate_midrange": "napwidget.midrange",
    "logit_bands": "napwidget.midrange",
    "retrain_last_layer": "napwidget.midrange",
    "NAPs": "napwidget.naps",
    "find_naps": "napwidget.naps",
    "load_naps": "napwidget.naps",
    "top_activating": "napwidget.naps",
    "MapperGraph": "napwidget.topology",
    "NapFlow": "napwidget.topology",
    "mapper_graph": "napwidget.topology",
    "nap_flow": "napwidget.topology",
    "persistence_diagram": "napwidget.topology",
    "clear_tree_cache": "napwidget.tree_cache",
    "StoredActivations": "napwidget.stored_activations",
    "open_activations": "napwidget.stored_activations",
    "NapWidget": "napwidget.widget",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from napwidget.activations import Activations, LayerInfo, extract, list_layers
    from napwidget.midrange import band_naps, curate, evaluate_midrange, logit_bands, retrain_last_layer
    from napwidget.naps import NAPs, find_naps, load_naps, top_activating
    from napwidget.stored_activations import StoredActivations, open_activations
    from napwidget.topology import MapperGraph, NapFlow, mapper_graph, nap_flow, persistence_diagram
    from napwidget.tree_cache import clear_tree_cache
    from napwidget.widget import NapWidget


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use; submodules (``napwidget.widget``) load the same way."""
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Activations",
    "LayerInfo",
    "MapperGraph",
    "NAPs",
    "NapFlow",
    "NapInputError",
    "NapWidget",
    "StoredActivations",
    "band_naps",
    "clear_tree_cache",
    "curate",
    "evaluate_midrange",
    "extract",
    "find_naps",
    "list_layers",
    "load_naps",
    "logit_bands",
    "mapper_graph",
    "nap_flow",
    "open_activations",
    "persistence_diagram",
    "retrain_last_layer",
    "top_activating",
]
