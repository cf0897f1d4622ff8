"""Topology views in a real JupyterLab: the Mapper panel opens on demand, draws the kernel's graph, and a node
click reaches ``w.selected_indices``; a NAP selected in Python highlights the nodes holding its members; the
flow panel's band click selects that band's inputs; the scatter switches to the persistence diagram.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labkit import SYNTHETIC_WIDGET_PRELUDE, run_widget_cell, widget_root

pytestmark = pytest.mark.browser

CELLS = [
    # 0: a small widget over synthetic activations (no model to train)
    SYNTHETIC_WIDGET_PRELUDE
    + """\
w = NapWidget.from_activations({"early": X[:, :6] * 2, "mid": X, "logits": X[:, :4]}, labels=y,
                               class_names=["<b>zero</b>", "one", "two", "three"], min_cluster_size=10)
w""",
    # 1: the Python side's state
    """print("STATE", json.dumps({"open": list(w.topology_open), "n_nodes": len(w.mapper.get("nodes", [])),
    "nodes": {str(n["id"]): n["members"] for n in w.mapper.get("nodes", [])},
    "selected": list(w.selected_indices),
    "naps": list(w.selected_naps), "flow_links": [l["members"] for l in w.flow.get("links", [])],
    "error": w.error}))""",
    # 2: Python selects NAP 0
    "w.selected_naps = [0]",
]


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("napw_topology.ipynb", CELLS)
    return run_widget_cell(nb)


def root(nb):
    return widget_root(nb)


def test_mapper_opens_lazily_and_a_node_click_selects_its_members(nb):
    r = root(nb)
    assert nb.state(1)["open"] == []  # nothing computed before the panel is opened
    expect(r.locator("circle[data-testid=mapper-node]")).to_have_count(0)
    r.locator("[data-testid=mapper-toggle]").click()
    svg = r.locator("svg[data-testid=mapper]")
    expect(svg).to_have_attribute("data-ready", "1", timeout=30_000)
    st = nb.state(1)
    assert st["open"] == ["mapper"] and st["n_nodes"] > 0 and st["error"] == ""
    expect(r.locator("circle[data-testid=mapper-node]")).to_have_count(st["n_nodes"])
    # the biggest node whose centre is not covered by another node: click it, the kernel sees exactly its
    # members. elementFromPoint only sees the viewport, and running the state cell may have scrolled the graph
    # out of it.
    svg.scroll_into_view_if_needed()
    clickable = svg.evaluate("""el => [...el.querySelectorAll('circle[data-testid=mapper-node]')]
      .filter(c => {
        const b = c.getBoundingClientRect();
        return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === c;
    }).map(c => c.dataset.node)""")
    node_id = max(clickable, key=lambda k: len(st["nodes"][k]))
    r.locator(f"circle[data-testid=mapper-node][data-node='{node_id}']").click()
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible(timeout=15_000)
    nb.page.wait_for_timeout(300)
    after = nb.state(1)
    assert sorted(after["selected"]) == sorted(st["nodes"][node_id]) and after["naps"] == []


def test_python_nap_selection_highlights_nodes(nb):
    r = root(nb)
    nb.run(2)
    st = nb.state(1)
    want = {k for k, members in st["nodes"].items() if set(members) & set(st["selected"])}
    assert st["naps"] == [0] and want
    lit = r.locator("circle[data-testid=mapper-node][data-highlight='1']")
    expect(lit).to_have_count(len(want), timeout=10_000)
    assert set(lit.evaluate_all("els => els.map(e => e.dataset.node)")) == want


def test_flow_band_click_and_diagram_mode(nb):
    r = root(nb)
    r.locator("[data-testid=flow-toggle]").click()
    expect(r.locator("svg[data-testid=flow]")).to_have_attribute("data-ready", "1", timeout=30_000)
    st = nb.state(1)
    link = max(range(len(st["flow_links"])), key=lambda i: len(st["flow_links"][i]))
    # bands overlap where they cross: dispatch the click on the band itself
    r.locator(f"path[data-testid=flow-band][data-link='{link}']").dispatch_event("click")
    nb.page.wait_for_timeout(300)
    assert sorted(nb.state(1)["selected"]) == sorted(st["flow_links"][link])
    r.locator("[data-testid=scatter-mode] [data-mode=diagram]").click()
    expect(r.locator("[data-testid=scatter]")).to_have_attribute("data-mode", "diagram", timeout=30_000)
    expect(r.locator("[data-testid=error]")).to_have_text("")
