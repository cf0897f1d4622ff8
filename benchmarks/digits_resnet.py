"""Real model activations for the widget benchmark: a random-init ResNet-18's ``layer4`` on upsampled digits.

N inputs are drawn (seeded, with replacement) from scikit-learn's 1,797 bundled 8x8 digits, each with a little
pixel noise (so no two inputs are identical; ``shift=True`` also moves each by a random 0/1-pixel shift),
upsampled to 32x32, repeated over 3 channels and passed through :class:`resnet.ResNet18` with seeded random
weights; ``layer4``'s spatial means (N x 512) are kept. With the NAP defaults this gives hundreds of NAPs (the
issue's case: 787 at 10k; ~200 with shifts too): the many-NAP case that real models produce and synthetic
blobs never do.

Results are cached under ``benchmarks/.cache/`` (git-ignored): the first call extracts (~10-60 s for 10k on 2
cores), later calls load the ``.npy`` files in milliseconds.

    .venv/bin/python benchmarks/digits_resnet.py --n 10000     # writes the cache, prints the shapes
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"


def _inputs(n: int, seed: int, shift: bool) -> tuple[np.ndarray, np.ndarray]:
    from napwidget.datasets import load_digits_images

    images, labels = load_digits_images()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(images), n)
    x = images[pick, 0]  # (n, 8, 8)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    dy, dx = (rng.integers(0, 3, n), rng.integers(0, 3, n)) if shift else (np.ones(n, int), np.ones(n, int))
    rows = dy[:, None] + np.arange(8)[None, :]
    cols = dx[:, None] + np.arange(8)[None, :]
    shifted = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    noisy = np.clip(shifted + rng.normal(scale=0.03, size=shifted.shape), 0, 1).astype(np.float32)
    return noisy[:, None], labels[pick]


def cache_stem(n: int, seed: int = 0, shift: bool = False, cache: Path = CACHE) -> Path:
    return cache / f"digits_resnet18_layer4_n{n}_s{seed}{'_shift' if shift else ''}"


def digits_resnet_layer4(
    n: int = 10_000, seed: int = 0, shift: bool = False, cache: Path = CACHE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(acts (n, 512) float32, images (n, 1, 8, 8) float32, labels (n,) int64)``, cached on disk."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = cache_stem(n, seed, shift, cache)
    files = [Path(f"{stem}_{k}.npy") for k in ("acts", "images", "labels")]
    if all(f.exists() for f in files):
        return tuple(np.load(f) for f in files)  # type: ignore[return-value]
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from resnet import ResNet18

    from napwidget import extract

    images, labels = _inputs(n, seed, shift)
    torch.manual_seed(seed)
    model = ResNet18().eval()
    x = F.interpolate(torch.from_numpy(images), size=(32, 32), mode="bilinear", align_corners=False)
    x = x.repeat(1, 3, 1, 1)
    acts = extract(model, x, ["layer4"], batch_size=256, progress=False, cache=None)
    a = np.ascontiguousarray(np.asarray(acts["layer4"], dtype=np.float32))
    for f, arr in zip(files, (a, images, labels)):
        np.save(f, arr)
    return a, images, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[10_000])
    ap.add_argument("--naps", action="store_true", help="also print the NAP count with the defaults")
    ap.add_argument("--shift", action="store_true", help="random 0/1-pixel shifts too (fewer NAPs)")
    args = ap.parse_args()
    for n in args.n:
        a, imgs, y = digits_resnet_layer4(n, shift=args.shift)
        msg = f"N={n}: acts {a.shape} {a.dtype}, images {imgs.shape}, labels {y.shape}"
        if args.naps:
            from napwidget import find_naps

            msg += f", NAPs (defaults) {find_naps(a).n_naps}"
        print(msg, flush=True)


if __name__ == "__main__":
    main()
