"""Widget latency in a real browser: JupyterLab + kernel + headless Chromium (not a test).

Measures, inside the page (``performance.now()``):

- **first render**: from the Ctrl+Enter that runs ``w = NapWidget.from_activations(...); w`` to the first
  animation frame where the NAP cards, the scatter points (one per card) and the gallery are all visible.
  Includes the kernel's clustering, the comm transfer and the front end's rendering.
- **update**: from the Enter that commits a new min_cluster_size to the first animation frame where the views
  show the new result (busy hidden, the NAP count changed, one card and one scatter point per NAP). The
  kernel's state is read (a notebook cell) only after that frame: a cell run during the update would be
  timed with it.

Two scenarios:

- ``synthetic``: activation-like blobs (non-negative, each cluster firing its own units, 5 % uniform noise;
  cluster sizes spread over a decade so that min_cluster_size matters) with 8x8 synthetic images: ~25 NAPs.
- ``resnet`` (many NAPs): real model activations, a random-init ResNet-18's layer4 spatial means of N
  upsampled digits (``benchmarks/digits_resnet.py``, cached under ``benchmarks/.cache/``) with the digits as
  images and labels: the NAP defaults give hundreds of NAPs, as real models do. Updates 5 -> 20 -> 50 -> 100.

Every row also gives the widget's DOM node count (elements under the widget's root) after the first render
and after the last update, and the whole page's.

    .venv/bin/python benchmarks/bench_widget.py                          # both scenarios, default sizes
    .venv/bin/python benchmarks/bench_widget.py --scenario resnet --resnet-n 10000 50000
    .venv/bin/python benchmarks/bench_widget.py --scenario synthetic --n 1000 --dims 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from labkit import CHROMIUM, NotebookPage, lab_server, launch_chromium, write_notebook  # noqa: E402

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

def resnet(stem):
    a, imgs, y = (np.load(f"{stem}_{k}.npy") for k in ("acts", "images", "labels"))
    return a, y, imgs

X = {}
for _key, _kind, _n, _dim, _stem in CASES:
    X[_key] = blobs(_n, _dim, seed=_dim) if _kind == "synthetic" else resnet(_stem)
# one-off imports (altair, the clustering engine) are not part of any measurement below
_k0 = CASES[0][0]
_warm = NapWidget.from_activations({"fc": X[_k0][0][:200]}, images=X[_k0][2][:200])
napwidget.clear_tree_cache()
print("STATE", json.dumps({"ready": True}))
"""

# the widget with NAP 0 selected, so that the first render includes the gallery's first page of thumbnails
WIDGET = """\
_t0 = time.perf_counter()
w{key} = NapWidget.from_activations({{"fc": X["{key}"][0]}}, images=X["{key}"][2], labels=X["{key}"][1],
                                    class_names=[f"class {{i}}" for i in range(10)])
w{key}.selected_naps = [0]
build{key} = time.perf_counter() - _t0
w{key}"""

STATE = """print("STATE", json.dumps({{"mcs": w{key}.min_cluster_size, "n_naps": int(w{key}.naps.n_naps),
                        "error": w{key}.error, "build_s": build{key}}}))"""

# the kernel's share of an update: re-clustering alone, and the whole trait handler (re-clustering, view
# model, card thumbnails, serialising and sending the new state); values not computed before
KERNEL = """\
_t, _h = [], []
_mcs = w{key}.min_cluster_size
for _v in {values}:
    _t0 = time.perf_counter(); w{key}.explorer.set_params(min_cluster_size=_v); w{key}.explorer.view_model()
    _t.append(time.perf_counter() - _t0)
for _v in {values2}:
    _t0 = time.perf_counter(); w{key}.min_cluster_size = _v
    _h.append(time.perf_counter() - _t0)
w{key}.min_cluster_size = _mcs
print("STATE", json.dumps({{"kernel_s": _t, "handler_s": _h}}))"""

# t0 of a cell run: its Ctrl+Enter. t0 of an update: the Enter that commits the min_cluster_size input; from
# there, every animation frame checks whether the views show the new result: busy hidden, the NAP count
# changed, the grid and the scatter drawn for that count. The grid says how many NAPs it holds in
# data-count (virtualised: only the cards on screen are in the DOM) and the scatter how many points it drew in
# data-points (canvas when there are many); without those attributes (the front end before the many-NAP work)
# the cards (the first page of 60) and the scatter's SVG paths are counted.
VIEWS_JS = r"""
  window.__napwViews = (r) => {
    const m = (r.querySelector('[data-testid=nap-count]')?.textContent || '').match(/\d+/);
    const count = m ? Number(m[0]) : -1;
    const grid = r.querySelector('[data-testid=nap-grid]');
    const box = r.querySelector('[data-testid=scatter]');
    const cards = r.querySelectorAll('[data-testid=nap-card]').length;
    const svgPts = box.querySelectorAll('.mark-symbol.role-mark path').length;
    const gridOk = grid.dataset.count !== undefined
      ? Number(grid.dataset.count) === count && (count === 0 || cards > 0) : cards === Math.min(count, 60);
    const ptsOk = box.dataset.points !== undefined
      ? Number(box.dataset.points) === count && box.dataset.ready === '1' : svgPts === count;
    return {count, cards, gridOk, ptsOk, busy: !r.querySelector('[data-testid=busy]').hidden,
            dom: r.querySelectorAll('*').length, page: document.querySelectorAll('*').length};
  };
"""

