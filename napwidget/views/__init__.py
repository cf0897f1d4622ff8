"""Kernel-side view models, one family per folder of front-end views (``js/src/views``).

Which synced trait belongs to which view family is said once, where the trait is declared, with metadata tags:

- ``view="params" | "core" | "cross" | "detail" | "topology" | "midrange"``: the family whose front-end views
  listen to the trait (the store subscribes by family; ``save_html`` exports every tagged trait);
- ``state=True``: the trait is part of the view state that ``get_state_dict`` saves (an input, not a result).

Everything else (the front end's store, ``html_export``, ``views.crosslayer.get_state_dict``) reads these
tags through :func:`trait_groups` and :func:`state_traits` instead of keeping its own list.
"""

from __future__ import annotations

from typing import Any

VIEW_FAMILIES = ("params", "core", "cross", "detail", "topology", "midrange")


def trait_groups(widget: Any) -> dict[str, list[str]]:
    """``{family: [synced trait names]}`` from the ``view`` tags of a widget class or instance.

    Example
    -------
    >>> from napwidget.widget import NapWidget
    >>> "min_cluster_size" in trait_groups(NapWidget)["params"]
    True
    """
    cls = widget if isinstance(widget, type) else type(widget)
    out: dict[str, list[str]] = {g: [] for g in VIEW_FAMILIES}
    for name, trait in sorted(cls.class_traits(sync=True).items()):
        family = trait.metadata.get("view")
        if family:
            out.setdefault(family, []).append(name)
    return out


def exported_traits(widget: Any) -> list[str]:
    """Every synced trait a static export (``save_html``) carries: the ones tagged with a view family."""
    return [name for names in trait_groups(widget).values() for name in names]


def state_traits(widget: Any) -> list[str]:
    """The view-state traits (``state=True``) in the order they are best restored: the clustering
    parameters, then the views' options, the selection last (it refers to the result the rest produce)."""
    cls = widget if isinstance(widget, type) else type(widget)
    names = sorted(n for n, t in cls.class_traits().items() if t.metadata.get("state"))
    params = [n for n in trait_groups(cls)["params"] if n in names]
    last = [n for n in ("selected_naps", "selected_indices") if n in names]
    return params + [n for n in names if n not in params and n not in last] + last
