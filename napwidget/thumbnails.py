"""Images -> small uint8 thumbnails that travel to the browser as raw bytes (never base64 in JSON).

A thumbnail batch is one contiguous ``bytes`` buffer of ``count x h x w x c`` uint8 pixels (c = 1 or 3,
row-major, channels last) plus a tiny JSON header ``{"h", "w", "c", "count"}``. The front end paints it
into a canvas with ``ImageData``; no image codec is needed on either side.

Thumbnails are made on demand for the indices a view shows, so 50k ImageNet-size inputs cost nothing
until a page of them is looked at.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from napwidget.errors import NapInputError

__all__ = ["ThumbnailSource", "as_image_batch", "is_image_batch"]


def _to_numpy(x: Any) -> np.ndarray | None:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    return None


def is_image_batch(x: Any) -> bool:
    """True for (N, C, H, W) / (N, H, W, C) with C in {1, 3, 4}, or (N, H, W), numeric, H and W >= 2.

    Example
    -------
    >>> is_image_batch(np.zeros((5, 1, 8, 8))), is_image_batch(np.zeros((5, 64)))
    (True, False)
    """
    arr = _to_numpy(x)
    if arr is None or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        return False
    if arr.ndim == 3:
        return arr.shape[1] >= 2 and arr.shape[2] >= 2
    if arr.ndim == 4:
        return (arr.shape[1] in (1, 3, 4) and min(arr.shape[2:]) >= 2) or (
            arr.shape[3] in (1, 3, 4) and min(arr.shape[1:3]) >= 2
        )
    return False


def as_image_batch(x: Any) -> tuple[Any, str]:
    """Return (array-like, layout) with layout ``"nchw"``, ``"nhwc"`` or ``"nhw"``; raises for non-images."""
    arr = _to_numpy(x)
    if arr is None or not is_image_batch(arr):
        shape = getattr(x, "shape", None)
        raise NapInputError(
            f"images must be (N, C, H, W), (N, H, W, C) or (N, H, W) with C in 1/3, got shape {shape}",
            "pass images=... with one image per input, or leave images out to show indices/text",
        )
    if arr.ndim == 3:
        return arr, "nhw"
    if arr.shape[1] in (1, 3, 4) and not (arr.shape[3] in (1, 3, 4) and arr.shape[1] > 4):
        return arr, "nchw"
    return arr, "nhwc"


class ThumbnailSource:
    """Make thumbnails of a batch of images on demand, with a small LRU cache.

    Parameters
    ----------
    images : (N, C, H, W), (N, H, W, C) or (N, H, W) numpy array or torch tensor (any numeric dtype).
        Floats in [0, 1] and integers in [0, 255] are shown as they are; anything else (e.g. normalised
        inputs) is mapped to [0, 255] with one global min-max taken from a sample, so images stay comparable.
    size : longest side of a thumbnail in pixels; larger images are area-averaged down by an integer factor,
        smaller ones are kept (the browser upscales them crisply).

    Example
    -------
    >>> src = ThumbnailSource(np.random.rand(10, 1, 8, 8))
    >>> header, data = src.encode([3, 1])
    >>> header, len(data)
    ({'h': 8, 'w': 8, 'c': 1, 'count': 2}, 128)
    """

    def __init__(self, images: Any, size: int = 48, cache_items: int = 4096) -> None:
        self.images, self.layout = as_image_batch(images)
        self.n = int(self.images.shape[0])
        if self.layout == "nchw":
            c, h, w = self.images.shape[1:]
        elif self.layout == "nhwc":
            h, w, c = self.images.shape[1:]
        else:
            h, w, c = self.images.shape[1], self.images.shape[2], 1
        self.channels = 3 if c in (3, 4) else 1
        factor = max(1, int(np.ceil(max(h, w) / max(int(size), 1))))
        self.factor = factor
        self.h, self.w = h // factor, w // factor
        self._crop = (self.h * factor, self.w * factor)
        self._scale = self._value_scale()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_items = cache_items

    def _value_scale(self) -> tuple[float, float]:
        """(offset, multiplier) mapping raw values to [0, 255]."""
        arr = self.images
        step = max(1, self.n // 256)
        sample = np.asarray(arr[::step], dtype=np.float64)
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return 0.0, 1.0
        lo, hi = float(sample.min()), float(sample.max())
        if np.issubdtype(arr.dtype, np.integer) and lo >= 0 and hi <= 255:
            return 0.0, 1.0
        if lo >= 0 and hi <= 1.0:
            return 0.0, 255.0
        if hi - lo < 1e-12:
            return lo, 1.0
        return lo, 255.0 / (hi - lo)

    def _one(self, i: int) -> np.ndarray:
        img = np.asarray(self.images[i], dtype=np.float32)
        if self.layout == "nchw":
            img = np.moveaxis(img, 0, -1)
        elif self.layout == "nhw":
            img = img[..., None]
        if img.shape[-1] == 4:  # drop alpha
            img = img[..., :3]
        ch, cw = self._crop
        img = img[:ch, :cw]
        f = self.factor
        if f > 1:
            img = img.reshape(self.h, f, self.w, f, img.shape[-1]).mean(axis=(1, 3))
        off, mul = self._scale
        img = np.nan_to_num((img - off) * mul, nan=0.0)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def _many(self, idx: np.ndarray) -> np.ndarray:
        """Thumbnails of ``idx`` in one vectorised pass (bitwise what :meth:`_one` gives each; no cache).

        Only without down-scaling: the area mean's summation order could differ between one image and a batch.
        """
        if self.factor > 1:
            if not len(idx):
                return np.empty((0, self.h, self.w, self.channels), np.uint8)
            return np.stack([self._one(int(i)) for i in idx])
        img = np.asarray(self.images[idx], dtype=np.float32)
        if self.layout == "nchw":
            img = np.moveaxis(img, 1, -1)
        elif self.layout == "nhw":
            img = img[..., None]
        if img.shape[-1] == 4:
            img = img[..., :3]
        ch, cw = self._crop
        img = img[:, :ch, :cw]
        off, mul = self._scale
        img = np.nan_to_num((img - off) * mul, nan=0.0)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def get(self, indices: Sequence[int]) -> np.ndarray:
        """(len(indices), h, w, c) uint8 thumbnails."""
        idx = np.asarray([int(i) for i in indices], dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= self.n)]
        if len(bad):
            raise IndexError(f"image index {int(bad[0])} out of range 0..{self.n - 1}")
        out = np.empty((len(idx), self.h, self.w, self.channels), dtype=np.uint8)
        miss = []
        for j, i in enumerate(idx.tolist()):
            hit = self._cache.get(i)
            if hit is None:
                miss.append(j)
            else:
                self._cache.move_to_end(i)
                out[j] = hit
        if miss:  # one vectorised pass for everything not cached
            made = self._many(idx[miss])
            out[miss] = made
            for j, m in zip(miss, made):
                self._cache[int(idx[j])] = m
            while len(self._cache) > self._cache_items:
                self._cache.popitem(last=False)
        return out

    def mean_images(
        self, groups: Sequence[Sequence[int]], limit: int = 512, chunk: int = 8192
    ) -> list[bytes]:
        """:meth:`mean_image` of every group (``b""`` for an empty one), in vectorised chunks, no cache.

        Bitwise equal to calling :meth:`mean_image` per group: the float32 sum of at most 512 uint8 pixels is
        exact, then divided in float32 as ``numpy.mean`` does.
        """
        idx_parts = [np.asarray(list(g)[:limit], dtype=np.int64) for g in groups]
        lens = np.asarray([len(p) for p in idx_parts], dtype=np.int64)
        if lens.sum() == 0:
            return [b"" for _ in groups]
        flat = np.concatenate(idx_parts)
        gid = np.repeat(np.arange(len(groups)), lens)
        sums = np.zeros((len(groups), self.h, self.w, self.channels), dtype=np.float64)
        for s in range(0, len(flat), chunk):
            th = self._many(flat[s : s + chunk]).astype(np.float32)
            g = gid[s : s + chunk]
            starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            sums[g[starts]] += np.add.reduceat(th, starts, axis=0)
        out = []
        for j, n in enumerate(lens.tolist()):
            if n == 0:
                out.append(b"")
                continue
            mean = sums[j].astype(np.float32) / np.float32(n)
            out.append(np.clip(np.rint(mean), 0, 255).astype(np.uint8).tobytes())
        return out

    def header(self, count: int) -> dict[str, int]:
        return {"h": int(self.h), "w": int(self.w), "c": int(self.channels), "count": int(count)}

    def encode(self, indices: Sequence[int]) -> tuple[dict[str, int], bytes]:
        """(header, raw bytes) for ``indices``: what the widget sends as one binary buffer."""
        return self.header(len(indices)), self.get(indices).tobytes()

    def mean_image(self, indices: Sequence[int], limit: int = 512) -> bytes:
        """The pixel mean of (up to ``limit``) ``indices`` as one thumbnail: a NAP's "average image"."""
        idx = list(indices)[:limit]
        if not idx:
            return b""
        return (
            np.clip(np.rint(self.get(idx).astype(np.float32).mean(axis=0)), 0, 255).astype(np.uint8).tobytes()
        )
