"""NAP flow across layers: where the members of each NAP at one layer go among the NAPs of the next layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napwidget.errors import NapInputError

NOISE = -1


@dataclass(frozen=True)
class FlowLink:
    """Inputs in NAP ``nap_a`` at ``layer_a`` and NAP ``nap_b`` at ``layer_b`` (-1 = noise, flagged)."""

    layer_a: str
    nap_a: int
    layer_b: str
    nap_b: int
    count: int
    members: np.ndarray

    @property
    def noise_a(self) -> bool:
        return self.nap_a == NOISE

    @property
    def noise_b(self) -> bool:
        return self.nap_b == NOISE

    def to_dict(self, include_members: bool = True) -> dict[str, Any]:
        """JSON-able dict of the link.

        Example
        -------
        >>> FlowLink("a", 0, "b", -1, 1, np.array([3])).to_dict()["noise_b"]
        True
        """
        d: dict[str, Any] = {
            "layer_a": self.layer_a,
            "nap_a": self.nap_a,
            "layer_b": self.layer_b,
            "nap_b": self.nap_b,
            "count": self.count,
            "noise_a": self.noise_a,
            "noise_b": self.noise_b,
        }
        if include_members:
            d["members"] = self.members.tolist()
        return d


@dataclass
class NapFlow:
    """Links between the NAPs of consecutive layers, for a Sankey / alluvial view.

    Attributes
    ----------
    layers : layer names in flow order.
    labels : (n_layers, N) NAP label of every input at every layer (-1 = noise).
    links : every non-empty (layer_a, nap_a) -> (layer_b, nap_b) link between consecutive layers, ordered by
        layer pair, then nap_a, then nap_b (noise, -1, first).

    Example
    -------
    >>> flow = nap_flow({"a": [0, 0, 1, -1], "b": [1, 1, 0, 0]})
    >>> [(l.nap_a, l.nap_b, l.count) for l in flow.links]
    [(-1, 0, 1), (0, 1, 2), (1, 0, 1)]
    """

    layers: list[str]
    labels: np.ndarray
    links: list[FlowLink]

    def matrix(self, layer_a: str, layer_b: str) -> np.ndarray:
        """Contingency counts, rows = NAPs of ``layer_a`` then noise last, columns likewise for ``layer_b``.

        Example
        -------
        >>> nap_flow({"a": [0, 0, -1], "b": [0, 1, 1]}).matrix("a", "b").tolist()
        [[1, 1, 0], [0, 1, 0]]
        """
        la, lb = self.labels[self.layers.index(layer_a)], self.labels[self.layers.index(layer_b)]
        ka, kb = max(int(la.max()) + 1, 0), max(int(lb.max()) + 1, 0)
        ia, ib = np.where(la < 0, ka, la), np.where(lb < 0, kb, lb)
        m = np.zeros((ka + 1, kb + 1), dtype=np.int64)
        np.add.at(m, (ia, ib), 1)
        return m

    def to_dict(self, include_members: bool = True) -> dict[str, Any]:
        """JSON-able: ``{"layers", "nodes": [{layer, nap, size, noise}], "links": [{layer_a, nap_a, layer_b,
        nap_b, count, noise_a, noise_b, members}]}``.

        Example
        -------
        >>> nap_flow({"a": [0, -1], "b": [0, 0]}).to_dict()["nodes"][0]
        {'layer': 'a', 'nap': -1, 'size': 1, 'noise': True}
        """
        nodes = []
        for name, lab in zip(self.layers, self.labels):
            values, counts = np.unique(lab, return_counts=True)
            nodes += [
                {"layer": name, "nap": int(v), "size": int(c), "noise": bool(v == NOISE)}
                for v, c in zip(values, counts)
            ]
        return {
            "layers": list(self.layers),
            "nodes": nodes,
            "links": [link.to_dict(include_members) for link in self.links],
        }


def nap_flow(
    naps_by_layer: Mapping[str, Any] | Sequence[tuple[str, Any]], *, include_noise: bool = True
) -> NapFlow:
    """How the members of each NAP at one layer distribute over the NAPs of the next layer.

    Parameters
    ----------
    naps_by_layer : a dict (insertion order = layer order) or an ordered list of ``(layer, naps)`` where each
        value is a NAPs object or an (N,) array of NAP labels (-1 = noise), all over the same N inputs.
    include_noise : keep links to or from noise (flagged with ``noise_a`` / ``noise_b``); the counts of links
        between two NAPs always add up to the number of inputs that are in a NAP at both layers.

    Example
    -------
    >>> flow = nap_flow([("relu3", np.array([0, 0, 1])), ("relu4", np.array([0, 1, 1]))])
    >>> flow.to_dict()["links"][0]["count"]
    1
    """
    items = list(naps_by_layer.items()) if isinstance(naps_by_layer, Mapping) else list(naps_by_layer)
    if len(items) < 2:
        raise NapInputError(
            f"nap_flow got {len(items)} layer(s)",
            "pass NAPs of at least two layers, e.g. {'a': naps_a, 'b': naps_b}",
        )
    names: list[str] = []
    rows: list[np.ndarray] = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise NapInputError(
                f"nap_flow got the entry {item!r}", "pass (layer, naps) pairs or a dict layer -> naps"
            )
        name, value = item
        lab = np.asarray(getattr(value, "labels", value))
        if (
            lab.ndim != 1
            or not np.issubdtype(lab.dtype, np.integer)
            and not (np.issubdtype(lab.dtype, np.floating) and np.all(lab == np.round(lab)))
        ):
            raise NapInputError(
                f"the NAP labels of layer {name!r} have shape {lab.shape} and dtype {lab.dtype}",
                "pass a NAPs object or a 1-D integer array of NAP ids (-1 = noise)",
            )
        if rows and len(lab) != len(rows[0]):
            raise NapInputError(
                f"layer {name!r} labels {len(lab)} inputs but layer {names[0]!r} labels {len(rows[0])}",
                "use NAPs of the same inputs at every layer",
            )
        if lab.size and lab.min() < NOISE:
            raise NapInputError(
                f"layer {name!r} has NAP id {int(lab.min())}", "use -1 for noise and 0.. for NAPs"
            )
        if str(name) in names:
            raise NapInputError(f"layer {name!r} appears twice", "give every layer once")
        names.append(str(name))
        rows.append(lab.astype(np.int64))
    labels = np.stack(rows)
    links: list[FlowLink] = []
    for t in range(len(names) - 1):
        la, lb = labels[t], labels[t + 1]
        keep = np.ones(len(la), bool) if include_noise else (la >= 0) & (lb >= 0)
        idx = np.flatnonzero(keep)
        # One stable sort by (nap_a, nap_b) groups the members of every link, in ascending input order.
        o = idx[np.lexsort((lb[idx], la[idx]))]
        if not len(o):
            continue
        pa, pb = la[o], lb[o]
        cut = np.flatnonzero((np.diff(pa) != 0) | (np.diff(pb) != 0)) + 1
        for seg in np.split(np.arange(len(o)), cut):
            links.append(FlowLink(names[t], int(pa[seg[0]]), names[t + 1], int(pb[seg[0]]), len(seg), o[seg]))
    return NapFlow(layers=names, labels=labels, links=links)
