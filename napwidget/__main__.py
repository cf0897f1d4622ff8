"""Command line: ``napwidget demo`` (JupyterLab on the quickstart notebook) or ``demo --html out.html``."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

CACHE_DIR = Path(os.environ.get("NAPWIDGET_CACHE", Path.home() / ".cache" / "napwidget"))
NOTEBOOK = "quickstart.ipynb"


def _notebook_source() -> Path | None:
    """The quickstart notebook: from a source checkout, or the copy shipped inside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "notebooks" / NOTEBOOK, here / "notebooks" / NOTEBOOK):
        if candidate.exists():
            return candidate
    return None


def build_demo_widget(layer: str = "relu4"):
    """Train (or load from the cache) the digits CNN and open a NapWidget on it."""
    from napwidget.datasets import DigitsDemo
    from napwidget.widget import NapWidget

    demo = DigitsDemo.load(cache_dir=CACHE_DIR)
    return NapWidget(
        demo.model,
        demo.images,
        layers=["conv2", "conv3", "relu3", "fc1", "relu4", "fc2"],
        labels=demo.labels,
        class_names=demo.class_names,
        layer=layer,
        cache=str(CACHE_DIR / "activations"),
    )


def demo(args: argparse.Namespace) -> int:
    if args.html:
        print("napwidget demo: training the digits CNN (a few seconds on a CPU) ...", flush=True)
        w = build_demo_widget()
        path = w.save_html(args.html)
        print(f"napwidget demo: wrote {path} — open it in any browser (works offline, no kernel needed)")
        return 0
    source = _notebook_source()
    if source is None:
        print(
            "napwidget demo: quickstart notebook not found; use `napwidget demo --html out.html`",
            file=sys.stderr,
        )
        return 1
    workdir = Path(args.dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / NOTEBOOK
    if not target.exists():
        shutil.copy(source, target)
    print("napwidget demo: warming up the demo model ...", flush=True)
    from napwidget.datasets import DigitsDemo

    DigitsDemo.load(cache_dir=CACHE_DIR)  # so the notebook's first cell loads instead of training
    cmd = [sys.executable, "-m", "jupyter", "lab", str(target), f"--ServerApp.root_dir={workdir}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    if args.no_browser:
        cmd.append("--no-browser")
    print("napwidget demo: starting JupyterLab:", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="napwidget", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train the digits demo model and open the NAP explorer")
    p.add_argument(
        "--html", metavar="PATH", help="write a standalone HTML view instead of starting JupyterLab"
    )
    p.add_argument(
        "--dir", default="napwidget-demo", help="working folder for the notebook (default: ./napwidget-demo)"
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
