"""Text inputs in Chromium (a ``save_html`` export: the same views and CSS as in a notebook, no kernel): a
text card's least-typical strip shows whole snippets, one per line, clipped with an ellipsis, the whole text
on hover (title) and on focus; index-only items never cut their ids; the "no predictions" line is shown."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from labkit import CONTEXTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import small_blobs

pytestmark = pytest.mark.browser

SNIPPET_JS = """(el) => {
  const cs = getComputedStyle(el), box = el.getBoundingClientRect();
  return { text: el.textContent, title: el.title, whiteSpace: cs.whiteSpace, overflow: cs.textOverflow,
           clipped: el.scrollWidth > el.clientWidth + 1, top: box.top, width: box.width, height: box.height,
           lineHeight: parseFloat(cs.lineHeight) || 15 };
}"""


def _texts(n: int) -> list[str]:
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "hashlib",
        "hashes",
    ]
    return [f"doc {i}: " + " ".join(words[(i + k) % len(words)] for k in range(30 + i % 9)) for i in range(n)]


@pytest.fixture(scope="module")
def text_html(tmp_path_factory):
    from napwidget.activations import Activations
    from napwidget.widget import NapWidget

    X, y = small_blobs()
    texts = _texts(len(X))
    emb = np.random.default_rng(0).normal(size=(len(X), 24))  # an embedding, not scores for 4 classes
    w = NapWidget.from_activations(
        Activations({"h": X}, outputs=emb), labels=y, images=texts, min_cluster_size=8
    )
    out = tmp_path_factory.mktemp("text")
    return w.save_html(out / "text.html"), texts, w


@pytest.fixture(scope="module")
def index_html(tmp_path_factory):
    from napwidget.widget import NapWidget

    X, y = small_blobs(n_per=60)  # 252 inputs: three-digit ids
    w = NapWidget.from_activations({"h": X}, labels=y, min_cluster_size=8)
    return w.save_html(tmp_path_factory.mktemp("index") / "index.html")


@pytest.fixture
def page(chromium):
    ctx = chromium.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    CONTEXTS.append(ctx)
    yield pg
    CONTEXTS.remove(ctx)
    ctx.close()


def _open(page, path):
    page.goto(path.as_uri())
    expect(page.locator("body[data-ready='1']")).to_have_count(1, timeout=30_000)
    return page.locator(".napw-root").first


def test_text_card_strip_shows_whole_clipped_snippets(page, text_html):
    path, texts, w = text_html
    r = _open(page, path)
    note = r.locator("[data-testid=predictions-note]")
    expect(note).to_be_visible()
    expect(note).to_contain_text("outputs are 24-wide, not scores for 4 classes")
    card = r.locator("[data-testid=nap-card]").first
    strip = card.locator("[data-testid=atypical-members]")
    snippets = strip.locator("[data-testid=text-snippet]")
    expect(snippets).to_have_count(4)
    nap = int(card.get_attribute("data-nap"))
    least = w.explorer.members_of([nap])[::-1][:4]
    infos = [snippets.nth(j).evaluate(SNIPPET_JS) for j in range(4)]
    card_width = card.evaluate("(el) => el.getBoundingClientRect().width")
    for j, info in enumerate(infos):
        assert info["text"] == texts[least[j]] == info["title"]  # the whole snippet, never cut in the DOM
        assert info["whiteSpace"] == "nowrap" and info["overflow"] == "ellipsis" and info["clipped"]
        assert info["height"] < 2 * info["lineHeight"] + 2  # one line
        assert info["width"] > 0.6 * card_width  # the card's width, not a thumbnail slot
    # the row fits the text items: their placeholders were once card-wide squares, and the grid kept the rows
    # they measured (4x too tall; a click at the card's centre then landed outside the grid's scroll box)
    fit = card.evaluate(
        "(el) => [el.getBoundingClientRect().height,"
        " el.lastElementChild.getBoundingClientRect().bottom - el.getBoundingClientRect().top]"
    )
    assert fit[0] <= fit[1] + 24, fit
    tops = [i["top"] for i in infos]
    assert all(b - a >= infos[0]["height"] - 1 for a, b in itertools.pairwise(tops))  # one snippet per line
    assert page.locator(".napw-acc").count() == 0  # no "x% correct" without predictions
    # keyboard focus shows the whole text in place
    snippets.nth(0).focus()
    focused = snippets.nth(0).evaluate(SNIPPET_JS)
    assert (
        focused["whiteSpace"] == "normal"
        and not focused["clipped"]
        and focused["height"] > 2 * infos[0]["height"]
    )
    # the gallery: the selected NAP's members as snippets of a few lines, whole text in the tooltip
    card.click()
    items = r.locator("[data-testid=gallery-item] [data-testid=text-snippet]")
    expect(items.first).to_be_visible()
    first = items.first.evaluate(SNIPPET_JS)
    assert first["title"] == first["text"] == texts[w.explorer.members_of([nap])[0]]
    assert first["height"] <= 3 * first["lineHeight"] + 2
    assert items.first.evaluate(
        "(el) => el.scrollHeight > el.clientHeight + 1"
    )  # clipped: more text than lines
    assert page.errors == []


def test_index_items_keep_their_whole_ids(page, index_html):
    r = _open(page, index_html)
    tiles = r.locator("[data-testid=nap-card] .napw-index-tile")
    expect(tiles.first).to_be_visible()
    cut = tiles.evaluate_all(
        "(els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent)"
    )
    assert cut == []
    texts = tiles.evaluate_all("(els) => els.map((e) => e.textContent)")
    assert any(len(t) == 4 for t in texts)  # three-digit ids such as "#152" shown whole
    assert page.errors == []
