"""Time of ``python -c "import napwidget"`` in fresh interpreters, and which heavy modules it loads.

Run from the repository root: ``.venv/bin/python benchmarks/bench_import.py [--repeats 7] [--path DIR]``
(``--path`` puts another checkout's package first on ``sys.path``, to compare with an older version).
Prints a markdown row: median / min wall time of the bare interpreter, of ``import napwidget``, and of
``import napwidget.widget`` (what showing the widget pays, either way), plus the heavy modules loaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "scipy", "sklearn", "altair", "anywidget", "hdbscan", "pandas")


def run(code: str, path: str | None) -> float:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd="/")  # cwd: not this checkout
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--path", default=None)
    args = ap.parse_args()
    cases = {
        "bare python": "pass",
        "import napwidget": "import napwidget",
        "import napwidget.widget (what the widget needs)": "import napwidget.widget",
    }
    run("import napwidget", args.path)  # warm the OS file cache and __pycache__
    print("| case | median (s) | min (s) |\n|---|---:|---:|")
    for name, code in cases.items():
        times = [run(code, args.path) for _ in range(args.repeats)]
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} |")
    probe = f"import sys, napwidget; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=(args.path or "") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, env=env, capture_output=True, text=True, cwd="/"
    )
    print(f"\nheavy modules loaded by `import napwidget`: {loaded.stdout.strip() or 'none'}")


if __name__ == "__main__":
    main()
