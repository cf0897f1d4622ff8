"""Pluggable item renderers: how one input is shown in the NAP cards and the gallery.

A renderer turns input indices into something the front end can draw:

- ``kind == "image"``: a header ``{"h", "w", "c", "count"}`` and one raw uint8 buffer (see
  :mod:`napwidget.thumbnails`), drawn into canvases;
- ``kind == "text"``: a header with ``"texts"`` (short snippets; always inserted as text, never as HTML);
- ``kind == "index"``: nothing but the index ("#123").

Write your own by subclassing :class:`ItemRenderer` and passing ``renderer=`` to
:class:`~napwidget.NapWidget`.

Example
-------
>>> r = make_renderer(["a cat", "a dog"])
>>> r.kind, r.render([1])[0]["texts"]
('text', ['a dog'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napwidget.thumbnails import ThumbnailSource, is_image_batch

__all__ = ["ImageRenderer", "IndexRenderer", "ItemRenderer", "RowRenderer", "TextRenderer", "make_renderer"]


class ItemRenderer:
    """Base class: show inputs by index. Subclasses set ``kind`` and implement :meth:`render`."""

    kind = "index"

    def __init__(self, n: int | None = None) -> None:
        self.n = n

    def render(self, indices: Sequence[int]) -> tuple[dict[str, Any], list[bytes]]:
        """Return (JSON-able header, list of binary buffers) for ``indices``."""
        return {"kind": self.kind, "count": len(indices)}, []

    def describe(self) -> dict[str, Any]:
        """What the front end needs to know once (e.g. the thumbnail size)."""
        return {"kind": self.kind}

    def average(self, indices: Sequence[int]) -> bytes | None:
        """An "average item" (e.g. the mean image of a NAP's members) as one buffer, or None."""
        return None


class IndexRenderer(ItemRenderer):
    """Items without a visual form (e.g. activations given without inputs): shown as ``#index``."""


class ImageRenderer(ItemRenderer):
    """Images as raw uint8 thumbnails (longest side at most ``size`` pixels)."""

    kind = "image"

    def __init__(self, images: Any, size: int = 48) -> None:
        self.source = ThumbnailSource(images, size=size)
        super().__init__(self.source.n)

    def render(self, indices: Sequence[int]) -> tuple[dict[str, Any], list[bytes]]:
        header, data = self.source.encode(indices)
        return {"kind": "image", **header}, [data]

    def describe(self) -> dict[str, Any]:
        return {"kind": "image", **self.source.header(0)}

    def average(self, indices: Sequence[int]) -> bytes | None:
        return self.source.mean_image(indices)

    def averages(self, groups: Sequence[Sequence[int]]) -> list[bytes]:
        """:meth:`average` of many groups at once (vectorised)."""
        return self.source.mean_images(groups)


class TextRenderer(ItemRenderer):
    """Strings (sentences, file names, SMILES, ...) shown as snippets of at most ``max_chars`` characters.

    The front end clips each snippet to one line with an ellipsis and shows these ``max_chars`` on hover
    and focus: raise ``max_chars`` (``renderer=TextRenderer(texts, max_chars=2000)``) to carry longer texts.
    """

    kind = "text"

    def __init__(self, texts: Sequence[Any], max_chars: int = 400) -> None:
        self.texts = texts
        self.max_chars = int(max_chars)
        super().__init__(len(texts))

    def snippet(self, i: int) -> str:
        s = " ".join(str(self.texts[int(i)]).split())
        return s if len(s) <= self.max_chars else s[: self.max_chars - 1] + "\u2026"

    def render(self, indices: Sequence[int]) -> tuple[dict[str, Any], list[bytes]]:
        return {"kind": "text", "count": len(indices), "texts": [self.snippet(i) for i in indices]}, []


class RowRenderer(TextRenderer):
    """Tabular rows (an (N, D) numeric array or a DataFrame) shown as ``name=value`` snippets."""

    def __init__(
        self, rows: Any, columns: Sequence[str] | None = None, max_values: int = 6, max_chars: int = 160
    ):
        if hasattr(rows, "columns") and hasattr(rows, "to_numpy"):  # a DataFrame
            columns = [str(c) for c in rows.columns] if columns is None else columns
            rows = rows.to_numpy()
        elif hasattr(rows, "detach"):
            rows = rows.detach().cpu().numpy()
        self.rows = np.asarray(rows)
        self.columns = list(columns) if columns is not None else [f"x{j}" for j in range(self.rows.shape[1])]
        self.max_values = max_values
        super().__init__(self.rows, max_chars=max_chars)

    def snippet(self, i: int) -> str:
        row = self.rows[int(i)]
        parts = []
        for name, v in list(zip(self.columns, row))[: self.max_values]:
            parts.append(f"{name}={v:.3g}" if isinstance(v, (float, np.floating)) else f"{name}={v}")
        if len(row) > self.max_values:
            parts.append("\u2026")
        s = ", ".join(parts)
        return s if len(s) <= self.max_chars else s[: self.max_chars - 1] + "\u2026"


def _is_text_sequence(x: Any) -> bool:
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence) and not isinstance(x, np.ndarray):
        return False
    if isinstance(x, np.ndarray):
        return x.ndim == 1 and (x.dtype.kind in "US" or x.dtype == object)
    return len(x) > 0 and all(isinstance(v, str) for v in x[:50])


def make_renderer(items: Any = None, *, n: int | None = None, size: int = 48) -> ItemRenderer:
    """Pick a renderer for ``items``: an :class:`ItemRenderer` as it is; image batches -> images;
    sequences of strings -> text; (N, D) numeric arrays or DataFrames -> rows; None -> indices.

    Example
    -------
    >>> make_renderer(np.zeros((4, 1, 8, 8))).kind, make_renderer(None).kind
    ('image', 'index')
    """
    if isinstance(items, ItemRenderer):
        return items
    if items is None:
        return IndexRenderer(n)
    if is_image_batch(items):
        return ImageRenderer(items, size=size)
    if _is_text_sequence(items):
        return TextRenderer(list(items) if isinstance(items, np.ndarray) else items)
    if hasattr(items, "columns") and hasattr(items, "to_numpy"):
        return RowRenderer(items)
    arr = items.detach().cpu().numpy() if hasattr(items, "detach") else items
    if isinstance(arr, np.ndarray) and arr.ndim == 2 and np.issubdtype(arr.dtype, np.number):
        return RowRenderer(arr)
    return IndexRenderer(n)
