"""Widget latency in a real browser: JupyterLab + kernel + headless Chromium (not a test).

Measures, inside the page (``performance.now()``):

- **first render**: from the Ctrl+Enter that runs ``w = NapWidget.from_activations(...); w`` to the first
  animation frame where the NAP cards, the scatter points (one per card) and the gallery are all visible.
  Includes the kernel's clustering, the comm transfer and the front end's rendering.
- **update**: from the Enter that commits a new min_cluster_size to the first animation frame where the views
  show the new result (busy hidden, the NAP count changed, one card and one scatter point per NAP).

Inputs are synthetic activation-like blobs (non-negative, each cluster firing its own units, 5 % uniform
noise; cluster sizes spread over a decade so that min_cluster_size matters) with 8x8 synthetic images.

    .venv/bin/python benchmarks/bench_widget.py                 # N = 1k and 10k, 64 and 512 features
    .venv/bin/python benchmarks/bench_widget.py --n 1000 --dims 64
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from labkit import CHROMIUM, NotebookPage, lab_server, launch_chromium, write_notebook

SETUP = """\
import json, time
import numpy as np
import napwidget
from napwidget.widget import NapWidget

def blobs(n, dim, k=24, seed=0):
    rng = np.random.default_rng(seed)
    w = np.geomspace(1, 10, k); w /= w.sum()
    sizes = np.floor(w * n * 0.95).astype(int)
    centers = rng.uniform(0, 3, size=(k, dim)) * (rng.uniform(size=(k, dim)) < 0.3)
    X = np.concatenate([c + rng.normal(scale=0.15, size=(s, dim)) for c, s in zip(centers, sizes)])
    y = np.repeat(np.arange(k) % 10, sizes)
    m = n - len(X)
    X = np.concatenate([X, rng.uniform(0, 3, size=(m, dim))]); y = np.concatenate([y, rng.integers(0, 10, m)])
    perm = rng.permutation(n)
    imgs = rng.uniform(size=(n, 1, 8, 8)).astype(np.float32) * 0.5
    imgs[:, 0, 2:6, 2:6] += (y[:, None, None] / 10.0).astype(np.float32)
    return np.maximum(X, 0).astype(np.float32)[perm], y[perm], np.clip(imgs, 0, 1)[perm]

X = {dim: blobs(N, dim, seed=dim) for dim in DIMS}
# one-off imports (altair, the clustering engine) are not part of any measurement below
_warm = NapWidget.from_activations({"fc": X[DIMS[0]][0][:200]}, images=X[DIMS[0]][2][:200])
napwidget.clear_tree_cache()
print("STATE", json.dumps({"ready": True}))
"""

# the widget with NAP 0 selected, so that the first render includes the gallery's first page of thumbnails
WIDGET = """\
_t0 = time.perf_counter()
w{dim} = NapWidget.from_activations({{"fc": X[{dim}][0]}}, images=X[{dim}][2], labels=X[{dim}][1],
                                    class_names=[f"class {{i}}" for i in range(10)])
w{dim}.selected_naps = [0]
build{dim} = time.perf_counter() - _t0
w{dim}"""

STATE = """print("STATE", json.dumps({{"mcs": w{dim}.min_cluster_size, "n_naps": int(w{dim}.naps.n_naps),
                        "error": w{dim}.error, "build_s": build{dim}}}))"""

# the kernel's share of an update: re-clustering alone, and the whole trait handler (re-clustering, view
# model, card thumbnails, serialising and sending the new state); values not computed before
KERNEL = """\
_t, _h = [], []
_mcs = w{dim}.min_cluster_size
for _v in {values}:
    _t0 = time.perf_counter(); w{dim}.explorer.set_params(min_cluster_size=_v); w{dim}.explorer.view_model()
    _t.append(time.perf_counter() - _t0)
for _v in {values2}:
    _t0 = time.perf_counter(); w{dim}.min_cluster_size = _v
    _h.append(time.perf_counter() - _t0)
