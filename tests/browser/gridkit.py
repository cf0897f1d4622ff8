"""How browser tests reach NAP cards.

Beyond a few NAPs the grid (js/src/views/grid.js) builds only the rows in view: a test reads how many NAPs it
holds from its ``data-count`` and scrolls a card into the window before it clicks it, as a user would.
"""

from __future__ import annotations

from playwright.sync_api import expect

BUILD_ALL = 16  # js/src/views/grid.js BUILD_ALL: up to this many NAPs every card is built
MAX_CARDS = 24  # js/src/views/grid.js MAX_CARDS: the most cards built at once beyond that

# scroll the grid from the top, half a box at a time, until `nap`'s card is built (false at the bottom)
_SCROLL_TO_CARD_JS = """async (g, nap) => {
  const sel = `[data-testid=nap-card][data-nap='${nap}']`;
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  if (!g.querySelector(sel)) { g.scrollTop = 0; await frames(); }
  while (!g.querySelector(sel)) {
    if (g.scrollTop + g.clientHeight >= g.scrollHeight - 1) return false;
    g.scrollTop += Math.max(40, g.clientHeight / 2);
    await frames();
  }
  g.querySelector(sel).scrollIntoView({ block: "nearest" });
  return true;
}"""

# every NAP id the grid shows, scrolling it from the top to the bottom
_ALL_CARDS_JS = """async (g) => {
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const ids = new Set();
  g.scrollTop = 0;
  await frames();
  for (;;) {
    for (const c of g.querySelectorAll("[data-testid=nap-card]")) ids.add(Number(c.dataset.nap));
    if (g.scrollTop + g.clientHeight >= g.scrollHeight - 1) break;
    g.scrollTop += Math.max(40, g.clientHeight / 2);
    await frames();
  }
  g.scrollTop = 0;
  return [...ids];
}"""


def grid(r):
    """The NAP grid of the widget root ``r``."""
    return r.locator("[data-testid=nap-grid]")


def expect_grid_holds(r, n_naps: int, timeout: float = 15_000) -> None:
    """The grid holds ``n_naps`` NAPs: every card when there are few, a bounded window of them beyond."""
    expect(grid(r)).to_have_attribute("data-count", str(n_naps), timeout=timeout)
    cards = r.locator("[data-testid=nap-card]")
    if n_naps <= BUILD_ALL:
        expect(cards).to_have_count(n_naps, timeout=timeout)
        return
    expect(cards.first).to_be_visible(timeout=timeout)
    assert 0 < cards.count() <= MAX_CARDS, cards.count()


def nap_card(r, nap: int):
    """The card of NAP ``nap``, scrolled into the grid's window first."""
    assert grid(r).evaluate(_SCROLL_TO_CARD_JS, nap), f"the grid has no card for NAP {nap}"
    return r.locator(f"[data-testid=nap-card][data-nap='{nap}']")


def all_card_ids(r) -> list[int]:
    """The ids of every NAP card in the grid (scrolled through from top to bottom), sorted."""
    return sorted(grid(r).evaluate(_ALL_CARDS_JS))
