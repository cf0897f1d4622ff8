"""Cross-layer views in a real JupyterLab: a NAP pinned from its card stays in the pinned tray after switching
layers with the layer strip; following the selected inputs lists the NAPs holding them in every layer, and
clicking one switches to that layer and selects it (seen from the kernel)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labkit import SYNTHETIC_WIDGET_PRELUDE, run_widget_cell, widget_root

pytestmark = pytest.mark.browser

CELLS = [
    # 0: a small widget over synthetic activations (no model to train)
    SYNTHETIC_WIDGET_PRELUDE
    + """\
images = rng.uniform(size=(160, 1, 8, 8)).astype("float32")
w = NapWidget.from_activations({"early": X[:, :6] * 2, "mid": X, "logits": X[:, :4]}, labels=y, images=images,
                               class_names=["<b>zero</b>", "one", "two", "three"], min_cluster_size=10)
w""",
    # 1: the Python side's state
    """print("STATE", json.dumps({"layer": w.layer, "pinned": w.pinned, "n_pinned_view": len(w.pinned_view),
    "naps": list(w.selected_naps), "selected": list(w.selected_indices), "open": list(w.cross_open),
    "follow": {k: {str(n): c for n, c in v.items()} for k, v in w.follow(w.selected_indices).items()},
    "error": w.error}))""",
]


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("napw_crosslayer.ipynb", CELLS)
    return run_widget_cell(nb)


def root(nb):
    return widget_root(nb)


def wait_state(nb, pred, timeout_ms=15_000):
    st = nb.state(1)
    waited = 0
    while not pred(st) and waited < timeout_ms:
        nb.page.wait_for_timeout(300)
        waited += 300
        st = nb.state(1)
    assert pred(st), st
    return st


def test_pin_then_switch_layer_keeps_the_pin(nb):
    r = root(nb)
    r.locator("[data-testid=nap-card][data-nap='0'] [data-testid=pin-button]").click()
    st = wait_state(nb, lambda s: len(s["pinned"]) == 1 and s["n_pinned_view"] == 1)
    assert (
        st["pinned"][0]["layer"] == "mid" and st["pinned"][0]["nap"] == 0 and st["naps"] == []
    )  # pinning is not selecting
    tray = r.locator("[data-testid=pinned]")
    expect(tray.locator("[data-testid=pinned-nap][data-layer=mid][data-nap='0']")).to_have_count(1)
    expect(tray.locator("[data-testid=pinned-overlay][data-layer=mid]")).to_have_count(1)
    # switch layers with the layer strip; the select follows, the pin stays
    strip = r.locator("[data-testid=layer-strip]")
    expect(strip.locator("[data-layer]")).to_have_count(3)
    strip.locator("[data-layer=early]").click()
    wait_state(nb, lambda s: s["layer"] == "early")
    expect(r.locator("[data-testid=layer-select]")).to_have_value("early", timeout=15_000)
    expect(strip.locator("[data-layer=early]")).to_have_attribute("aria-selected", "true", timeout=15_000)
    expect(tray.locator("[data-testid=pinned-nap][data-layer=mid][data-nap='0']")).to_have_count(1)
    expect(tray.locator("[data-testid=pinned-nap] .napw-cx-pin-members .napw-cx-tile").first).to_be_visible()
    # pin one of this layer too: both side by side, each layer its own overlaid chart
    r.locator("[data-testid=nap-card][data-nap='1'] [data-testid=pin-button]").click()
    expect(tray.locator("[data-testid=pinned-nap]")).to_have_count(2, timeout=15_000)
    expect(tray.locator("[data-testid=pinned-overlay]")).to_have_count(2, timeout=15_000)


def test_follow_inputs_through_every_layer_and_click_to_switch(nb):
    r = root(nb)
    r.locator("[data-testid=nap-card][data-nap='2']").click()  # select a NAP's members
    st = wait_state(nb, lambda s: s["naps"] == [2] and len(s["selected"]) > 0)
    panel = r.locator("[data-testid=follow]")
    panel.locator("[data-testid=follow-toggle]").click()
    rows = panel.locator("[data-testid=follow-row]")
    expect(rows).to_have_count(3, timeout=30_000)
    assert rows.evaluate_all("els => els.map(e => e.dataset.layer)") == ["early", "mid", "logits"]
    st = nb.state(1)
    assert st["open"] == ["follow"]
    for layer, counts in st["follow"].items():
        want = sorted(int(n) for n in counts if int(n) >= 0)
        chips = panel.locator(f"[data-testid=follow-nap][data-layer={layer}]")
        got = sorted(int(x) for x in chips.evaluate_all("els => els.map(e => e.dataset.nap)"))
        assert got == want, (layer, got, want)
        assert sum(counts.values()) == len(st["selected"])
    # click the biggest NAP of another layer: the widget switches to it and selects that NAP
    target_layer = "mid"
    nap = max(
        (int(n) for n in st["follow"][target_layer] if int(n) >= 0),
        key=lambda n: st["follow"][target_layer][str(n)],
    )
    panel.locator(f"[data-testid=follow-nap][data-layer={target_layer}][data-nap='{nap}']").click()
    st = wait_state(nb, lambda s: s["layer"] == target_layer and s["naps"] == [nap], timeout_ms=30_000)
    assert st["error"] == ""
    expect(r.locator(f"[data-testid=nap-card][data-nap='{nap}']")).to_have_attribute(
        "aria-selected", "true", timeout=15_000
    )
    expect(r.locator("[data-testid=pinned] [data-testid=pinned-nap]")).to_have_count(2)
