"""The demo: scikit-learn's bundled 8x8 digits and a small CNN trained on them in seconds on a CPU."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

DIGIT_CLASSES = [str(i) for i in range(10)]


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's bundled digits as images.

    Returns
    -------
    images : (1797, 1, 8, 8) float32 array in [0, 1]
    labels : (1797,) int64 array of digit classes

    Example
    -------
    >>> images, labels = load_digits_images()
    >>> images.shape, int(labels[0])
    ((1797, 1, 8, 8), 0)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]
    return images, bunch.target.astype(np.int64)


class DigitsCNN(nn.Module):
    """A small CNN for 8x8 digits; module names read well in a layer picker.

    Example
    -------
    >>> model = DigitsCNN()
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(4 * width * 16, 64)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.pool(self.relu2(self.conv2(x)))
        x = self.relu3(self.conv3(x))
        x = self.relu4(self.fc1(self.flatten(x)))
        return self.fc2(x)


def train_digits_cnn(
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    epochs: int = 8,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
    model: nn.Module | None = None,
) -> nn.Module:
    """Train :class:`DigitsCNN` (or ``model``) on the digits; ~2 s on a 2-core CPU.

    Deterministic for a given seed. Returns the model in eval mode.

    Example
    -------
    >>> model = train_digits_cnn(epochs=1)
    """
    if images is None or labels is None:
        images, labels = load_digits_images()
    torch.manual_seed(seed)
    model = model if model is not None else DigitsCNN(in_channels=images.shape[1])
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return model.eval()


@dataclass
class DigitsDemo:
    """Everything the demo needs: a trained model, its inputs, labels and class names.

    Example
    -------
    >>> demo = DigitsDemo.load()                  # doctest: +SKIP
    >>> demo.model(torch.from_numpy(demo.images[:2])).shape  # doctest: +SKIP
    torch.Size([2, 10])
    """

    model: nn.Module
    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    @classmethod
    def load(cls, *, seed: int = 0, cache_dir: str | os.PathLike | None = None) -> DigitsDemo:
        """Train the demo CNN, or load its weights from ``cache_dir`` (default: $NAPWIDGET_CACHE) if trained.

        Example
        -------
        >>> demo = DigitsDemo.load()
        >>> demo.images.shape[0]
        1797
        """
        images, labels = load_digits_images()
        cache_dir = cache_dir or os.environ.get("NAPWIDGET_CACHE")  # the CLI and CI share trained weights
        cache = Path(cache_dir) if cache_dir else None
        torch.manual_seed(seed)  # the initial weights too, so every process trains the same model
        model = DigitsCNN()
        key = hashlib.sha256(f"digits-cnn-v1-seed{seed}-torch{torch.__version__}".encode()).hexdigest()[:16]
        path = cache / f"digits_cnn_{key}.pt" if cache else None
        if path is not None and path.exists():
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                return cls(model.eval(), images, labels, list(DIGIT_CLASSES))
            except Exception:  # a truncated file from an interrupted save: retrain below
                pass
        model = train_digits_cnn(images, labels, seed=seed, model=model)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(model.state_dict(), tmp)
            tmp.replace(path)
        return cls(model, images, labels, list(DIGIT_CLASSES))