INSTRUMENT = (
    """() => {
  if (window.__bench) return;
  const b = window.__bench = {cell0: null, render: null, upd0: null, updated: null, dom: null};
"""
    + VIEWS_JS
    + """
  document.addEventListener('keydown', e => {
    if (e.key !== 'Enter') return;
    if (e.ctrlKey) { b.cell0 = performance.now(); b.render = null; return; }
    if (!(e.target.matches && e.target.matches('[data-testid=mcs-input]'))) return;
    const r = e.target.closest('.napw-root');
    const before = window.__napwViews(r).count;
    b.upd0 = performance.now(); b.updated = null;
    const tick = () => {
      const s = window.__napwViews(r), now = performance.now();
      if (!s.busy && s.count !== before && s.gridOk && s.ptsOk) { b.updated = now; b.dom = [s.dom, s.page]; }
      else if (now - b.upd0 < 600000) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, true);
}"""
)

COMPLETE = """(cell) => {
  const r = document.querySelectorAll('.jp-Notebook .jp-Cell')[cell]?.querySelector('.napw-root');
  if (!r) return false;
  const s = window.__napwViews(r);
  const gallery = r.querySelector('[data-testid=gallery]');
  const items = r.querySelectorAll('[data-testid=gallery-item]').length;
  if (s.count > 0 && s.cards > 0 && s.gridOk && s.ptsOk && items > 0 && gallery.dataset.loaded === '0') {
    window.__bench.render = window.__bench.render ?? performance.now();
    window.__bench.dom = [s.dom, s.page];
    return true;
  }
  return false;
}"""


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def wait_drawn(page, timeout_ms: int = 120_000) -> bool:
    """Wait until the views show a new NAP count; False after ``timeout_ms`` (the count did not change)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => window.__bench.updated !== null", polling="raf", timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True


def bench_cases(browser, server, cases: list[dict]) -> list[dict]:
    """cases: dicts with key, kind ("synthetic" / "resnet"), n, dim, stem (resnet cache) and updates."""
    spec = [(c["key"], c["kind"], c["n"], c["dim"], c.get("stem", "")) for c in cases]
    cells = [f"CASES = {spec!r}\n" + SETUP]
    for c in cases:
        u = c["updates"]
        cells += [
            WIDGET.format(key=c["key"]),
            STATE.format(key=c["key"]),
            KERNEL.format(key=c["key"], values=[v + 1 for v in u], values2=[v + 2 for v in u]),
        ]
    name = f"bench_{cases[0]['key']}.ipynb"
    write_notebook(server.root / name, cells)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    nb = NotebookPage(ctx.new_page(), server, name).open()
    page = nb.page
    page.evaluate(INSTRUMENT)
    nb.state(0, timeout_s=900)
    rows = []
    for j, c in enumerate(cases):
        cw, cs, ck = 1 + 3 * j, 2 + 3 * j, 3 + 3 * j
        load0 = load_average()
        nb.run(cw, timeout_s=600)
        page.wait_for_function(COMPLETE, arg=cw, polling="raf", timeout=600_000)
        first = page.evaluate("() => window.__bench.render - window.__bench.cell0") / 1000
        dom_first = page.evaluate("() => window.__bench.dom")
        st = nb.state(cs)
        root = nb.cell(cw).locator(".napw-root").first
        inp = root.locator("[data-testid=mcs-input]")
        times, counts, dom_upd = [], [st["n_naps"]], []
        for v in c["updates"]:
            page.mouse.move(0, 0)
            inp.fill(str(v))
            inp.press("Enter")  # commits at once (so does a blur: the change event commits)
            # the views first, the kernel's state after: a notebook cell run during the update (the kernel
            # answering it, JupyterLab drawing its output) is not part of what a user waits for
            drawn = wait_drawn(page)
            got = nb.state(cs, timeout_s=600)
            assert got["mcs"] == v and not got["error"], got
            if got["n_naps"] == counts[-1]:
                print(f"  min_cluster_size={v} left the NAP count at {counts[-1]}: not timed", flush=True)
            else:
                assert drawn, f"the page never showed min_cluster_size={v}"
                b = page.evaluate("() => window.__bench")
                times.append((b["updated"] - b["upd0"]) / 1000)
                dom_upd.append(b["dom"])
            counts.append(got["n_naps"])
        ks = nb.state(ck, timeout_s=600)
        kernel, handler = ks["kernel_s"], ks["handler_s"]
        row = {
            "scenario": c["kind"],
            "n": c["n"],
            "dim": c["dim"],
            "first_render_s": first,
            "kernel_build_s": st["build_s"],
            "updates_s": times,
            "naps": counts,
            "kernel_update_s": kernel,
            "kernel_handler_s": handler,
            "dom_first": dom_first,
            "dom_updates": dom_upd,
            "load": f"{load0} -> {load_average()}",
        }
        rows.append(row)
        print(
            f"{c['kind']} N={c['n']} dim={c['dim']}: first render {first:.2f} s "
            f"(kernel {st['build_s']:.2f} s), "
            f"updates {[round(t, 3) for t in times]} s, NAPs {counts}, "
            f"kernel re-clustering {[round(t, 3) for t in kernel]} s, "
            f"kernel handler {[round(t, 3) for t in handler]} s, DOM (widget, page) first {dom_first} "
            f"updates {dom_upd}; load {row['load']}",
            flush=True,
        )
    ctx.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", nargs="+", choices=["synthetic", "resnet"], default=["resnet", "synthetic"])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="synthetic scenario: sizes")
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 512], help="synthetic scenario: features")
    ap.add_argument("--resnet-n", type=int, nargs="+", default=[10000], help="many-NAP scenario: sizes")
    ap.add_argument(
        "--updates",
        type=float,
        nargs="+",
        default=[0.01, 0.025, 0.06],
        help="synthetic scenario: min_cluster_size values typed into the UI, in order (starts at "
        "5), as fractions of N (values >= 1 are taken as they are)",
    )
    ap.add_argument(
        "--resnet-updates",
        type=int,
        nargs="+",
        default=[20, 50, 100],
        help="many-NAP scenario: min_cluster_size values typed into the UI (starts at 5)",
    )
    ap.add_argument("--shift", action="store_true", help="many-NAP scenario: digits shifted too (~200 NAPs)")
    ap.add_argument(
        "--kernel-path",
        type=Path,
        help="A/B runs: put this folder first on the kernel's PYTHONPATH (e.g. an older "
        "napwidget checked out with its bundle built)",
    )
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    groups = []
    if "resnet" in args.scenario:
        from digits_resnet import cache_stem, digits_resnet_layer4

        for n in args.resnet_n:
            digits_resnet_layer4(n, shift=args.shift)  # extracted once; the kernel loads the cache
            groups.append(
                [
                    {
                        "key": f"resnet{n}",
                        "kind": "resnet",
                        "n": n,
                        "dim": 512,
                        "stem": str(cache_stem(n, shift=args.shift)),
                        "updates": args.resnet_updates,
                    }
                ]
            )
    if "synthetic" in args.scenario:
        for n in args.n:
            updates = [int(u) if u >= 1 else max(2, round(u * n)) for u in args.updates]
            groups.append(
                [
                    {"key": f"syn{n}_{d}", "kind": "synthetic", "n": n, "dim": d, "updates": updates}
                    for d in args.dims
                ]
            )
    rows = []
    env = {"PYTHONPATH": str(args.kernel_path.resolve())} if args.kernel_path else None
    with (
        tempfile.TemporaryDirectory() as tmp,
        lab_server(Path(tmp), env=env) as server,
        sync_playwright() as p,
    ):
        browser = launch_chromium(p)
        for cases in groups:
            rows += bench_cases(browser, server, cases)
        browser.close()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    if args.kernel_path:
        print(f"\nKernel's napwidget: {args.kernel_path}")
    print(
        f"\nMachine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{Path(CHROMIUM).name} headless; {time.strftime('%Y-%m-%d %H:%M')}\n"
    )

    def med(xs):
        return f"{statistics.median(xs):.3f}" if xs else "n/a"

    print(
        "| scenario | N | features | first render (s) | of which kernel build (s) | browser share (s) "
        "| min_cluster_size update (s), median / max | kernel handler (s), median "
        "| of which re-clustering + view model (s), median | NAPs "
        "| widget DOM nodes, first / after updates (page) | load average |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        du = "/".join(str(d[0]) for d in r["dom_updates"]) or "-"
        print(
            f"| {r['scenario']} | {r['n']:,} | {r['dim']} | {r['first_render_s']:.2f} | "
            f"{r['kernel_build_s']:.2f} | "
            f"{r['first_render_s'] - r['kernel_build_s']:.2f} | "
            f"{med(r['updates_s'])} / {max(r['updates_s'], default=float('nan')):.3f} | "
            f"{med(r['kernel_handler_s'])} | {med(r['kernel_update_s'])} | "
            f"{' → '.join(map(str, r['naps']))} | "
            f"{r['dom_first'][0]} / {du} ({r['dom_first'][1]}) | {r['load']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
