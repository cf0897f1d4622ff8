"""Where the browser's time goes in one min_cluster_size update (a profiler, not a benchmark).

Opens the ResNet-18 many-NAP widget of ``bench_widget.py --scenario resnet`` in JupyterLab + headless
Chromium,
does warm-up updates, then records the next update(s) with the Chrome DevTools Protocol, from the Enter typed
into the mcs-input to the animation frame where the new result is fully drawn (the benchmark's criterion):

- the V8 sampling profiler (``Profiler.start/stop``): script functions by self time and by total time;
- a trace (``Tracing``, devtools.timeline): the renderer main thread's time by event (self time: Layout,
  UpdateLayoutTree, Paint, Layerize, GC, FunctionCall, ...), and the long tasks in order (when the kernel's
  answer arrived and what ran then).

For readable function names, build the bundle unminified first (``cd js && NAPW_NO_MINIFY=1 npm run build``;
rebuild normally afterwards).

    .venv/bin/python benchmarks/profile_update.py                      # 10k, warm-up 20, profile 50
    .venv/bin/python benchmarks/profile_update.py --n 50000 --updates 20 50 100 --top 30
    .venv/bin/python benchmarks/profile_update.py --json /tmp/prof.json   # also the raw profile and trace
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_widget import INSTRUMENT, SETUP, STATE, WIDGET  # noqa: E402

from labkit import NotebookPage, lab_server, launch_chromium, write_notebook  # noqa: E402

# trace events that span the recording rather than work done in it; RunTask's wrapper
SKIP = {"CpuProfiler::StartProfiling", "ThreadControllerImpl::RunTask"}
TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "toplevel",
    "v8",
    "blink.user_timing",
]


BUNDLE = Path(__file__).resolve().parents[1] / "napwidget" / "static" / "widget.js"


def bundle_modules() -> list[tuple[int, str]]:
    """(first line, source module) of each module in the bundle: esbuild marks them ``// src/...`` when it
    does not minify (``NAPW_NO_MINIFY=1``); node_modules sections are named by package."""
    out = [(1, "(bundle)")]
    if BUNDLE.exists():
        for i, line in enumerate(BUNDLE.read_text(errors="replace").splitlines(), 1):
            if line.startswith("// src/"):
                out.append((i, line[3:].strip()))
            elif line.startswith("// ") and "node_modules/" in line:
                out.append((i, line.rsplit("node_modules/", 1)[1].split("/")[0]))
    return out


MODULES = bundle_modules()


def module_of(url: str, line: int) -> str | None:
    """The widget module a frame belongs to (the widget's ESM is a blob: URL, a bare UUID), else None."""
    tail = url.rsplit("/", 1)[-1].split("?")[0]
    if not url or tail.endswith(".js") or len(MODULES) < 2:
        return None
    found = MODULES[0][1]
    for start, name in MODULES:
        if start > line:
            break
        found = name
    return found


def _node_label(node: dict) -> str:
    cf = node["callFrame"]
    name = cf.get("functionName") or "(anonymous)"
    url = cf.get("url", "")
    line = cf.get("lineNumber", -1) + 1
    mod = module_of(url, line)
    where = f"{mod or url.rsplit('/', 1)[-1].split('?')[0]}:{line}" if url else ""
    return f"{name} {where}".strip()


def profile_tables(profile: dict) -> tuple[dict[str, float], dict[str, float], float]:
    """(self ms by function, total ms by function and by widget module, profiled ms) from a CDP profile.

    A module's total (``[module] src/views/grid.js``) is the time of samples with one of its functions on
    the stack."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
    self_ms: dict[str, float] = defaultdict(float)
    total_ms: dict[str, float] = defaultdict(float)
    deltas = profile["timeDeltas"][1:] + [0] if profile["samples"] else []
    for node_id, dt in zip(profile["samples"], deltas, strict=True):
        ms = dt / 1000
        label = _node_label(nodes[node_id])
        self_ms[label] += ms
        seen = set()
        nid = node_id
        while nid is not None:  # every function on the stack once (recursion counted once)
            lab = _node_label(nodes[nid])
            cf = nodes[nid]["callFrame"]
            mod = module_of(cf.get("url", ""), cf.get("lineNumber", -1) + 1)
            if mod and f"[module] {mod}" not in seen:
                total_ms[f"[module] {mod}"] += ms
                seen.add(f"[module] {mod}")
            if lab not in seen:
                total_ms[lab] += ms
                seen.add(lab)
            nid = parent.get(nid)
    return self_ms, total_ms, (profile["endTime"] - profile["startTime"]) / 1000


def main_thread(events: list[dict]) -> tuple[int, int] | None:
    """(pid, tid) of the renderer main thread that ran the most tasks (the JupyterLab page)."""
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M" and e.get("args", {}).get("name") == "CrRendererMain"
    }
    busy: dict[tuple[int, int], float] = defaultdict(float)
    for e in events:
        if (e.get("pid"), e.get("tid")) in mains and e.get("ph") == "X" and e.get("name") == "RunTask":
            busy[(e["pid"], e["tid"])] += e.get("dur", 0)
    return max(busy, key=busy.get) if busy else None


def trace_tables(events: list[dict], t0_us: float | None = None) -> tuple[dict[str, float], list[tuple]]:
    """(self ms by event name on the main thread, long tasks [(start ms, ms, [top children])])."""
    key = main_thread(events)
    if key is None:
        return {}, []
    xs = sorted(
        (
            e
            for e in events
            if (e.get("pid"), e.get("tid")) == key
            and e.get("ph") == "X"
            and "dur" in e
            and e["name"] not in SKIP
        ),
        key=lambda e: (e["ts"], -e["dur"]),
    )
    self_ms: dict[str, float] = defaultdict(float)
    stack: list[list] = []  # [end us, name, self us] of the enclosing events
    tasks = []
    for e in xs:
        while stack and stack[-1][0] <= e["ts"]:
            _, name, own = stack.pop()
            self_ms[name] += own / 1000
        if stack:
            stack[-1][2] -= e["dur"]
        stack.append([e["ts"] + e["dur"], _event_name(e), e["dur"]])
        if e["name"] == "RunTask" and e["dur"] >= 2000:
            tasks.append(e)
    while stack:
        _, name, own = stack.pop()
        self_ms[name] += own / 1000
    t0 = t0_us if t0_us is not None else (xs[0]["ts"] if xs else 0)
    long_tasks = []
    for t in tasks:
        inner: dict[str, float] = defaultdict(float)
        for e in xs:
            if t["ts"] <= e["ts"] < t["ts"] + t["dur"] and e is not t and e["name"] != "RunTask":
                inner[_event_name(e)] += e["dur"] / 1000
        top = sorted(inner.items(), key=lambda kv: -kv[1])[:4]
        long_tasks.append(((t["ts"] - t0) / 1000, t["dur"] / 1000, top))
    return self_ms, long_tasks


def _event_name(e: dict) -> str:
    name = e["name"]
    data = e.get("args", {}).get("data", {}) or {}
    if name in ("FunctionCall", "EventDispatch", "TimerFire", "FireAnimationFrame"):
        what = data.get("functionName") or data.get("type") or ""
        return f"{name}({what})" if what else name
    return name


WIDGET_STATS_JS = """() => {
  const r = document.querySelector('.napw-root');
  const tags = {};
  for (const e of r.querySelectorAll('*')) {
    const t = e.tagName.toLowerCase();
    tags[t] = (tags[t] || 0) + 1;
  }
  return {widget: r.querySelectorAll('*').length, page: document.querySelectorAll('*').length, tags};
}"""


def print_layers(cdp, page) -> None:
    """The page's composited layers (each costs Layerize / Commit on every frame) and the widget's DOM."""
    got: list[dict] = []
    cdp.on("LayerTree.layerTreeDidChange", lambda m: got.append(m))
    cdp.send("DOM.enable")
    cdp.send("DOM.getDocument", {"depth": -1})
    cdp.send("LayerTree.enable")
    for _ in range(40):
        page.wait_for_timeout(50)
        if got and got[-1].get("layers"):
            break
    cdp.send("LayerTree.disable")
    layers = got[-1].get("layers", []) if got else []
    owners: dict[str, int] = defaultdict(int)
    for layer in layers:
        nid = layer.get("backendNodeId")
        name = "(no node)"
        if nid:
            try:
                node = cdp.send("DOM.describeNode", {"backendNodeId": nid})["node"]
                attrs = dict(
                    zip(node.get("attributes", [])[::2], node.get("attributes", [])[1::2], strict=False)
                )
                name = f"{node['nodeName'].lower()}.{attrs.get('class', '').split(' ')[0]}"
            except Exception:  # noqa: BLE001 - a node gone meanwhile
                name = "(gone)"
        owners[name] += 1
    stats = page.evaluate(WIDGET_STATS_JS)
    print(
        f"composited layers: {len(layers)}; by owner: "
        + ", ".join(f"{k} {v}" for k, v in sorted(owners.items(), key=lambda kv: -kv[1])[:12])
    )
    print(
        f"DOM: widget {stats['widget']} elements, page {stats['page']}; widget tags: "
        + ", ".join(f"{k} {v}" for k, v in sorted(stats["tags"].items(), key=lambda kv: -kv[1])[:10]),
        flush=True,
    )


def run(args) -> None:
    from digits_resnet import cache_stem, digits_resnet_layer4
    from playwright.sync_api import sync_playwright

    digits_resnet_layer4(args.n)
    key = f"resnet{args.n}"
    spec = [(key, "resnet", args.n, 512, str(cache_stem(args.n)))]
    cells = [f"CASES = {spec!r}\n" + SETUP, WIDGET.format(key=key), STATE.format(key=key)]
    with tempfile.TemporaryDirectory() as tmp, lab_server(Path(tmp)) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        write_notebook(server.root / "profile.ipynb", cells)
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        nb = NotebookPage(ctx.new_page(), server, "profile.ipynb").open()
        page = nb.page
        page.evaluate(INSTRUMENT)
        nb.state(0, timeout_s=900)
        nb.run(1, timeout_s=600)
        page.wait_for_selector(".napw-root [data-testid=nap-card]", timeout=600_000)
        st = nb.state(2)
        print(f"N={args.n}: {st['n_naps']} NAPs at min_cluster_size={st['mcs']}", flush=True)
        inp = nb.cell(1).locator(".napw-root [data-testid=mcs-input]").first
        cdp = page.context.new_cdp_session(page)
        print_layers(cdp, page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": args.interval_us})
        n_warm = max(0, len(args.updates) - args.profiled)
        agg_self: dict[str, float] = defaultdict(float)
        agg_total: dict[str, float] = defaultdict(float)
        agg_trace: dict[str, float] = defaultdict(float)
        raw = []
        profiled_ms = 0.0
        events: list[dict] = []
        done = {"flag": False}
        cdp.on("Tracing.dataCollected", lambda m: events.extend(m["value"]))
        cdp.on("Tracing.tracingComplete", lambda m: done.update(flag=True))
        for j, v in enumerate(args.updates):
            record = j >= n_warm
            page.mouse.move(0, 0)
            inp.fill(str(v))
            if record:
                events.clear()
                done["flag"] = False
                cdp.send(
                    "Tracing.start",
                    {"traceConfig": {"includedCategories": TRACE_CATEGORIES}, "transferMode": "ReportEvents"},
                )
                if not args.trace_only:
                    cdp.send("Profiler.start")
            inp.press("Enter")
            page.wait_for_function("() => window.__bench.updated !== null", polling=50, timeout=600_000)
            b = page.evaluate("() => window.__bench")
            ms = b["updated"] - b["upd0"]
            if record:
                prof = (
                    cdp.send("Profiler.stop")["profile"]
                    if not args.trace_only
                    else {"nodes": [], "samples": [], "timeDeltas": [], "startTime": 0, "endTime": 0}
                )
                cdp.send("Tracing.end")
                deadline = time.monotonic() + 60
                while not done["flag"] and time.monotonic() < deadline:
                    page.wait_for_timeout(50)
                s, t, total = profile_tables(prof)
                keydowns = [
                    e["ts"]
                    for e in events
                    if e.get("name") == "EventDispatch"
                    and (e.get("args", {}).get("data") or {}).get("type") == "keydown"
                ]
                tr, tasks = trace_tables(events, t0_us=keydowns[-1] if keydowns else prof["startTime"])
                for d, src in ((agg_self, s), (agg_total, t), (agg_trace, tr)):
                    for k2, v2 in src.items():
                        d[k2] += v2
                profiled_ms += total
                raw.append({"update": v, "ms": ms, "profile": prof, "trace": list(events)})
                print(
                    f"\nupdate to {v}: {ms:.0f} ms from Enter to drawn (profiled {total:.0f} ms); long tasks "
                    "(start ms after the Enter's keydown, ms, top events inside; >= 2 ms):"
                )
                for start, dur, top in tasks:
                    inner = ", ".join(f"{k2} {v2:.0f}" for k2, v2 in top)
                    print(f"  +{start:7.0f}  {dur:6.0f} ms  {inner}")
            else:
                print(f"warm-up update to {v}: {ms:.0f} ms", flush=True)
            got = nb.state(2, timeout_s=600)
            assert got["mcs"] == v, got
        browser.close()

    k = max(1, args.profiled)
    print(f"\nScript functions by self time (mean over {k} profiled update(s), ms):")
    for name, ms in sorted(agg_self.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {ms / k:8.1f}  {name}")
    print(f"\nScript functions by total time (mean, ms; top {args.top}):")
    for name, ms in sorted(agg_total.items(), key=lambda kv: -kv[1])[: args.top]:
        if not name.startswith("[module]"):
            print(f"  {ms / k:8.1f}  {name}")
    print("\nWidget modules by total time (a sample counts for each module on its stack; mean, ms):")
    for name, ms in sorted(agg_total.items(), key=lambda kv: -kv[1]):
        if name.startswith("[module]") and ms / k >= 1:
            print(f"  {ms / k:8.1f}  {name[9:]}")
    print("\nMain thread by trace event, self time (mean, ms):")
    for name, ms in sorted(agg_trace.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {ms / k:8.1f}  {name}")
    print(f"\nload average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(raw))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="inputs (ResNet-18 digits, cached by digits_resnet)")
    ap.add_argument(
        "--updates",
        type=int,
        nargs="+",
        default=[20, 50],
        help="min_cluster_size values typed in order (the widget starts at 5)",
    )
    ap.add_argument("--profiled", type=int, default=1, help="how many of the last updates to record")
    ap.add_argument("--interval-us", type=int, default=200, help="sampling interval of the V8 profiler")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument(
        "--trace-only",
        action="store_true",
        help="no V8 profiler (its start and sampling cost main-thread time): the trace's phases only",
    )
    ap.add_argument("--json", type=Path, help="write the raw profiles and traces here")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
