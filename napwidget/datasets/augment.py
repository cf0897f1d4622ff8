"""Seeded augmentation of the bundled 8x8 digits: small shifts, rotations, scale and stroke width.

Used to grow the 1,797 bundled digits into the tens of thousands of distinct images a spurious-correlation
benchmark needs (groups with dozens of minority inputs), in about a second, without any download.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def augment_digits(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    max_shift: float = 0.75,
    max_rotation: float = 15.0,
    scale: tuple[float, float] = (0.9, 1.1),
    max_thicken: float = 0.5,
    max_thin: float = 0.5,
) -> np.ndarray:
    """One random affine + stroke-width variant of every image (``(N, 1, H, W)`` float32 in [0, 1]).

    Each image gets its own shift (pixels, uniform in ``±max_shift`` per axis), rotation (degrees, uniform in
    ``±max_rotation``) and isotropic scale (uniform in ``scale``), resampled bilinearly with zero padding;
    then its strokes are thickened (blended with a 3x3 max filter by a factor in ``[0, max_thicken]``) or
    thinned (raised to a power in ``[1, 1 + max_thin]``), each with probability 1/2. A pure function of
    ``images`` and the generator's state.

    Example
    -------
    >>> from napwidget.datasets import load_digits_images
    >>> x, _ = load_digits_images()
    >>> a = augment_digits(x[:5], np.random.default_rng(0))
    >>> a.shape, a.dtype, bool(a.min() >= 0 and a.max() <= 1), bool(np.abs(a - x[:5]).max() > 0)
    ((5, 1, 8, 8), dtype('float32'), True, True)
    """
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    n, _, h, w = x.shape
    ang = np.deg2rad(rng.uniform(-max_rotation, max_rotation, n))
    s = rng.uniform(scale[0], scale[1], n)
    # affine_grid maps output coordinates (in [-1, 1]) to input ones, so the inverse transform goes in.
    tx = rng.uniform(-max_shift, max_shift, n) * 2.0 / w
    ty = rng.uniform(-max_shift, max_shift, n) * 2.0 / h
    cos, sin = np.cos(ang) / s, np.sin(ang) / s
    theta = np.stack([np.stack([cos, -sin, tx], 1), np.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(torch.as_tensor(theta, dtype=torch.float32), [n, 1, h, w], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    thick = torch.as_tensor(rng.uniform(0.0, max_thicken, n), dtype=torch.float32).view(n, 1, 1, 1)
    gamma = torch.as_tensor(1.0 + rng.uniform(0.0, max_thin, n), dtype=torch.float32).view(n, 1, 1, 1)
    which = torch.as_tensor(rng.random(n) < 0.5).view(n, 1, 1, 1)
    dilated = F.max_pool2d(out, 3, stride=1, padding=1)
    out = torch.where(which, out + thick * (dilated - out), out.clamp(0, 1) ** gamma)
    return out.clamp(0.0, 1.0).numpy().astype(np.float32)
