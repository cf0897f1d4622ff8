"""Shared fixtures: the digits demo model (trained once per session) and activation-like blobs."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

torch.set_num_threads(2)
# One cache of the trained demo weights for the whole session: fixtures, notebooks' kernels and browser
# tests train the digits CNN once instead of once each.
os.environ.setdefault("NAPWIDGET_CACHE", tempfile.mkdtemp(prefix="napwidget-test-cache-"))


@pytest.fixture(scope="session")
def digits_demo():
    from napwidget.datasets import DigitsDemo

    return DigitsDemo.load(seed=0)


def make_blobs(n_per: int = 100, k: int = 5, dim: int = 64, noise_frac: float = 0.05, seed: int = 0, spread: float = 0.15):
    """Activation-like Gaussian blobs: non-negative, each cluster firing its own subset of units, plus diffuse noise."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 1, size=(k, dim)) * (rng.uniform(size=(k, dim)) < 0.3)
    centers *= 3.0
    X = np.concatenate([c + rng.normal(scale=spread, size=(n_per, dim)) for c in centers])
    y = np.repeat(np.arange(k), n_per)
    n_noise = int(noise_frac * len(X))
    if n_noise:
        X = np.concatenate([X, rng.uniform(0, 3, size=(n_noise, dim))])
        y = np.concatenate([y, np.full(n_noise, -1)])
    return np.maximum(X, 0).astype(np.float32), y


@pytest.fixture
def blobs():
    return make_blobs()
