"""What ``save_html`` costs for panels that were never opened (computed for the file: Mapper + mid-range).

Run: ``.venv/bin/python benchmarks/bench_static_export.py [--sizes 2000 4500] [--dim 512]``. Data:
activation-like blobs (ReLU'd, 10 clusters, 5 % diffuse) with logits that favour each blob's class. Prints
one markdown row per size: the Mapper view (auto eps), the mid-range view, and the whole ``save_html``, each
once (cold).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from napwidget import NapWidget  # noqa: E402
from napwidget.html_export import unopened_panels  # noqa: E402

from synthetic import make_blobs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4500])
    ap.add_argument("--dim", type=int, default=512)
    args = ap.parse_args()
    print("| N x D | NAPs | Mapper view (s) | mid-range view (s) | save_html total (s) |")
    print("|---|---:|---:|---:|---:|")
    for n in args.sizes:
        X, y = make_blobs(n_per=n // 10, k=10, dim=args.dim, seed=0)
        y = np.where(y < 0, 0, y)
        logits = (np.eye(10)[y] * 4 + np.random.default_rng(0).normal(size=(len(y), 10))).astype(np.float32)
        w = NapWidget.from_activations({"fc": X, "logits": logits}, labels=y, outputs=logits, layer="fc")
        t0 = time.perf_counter()
        w.mapper_graph_view()
        t1 = time.perf_counter()
        w.midrange_view()
        t2 = time.perf_counter()
        w2 = NapWidget.from_activations({"fc": X, "logits": logits}, labels=y, outputs=logits, layer="fc")
        with tempfile.TemporaryDirectory() as d:
            t3 = time.perf_counter()
            computed = unopened_panels(w2)
            assert set(computed) == {"mapper", "midrange"}, list(computed)
            w2.save_html(Path(d) / "x.html")
            t4 = time.perf_counter()
        print(f"| {len(X)} x {args.dim} | {w.naps.n_naps} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t4 - t3:.2f} |")


if __name__ == "__main__":
    main()
