"""``NapWidget.save_html`` output in Chromium from a file:// URL: no kernel, no network.

Every non-file request is blocked (``page.route``) and recorded; the tests assert none was attempted.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect

from gridkit import all_card_ids, expect_grid_holds, nap_card
from labkit import CONTEXTS

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__xss=1>"
LOCAL_SCHEMES = ("file:", "data:", "blob:")


def _digits_widget(demo_cache_dir):
    """The digits demo widget on two layers (the Lab kernel's weights when it ran first)."""
    from napwidget.datasets import DigitsDemo
    from napwidget.widget import NapWidget

    demo = DigitsDemo.load(seed=0, cache_dir=demo_cache_dir)
    return NapWidget(
        demo.model,
        demo.images,
        layers=["conv3", "relu4"],
        labels=demo.labels,
        class_names=demo.class_names,
        cache=None,
    )


@pytest.fixture(scope="module")
def digits_html(demo_cache_dir, tmp_path_factory):
    w = _digits_widget(demo_cache_dir)
    path = w.save_html(tmp_path_factory.mktemp("static") / "naps.html")
    members = {i: w.explorer.members_of([i]) for i in range(w.naps.n_naps)}
    return path, int(w.naps.n_naps), members


@pytest.fixture
def offline_page(chromium):
    """A fresh page whose non-file requests are aborted and recorded in ``page.blocked``."""
    ctx = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.blocked, page.requests, page.errors = [], [], []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            page.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("request", lambda req: page.requests.append(req.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    CONTEXTS.append(ctx)
    yield page
    CONTEXTS.remove(ctx)
    ctx.close()


def open_static(page, path):
    page.goto(path.as_uri())
    expect(page.locator("body[data-ready='1']")).to_have_count(1, timeout=30_000)
    root = page.locator(".napw-root").first
    expect(root).to_be_visible()
    return root


# the gallery's atlas canvas under its item overlays: how many items have a drawn (non-uniform) thumbnail
# under them, and whether the gap between the first two items is left clear
ATLAS_JS = """g => {
  const canvas = g.querySelector('[data-testid=gallery-atlas]');
  const items = [...g.querySelectorAll('[data-testid=gallery-item]')];
  const ctx = canvas.getContext('2d');
  const k = canvas.width / canvas.getBoundingClientRect().width;
  const base = canvas.getBoundingClientRect();
  const px = (x, y) => [...ctx.getImageData(Math.round(x * k), Math.round(y * k), 1, 1).data].join(',');
  let drawn = 0;
  for (const it of items) {
    const b = it.getBoundingClientRect();
    const x0 = b.left - base.left + b.width / 2 - 20, y0 = b.top - base.top + 8;
    const seen = new Set();
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) seen.add(px(x0 + 10 * i, y0 + 10 * j));
    if (seen.size > 1 && ![...seen].some((c) => c.endsWith(',0'))) drawn++;
  }
  let gap_clear = true;
  if (items.length > 1) {
    const a = items[0].getBoundingClientRect(), b = items[1].getBoundingClientRect();
    const gap = px((a.right + b.left) / 2 - base.left, a.top - base.top + 20);
    if (Math.abs(a.top - b.top) < 1) gap_clear = gap.endsWith(',0');
  }
  return { canvases: g.querySelectorAll('canvas').length, items: items.length, drawn, gap_clear };
}"""


def assert_offline(page):
    assert page.blocked == [], f"the static file tried the network: {page.blocked[:5]}"
    assert all(u.startswith(LOCAL_SCHEMES) for u in page.requests), page.requests[:5]
    assert page.errors == [], page.errors[:3]


def test_static_html_renders_and_selects_offline(offline_page, digits_html, artifacts_dir):
    path, n_naps, members = digits_html
    page = offline_page
    r = open_static(page, path)
    expect_grid_holds(r, n_naps)
    expect(r.locator("[data-testid=nap-count]")).to_contain_text(str(n_naps))
    expect(r.locator("[data-testid=scatter] .mark-symbol.role-mark path")).to_have_count(n_naps)
    expect(r.locator("[data-testid=heatmap]")).to_be_visible()
    # no kernel: the parameters that need a new tree are disabled; min_cluster_size / method re-select in the
    # page
    expect(r.locator("[data-testid=layer-select]")).to_be_disabled()
    expect(r.locator("[data-testid=ms-input]")).to_be_disabled()
    expect(r.locator("[data-testid=mcs-input]")).to_be_enabled()

    # selecting a NAP still works offline and fills the gallery with its members, most typical first
    nap = max(members, key=lambda i: len(members[i]))
    nap_card(r, nap).click()
    expect(r.locator(f"[data-testid=nap-card][data-nap='{nap}']")).to_have_class(re.compile(r"\bselected\b"))
    expect(r.locator("[data-testid=nap-card].selected")).to_have_count(1)
    items = r.locator("[data-testid=gallery-item]")
    expect(items.first).to_be_visible()
    expect(items.first).to_have_attribute("data-index", str(members[nap][0]))
    shown = [int(x) for x in items.evaluate_all("els => els.map(e => e.dataset.index)")]
    assert shown == members[nap][: len(shown)]
    # thumbnails are drawn (embedded, not placeholders) into the page's one canvas, each under its item
    r.page.wait_for_function(
        "g => g.dataset.loaded === g.dataset.page", arg=r.locator("[data-testid=gallery]").element_handle()
    )
    drawn = r.locator("[data-testid=gallery]").evaluate(ATLAS_JS)
    assert drawn["canvases"] == 1 and drawn["items"] == len(shown), drawn
    assert drawn["drawn"] == len(shown), drawn  # varied pixels under every item: a digit, not a flat box
    assert drawn["gap_clear"], drawn
    if len(members[nap]) > len(shown):
        r.locator("[data-testid=gallery-page-next]").click()
        expect(items.first).to_have_attribute("data-index", str(members[nap][len(shown)]))
    page.screenshot(path=str(artifacts_dir / "static-html.png"))
    assert_offline(page)


def test_static_html_escapes_class_names(offline_page, tmp_path):
    from napwidget.widget import NapWidget

    rng = np.random.default_rng(3)
    centers = rng.uniform(0, 3, size=(4, 16)) * (rng.uniform(size=(4, 16)) < 0.4)
    X = np.maximum(np.concatenate([c + rng.normal(scale=0.1, size=(60, 16)) for c in centers]), 0)
    imgs = rng.uniform(size=(240, 1, 8, 8)).astype(np.float32)
    w = NapWidget.from_activations(
        {"fc": X.astype(np.float32)},
        images=imgs,
        labels=np.repeat(np.arange(4), 60),
        class_names=[f"{XSS} c{i}" for i in range(4)],
        min_cluster_size=10,
    )
    page = offline_page
    r = open_static(page, w.save_html(tmp_path / "xss.html"))
    r.locator("[data-testid=nap-card]").first.click()
    expect(r.locator("[data-testid=gallery-item]").first).to_be_visible()
    r.locator("[data-testid=scatter] .mark-symbol.role-mark path").first.hover()
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    assert XSS in r.inner_text()
    assert_offline(page)


@pytest.fixture(scope="module")
def digits_reselect(demo_cache_dir, tmp_path_factory):
    """A saved page and, for other (method, min_cluster_size) values, what the kernel computes."""
    w = _digits_widget(demo_cache_dir)
    path = w.save_html(tmp_path_factory.mktemp("static") / "reselect.html")
    kernel = {}
    for method, mcs in (("leaf", 12), ("leaf", 30), ("eom", 30), ("eom", 5)):
        w.cluster_selection_method, w.min_cluster_size = method, mcs
        k = int(w.naps.n_naps)
        kernel[(method, mcs)] = (k, {i: w.explorer.members_of([i]) for i in range(k)})
    return path, kernel


def test_static_html_reselects_min_cluster_size_like_the_kernel(offline_page, digits_reselect, artifacts_dir):
    """No kernel: changing min_cluster_size / the method in a saved page gives the kernel's NAPs (count,
    cards, members in the kernel's order), from the tree shipped in the file."""
    path, kernel = digits_reselect
    page = offline_page
    r = open_static(page, path)
    expect(r.locator("[data-testid=kernel-note]")).to_contain_text("re-select in the browser")
    mcs = r.locator("[data-testid=mcs-input]")
    method = r.locator("[data-testid=method-select]")
    for (meth, value), (k, members) in kernel.items():
        if method.input_value() != meth:
            method.select_option(meth)
        mcs.fill(str(value))
        mcs.press("Enter")
        expect(r.locator("[data-testid=nap-count]")).to_contain_text(f"{k} NAP", timeout=15_000)
        expect(r.locator("[data-testid=busy]")).to_be_hidden()
        expect_grid_holds(r, k)
        expect(r.locator("[data-testid=scatter] .mark-symbol.role-mark path")).to_have_count(k)
        if not k:
            continue
        # selection linking on the re-selected NAPs: a card selects exactly the kernel's members, in its order
        nap = max(members, key=lambda i: len(members[i]))
        nap_card(r, nap).click()
        items = r.locator("[data-testid=gallery-item]")
        expect(items.first).to_have_attribute("data-index", str(members[nap][0]))
        shown = [int(x) for x in items.evaluate_all("els => els.map(e => e.dataset.index)")]
        assert shown == members[nap][: len(shown)]
        assert all_card_ids(r) == list(range(k))
    page.screenshot(path=str(artifacts_dir / "static-html-reselect.png"))
    assert_offline(page)
