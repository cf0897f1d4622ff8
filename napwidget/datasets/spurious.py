"""Spurious digits: scikit-learn's bundled digits on a coloured background that goes with the class.

A synthetic benchmark for the mid-range tools (:mod:`napwidget.midrange`): in the training split the
background colour (the *confounder*) agrees with the digit's class at a chosen rate; in the test split
it is independent of the class. A model trained on the training split learns the colour as a shortcut,
and its worst-group accuracy on the test split shows how much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napwidget.datasets.digits import load_digits_images

# Background colours, one per confounder value; distinct hues so the colour is trivially easy to read.
PALETTE = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 0.0],
        [1.0, 0.0, 1.0],
        [0.0, 1.0, 1.0],
        [1.0, 0.5, 0.0],
        [0.5, 0.0, 1.0],
        [0.0, 0.5, 0.5],
        [0.5, 0.5, 0.5],
    ],
    dtype=np.float32,
)


@dataclass
class SpuriousSplit:
    """One split of :func:`spurious_digits`.

    Example
    -------
    >>> train, test = spurious_digits(correlation=0.95, seed=0)  # doctest: +SKIP
    >>> train.images.shape[1:], float(train.aligned.mean())       # doctest: +SKIP
    ((3, 8, 8), 0.95)

    Attributes
    ----------
    images : (N, 3, 8, 8) float32 array in [0, 1]
        White digit strokes over a background of the confounder's colour.
    labels : (N,) int64 array
        Digit classes 0-9.
    confounder : (N,) int64 array
        Background colour index per input, in ``range(n_confounders)``.
    groups : (N,) int64 array
        ``labels * n_confounders + confounder``: one group per (class, colour) pair.
    aligned : (N,) bool array
        Whether the confounder is the one that goes with the class (``confounder == labels % n_confounders``).
    source : (N,) int64 array
        Row of the original 1797-image digits set each input was rendered from.
    n_confounders : int
        Number of background colours.
    """

    images: np.ndarray
    labels: np.ndarray
    confounder: np.ndarray
    groups: np.ndarray
    aligned: np.ndarray
    source: np.ndarray
    n_confounders: int

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> SpuriousSplit:
        """The inputs at ``indices``, as a new split.

        Example
        -------
        >>> train, _ = spurious_digits()
        >>> len(train.subset(np.arange(10)))
        10
        """
        idx = np.asarray(indices)
        return SpuriousSplit(
            self.images[idx],
            self.labels[idx],
            self.confounder[idx],
            self.groups[idx],
            self.aligned[idx],
            self.source[idx],
            self.n_confounders,
        )


def _render(digits: np.ndarray, confounder: np.ndarray, strength: float) -> np.ndarray:
    """Strokes stay white; the background (1 - stroke) takes the colour, scaled by ``strength``."""
    background = PALETTE[confounder][:, :, None, None] * strength
    return (digits + (1.0 - digits) * background).astype(np.float32)


def spurious_digits(
    correlation: float = 0.95,
    seed: int = 0,
    *,
    n_confounders: int = 2,
    strength: float = 0.5,
    test_fraction: float = 0.3,
    balanced_test: bool = True,
) -> tuple[SpuriousSplit, SpuriousSplit]:
    """Digits with a background colour that goes with the class in training and not at test.

    The 1797 bundled digits are split by a seeded permutation into train and test images. In train,
    exactly ``round(correlation * n)`` of the ``n`` images of each class get the class's own colour
    (``label % n_confounders``) and the rest a uniformly drawn *other* colour. In test, the colour is
    independent of the class: with ``balanced_test`` every test digit is rendered once in every colour
    (so each (class, colour) group holds the same digits and the independence is exact), otherwise
    each test digit gets one uniformly drawn colour.

    Parameters
    ----------
    correlation : float
        Share of training inputs whose colour is their class's colour, in [0, 1]. ``1 / n_confounders``
        means no correlation.
    seed : int
        Seeds the split and the colour draws; the result is a pure function of the arguments.
    n_confounders : int
        Number of background colours (2-10); class ``y`` goes with colour ``y % n_confounders``. The
        default 2 (red for even digits, green for odd: 20 groups) keeps each group populated in a small
        pool. With 10 (a colour per class) the colour alone names the class, and a DigitsCNN trained on
        ~630 such images keeps too little shape in its penultimate features for any head retraining,
        even group-balanced, to recover (measured on development seeds; see benchmarks/README.md).
    strength : float
        Background intensity in (0, 1]; lower makes the colour subtler. 0.5 makes the model lean on the
        colour (worst-group accuracy well below average) while its features still carry the shape.
    test_fraction : float
        Share of the digits set used for the test split.
    balanced_test : bool
        Render each test digit in every colour (default) rather than one random colour.

    Returns
    -------
    train, test : SpuriousSplit
        ``images`` (N, 3, 8, 8) float32, ``labels``, ``confounder``, ``groups`` (class x confounder).

    Example
    -------
    >>> train, test = spurious_digits(correlation=0.95, seed=0)
    >>> train.images.shape[1:], round(float(train.aligned.mean()), 2)
    ((3, 8, 8), 0.95)
    >>> len(test) == 2 * len(np.unique(test.source))  # every test digit in both colours
    True
    """
    if not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation={correlation!r} must lie in [0, 1]; pass e.g. 0.95.")
    if not 2 <= n_confounders <= len(PALETTE):
        raise ValueError(f"n_confounders={n_confounders!r} must be between 2 and {len(PALETTE)}.")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength={strength!r} must lie in (0, 1]; pass e.g. 0.6.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r} must lie strictly between 0 and 1; pass e.g. 0.3.")

    digits, labels = load_digits_images()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    n_test = round(test_fraction * len(labels))
    test_src, train_src = np.sort(order[:n_test]), np.sort(order[n_test:])
    k = n_confounders

    # Train: an exact aligned count per class, so the rate is the parameter and not a noisy draw of it.
    y = labels[train_src]
    aligned = np.zeros(len(y), dtype=bool)
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        n_aligned = round(correlation * len(members))
        aligned[rng.permutation(members)[:n_aligned]] = True
    own = y % k
    other = (own + rng.integers(1, k, size=len(y))) % k  # uniform over the k - 1 other colours
    conf = np.where(aligned, own, other)
    train = SpuriousSplit(
        _render(digits[train_src], conf, strength),
        y.astype(np.int64),
        conf.astype(np.int64),
        (y * k + conf).astype(np.int64),
        aligned,
        train_src.astype(np.int64),
        k,
    )

    if balanced_test:
        src = np.tile(test_src, k)
        conf_t = np.repeat(np.arange(k), len(test_src))
    else:
        src = test_src
        conf_t = rng.integers(0, k, size=len(test_src))
    y_t = labels[src]
    test = SpuriousSplit(
        _render(digits[src], conf_t, strength),
        y_t.astype(np.int64),
        conf_t.astype(np.int64),
        (y_t * k + conf_t).astype(np.int64),
        conf_t == y_t % k,
        src.astype(np.int64),
        k,
    )
    return train, test
