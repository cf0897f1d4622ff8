"""End to end in a real JupyterLab: kernel + comm + the bundled front end, driven by headless Chromium.

One notebook (written with nbformat) is opened once for the module; the tests run in file order on the
same live widget, each asserting both on the DOM and on the Python object (a cell prints its state).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from gridkit import expect_grid_holds, nap_card

pytestmark = pytest.mark.browser

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
XSS = "<img src=x onerror=window.__xss=1>"

CELLS = [
    # 0: the demo widget
    """\
import json, os
from napwidget.datasets import DigitsDemo
from napwidget.widget import NapWidget

def state(w):
    return {"layer": w.layer, "min_cluster_size": w.min_cluster_size, "min_samples": w.min_samples,
            "method": w.cluster_selection_method, "n_naps": int(w.naps.n_naps),
            "selected_naps": list(w.selected_naps), "n_selected": len(set(w.selected_indices)),
            "selected_indices": list(w.selected_indices)[:500],
            "members": w.explorer.members_of(w.selected_naps)[:500],
            "n_members": len(w.explorer.members_of(w.selected_naps)),
            "sizes": [int(s) for s in w.naps.sizes], "error": w.error, "busy": w.busy}

demo = DigitsDemo.load(seed=0, cache_dir=os.environ.get("NAPW_DEMO_CACHE"))
w = NapWidget(demo.model, demo.images, layers=["conv3", "relu4"], labels=demo.labels,
              class_names=demo.class_names, cache=None)
w""",
    # 1: the Python side's state
    'print("STATE", json.dumps(state(w)))',
    # 2: Python -> JS selection
    "w.selected_naps = [1]",
    # 3: a widget whose class names are HTML
    f"""\
import numpy as np
XSS = {XSS!r}
rng = np.random.default_rng(3)
centers = rng.uniform(0, 3, size=(4, 16)) * (rng.uniform(size=(4, 16)) < 0.4)
X = np.maximum(
    np.concatenate([c + rng.normal(scale=0.1, size=(60, 16)) for c in centers]), 0
).astype("float32")
y = np.repeat(np.arange(4), 60)
w_xss = NapWidget.from_activations({{"fc": X}}, images=demo.images[:240], labels=y,
                                   class_names=[f"{{XSS}} c{{i}}" for i in range(4)], min_cluster_size=10)
w_xss""",
    # 4: state of the XSS widget
    'print("STATE", json.dumps(state(w_xss)))',
]


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("napw_e2e.ipynb", CELLS)
    nb.run(0, timeout_s=600)  # generous: the shared test machine can be loaded
    expect(root(nb).locator("[data-testid=nap-card]").first).to_be_visible(timeout=60_000)
    return nb


def root(nb, cell: int = 0):
    return nb.cell(cell).locator(".napw-root").first


def settle(r, timeout: int = 60_000) -> None:
    expect(r.locator("[data-testid=busy]")).to_be_hidden(timeout=timeout)


def state_when(nb, done, timeout_s: float = 60.0) -> dict:
    """The kernel's state once ``done(state)`` holds and it is not busy. With ipykernel 7 and JupyterLab the
    widget's comm messages are handled in a subshell thread, alongside cells: a cell run right after a UI
    change can see the handler half-way (the new parameter set, the old NAPs, busy)."""
    st = nb.state(1)
    for _ in range(int(timeout_s / 0.25)):
        if done(st) and not st["busy"]:
            return st
        nb.page.wait_for_timeout(250)
        st = nb.state(1)
    raise AssertionError(f"the kernel never reached the expected state: {st}")


def ui_nap_count(r) -> int:
    text = r.locator("[data-testid=nap-count]").inner_text()
    m = re.search(r"\d+", text)
    assert m, f"nap-count shows no number: {text!r}"
    return int(m.group())


# the scatter's point marks: vega keeps each scene item on the element's ``__data__``; legend symbols are
# ``.mark-symbol`` too, but carry no ``nap``
POINTS_JS = """el => [...el.querySelectorAll('.mark-symbol path')]
                 .filter(p => p.__data__ && p.__data__.datum && p.__data__.datum.nap !== undefined)"""


def scatter_naps(r) -> list[int]:
    """The ``nap`` field of every point mark in the vega SVG."""
    return r.locator("[data-testid=scatter]").evaluate(
        f"el => ({POINTS_JS})(el).map(p => p.__data__.datum.nap)"
    )


def gallery_indices(r) -> list[int]:
    return [
        int(x)
        for x in r.locator("[data-testid=gallery-item]").evaluate_all("els => els.map(e => e.dataset.index)")
    ]


def expect_views_match(r, n_naps: int) -> None:
    """Cards, nap-count and scatter all show ``n_naps`` NAPs."""
    expect(r.locator("[data-testid=nap-count]")).to_contain_text(str(n_naps))
    expect_grid_holds(r, n_naps)
    r.page.wait_for_function(
        f"([el, n]) => ({POINTS_JS})(el).length === n",
        arg=[r.locator("[data-testid=scatter]").element_handle(), n_naps],
        timeout=15_000,
    )
    assert sorted(x for x in scatter_naps(r)) == list(range(n_naps))
    assert ui_nap_count(r) == n_naps


def click_scatter_point(r, nap: int) -> None:
    """Click the centre of NAP ``nap``'s point, where that point (not a neighbour or label) is on top."""
    pos = r.locator("[data-testid=scatter]").evaluate(
        f"""(el, nap) => {{
             for (const p of ({POINTS_JS})(el)) {{
               if (p.__data__.datum.nap !== nap) continue;
               const b = p.getBoundingClientRect();
               const x = b.x + b.width / 2, y = b.y + b.height / 2;
               return {{x, y, hit: document.elementFromPoint(x, y) === p}};
             }}
             return null;
           }}""",
        nap,
    )
    assert pos is not None, f"no scatter point for NAP {nap}"
    assert pos["hit"], f"NAP {nap}'s point is covered by another element"
    r.page.mouse.click(pos["x"], pos["y"])


