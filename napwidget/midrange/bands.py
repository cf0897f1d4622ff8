"""Low / mid / high bands of one output logit, and NAPs restricted to a band.

What we followed: O'Mahony, Nikolov & O'Sullivan, "Towards Utilising a Range of Neural Activations for
Comprehending Representational Associations" (WACV 2025, arXiv 2411.10019) study inputs whose logit for a
class is *non-extremal*, i.e. lies in the middle of the range that logit takes over a data set, rather
than at its top. The copies of the paper we could consult showed its abstract only, so the exact band
edges are ours, and every edge is a parameter:

- ``mode="quantile"`` (default of :func:`logit_bands`): edges are quantiles of the logit over the given
  inputs, so each band holds a known share of them (robust to outliers and to the logit's scale).
- ``mode="range"``: edges are fractions of the logit's observed range ``[min, max]``; the "mid-range" in
  the paper's literal sense (mid band = the middle part of the range of logit values).
- ``mode="value"``: edges are raw logit values (e.g. thresholds a person drew on a histogram).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from napwidget.class_scores import check_class_scores
from napwidget.errors import NapInputError

BandMode = Literal["quantile", "range", "value"]
BAND_NAMES = ("low", "mid", "high")


def _as_outputs(outputs: Any) -> np.ndarray:
    """(N, K) float64 logits from an array, a tensor or an object with ``.outputs`` (Activations)."""
    if hasattr(outputs, "outputs") and not isinstance(outputs, np.ndarray):
        outputs = outputs.outputs
    if hasattr(outputs, "detach"):  # torch tensor, without importing torch here
        outputs = outputs.detach().cpu().numpy()
    arr = np.asarray(outputs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise NapInputError(
            f"outputs must be a non-empty (N, K) array of logits, one row per input; got shape {arr.shape}",
            "pass the model's logits (e.g. Activations.outputs); for a single logit use x[:, None]",
        )
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise NapInputError(
            f"outputs hold NaN or infinite logits in {len(bad)} rows (first: {bad[:5].tolist()})",
            "drop those inputs, or fix the model/inputs that produce them, before banding",
        )
    return arr


def _check_target(target: int, n_outputs: int) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise NapInputError(f"target must be an int output index; got {target!r}", "pass e.g. target=3")
    if not 0 <= int(target) < n_outputs:
        raise NapInputError(
            f"target={int(target)} is out of range for {n_outputs} outputs",
            f"pass an index in 0..{n_outputs - 1}",
        )
    return int(target)


def _check_edges(bands: Sequence[float], mode: str) -> tuple[float, float]:
    if mode not in ("quantile", "range", "value"):
        raise NapInputError(f"mode={mode!r} is unknown", "use 'quantile', 'range' or 'value'")
    try:
        lo, hi = (float(b) for b in bands)
    except (TypeError, ValueError):
        raise NapInputError(
            f"bands={bands!r} must be two edges (low/mid, mid/high)", "pass e.g. bands=(1/3, 2/3)"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        raise NapInputError(
            f"bands={bands!r} must be finite and strictly increasing", "pass e.g. bands=(1/3, 2/3)"
        )
    if mode != "value" and not (0.0 <= lo and hi <= 1.0):
        raise NapInputError(
            f"bands={bands!r} are fractions in mode={mode!r} and must lie in [0, 1]",
            "pass e.g. bands=(1/3, 2/3), or mode='value' for raw logit thresholds",
        )
    return lo, hi


@dataclass(frozen=True, eq=False)
class LogitBands(Mapping):
    """Indices of the inputs in the low, mid and high band of one logit.

    A read-only mapping ``"low" | "mid" | "high" -> int64 index array`` (ascending) whose three arrays
    partition ``range(N)``. Also carries the banded ``logits`` (N,) and the two ``thresholds`` used:
    low is ``logit < thresholds[0]``, mid is ``thresholds[0] <= logit < thresholds[1]``, high the rest.

    Example
    -------
    >>> b = logit_bands(np.arange(9.0)[:, None], 0)
    >>> {k: v.tolist() for k, v in b.items()}
    {'low': [0, 1, 2], 'mid': [3, 4, 5], 'high': [6, 7, 8]}
    """

    target: int
    logits: np.ndarray
    thresholds: tuple[float, float]
    mode: str
    edges: tuple[float, float]
    _bands: dict[str, np.ndarray] = field(repr=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._bands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(BAND_NAMES)

    def __len__(self) -> int:
        return len(BAND_NAMES)

    def band_of(self) -> np.ndarray:
        """Band per input as an int array: 0 low, 1 mid, 2 high.

        Example
        -------
        >>> logit_bands(np.arange(3.0)[:, None], 0).band_of().tolist()
        [0, 1, 2]
        """
        return (self.logits >= self.thresholds[0]).astype(np.int64) + (self.logits >= self.thresholds[1])


def logit_bands(
    outputs: Any,
    target: int,
    *,
    bands: Sequence[float] = (1 / 3, 2 / 3),
    mode: BandMode = "quantile",
    classes: int | Sequence[str] | None = None,
) -> LogitBands:
    """Split inputs into low / mid / high bands of one output logit.

    Parameters
    ----------
    outputs : (N, K) array-like, tensor, or Activations
        Logits, one row per input (an object with ``.outputs``, e.g. ``Activations``, is read from it).
    target : int
        The output unit (class) whose logit is banded.
    bands : (float, float)
        The two edges between low/mid and mid/high, strictly increasing. Quantiles in [0, 1] for
        ``mode="quantile"``, fractions of ``[min, max]`` for ``mode="range"``, logits for ``mode="value"``.
    mode : {"quantile", "range", "value"}
        How ``bands`` is read (see the module docstring for what follows the paper).
    classes : int or sequence of class names, optional
        The classes the outputs should score. When given, outputs that are not one logit per class (an
        embedding, a regression head) are refused instead of banding one of their dimensions.

    Returns
    -------
    LogitBands
        Mapping ``"low"``, ``"mid"``, ``"high"`` to ascending index arrays that partition ``range(N)``.

    Raises
    ------
    NapInputError (a ValueError)
        Wrong shape, NaN/inf logits, ``target`` out of range, edges not increasing or out of [0, 1],
        outputs whose width is not the number of ``classes``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> b = logit_bands(rng.normal(size=(300, 10)), target=3, bands=(0.25, 0.75))
    >>> [len(b[k]) for k in b]
    [75, 150, 75]
    >>> len(logit_bands(np.array([[0.], [1.], [9.], [10.]]), 0, mode="range")["mid"])
    0
    """
    logits = _as_outputs(outputs)
    check_class_scores(logits.shape[1], classes, "logit_bands")
    target = _check_target(target, logits.shape[1])
    lo, hi = _check_edges(bands, mode)
    values = logits[:, target]
    if mode == "quantile":
        # Thresholds are data values chosen so the share below each is as close to the edge as ties allow.
        t_lo = _closest_cut(values, lo) if lo > 0 else -np.inf
        t_hi = _closest_cut(values, hi) if hi < 1 else np.inf
    elif mode == "range":
        vmin, vmax = float(values.min()), float(values.max())
        span = vmax - vmin
        t_lo = vmin + lo * span if lo > 0 else -np.inf
        t_hi = vmin + hi * span if hi < 1 else np.inf
        if span == 0.0:  # a constant logit: everything is "mid" rather than split arbitrarily
            t_lo, t_hi = -np.inf, np.inf
    else:
        t_lo, t_hi = lo, hi
    band = (values >= t_lo).astype(np.int64) + (values >= t_hi)
    parts = {name: np.flatnonzero(band == i).astype(np.int64) for i, name in enumerate(BAND_NAMES)}
    return LogitBands(target, values, (float(t_lo), float(t_hi)), mode, (lo, hi), parts)


def _closest_cut(values: np.ndarray, q: float) -> float:
    """The data value (or +inf) whose share of inputs strictly below it is nearest ``q``."""
    uniq = np.unique(values)
    shares = np.append(np.searchsorted(np.sort(values), uniq, side="left"), len(values)) / len(values)
    cuts = np.append(uniq, np.inf)
    return float(cuts[int(np.argmin(np.abs(shares - q)))])


@dataclass
class BandNAPs:
    """NAPs found among one band's inputs, with members mapped back to the original indices.

    Attributes
    ----------
    naps : NAPs
        The result of :func:`napwidget.naps.find_naps` on the band's rows (its indices are band-local).
    indices : (M,) int64 array
        The original input index of each band row; ``indices[j]`` is band row ``j``.
    n_inputs : int or None
        Number of inputs in the full set, when known (for :attr:`labels`).

    Example
    -------
    >>> # bn = band_naps(acts, "relu4", bands["mid"]); bn.members(0)  -> original input indices
    """

    naps: Any
    indices: np.ndarray
    n_inputs: int | None = None

    @property
    def n_naps(self) -> int:
        return int(self.naps.n_naps)

    def members(self, i: int) -> np.ndarray:
        """Original input indices of NAP ``i``, most typical first (the order of ``NAPs.members``)."""
        return self.indices[np.asarray(self.naps.members(i), dtype=np.int64)]

    @property
    def labels(self) -> np.ndarray:
        """NAP label per original input: -1 noise, -2 outside the band (needs ``n_inputs``)."""
        if self.n_inputs is None:
            raise NapInputError("labels over all inputs need n_inputs", "build BandNAPs with n_inputs=N")
        out = np.full(self.n_inputs, -2, dtype=np.int64)
        out[self.indices] = np.asarray(self.naps.labels)
        return out

    def __getattr__(self, name: str) -> Any:  # probabilities, persistence, sizes, ... from the NAPs
        if name.startswith("_") or name in ("naps", "indices", "n_inputs"):
            raise AttributeError(name)
        return getattr(self.naps, name)


def band_naps(
    acts: Any,
    layer: str | None,
    indices: Sequence[int] | np.ndarray,
    **nap_params: Any,
) -> BandNAPs:
    """NAPs of one layer's activation profiles, restricted to the inputs of a band.

    Parameters
    ----------
    acts : Activations mapping or (N, C) array
        Activations of all inputs (the penultimate layer for the paper's analysis).
    layer : str or None
        Layer name in ``acts``; ``None`` when ``acts`` is an array.
    indices : sequence of int
        Original indices of the band's inputs (e.g. ``logit_bands(...)["mid"]``).
    **nap_params
        Passed to :func:`napwidget.naps.find_naps` (``min_cluster_size``, ``min_samples``, ...).
        Normalisation is computed within the band, as if the band were the data set.

    Returns
    -------
    BandNAPs
        ``members(i)`` gives original indices; other attributes come from the NAPs.

    Example
    -------
    >>> # b = logit_bands(acts.outputs, 3); bn = band_naps(acts, "relu4", b["mid"], min_cluster_size=5)
    >>> # bn.members(0)[:5]   # original input indices of the band's most persistent NAP
    """
    from napwidget.naps import find_naps  # lazily: the NAP engine is heavier than banding

    if layer is not None:
        if not isinstance(acts, Mapping) or layer not in acts:
            raise NapInputError(
                f"layer {layer!r} is not in acts", "pass one of its keys, or layer=None with an array"
            )
        rows = np.asarray(acts[layer])
    else:
        rows = np.asarray(acts)
    if rows.ndim != 2:
        raise NapInputError(
            f"activations must be (N, C); got shape {rows.shape}", "reduce conv maps first (extract does)"
        )
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise NapInputError("indices must be a 1-D array of integer input indices", "pass e.g. bands['mid']")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(rows)):
        raise NapInputError(
            f"indices must lie in 0..{len(rows) - 1}; some are outside", "pass indices of rows of acts"
        )
    if len(np.unique(idx)) != len(idx):
        raise NapInputError("indices hold duplicates", "pass each input once, e.g. np.unique(indices)")
    # Per-input extras given for all N inputs (labels=, predictions=) follow the band's rows.
    for key in ("labels", "predictions"):
        extra = nap_params.get(key)
        if extra is not None and len(extra) == len(rows) and len(rows) != len(idx):
            nap_params[key] = np.asarray(extra)[idx]
    naps = find_naps(rows[idx], **nap_params)
    return BandNAPs(naps, idx, len(rows))
