"""Mid-range view in a real JupyterLab: the panel opens on demand, dragging the band's upper handle changes
``w.midrange_band`` and the gallery (the kernel selects the band's inputs); a band-NAP click selects its
inputs; "curate" fills ``w.curated_indices``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labkit import SYNTHETIC_WIDGET_PRELUDE, run_widget_cell, widget_root

pytestmark = pytest.mark.browser

CELLS = [
    # 0: a widget over synthetic activations and logits (no model to train)
    SYNTHETIC_WIDGET_PRELUDE
    + """\
Z = rng.normal(scale=0.3, size=(160, 4))
Z[np.arange(160), y] += 6.0
Z[np.arange(160), (y - 1) % 4] += 3.0
Z[np.arange(160), (y - 2) % 4] += 3.0
w = NapWidget.from_activations({"early": X[:, :6] * 2, "mid": X}, labels=y, outputs=Z,
                               groups=np.where(np.arange(160) % 2, "odd", "even"), min_cluster_size=8)
w""",
    # 1: the Python side's state
    """print("STATE", json.dumps({"open": w.midrange_open, "band": list(w.midrange_band),
    "selected": list(w.selected_indices), "count": w.midrange.get("count"),
    "band_indices": w.midrange.get("band_indices"), "curated": list(w.curated_indices),
    "naps": [r["all_members"] for r in w.midrange.get("naps", [])], "error": w.error}))""",
]


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("napw_midrange.ipynb", CELLS)
    return run_widget_cell(nb)


def root(nb):
    return widget_root(nb)


def gallery_indices(r):
    return r.locator("[data-testid=gallery-item]").evaluate_all(
        "els => els.map(e => Number(e.dataset.index))"
    )


def test_open_drag_band_updates_python_and_gallery(nb):
    r = root(nb)
    assert nb.state(1)["open"] is False
    r.locator("[data-testid=midrange-toggle]").click()
    svg = r.locator("svg[data-testid=midrange]")
    expect(svg).to_have_attribute("data-ready", "1", timeout=30_000)
    st = nb.state(1)
    assert st["open"] is True and st["error"] == "" and len(st["band"]) == 2
    assert st["selected"] == st["band_indices"] and st["count"] > 0
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible(timeout=15_000)
    before = gallery_indices(r)
    assert before == st["band_indices"][: len(before)]

    # drag the upper handle to the right end of the chart: the band now holds the top logits too
    handle = r.locator("[data-testid=midrange-band-hi]")
    handle.scroll_into_view_if_needed()
    hb = handle.bounding_box()
    sb = svg.bounding_box()
    nb.page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    nb.page.mouse.down()
    nb.page.mouse.move(sb["x"] + sb["width"] - 4, hb["y"] + hb["height"] / 2, steps=8)
    nb.page.mouse.up()
    expect(r.locator("[data-testid=midrange-count]")).not_to_have_attribute(
        "data-count", str(st["count"]), timeout=10_000
    )
    shown = int(r.locator("[data-testid=midrange-count]").get_attribute("data-count"))
    deadline = 40
    while deadline:
        after = nb.state(1)
        if after["band"] != st["band"] and after["count"] == shown:
            break
        nb.page.wait_for_timeout(250)
        deadline -= 1
    assert after["band"][0] == pytest.approx(st["band"][0]) and after["band"][1] > st["band"][1]
    assert after["count"] == shown > st["count"]  # what the view counts is what the kernel banded
    assert after["selected"] == after["band_indices"]
    expect(r.locator("[data-testid=gallery-page-info]")).to_contain_text(
        f"of {after['count']}", timeout=10_000
    )
    assert gallery_indices(r) == after["band_indices"][: len(gallery_indices(r))]


def test_band_nap_click_and_curate(nb):
    r = root(nb)
    st = nb.state(1)
    assert st["naps"], "the band has NAPs"
    r.locator("[data-testid=midrange-nap][data-nap='0']").click()
    r.locator("[data-testid=midrange-curate]").click()
    expect(r.locator("[data-testid=midrange-count]")).to_contain_text(
        f"{len(st['naps'][0])} curated", timeout=10_000
    )
    nb.page.wait_for_timeout(300)
    after = nb.state(1)
    assert after["selected"] == st["naps"][0]
    assert after["curated"] == sorted(st["naps"][0])
