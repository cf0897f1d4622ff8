"""Data and small models that ship with napwidget, generated or loaded on the spot (no downloads)."""
from napwidget.datasets.digits import DigitsCNN, DigitsDemo, load_digits_images, train_digits_cnn

__all__ = ["DigitsCNN", "DigitsDemo", "load_digits_images", "train_digits_cnn"]
