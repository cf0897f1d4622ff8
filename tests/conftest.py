"""Shared fixtures: the digits demo model (trained once per session) and activation-like blobs."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

from synthetic import make_blobs

torch.set_num_threads(2)
# One cache of the trained demo weights for the whole session: fixtures, notebooks' kernels and browser
# tests train the digits CNN once instead of once each.
os.environ.setdefault("NAPWIDGET_CACHE", tempfile.mkdtemp(prefix="napwidget-test-cache-"))


@pytest.fixture(scope="session")
def digits_demo():
    from napwidget.datasets import DigitsDemo

    return DigitsDemo.load(seed=0)


@pytest.fixture
def model():
    """A seeded, untrained DigitsCNN in eval mode: the small conv model of the extraction tests."""
    from napwidget.datasets import DigitsCNN

    torch.manual_seed(0)
    return DigitsCNN().eval()


@pytest.fixture
def x():
    """37 random 1 x 8 x 8 inputs: no multiple of the batch sizes the tests use, so the last batch is short.
    (A module may define its own ``x``.)"""
    return torch.rand(37, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def blobs():
    return make_blobs()
