"""Session fixtures of the browser tier: one JupyterLab server and one headless Chromium per session.

Helpers live in ``labkit.py`` (shared with ``benchmarks/bench_widget.py``). Tests here are marked
``browser``; they skip only when ``/usr/bin/chromium`` is missing (CI installs it: ``make browser``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labkit import CHROMIUM, CONTEXTS, NotebookPage, lab_server, launch_chromium, write_notebook

ARTIFACTS = Path(
    os.environ.get("NAPW_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


def _need_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium: `make browser`)")


@pytest.fixture(scope="session")
def demo_cache_dir(tmp_path_factory):
    """Where the digits demo CNN's weights are cached: trained once, by the kernel or by pytest, whichever
    asks first (``DigitsDemo.load(cache_dir=...)``); kernels see it as ``$NAPW_DEMO_CACHE``.
    Set ``NAPW_DEMO_CACHE`` yourself to keep the weights between runs."""
    for var in ("NAPW_DEMO_CACHE", "NAPWIDGET_CACHE"):  # tests/conftest.py sets the session-wide one
        if os.environ.get(var):
            return Path(os.environ[var])
    return tmp_path_factory.mktemp("demo-cache")


@pytest.fixture(scope="session")
def lab(tmp_path_factory, demo_cache_dir):
    """A real JupyterLab server on 127.0.0.1 (token auth, offline settings), shared by the session."""
    _need_chromium()
    with lab_server(tmp_path_factory.mktemp("lab"), env={"NAPW_DEMO_CACHE": str(demo_cache_dir)}) as server:
        yield server


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium driven by Playwright (no `playwright install`), shared by the session."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def lab_context(chromium):
    """One browser context for every Lab page: Lab's static assets are fetched and cached once."""
    ctx = chromium.new_context(viewport={"width": 1400, "height": 900})
    CONTEXTS.append(ctx)
    yield ctx
    CONTEXTS.remove(ctx)
    ctx.close()


@pytest.fixture(scope="session")
def open_notebook(lab, lab_context):
    """Factory: ``open_notebook(name, cells)`` writes the notebook with nbformat, opens it,
    waits for "| Idle".

    Pages are closed (and their kernels shut down) at the end of the session.
    """
    opened: list[NotebookPage] = []

    def _open(name: str, cells: list[str]) -> NotebookPage:
        write_notebook(lab.root / name, cells)
        nb = NotebookPage(lab_context.new_page(), lab, name)
        opened.append(nb)
        return nb.open()

    yield _open
    for nb in opened:
        nb.page.close()


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, save a screenshot of every open page to test-artifacts/ (CI uploads the folder)."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for k, pg in enumerate(pg for ctx in CONTEXTS for pg in ctx.pages):
        with contextlib.suppress(Exception):  # best effort only
            pg.screenshot(path=str(ARTIFACTS / f"{item.name}-{k}.png"))
