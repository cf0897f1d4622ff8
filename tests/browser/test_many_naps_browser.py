"""Hundreds of NAPs in a real JupyterLab: virtualised cards, canvas views, paging, selection, updates, and 30
rapid changes from the UI that must end showing exactly the kernel's final state (correctness, not time).

``NAPW_RAPID_REPEAT=20`` runs the rapid-changes test 20 times in a row on the same widget.
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CELLS = [
    # 0: a widget over three layers; "many" holds 250 tight blobs (hundreds of NAPs at the defaults)
    """\
import json
import numpy as np
from napwidget.widget import NapWidget

rng = np.random.default_rng(0)
def blobs(k, per, dim, spread, seed):
    r = np.random.default_rng(seed)
    centers = r.uniform(0, 3, size=(k, dim)) * (r.uniform(size=(k, dim)) < 0.4)
    return np.maximum(np.concatenate([c + r.normal(scale=spread, size=(per, dim)) for c in centers]), 0)
many = blobs(250, 10, 24, 0.04, 1).astype("float32")
few = blobs(25, 100, 24, 0.3, 2).astype("float32")
mid = blobs(125, 20, 24, 0.04, 3).astype("float32")  # 125 NAPs: an SVG scatter without the NAP ids layer
y = np.arange(len(many)) // 10 % 10
imgs = (rng.uniform(size=(len(many), 1, 6, 6)) * 0.5 + (y / 10.0)[:, None, None, None]).astype("float32")
w = NapWidget.from_activations({"few": few, "many": many, "mid": mid}, images=imgs, labels=y, layer="many")
w""",
    # 1: the kernel's state
    """\
def _state(w):
    return {"layer": w.layer, "min_cluster_size": w.min_cluster_size, "n_naps": int(w.naps.n_naps),
            "sizes": [int(s) for s in w.naps.sizes], "selected_naps": list(w.selected_naps),
            "selected_indices": list(w.selected_indices)[:50], "error": w.error, "busy": w.busy,
            "members": w.explorer.members_of(w.selected_naps)[:50]}
