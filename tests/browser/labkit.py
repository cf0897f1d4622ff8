"""Shared machinery of the browser tier: a real JupyterLab server, Debian's chromium, notebook helpers.

Used by ``tests/browser/conftest.py`` (session fixtures) and by ``benchmarks/bench_widget.py``.
Everything runs on 127.0.0.1 and offline: no ``playwright install``, no news or update checks.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("NAPW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TOKEN = "napw-e2e-token"
CONTEXTS: list = []  # open browser contexts: conftest screenshots their pages when a test fails
PROMPT_DONE = re.compile(r"^\[(\d+)\]:?$")


@dataclass
class LabServer:
    url: str
    root: Path
    token: str
    proc: subprocess.Popen

    @property
    def log(self) -> str:
        p = self.root.parent / "lab.log"
        return p.read_text(errors="replace") if p.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings: Path) -> None:
    """User settings that keep Lab quiet and offline, and render every cell (no windowing)."""
    files = {
        # "Would you like to get notified about official Jupyter news?" toast, and update checks
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        # the extension manager would query PyPI
        "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
        # all cells in the DOM: locators of cells below a tall widget output stay valid
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for rel, value in files.items():
        p = settings / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value))


@contextmanager
def lab_server(base: Path, startup_timeout: float = 90.0, env: dict[str, str] | None = None):
    """Start ``jupyter lab`` on 127.0.0.1 with a token; yield a :class:`LabServer`; stop it afterwards.

    ``env``: extra environment variables for the server and its kernels.
    """
    root = base / "notebooks"
    root.mkdir(parents=True, exist_ok=True)
    _write_settings(base / "settings")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "cfg"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "ws"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        **(env or {}),
    }
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = open(base / "lab.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    server = LabServer(url=url, root=root, token=TOKEN, proc=proc)
    deadline = time.monotonic() + startup_timeout
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{server.log[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError as err:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not answer in {startup_timeout:.0f} s:\n{server.log[-3000:]}"
                    ) from err
                time.sleep(0.3)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        }
    )
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)
    return path


class NotebookPage:
    """One notebook open in JupyterLab, in its own Playwright page.

    ``run(i)`` runs cell ``i`` (Ctrl+Enter: the notebook keeps its shape) and waits until its prompt shows
    a new execution count; ``output(i)`` is the cell's output text; ``state(i)`` parses the JSON that the
    cell printed after ``STATE``.
    """

    def __init__(self, page, server: LabServer, name: str):
        self.page, self.server, self.name = page, server, name
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    # -- opening ---------------------------------------------------------------------------------
    def open(self, timeout_ms: int = 90_000) -> NotebookPage:
        from playwright.sync_api import expect

        ws = re.sub(r"\W", "-", self.name)
        self.page.goto(
            f"{self.server.url}/lab/workspaces/{ws}/tree/{self.name}?token={self.server.token}&reset"
        )
        expect(self.page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=timeout_ms)
        self.wait_idle(timeout_ms)
        return self

    def wait_idle(self, timeout_ms: int = 90_000) -> None:
        """Wait until the kernel is connected and idle ("| Idle" in the status bar).

        The toolbar's circle reads idle before the kernel is connected, and a cell run then is dropped.
        """
        from playwright.sync_api import expect

        expect(self.page.locator(".jp-StatusBar-Widget", has_text="| Idle").first).to_be_visible(
            timeout=timeout_ms
        )

    # -- cells -------------------------------------------------------------------------------------
    def cell(self, i: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(i)

    def prompt(self, i: int, timeout_ms: float = 30_000) -> str:
        return self.cell(i).locator(".jp-InputPrompt").inner_text(timeout=timeout_ms).strip()

    def run(self, i: int, timeout_s: float = 120.0, check: bool = True):
        """Run cell ``i``; return its locator once it has finished. Raise if it printed a traceback."""
        cell = self.cell(i)
        deadline = time.monotonic() + timeout_s
        wait_ms = max(30_000, 1000 * timeout_s)  # a page busy rendering answers late
        before = self.prompt(i, timeout_ms=wait_ms)
        cell.locator(".jp-InputArea-editor").click(timeout=wait_ms)
        self.page.keyboard.press("Control+Enter")
        while True:
            # a page busy rendering answers late: wait as long as the cell may take
            now = self.prompt(i, timeout_ms=max(30_000, 1000 * (deadline - time.monotonic())))
            if now != before and PROMPT_DONE.match(now):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"cell {i} still '{now}' after {timeout_s:.0f} s; output:\n{self.output(i)}"
                )
            self.page.wait_for_timeout(50)
        if check:
            err = self._error_text(i)
            if err:
                raise AssertionError(f"cell {i} raised:\n{err}")
        return cell

    def _error_text(self, i: int) -> str:
        # Lab renders an error as stderr text; warnings are stderr too, so look for the traceback
        errs = self.cell(i).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        return "\n".join(t for t in errs.all_inner_texts() if "Traceback" in t)

    def output(self, i: int) -> str:
        return "\n".join(self.cell(i).locator(".jp-OutputArea-output").all_inner_texts())

    def state(self, i: int, **kw) -> dict:
        """Run cell ``i`` (which prints ``STATE {json}``) and return the parsed JSON."""
        self.run(i, **kw)
        text = self.output(i)
        for line in text.splitlines():
            if line.startswith("STATE "):
                return json.loads(line[len("STATE ") :])
        raise AssertionError(f"cell {i} printed no STATE line:\n{text}")


# The small synthetic widget the feature browser tests open (no model to train): four sparse blobs.
SYNTHETIC_WIDGET_PRELUDE = """\
import json
import numpy as np
from napwidget.widget import NapWidget

rng = np.random.default_rng(0)
centers = rng.uniform(0, 3, size=(4, 12)) * (rng.uniform(size=(4, 12)) < 0.5)
X = np.maximum(
    np.concatenate([c + rng.normal(scale=0.1, size=(40, 12)) for c in centers]), 0
).astype("float32")
y = np.repeat(np.arange(4), 40)
"""


def run_widget_cell(nb, timeout_s: float = 180):
    """Run cell 0 (which shows a widget) and wait until its NAP cards are on screen."""
    from playwright.sync_api import expect

    nb.run(0, timeout_s=timeout_s)
    expect(nb.cell(0).locator("[data-testid=nap-card]").first).to_be_visible(timeout=60_000)
    return nb


def widget_root(nb):
    """The widget's root element in cell 0."""
    return nb.cell(0).locator(".napw-root").first
