"""The two settings of the mid-range curation benchmark, generated from a seed in seconds (no download).

- :func:`augmented_spurious_digits`: the spurious-digits task (10 digits x 2 background colours = 20 groups)
  grown by augmentation to a ~40k-image training split (so a ~20k-input curation pool holds ~100 minority
  inputs per (class, colour) group) and a test split with >= 200 inputs per group.
- :func:`textured_binary_digits`: a binary Waterbirds-like task: the class is "digit 0-4" vs "digit 5-9"
  (a shape family, the "bird"), the confounder is the background texture, horizontal vs vertical stripes
  (the "land / water" background), 2 x 2 = 4 groups.

Source digits are split into train and test before augmenting, so no test image is a variant of a training
digit. In train, each augmented copy gets its confounder independently, with an exact per-class rate.
"""

from __future__ import annotations

import numpy as np

from napwidget.datasets.augment import augment_digits
from napwidget.datasets.digits import load_digits_images
from napwidget.datasets.spurious import PALETTE, SpuriousSplit


def _split_sources(n: int, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_test = round(test_fraction * n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _assign_confounder(y: np.ndarray, correlation: float, rng: np.random.Generator) -> np.ndarray:
    """Own confounder (``y % 2``) for exactly ``round(correlation * n)`` inputs per class, else the other."""
    aligned = np.zeros(len(y), dtype=bool)
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        aligned[rng.permutation(members)[: round(correlation * len(members))]] = True
    return np.where(aligned, y % 2, 1 - y % 2).astype(np.int64)


def _stripes(conf: np.ndarray, rng: np.random.Generator, size: int = 8) -> np.ndarray:
    """(N, 1, size, size) stripes: horizontal for confounder 0, vertical for 1; random phase and contrast."""
    n = len(conf)
    coord = np.arange(size)
    phase = rng.integers(0, 2, n)[:, None, None]
    rows = (coord[None, :, None] + phase) % 2 + np.zeros((1, 1, size))
    cols = (coord[None, None, :] + phase) % 2 + np.zeros((1, size, 1))
    tex = np.where(conf[:, None, None] == 0, rows, cols)
    contrast = rng.uniform(0.7, 1.0, n)[:, None, None]
    return (tex * contrast)[:, None].astype(np.float32)


def _build(
    digits: np.ndarray,
    labels: np.ndarray,
    src: np.ndarray,
    conf: np.ndarray,
    rng: np.random.Generator,
    render,
    n_conf: int,
    augment: bool = True,
) -> SpuriousSplit:
    strokes = augment_digits(digits[src], rng) if augment else digits[src]
    y = labels[src].astype(np.int64)
    return SpuriousSplit(
        render(strokes, conf, rng),
        y,
        conf,
        y * n_conf + conf,
        conf == y % n_conf,
        src.astype(np.int64),
        n_conf,
    )


def _balanced_test(
    digits: np.ndarray,
    labels: np.ndarray,
    test_src: np.ndarray,
    copies: int,
    rng: np.random.Generator,
    render,
) -> SpuriousSplit:
    """Every augmented test image in both confounders: the confounder is exactly independent of the class."""
    src = np.repeat(test_src, copies)
    strokes = augment_digits(digits[src], rng)
    parts = []
    for c in (0, 1):
        conf = np.full(len(src), c, dtype=np.int64)
        y = labels[src].astype(np.int64)
        parts.append(
            SpuriousSplit(
                render(strokes, conf, rng), y, conf, y * 2 + conf, conf == y % 2, src.astype(np.int64), 2
            )
        )
    return SpuriousSplit(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("images", "labels", "confounder", "groups", "aligned", "source")
        ),
        2,
    )


def _check(correlation: float, copies: int, test_copies: int) -> None:
    if not 0.5 <= correlation <= 1.0:
        raise ValueError(f"correlation={correlation!r} must lie in [0.5, 1]; pass e.g. 0.95.")
    if copies < 1 or test_copies < 1:
        raise ValueError("copies and test_copies must be >= 1; pass e.g. copies=32, test_copies=4.")


def augmented_spurious_digits(
    seed: int = 0,
    *,
    correlation: float = 0.95,
    strength: float = 0.5,
    copies: int = 32,
    test_copies: int = 5,
    test_fraction: float = 0.3,
) -> tuple[SpuriousSplit, SpuriousSplit]:
    """Spurious digits (red background for even digits, green for odd) grown by augmentation.

    The 1,797 bundled digits are split (seeded) into 1,258 train and 539 test *sources*. Each train source
    gives ``copies`` augmented images (:func:`~napwidget.datasets.augment.augment_digits`), coloured like
    :func:`~napwidget.datasets.spurious_digits`: exactly ``round(correlation * n)`` of each class's ``n``
    images get the class's colour (``label % 2``), the rest the other one. Each test source gives
    ``test_copies`` augmented images, each rendered in both colours.

    Parameters
    ----------
    seed : int
        Seeds everything; the result is a pure function of the arguments.
    correlation : float
        Share of each training class with its own colour, in [0.5, 1].
    strength : float
        Background intensity in (0, 1] (0.5 as in ``spurious_digits``).
    copies, test_copies : int
        Augmented images per train / test source (defaults: ~40k train images, ~5.4k test images, ~270 per
        test group).
    test_fraction : float
        Share of the source digits kept for test.

    Returns
    -------
    train, test : SpuriousSplit
        ``images`` (N, 3, 8, 8) float32; ``source`` names the bundled digit each image was made from (split a
        curation pool by source so pool digits are new to the model).

    Example
    -------
    >>> train, test = augmented_spurious_digits(0, copies=2, test_copies=1)
    >>> train.images.shape[1:], len(train), round(float(train.aligned.mean()), 2), len(np.unique(test.groups))
    ((3, 8, 8), 2516, 0.95, 20)
    """
    _check(correlation, copies, test_copies)
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength={strength!r} must lie in (0, 1]; pass e.g. 0.5.")
    digits, labels = load_digits_images()
    rng = np.random.default_rng(seed)
    train_src, test_src = _split_sources(len(labels), test_fraction, rng)

    def render(strokes: np.ndarray, conf: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        background = PALETTE[conf][:, :, None, None] * strength
        return (strokes + (1.0 - strokes) * background).astype(np.float32)

    src = np.repeat(train_src, copies)
    train = _build(digits, labels, src, _assign_confounder(labels[src], correlation, rng), rng, render, 2)
    return train, _balanced_test(digits, labels, test_src, test_copies, rng, render)


def textured_binary_digits(
    seed: int = 0,
    *,
    correlation: float = 0.95,
    strength: float = 0.25,
    copies: int = 16,
    test_copies: int = 2,
    test_fraction: float = 0.3,
) -> tuple[SpuriousSplit, SpuriousSplit]:
    """A binary Waterbirds-like task: digits 0-4 vs 5-9 on horizontal vs vertical stripes (4 groups).

    Class 0 ("digit 0-4") goes with horizontal stripes, class 1 ("digit 5-9") with vertical ones, for exactly
    ``round(correlation * n)`` of each class's ``n`` training images; in test every image appears on both
    textures. The class needs the digit's shape (a family of five shapes each), the texture is a single
    orientation: like Waterbirds, the confounder is easier to read than the class. Stripes have period 2,
    a random phase and a contrast in [0.7, 1] times ``strength``; strokes are drawn over them. The default
    strength 0.25 leaves the benchmark's CNN using both shape and texture (on a development seed: average
    0.66, worst group 0.24); at 0.5 it read the texture alone (average 0.51, worst group 0.00).

    Parameters
    ----------
    seed, correlation, strength, copies, test_copies, test_fraction : as in :func:`augmented_spurious_digits`
        (defaults: ~20k train images, ~2.2k test images, ~540 per test group).

    Returns
    -------
    train, test : SpuriousSplit
        ``images`` (N, 1, 8, 8) float32, ``labels`` in {0, 1}, ``confounder`` 0 (horizontal) / 1 (vertical),
        ``groups = 2 * label + confounder``.

    Example
    -------
    >>> train, test = textured_binary_digits(0, copies=2, test_copies=1)
    >>> train.images.shape[1:], sorted(np.unique(train.labels).tolist()), len(np.unique(test.groups))
    ((1, 8, 8), [0, 1], 4)
    """
    _check(correlation, copies, test_copies)
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength={strength!r} must lie in (0, 1]; pass e.g. 0.5.")
    digits, digit_labels = load_digits_images()
    labels = (digit_labels >= 5).astype(np.int64)
    rng = np.random.default_rng(seed)
    train_src, test_src = _split_sources(len(labels), test_fraction, rng)

    def render(strokes: np.ndarray, conf: np.ndarray, r: np.random.Generator) -> np.ndarray:
        background = _stripes(conf, r, strokes.shape[-1]) * strength
        return (strokes + (1.0 - strokes) * background).astype(np.float32)

    src = np.repeat(train_src, copies)
    train = _build(digits, labels, src, _assign_confounder(labels[src], correlation, rng), rng, render, 2)
    return train, _balanced_test(digits, labels, test_src, test_copies, rng, render)