print("STATE", json.dumps(_state(w)))""",
]

# what the page shows: the NAP count, the grid's NAPs, the scatter's plotted (nap, size) pairs
SHOWN_JS = """r => {
  const box = r.querySelector('[data-testid=scatter]');
  const v = box.napwView;
  const pts = v && box.dataset.source ? v.data(box.dataset.source).map(d => [d.nap, d.size]) : null;
  const m = (r.querySelector('[data-testid=nap-count]').textContent || '').match(/\\d+/);
  return {
    count: m ? Number(m[0]) : -1,
    grid: Number(r.querySelector('[data-testid=nap-grid]').dataset.count),
    cards: [...r.querySelectorAll('[data-testid=nap-card]')].map(c => Number(c.dataset.nap)),
    points: pts,
    ready: box.dataset.ready === '1',
    busy: !r.querySelector('[data-testid=busy]').hidden,
    layer: r.querySelector('[data-testid=layer-select]').value,
    mcs: r.querySelector('[data-testid=mcs-input]').value,
    dom: r.querySelectorAll('*').length,
  };
}"""


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("napw_many.ipynb", CELLS)
    nb.run(0, timeout_s=240)
    expect(root(nb).locator("[data-testid=nap-card]").first).to_be_visible(timeout=90_000)
    return nb


def root(nb):
    return nb.cell(0).locator(".napw-root").first


def shown(r) -> dict:
    return r.evaluate(SHOWN_JS)


def expect_shows(nb, st: dict, timeout_s: float = 60.0) -> dict:
    """Wait until the page shows exactly the kernel state ``st`` (count, grid, every scatter point's size)."""
    r = root(nb)
    want = sorted([i, s] for i, s in enumerate(st["sizes"]))
    got = None
    for _ in range(int(timeout_s / 0.25)):
        got = shown(r)
        if (
            not got["busy"]
            and got["ready"]
            and got["count"] == st["n_naps"] == got["grid"]
            and got["points"] is not None
            and sorted(got["points"]) == want
        ):
            return got
        nb.page.wait_for_timeout(250)
    page = {k: got[k] for k in got if k != "points"}
    raise AssertionError(
        f"the page never showed the kernel's state: layer {st['layer']}, mcs "
        f"{st['min_cluster_size']}, {st['n_naps']} NAPs; page: {page}, "
        f"{len(got['points'] or [])} points"
    )


def test_many_naps_virtualised_cards_canvas_views_and_small_dom(nb):
    r = root(nb)
    st = nb.state(1)
    assert st["n_naps"] >= 150, st["n_naps"]  # the many-NAP case
    got = expect_shows(nb, st)
    assert 0 < len(got["cards"]) < st["n_naps"] / 3  # only the cards in view are built
    assert got["dom"] <= 3000, got["dom"]
    expect(r.locator("[data-testid=scatter]")).to_have_attribute("data-renderer", "canvas")
    expect(r.locator("[data-testid=heatmap-canvas]")).to_have_attribute("data-rows", str(st["n_naps"]))


def test_scrolling_the_grid_builds_the_last_cards(nb):
    r = root(nb)
    st = nb.state(1)
    grid = r.locator("[data-testid=nap-grid]")
    grid.evaluate("g => { g.scrollTop = g.scrollHeight; }")
    last = st["n_naps"] - 1  # persistence order = id order
    card = r.locator(f"[data-testid=nap-card][data-nap='{last}']")
    expect(card).to_be_visible(timeout=10_000)
    expect(card).to_contain_text(f"{st['sizes'][last]}")
    assert shown(r)["dom"] <= 3000
    card.click()
    for _ in range(40):
        st = nb.state(1)
        if st["selected_naps"] == [last]:
            break
        nb.page.wait_for_timeout(250)
    assert st["selected_naps"] == [last] and st["selected_indices"] == st["members"]
    items = r.locator("[data-testid=gallery-item]")
    expect(items.first).to_be_visible(timeout=10_000)
    idx = [int(x) for x in items.evaluate_all("els => els.map(e => e.dataset.index)")]
    assert idx == st["members"][: len(idx)]
    grid.evaluate("g => { g.scrollTop = 0; }")
    expect(r.locator("[data-testid=nap-card][data-nap='0']")).to_be_visible(timeout=10_000)


def test_update_from_the_ui_redraws_every_view(nb):
    r = root(nb)
    inp = r.locator("[data-testid=mcs-input]")
    inp.fill("15")
    inp.press("Enter")
    st = nb.state(1)
    assert st["min_cluster_size"] == 15 and st["error"] == ""
    got = expect_shows(nb, st)
    assert got["dom"] <= 3000, (st["n_naps"], got["dom"])  # the DOM budget holds at every NAP count
    inp.fill("5")
    inp.press("Enter")
    got = expect_shows(nb, nb.state(1))
    assert got["dom"] <= 3000, got["dom"]


def test_scatter_switches_its_renderer_in_place(nb):
    """250 NAPs (canvas) -> 125 (SVG, same chart shape) -> 250: the same vega view, no new embed."""
    r = root(nb)
    layer = r.locator("[data-testid=layer-select]")
    box = r.locator("[data-testid=scatter]")
    for name, renderer in (("many", "canvas"), ("mid", "svg"), ("many", "canvas")):
        if layer.input_value() != name:
            layer.select_option(name)
        for _ in range(120):
            st = nb.state(1)
            if st["layer"] == name and not st["busy"]:
                break
            nb.page.wait_for_timeout(250)
        expect_shows(nb, st)
        expect(box).to_have_attribute("data-renderer", renderer)
        marks = box.evaluate("b => b.querySelectorAll('.mark-symbol path').length")
        assert marks == (st["n_naps"] if renderer == "svg" else 0), (name, marks)
        if name == "many" and box.evaluate("b => b.napwView.__napwMark === undefined"):
            box.evaluate("b => { b.napwView.__napwMark = 1; }")  # tag the view on screen
        else:
            assert box.evaluate("b => b.napwView.__napwMark") == 1, f"a new vega view for layer {name}"


@pytest.mark.parametrize("run", range(int(os.environ.get("NAPW_RAPID_REPEAT", "1"))))
def test_rapid_changes_end_in_the_kernels_final_state(nb, run):
    """30 parameter and layer changes from the UI without waiting; the page ends in the kernel's state."""
    r = root(nb)
    inp = r.locator("[data-testid=mcs-input]")
    layer = r.locator("[data-testid=layer-select]")
    values = [5, 12, 7, 30, 9, 6, 20, 8, 11, 5]
    for k in range(30):
        if k % 3 == 2:
            layer.select_option("few" if layer.input_value() == "many" else "many")
        else:
            inp.fill(str(values[(k + run) % len(values)]))
            inp.press("Enter")
    last_layer, last_mcs = layer.input_value(), int(inp.input_value())
    for _ in range(240):  # the kernel works through the queue of changes
        st = nb.state(1)
        if st["layer"] == last_layer and st["min_cluster_size"] == last_mcs and not st["busy"]:
            break
        nb.page.wait_for_timeout(250)
    assert (st["layer"], st["min_cluster_size"], st["error"]) == (last_layer, last_mcs, "")
    got = expect_shows(nb, st)
    assert (got["layer"], int(got["mcs"])) == (st["layer"], st["min_cluster_size"])