w{dim}.min_cluster_size = _mcs
print("STATE", json.dumps({{"kernel_s": _t, "handler_s": _h}}))"""

# t0 of a cell run: its Ctrl+Enter. t0 of an update: the Enter that commits the min_cluster_size input; from
# there, every animation frame checks whether the views show the new result: busy hidden, the NAP count
# changed, as many cards and scatter points as the count says.
INSTRUMENT = """() => {
  if (window.__bench) return;
  const b = window.__bench = {cell0: null, render: null, upd0: null, updated: null};
  const state = (r) => {
    const m = (r.querySelector('[data-testid=nap-count]')?.textContent || '').match(/\\d+/);
    return {
      count: m ? Number(m[0]) : -1,
      cards: r.querySelectorAll('[data-testid=nap-card]').length,
      pts: r.querySelectorAll('[data-testid=scatter] .mark-symbol.role-mark path').length,
      busy: !r.querySelector('[data-testid=busy]').hidden,
    };
  };
  document.addEventListener('keydown', e => {
    if (e.key !== 'Enter') return;
    if (e.ctrlKey) { b.cell0 = performance.now(); b.render = null; return; }
    if (!(e.target.matches && e.target.matches('[data-testid=mcs-input]'))) return;
    const r = e.target.closest('.napw-root');
    const before = state(r).count;
    b.upd0 = performance.now(); b.updated = null;
    const tick = () => {
      const s = state(r), now = performance.now();
      if (!s.busy && s.count !== before && s.cards === s.count && s.pts === s.count) b.updated = now;
      else if (now - b.upd0 < 600000) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, true);
}"""

COMPLETE = """(cell) => {
  const r = document.querySelectorAll('.jp-Notebook .jp-Cell')[cell]?.querySelector('.napw-root');
  if (!r) return false;
  const cards = r.querySelectorAll('[data-testid=nap-card]').length;
  const pts = r.querySelectorAll('[data-testid=scatter] .mark-symbol.role-mark path').length;
  const gallery = r.querySelector('[data-testid=gallery]');
  const items = r.querySelectorAll('[data-testid=gallery-item]').length;
  if (cards > 0 && pts === cards && items > 0 && gallery.dataset.loaded === '0') {
    window.__bench.render = window.__bench.render ?? performance.now();
    return true;
  }
  return false;
}"""


def bench_n(browser, server, n: int, dims: list[int], updates: list[int]) -> list[dict]:
    cells = [f"N, DIMS = {n}, {dims!r}\n" + SETUP]
    for d in dims:
        cells += [WIDGET.format(dim=d), STATE.format(dim=d), KERNEL.format(dim=d, values=[u + 1 for u in updates],
                                                                           values2=[u + 2 for u in updates])]
    name = f"bench_{n}.ipynb"
    write_notebook(server.root / name, cells)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    nb = NotebookPage(ctx.new_page(), server, name).open()
    page = nb.page
    page.evaluate(INSTRUMENT)
    nb.state(0, timeout_s=600)
    rows = []
    for j, d in enumerate(dims):
        cw, cs, ck = 1 + 3 * j, 2 + 3 * j, 3 + 3 * j
        nb.run(cw, timeout_s=600)
        page.wait_for_function(COMPLETE, arg=cw, polling="raf", timeout=600_000)
        first = page.evaluate("() => window.__bench.render - window.__bench.cell0") / 1000
        st = nb.state(cs)
        root = nb.cell(cw).locator(".napw-root").first
        inp = root.locator("[data-testid=mcs-input]")
        times, counts = [], [st["n_naps"]]
        for v in updates:
            page.mouse.move(0, 0)
            inp.fill(str(v))
            inp.press("Enter")  # commits at once (so does a blur: the change event commits)
            got = nb.state(cs, timeout_s=600)
            assert got["mcs"] == v and not got["error"], got
            if got["n_naps"] == counts[-1]:
                print(f"  min_cluster_size={v} left the NAP count at {counts[-1]}: not timed", flush=True)
            else:
                page.wait_for_function("() => window.__bench.updated !== null", timeout=600_000)
                b = page.evaluate("() => window.__bench")
                times.append((b["updated"] - b["upd0"]) / 1000)
            counts.append(got["n_naps"])
        ks = nb.state(ck, timeout_s=600)
        kernel, handler = ks["kernel_s"], ks["handler_s"]
        rows.append({"n": n, "dim": d, "first_render_s": first, "kernel_build_s": st["build_s"],
                     "updates_s": times, "naps": counts, "kernel_update_s": kernel,
                     "kernel_handler_s": handler})
        print(f"N={n} dim={d}: first render {first:.2f} s (kernel {st['build_s']:.2f} s), "
              f"updates {[round(t, 3) for t in times]} s, "
              f"NAPs {counts}, kernel re-clustering {[round(t, 3) for t in kernel]} s, "
              f"kernel handler {[round(t, 3) for t in handler]} s", flush=True)
    ctx.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 512])
    ap.add_argument("--updates", type=float, nargs="+", default=[0.01, 0.025, 0.06],
                    help="min_cluster_size values typed into the UI, in order (starts at 5), as fractions of N "
                         "(values >= 1 are taken as they are)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, lab_server(Path(tmp)) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        for n in args.n:
            updates = [int(u) if u >= 1 else max(2, round(u * n)) for u in args.updates]
            rows += bench_n(browser, server, n, args.dims, updates)
        browser.close()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import os

    print(f"\nMachine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{Path(CHROMIUM).name} headless; {time.strftime('%Y-%m-%d')}\n")
    med = lambda xs: f"{statistics.median(xs):.3f}" if xs else "n/a"
    print("| N | features | first render (s) | of which kernel build (s) | min_cluster_size update (s), median / max "
          "| kernel handler (s), median | of which re-clustering (s), median | NAPs |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['dim']} | {r['first_render_s']:.2f} | {r['kernel_build_s']:.2f} | "
              f"{med(r['updates_s'])} / {max(r['updates_s'], default=float('nan')):.3f} | {med(r['kernel_handler_s'])} | "
              f"{med(r['kernel_update_s'])} | {' → '.join(map(str, r['naps']))} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
