"""A notebook widget whose kernel is gone, in a real JupyterLab: min_cluster_size and the selection method
still change the NAPs, re-selected in the browser from the tree the kernel shipped, with the kernel's counts.

The kernel is shut down through Jupyter's REST API (what "Kernel > Shut Down Kernel" does); the widget then
has no comm. The expected counts were printed by the kernel before it went away.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from gridkit import expect_grid_holds
from labkit import SYNTHETIC_WIDGET_PRELUDE, run_widget_cell, widget_root

pytestmark = pytest.mark.browser

# each step changes the NAP count (6 at the start: leaf, 5), so a stale page cannot pass
VALUES = [("leaf", 2), ("eom", 2), ("leaf", 45), ("leaf", 6)]

CELLS = [
    SYNTHETIC_WIDGET_PRELUDE
    + """
from napwidget import find_naps
w = NapWidget.from_activations({"fc": X}, labels=y, min_cluster_size=5)
w""",
    f"""\
expected = {{f"{{m}}:{{v}}": int(find_naps(X, min_cluster_size=v, cluster_selection_method=m).n_naps)
            for m, v in {VALUES!r}}}
print("STATE", json.dumps(expected))""",
]


def _shutdown_kernels(server) -> None:
    req = urllib.request.Request(
        f"{server.url}/api/sessions", headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        sessions = json.load(resp)
    for s in sessions:
        kid = s["kernel"]["id"]
        req = urllib.request.Request(
            f"{server.url}/api/kernels/{kid}",
            method="DELETE",
            headers={"Authorization": f"token {server.token}"},
        )
        urllib.request.urlopen(req, timeout=30).close()


def test_widget_reselects_in_the_browser_after_the_kernel_is_gone(open_notebook, lab):
    nb = run_widget_cell(open_notebook("napw_kernelless.ipynb", CELLS))
    expected = nb.state(1)
    counts = [expected[f"{m}:{v}"] for m, v in VALUES]
    assert all(a != b for a, b in zip([6, *counts], counts)), counts
    r = widget_root(nb)
    expect(r.locator("[data-testid=kernel-note]")).to_be_hidden()
    _shutdown_kernels(lab)
    mcs = r.locator("[data-testid=mcs-input]")
    method = r.locator("[data-testid=method-select]")
    for meth, value in VALUES:
        if method.input_value() != meth:
            method.select_option(meth)
        mcs.fill(str(value))
        mcs.press("Enter")
        k = expected[f"{meth}:{value}"]
        expect(r.locator("[data-testid=kernel-note]")).to_have_text(
            "kernel not connected: re-selecting in the browser", timeout=20_000
        )
        expect(r.locator("[data-testid=nap-count]")).to_contain_text(f"{k} NAP", timeout=20_000)
        expect(r.locator("[data-testid=busy]")).to_be_hidden()
        expect_grid_holds(r, k)
    # the selection still links the views: a card fills the gallery with that NAP's members
    r.locator("[data-testid=nap-card]").first.click()
    expect(r.locator("[data-testid=nap-card].selected")).to_have_count(1)
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible()