def clickable_nap(r, exclude=()) -> int:
    """A NAP whose scatter point is on top at its centre (points can overlap)."""
    r.locator("[data-testid=scatter]").evaluate("el => el.scrollIntoView({block: 'center'})")
    naps = r.locator("[data-testid=scatter]").evaluate(
        f"""el => ({POINTS_JS})(el).filter(p => {{
                 const b = p.getBoundingClientRect();
                 return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === p;
               }}).map(p => p.__data__.datum.nap)"""
    )
    naps = [n for n in naps if n not in exclude]
    assert naps, "every scatter point is covered by another"
    return naps[0]


# ------------------------------------------------------------------------------------------------ tests
def test_first_render_shows_grid_scatter_gallery(nb):
    r = root(nb)
    r.scroll_into_view_if_needed()
    st = nb.state(1)
    assert st["error"] == "" and st["n_naps"] > 1
    settle(r)
    for tid in (
        "layer-select",
        "mcs-input",
        "ms-input",
        "method-select",
        "nap-count",
        "scatter",
        "heatmap",
        "gallery-page-next",
    ):
        expect(r.locator(f"[data-testid={tid}]")).to_be_visible()
    # nothing selected yet: the gallery is there, empty (it fills on selection, see below)
    expect(r.locator("[data-testid=gallery]")).to_be_attached()
    expect(r.locator("[data-testid=gallery-item]")).to_have_count(0)
    expect_views_match(r, st["n_naps"])
    expect(r.locator("[data-testid=layer-select]")).to_have_value(st["layer"])
    expect(r.locator("[data-testid=mcs-input]")).to_have_value(str(st["min_cluster_size"]))
    expect(r.locator("[data-testid=ms-input]")).to_have_value(str(st["min_samples"]))
    options = r.locator("[data-testid=layer-select] option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["conv3", "relu4"]
    # each card shows its NAP's size
    for nap, size in enumerate(st["sizes"][:3]):
        expect(nap_card(r, nap)).to_contain_text(str(size))
    expect(r.locator("[data-testid=error]")).to_be_hidden()


def test_layer_change_from_ui(nb):
    r = root(nb)
    before = nb.state(1)
    other = "relu4" if before["layer"] == "conv3" else "conv3"
    r.locator("[data-testid=layer-select]").select_option(other)
    st = state_when(nb, lambda s: s["layer"] == other)
    assert st["error"] == ""
    settle(r)
    expect_views_match(r, st["n_naps"])
    expect(r.locator("[data-testid=layer-select]")).to_have_value(other)


def test_min_cluster_size_change_from_ui(nb):
    r = root(nb)
    before = nb.state(1)
    new = before["min_cluster_size"] * 4  # 5 -> 20: fewer, bigger NAPs
    inp = r.locator("[data-testid=mcs-input]")
    inp.fill(str(new))
    inp.press("Tab")  # blur: the change event commits
    st = state_when(nb, lambda s: s["min_cluster_size"] == new)
    assert st["error"] == ""
    assert st["n_naps"] != before["n_naps"], "expected min_cluster_size x4 to change the NAPs"
    assert all(size >= new for size in st["sizes"])
    settle(r)
    expect_views_match(r, st["n_naps"])
    expect(inp).to_have_value(str(new))


def test_invalid_min_cluster_size_shows_error_and_reverts(nb):
    r = root(nb)
    before = nb.state(1)
    inp = r.locator("[data-testid=mcs-input]")
    inp.fill("1")
    inp.press("Tab")
    st = state_when(nb, lambda s: s["error"] != "")
    assert "min_cluster_size" in st["error"]
    assert st["min_cluster_size"] == before["min_cluster_size"] and st["n_naps"] == before["n_naps"]
    expect(r.locator("[data-testid=error]")).to_contain_text("min_cluster_size")
    expect(inp).to_have_value(str(before["min_cluster_size"]))
    expect_views_match(r, before["n_naps"])
    # dismissing the banner clears the error on the Python side too
    r.get_by_role("button", name="dismiss error").click()
    expect(r.locator("[data-testid=error]")).to_be_hidden()
    assert nb.state(1)["error"] == ""


def test_scatter_click_selects_nap_and_fills_gallery(nb):
    r = root(nb)
    before = nb.state(1)
    nap = clickable_nap(r)
    click_scatter_point(r, nap)
    card = r.locator(f"[data-testid=nap-card][data-nap='{nap}']")
    expect(card).to_have_class(re.compile(r"\bselected\b"))
    expect(r.locator("[data-testid=nap-card].selected")).to_have_count(1)
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible()
    st = nb.state(1)
    assert st["selected_naps"] == [nap]
    assert st["n_selected"] == st["n_members"] == before["sizes"][nap]
    shown = gallery_indices(r)
    assert shown and shown == st["members"][: len(shown)], "gallery: the NAP's members, most typical first"
    # the next gallery page shows the following members
    if st["n_members"] > len(shown):
        r.locator("[data-testid=gallery-page-next]").click()
        expect(r.locator("[data-testid=gallery-item]").first).not_to_have_attribute(
            "data-index", str(shown[0])
        )
        page2 = gallery_indices(r)
        assert page2 and set(page2) <= set(st["members"]) and not set(page2) & set(shown)


def test_python_sets_selection(nb):
    r = root(nb)
    nb.run(2)  # w.selected_naps = [1]
    expect(r.locator("[data-testid=nap-card][data-nap='1']")).to_have_class(re.compile(r"\bselected\b"))
    expect(r.locator("[data-testid=nap-card].selected")).to_have_count(1)
    st = nb.state(1)
    assert st["selected_naps"] == [1]
    expect(r.locator("[data-testid=gallery-item]").first).to_have_attribute(
        "data-index", str(st["members"][0])
    )
    assert set(gallery_indices(r)) <= set(st["members"])


def test_html_in_class_names_renders_as_text(nb):
    nb.run(3)
    r = root(nb, 3)
    expect(r.locator("[data-testid=nap-card]").first).to_be_visible(timeout=60_000)
    r.locator("[data-testid=nap-card]").first.click()
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible()
    # hover a point: vega tooltips render class names too
    r.locator("[data-testid=scatter] .mark-symbol.role-mark path").first.hover()
    nb.page.wait_for_timeout(500)  # an injected <img src=x> would have fired onerror by now
    assert nb.page.evaluate("() => window.__xss") is None
    assert nb.page.locator("img[src='x']").count() == 0
    assert XSS in r.inner_text(), "the class name should be shown, as text"


def test_screenshot_with_a_nap_selected(nb, chromium, artifacts_dir):
    """docs/img/widget.png (1400x900 px): the digits widget in Lab with a NAP selected.

    Laid out at 1750x1125 CSS px and scaled to 1400x900 by Chromium (like a browser zoomed to 80 %), so
    that controls, cards, scatter, heatmap and the selected NAP's gallery fit in one picture. Written to
    test-artifacts/ on every run; copied to docs/img/ when NAPW_UPDATE_DOCS=1.
    """
    r = root(nb)
    page = nb.page
    nb.run(2)  # select NAP 1 from Python
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible()
    r.locator("[data-testid=gallery-item]").first.click()  # its activation profile
    expect(r.locator("[data-testid=profile] svg").first).to_be_visible()
    if page.locator("#jp-left-stack").is_visible():
        page.keyboard.press("Control+b")  # collapse the left sidebar: more room for the widget
    page.set_viewport_size({"width": 1750, "height": 1125})
    try:
        page.wait_for_timeout(600)  # Lab and the views re-layout
        r.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.mouse.move(0, 0)
        page.wait_for_timeout(400)
        big = page.screenshot()
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})
    out = artifacts_dir / "widget.png"
    out.write_bytes(downscale(chromium, big, 1400, 900))
    if os.environ.get("NAPW_UPDATE_DOCS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, DOCS_IMG / "widget.png")


def downscale(browser, png: bytes, width: int, height: int) -> bytes:
    """Resize a PNG with Chromium's own image scaling (no imaging library needed)."""
    import base64

    ctx = browser.new_context(viewport={"width": width, "height": height})
    try:
        pg = ctx.new_page()
        src = "data:image/png;base64," + base64.b64encode(png).decode()
        pg.set_content(
            f'<body style="margin:0"><img src="{src}" style="width:{width}px;height:{height}px;'
            'display:block"></body>'
        )
        pg.wait_for_function("() => document.images[0].complete")
        return pg.screenshot()
    finally:
        ctx.close()
