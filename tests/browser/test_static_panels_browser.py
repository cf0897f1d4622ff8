"""save_html: panels never opened before saving (Mapper, mid-range) are computed for the file when cheap, and
otherwise say "not part of this export" when opened; the gallery's pager never wraps apart."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect
from test_static_html import assert_offline, offline_page, open_static  # noqa: F401 - offline_page: fixture

import napwidget.html_export as html_export

from synthetic import small_blobs

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def widget():
    from napwidget import NapWidget

    X, y = small_blobs(n_per=60)
    logits = np.eye(4)[y] * 3 + np.random.default_rng(0).normal(size=(len(y), 4))
    imgs = np.random.default_rng(1).random((len(y), 1, 6, 6)).astype(np.float32)
    return NapWidget.from_activations(
        {"fc": X, "logits": logits.astype(np.float32)},
        images=imgs,
        labels=y,
        outputs=logits,
        layer="fc",
        min_cluster_size=10,
    )


def test_unopened_panels_are_computed_on_save(offline_page, widget, tmp_path):  # noqa: F811
    assert widget.mapper == {} and widget.midrange == {}  # never opened
    page = offline_page
    r = open_static(page, widget.save_html(tmp_path / "panels.html"))
    # the live widget is unchanged: nothing opened, nothing set
    assert widget.mapper == {} and widget.midrange == {} and not widget.topology_open
    r.locator("[data-testid=mapper-toggle]").click()
    expect(r.locator("svg[data-testid=mapper]")).to_have_attribute("data-ready", "1", timeout=30_000)
    n_nodes = len(widget.mapper_graph_view()["nodes"])
    assert r.locator("circle[data-testid=mapper-node]").count() == n_nodes > 0
    r.locator("[data-testid=midrange-toggle]").click()
    expect(r.locator("svg[data-testid=midrange]")).to_have_attribute("data-ready", "1", timeout=30_000)
    expect(r.locator("[data-testid=midrange-note]")).to_be_hidden()
    assert_offline(page)


def test_panels_too_large_to_compute_say_so(offline_page, widget, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(html_export, "STATIC_COMPUTE_MAX_INPUTS", 10)  # as if the widget were too large
    page = offline_page
    r = open_static(page, widget.save_html(tmp_path / "big.html"))
    r.locator("[data-testid=mapper-toggle]").click()
    note = "Not part of this static export (open the panel in the notebook before saving)."
    expect(r.locator(".napw-mapper-panel .napw-empty")).to_have_text(note)
    expect(r.locator(".napw-mapper-panel .napw-empty")).to_be_visible()
    r.locator("[data-testid=midrange-toggle]").click()
    expect(r.locator("[data-testid=midrange-note]")).to_have_text(note)
    expect(r.locator("[data-testid=midrange-note]")).to_be_visible()
    assert_offline(page)


SPLIT_ROWS = """root => {
  const mid = (el) => { const b = el.getBoundingClientRect(); return b.top + b.height / 2; };
  const ids = ["gallery-page-prev", "gallery-page-info", "gallery-page-next"];
  const els = ids.map((id) => root.querySelector(`[data-testid=${id}]`));
  const split = [];
  for (let w = 300; w <= 1400; w += 5) {  // every width a narrow notebook column or side panel can have
    root.style.width = `${w}px`;
    const tops = els.map(mid);
    if (Math.max(...tops) - Math.min(...tops) > 3) split.push(w);
  }
  root.style.width = "";
  return split;
}"""


def test_gallery_pager_stays_on_one_line_at_any_width(offline_page, widget, tmp_path):  # noqa: F811
    page = offline_page
    r = open_static(page, widget.save_html(tmp_path / "narrow.html"))
    r.locator("[data-testid=nap-card]").first.click()
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible()
    # widths at which prev / page / next do not share one row ("next" wrapped onto a line of its own)
    assert r.evaluate(SPLIT_ROWS) == []
