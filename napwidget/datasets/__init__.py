"""Data and small models that ship with napwidget, generated or loaded on the spot (no downloads)."""

from napwidget.datasets.augment import augment_digits
from napwidget.datasets.curation_bench import augmented_spurious_digits, textured_binary_digits
from napwidget.datasets.digits import DigitsCNN, DigitsDemo, load_digits_images, train_digits_cnn
from napwidget.datasets.spurious import SpuriousSplit, spurious_digits

__all__ = [
    "DigitsCNN",
    "DigitsDemo",
    "SpuriousSplit",
    "augment_digits",
    "augmented_spurious_digits",
    "load_digits_images",
    "spurious_digits",
    "textured_binary_digits",
    "train_digits_cnn",
]
