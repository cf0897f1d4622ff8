"""Detail views in a real JupyterLab: a label bar click filters (Python's ``w.filters`` and
``selected_indices`` follow), the pills remove filters again, a distribution bubble selects its NAP and
filters its label, and the statistics chart plots exactly ``NAPs.stats`` of the selected NAP.
"""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from labkit import SYNTHETIC_WIDGET_PRELUDE, run_widget_cell, widget_root

pytestmark = pytest.mark.browser

CELLS = [
    # 0: a small widget over synthetic activations, with labels and (partly wrong) predictions
    SYNTHETIC_WIDGET_PRELUDE
    + """\
pred = np.where(rng.uniform(size=160) < 0.15, (y + 1) % 4, y)
w = NapWidget.from_activations({"mid": X}, labels=y, predictions=pred,
                               class_names=["<b>zero</b>", "one", "two", "three"], min_cluster_size=10)
w""",
    # 1: the Python side's state
    """names = w.explorer.classes
print("STATE", json.dumps({"filters": w.filters, "selected": list(w.selected_indices),
    "naps": list(w.selected_naps),
    "labels": [names[c] for c in w.explorer.label_codes], "preds": [names[c] for c in w.explorer.pred_codes],
    "members0": w.explorer.members_of([0]), "error": w.error,
    "stats0": {k: v[0].tolist() for k, v in w.naps.stats.items()}}))""",
    # 2: Python selects NAP 0, no filters
    "w.clear_filters(); w.selected_naps = [0]",
]


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("napw_detail.ipynb", CELLS)
    return run_widget_cell(nb)


def root(nb):
    return widget_root(nb)


def wait_for(nb, pred, timeout_s=10.0):
    for _ in range(int(timeout_s / 0.25)):
        st = nb.state(1)
        if pred(st):
            return st
        nb.page.wait_for_timeout(250)
    raise AssertionError(f"state never matched: {st}")


def test_stats_chart_plots_naps_stats_exactly(nb):
    r = root(nb)
    nb.run(2)
    chart = r.locator("[data-testid=stats-chart]")
    expect(chart).to_have_attribute("data-naps", "0", timeout=15_000)
    expect(chart).to_have_attribute("data-ready", "1", timeout=15_000)
    r.locator("[data-testid=stats-hide-zero]").uncheck()  # every unit
    expect(chart).to_have_attribute("data-units", "12", timeout=10_000)
    nb.page.wait_for_timeout(300)
    rows = chart.evaluate("el => el.napwView.data('stats').map(d => ({...d}))")
    st = nb.state(1)
    assert len(rows) == 12 and {row["nap_id"] for row in rows} == {0}
    for key, values in st["stats0"].items():
        plotted = np.asarray([row[key] for row in sorted(rows, key=lambda d: d["unit"])], dtype=np.float32)
        assert np.array_equal(plotted, np.asarray(values, dtype=np.float32)), key
    # the whisker rule, IQR bar and mean dot are drawn for every unit
    assert chart.locator(".mark-point path, .mark-symbol path").count() == 12


def test_label_bar_click_filters_and_pills_remove_them(nb):
    r = root(nb)
    nb.run(2)
    bars = r.locator("[data-testid=label-bars]")
    expect(bars).to_have_attribute("data-ready", "1", timeout=15_000)
    st = nb.state(1)
    dominant = max(
        {st["labels"][i] for i in st["members0"]}, key=[st["labels"][i] for i in st["members0"]].count
    )
    bar = bars.locator("path[aria-roledescription=bar]").first
    bar.click()
    st = wait_for(nb, lambda s: s["filters"]["labels"])
    assert st["filters"] == {"labels": [dominant], "predictions": []} and st["error"] == ""
    assert st["naps"] == [0]
    assert st["selected"] == [i for i in st["members0"] if st["labels"][i] == dominant]
    pills = r.locator("[data-testid=filter-pill]")
    expect(pills).to_have_count(1)
    expect(pills.first).to_have_attribute("data-value", dominant)
    # a prediction filter too: two pills, then remove one, then clear all
    r.locator("[data-testid=pred-bars] path[aria-roledescription=bar]").first.click()
    st = wait_for(nb, lambda s: s["filters"]["predictions"])
    expect(pills).to_have_count(2)
    assert st["selected"] == [
        i
        for i in st["members0"]
        if st["labels"][i] == dominant and st["preds"][i] in st["filters"]["predictions"]
    ]
    r.locator("[data-testid=filter-pill][data-kind=labels]").click()
    st = wait_for(nb, lambda s: not s["filters"]["labels"])
    expect(pills).to_have_count(1)
    r.locator("[data-testid=filter-clear]").click()
    st = wait_for(nb, lambda s: not s["filters"]["predictions"])
    expect(pills).to_have_count(0)
    assert st["selected"] == st["members0"] and st["naps"] == [0]


def test_distribution_bubble_selects_nap_and_filters_label(nb):
    r = root(nb)
    nb.run(2)
    matrix = r.locator("svg[data-testid=distribution]")
    expect(matrix).to_be_visible(timeout=15_000)
    cell = matrix.locator("[data-testid=dist-cell][data-nap='1']").first
    label = cell.get_attribute("data-label")
    cell.dispatch_event("click")
    st = wait_for(nb, lambda s: s["naps"] == [1] and s["filters"]["labels"] == [label])
    assert st["selected"] and all(st["labels"][i] == label for i in st["selected"])
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible(timeout=10_000)
    r.locator("[data-testid=filter-clear]").click()
    wait_for(nb, lambda s: not s["filters"]["labels"])
