"""Synthetic data with known structure for the tests (a module, not conftest: tests/browser has its own)."""

from __future__ import annotations

import numpy as np


def make_blobs(
    n_per: int = 100, k: int = 5, dim: int = 64, noise_frac: float = 0.05, seed: int = 0, spread: float = 0.15
):
    """Activation-like Gaussian blobs: non-negative, each cluster firing its own units, plus diffuse noise."""
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


def small_blobs(n_per: int = 40, k: int = 4, dim: int = 12, seed: int = 0, noise: int = 12):
    """Four small sparse blobs plus uniform noise (with random labels): fast widget/explorer fixtures."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 3, size=(k, dim)) * (rng.uniform(size=(k, dim)) < 0.5)
    X = np.concatenate([c + rng.normal(scale=0.1, size=(n_per, dim)) for c in centers])
    y = np.repeat(np.arange(k), n_per)
    X = np.concatenate([X, rng.uniform(0, 3, size=(noise, dim))])
    y = np.concatenate([y, rng.integers(0, k, noise)])
    return np.maximum(X, 0).astype(np.float32), y
