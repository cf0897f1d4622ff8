// NAP grid: one card per NAP with its most typical members, size, persistence, label make-up and top units.
// Sortable; keyboard navigable (arrow keys move, Enter/Space select, Shift/Ctrl/⌘ adds to the selection).
import { h, fmt, int, pct, onWidthChange } from "../dom.js";
import { cappedRange, columnsFor, perFrame, scrollToRow, viewportCap } from "../virtual.js";
import { CARD_KEYS, cardExtras, cardTypical, memberTile, noiseCards, pinButton } from "./crosslayer-common.js";

const SORT_LABELS = { persistence: "persistence", size: "size", purity: "purity" };

/** Number of cards per row, from the layout (falls back to 1 where there is no layout, e.g. in tests). */
export function columnsOf(cards) {
  if (cards.length < 2) return 1;
  const top = cards[0].offsetTop;
  let cols = 0;
  for (const c of cards) {
    if (c.offsetTop !== top) break;
    cols++;
  }
  return cols === cards.length && cards[0].offsetWidth === 0 ? 1 : Math.max(1, cols);
}

/** Index of the card to focus after `key`, or null when the key is not a navigation key. */
export function nextIndex(key, current, count, cols) {
  switch (key) {
    case "ArrowRight": return Math.min(count - 1, current + 1);
    case "ArrowLeft": return Math.max(0, current - 1);
    case "ArrowDown": return Math.min(count - 1, current + cols);
    case "ArrowUp": return Math.max(0, current - cols);
    case "Home": return 0;
    case "End": return count - 1;
    case "PageDown": return Math.min(count - 1, current + cols * 3);
    case "PageUp": return Math.max(0, current - cols * 3);
    default: return null;
  }
}

function compositionBar(row, view) {
  const bar = h("div", { class: "napw-comp-bar", role: "img" });
  const total = row.size || 1;
  const parts = [];
  for (const [code, count] of row.composition || []) {
    const name = view.classes[code];
    parts.push(`${name}: ${count}`);
    bar.append(h("span", {
      class: "napw-comp-seg",
      style: { width: `${(100 * count) / total}%`, background: view.class_colors[code] },
      title: `${name}: ${count} (${pct(count / total)})`,
    }));
  }
  if (row.other) {
    parts.push(`other: ${row.other}`);
    bar.append(h("span", { class: "napw-comp-seg napw-comp-other", style: { width: `${(100 * row.other) / total}%` }, title: `other labels: ${row.other}` }));
  }
  bar.setAttribute("aria-label", `label make-up: ${parts.join(", ")}`);
  return bar;
}

function card(row, store, visuals = null) {
  const view = store.data.view;
  const members = cardTypical(row, store); // label/prediction filters; how many: the view options (cross-layer)
  const thumbs = h("div", { class: `napw-card-members napw-kind-${view.item?.kind || "index"}` },
    members.map((idx) => memberTile(store, idx, { visuals })));
  const stats = h("div", { class: "napw-card-stats" },
    h("span", { title: "members (inputs in this NAP)" }, h("b", { text: int(row.size) }), " members"),
    h("span", { title: "persistence: how long the NAP survives in the cluster hierarchy (robustness)" }, "pers ", h("b", { text: fmt(row.persistence, 3) })),
    members.total === undefined ? null : h("span", { class: "napw-filter-count", "data-testid": "card-filter-count", "data-zero": members.total === 0, title: "members that pass the filters", text: `${int(members.total)} match` }),
  );
  const labelLine = [];
  if (view.has_labels && row.dominant !== null && row.dominant !== undefined) {
    labelLine.push(h("span", { class: "napw-dominant" },
      h("span", { class: "napw-swatch", style: { background: view.class_colors[row.dominant] } }),
      h("span", { class: "napw-class-name", text: view.classes[row.dominant] }),
      h("span", { class: "napw-muted", text: ` ${pct(row.purity)} pure` })));
    if (row.accuracy !== null && row.accuracy !== undefined) {
      labelLine.push(h("span", { class: `napw-acc ${row.accuracy < 0.9 ? "napw-acc-low" : ""}`, title: "share of members the model classifies correctly", text: `${pct(row.accuracy)} correct` }));
    }
  }
  const units = h("div", { class: "napw-units", title: "units that set this NAP apart (NAP mean above the layer mean)" },
    h("span", { class: "napw-muted", text: "top units " }),
    (row.top_units || []).map((u, j) => h("span", { class: "napw-unit-chip", title: `unit ${u}: NAP mean ${fmt(row.top_unit_values[j], 2)}`, text: String(u) })));
  const el = h("div", {
    class: "napw-card",
    "data-testid": "nap-card",
    "data-nap": row.id,
    role: "option",
    tabindex: -1,
    "aria-selected": "false",
    "aria-label": `NAP ${row.id}, ${row.size} members, persistence ${fmt(row.persistence, 3)}`,
  },
  h("div", { class: "napw-card-head" },
    h("span", { class: "napw-nap-id", text: `NAP ${row.id}` }),
    h("span", { class: "napw-sel-badge", hidden: true }),
    stats,
    pinButton(store, row.id)),
  thumbs,
  cardExtras(row, store, { visuals }),
  view.has_labels ? compositionBar(row, view) : null,
  labelLine.length ? h("div", { class: "napw-card-labels" }, labelLine) : null,
  units);
  return el;
}

const MIN_COL = 178; // .napw-grid's grid-template-columns: repeat(auto-fill, minmax(178px, 1fr))
const GAP = 8;
const PAD = 3;
// A card is ~60-70 DOM nodes (12 member tiles, stats, label make-up, top units): the widget's budget is 3,000
// nodes in all, the other panels take ~1,000, so the grid gets at most MAX_CARDS cards at once.
export const BUILD_ALL = 16; // up to this many NAPs every card is built; beyond, only the rows in view
export const MAX_CARDS = 24; // the most cards in the DOM at once (the window's rows, overscan included)

/**
 * The NAP cards on screen. Only the rows in view (plus a little overscan) are in the DOM; the scroll box's
 * padding stands in for the rest, so the DOM stays small whatever the number of NAPs. Cards are reused while
 * nothing they show changed; a new card reuses the thumbnails of members it shares with an old one.
 */
function cardWindow(grid, store) {
  const cardsBox = h("div", { class: "napw-grid-cards" });
  const sizer = h("div", { class: "napw-grid-sizer" }, cardsBox);
  grid.replaceChildren(sizer);
  let cardCache = new Map(); // NAP id -> { key, el }
  let visuals = new Map(); // input index -> { thumb, node }
  let rowH = 0; // measured row height (card + gap); 0 until the layout has been seen
  const gen = { data: 0, opt: 0, avg: 0, lastAvg: null, lastData: null };

  function cardKey(row) {
    const shown = (store.cardMembers ? store.cardMembers(row) : row.members) || [];
    let bits = "";
    for (const i of shown) bits += store.thumbCache.has(i) ? "1" : "0";
    return `${gen.data}|${gen.opt}|${gen.avg}|${JSON.stringify(store.filters())}|${bits}|${JSON.stringify(row)}`;
  }

  function layout(count, scrollTop) {
    const cols = columnsFor(grid.clientWidth - 2 * PAD, MIN_COL, GAP);
    const rowHeight = rowH || 200;
    if (count <= BUILD_ALL) { // a few cards: all of them (every card addressable, still a small DOM)
      grid.style.maxHeight = "";
      const rows = Math.ceil(count / cols);
      return { cols, start: 0, end: count, rowStart: 0, rowEnd: rows, rows, top: 0, bottom: 0 };
    }
    const maxRows = Math.max(1, Math.floor(MAX_CARDS / cols));
    // a box taller than that would show rows that are not built (a wide, tall screen): cap its height
    grid.style.maxHeight = rowH ? `${viewportCap(maxRows, rowH)}px` : "";
    return { cols, ...cappedRange({ count, cols, rowHeight, scrollTop, viewport: grid.clientHeight, maxRows }) };
  }

  /** Build the cards of the rows in view (`scrollTop`: where the box is about to be scrolled, if not where it is). */
  function build(rows, scrollTop = grid.scrollTop) {
    if (store.data !== gen.lastData) { gen.lastData = store.data; gen.data++; }
    if (store.get("_avg_thumbs") !== gen.lastAvg) { gen.lastAvg = store.get("_avg_thumbs"); gen.avg++; } // by identity
    const win = layout(rows.length, scrollTop);
    const shown = rows.slice(win.start, win.end);
    const vis = { prev: visuals, next: new Map() };
    const nextCache = new Map();
    const keys = shown.map((r) => cardKey(r));
    const reused = shown.map((r, j) => {
      const old = cardCache.get(r.id);
      return old && old.key === keys[j] ? old.el : null;
    });
    // the thumbnails of reused cards stay theirs: register them first, so no new card takes them away
    for (const c of reused) {
      if (!c) continue;
      for (const tile of c.querySelectorAll(".napw-cx-tile[data-index]")) {
        const idx = Number(tile.dataset.index);
        const node = tile.firstChild;
        if (node && !vis.next.has(idx)) vis.next.set(idx, { thumb: store.thumbCache.get(idx), node });
      }
    }
    // cards that scroll out of view stay cached (a few pages' worth) so that scrolling back is cheap
    for (const [id, v] of cardCache) if (nextCache.size < 4 * Math.max(1, shown.length)) nextCache.set(id, v);
    const cards = shown.map((r, j) => {
      let c = reused[j];
      if (c) c.classList.remove("napw-hover"); // as a new card: hover is re-applied by the next mouse move
      else c = card(r, store, vis);
      nextCache.set(r.id, { key: keys[j], el: c });
      return c;
    });
    cardCache = nextCache;
    visuals = vis.next;
    const atEnd = win.end >= rows.length;
    cardsBox.style.top = `${win.top}px`;
    cardsBox.replaceChildren(...cards, ...(atEnd ? noiseCards(store) : []));
    // the full height: every row at the measured height (the built rows' own height where they are taller)
    sizer.style.height = `${Math.max(win.top + win.bottom + (win.rowEnd - win.rowStart) * (rowH || 200), 0)}px`;
    grid.dataset.count = String(rows.length);
    grid.dataset.start = String(win.start);
    const missing = [...new Set(shown.flatMap((r) => (store.cardMembers ? store.cardMembers(r) : r.members || [])))].filter((i) => !store.thumbCache.has(i));
    return { cards, cols: win.cols, missing };
  }

  /** Fix the row height from what the layout shows (cards grow the rows they need); true if it changed. */
  function measure(cards) {
    let need = 0;
    for (const c of cards) need = Math.max(need, c.scrollHeight, c.offsetHeight);
    if (!need) return false; // no layout (jsdom, hidden)
    if (rowH && need + GAP <= rowH) return false;
    rowH = need + GAP;
    cardsBox.style.gridAutoRows = `${need}px`;
    grid.classList.add("napw-grid-virtual");
    return true;
  }

  return {
    build,
    measure,
    /** True when the average images changed since the last build (a new `_avg_thumbs`, by identity). */
    avgChanged: () => store.get("_avg_thumbs") !== gen.lastAvg,
    rowHeight: () => rowH || 200,
    bumpOptions: () => { gen.opt++; },
  };
}

export default {
  id: "grid",
  area: "main",
  mount(el, store) {
    const sortSelect = h("select", { "data-testid": "sort-select", class: "napw-select napw-select-sm", "aria-label": "sort NAPs by" },
      Object.entries(SORT_LABELS).map(([v, label]) => h("option", { value: v, text: label })));
    const clearBtn = h("button", { type: "button", class: "napw-btn napw-btn-ghost", "data-testid": "clear-selection", text: "clear selection" });
    const grid = h("div", { class: "napw-grid", role: "listbox", "aria-multiselectable": "true", "aria-label": "NAPs", "data-testid": "nap-grid" });
    const hint = h("div", { class: "napw-empty", hidden: true });
    el.append(h("section", { class: "napw-panel napw-grid-panel" },
      h("header", { class: "napw-panel-head" },
        h("h3", { text: "NAPs" }),
        h("span", { class: "napw-sub", text: "most typical members first" }),
        h("span", { class: "napw-spacer" }),
        h("label", { class: "napw-inline" }, h("span", { class: "napw-muted", text: "sort by " }), sortSelect),
        clearBtn),
      hint, grid));

    const win = cardWindow(grid, store);
    let rows = [];
    let cards = [];
    let cols = 1;
    let focusId = null;

    function render() {
      rows = store.sortedNaps();
      const view = store.data.view;
      sortSelect.value = store.sortBy();
      sortSelect.querySelector("option[value=purity]").disabled = !view.has_labels;
      hint.hidden = rows.length > 0;
      hint.textContent = view.hint || "No NAPs yet.";
      renderWindow();
    }

    function renderWindow(scrollTop = grid.scrollTop) {
      const out = win.build(rows, scrollTop);
      measureSoon();
      ({ cards, cols } = out);
      if (out.missing.length) store.thumbs(out.missing).then(() => renderWindow(), () => {}); // beyond the sprite
      if (focusId === null || !rows.some((r) => r.id === focusId)) focusId = rows.length ? rows[0].id : null;
      updateSelection();
      updateFocus(false);
    }
    const renderSoon = perFrame(() => renderWindow());
    // The row height comes from the layout: measured in the next animation frame, once every view has drawn the
    // new result (reading it right after the build forced a layout of the page that the other views' changes
    // made stale at once: two layouts per update). A first layout or a taller card rebuilds before the paint.
    const measureSoon = perFrame(() => {
      if (win.measure(cards)) renderWindow();
    });

    function updateSelection() {
      const selected = new Set(store.selectedNaps());
      const counts = store.selectionCounts();
      const explicit = selected.size > 0;
      for (const c of cards) {
        const id = Number(c.dataset.nap);
        const on = selected.has(id);
        c.classList.toggle("selected", on);
        c.setAttribute("aria-selected", on ? "true" : "false");
        const badge = c.querySelector(".napw-sel-badge");
        const k = counts.get(id) || 0;
        // inputs selected some other way (brush, Python): show how many fall in this NAP
        badge.hidden = explicit || k === 0;
        badge.textContent = `${k} selected`;
      }
      clearBtn.disabled = !explicit && store.selectedIndices().length === 0;
    }

    function updateFocus(moveFocus) {
      for (const c of cards) c.tabIndex = Number(c.dataset.nap) === focusId ? 0 : -1;
      if (!moveFocus) return;
      const i = rows.findIndex((r) => r.id === focusId);
      if (i < 0) return;
      // the focused card may be outside the window: build its row, then scroll it into view
      const top = scrollToRow(Math.floor(i / cols), { rowHeight: win.rowHeight(), scrollTop: grid.scrollTop, viewport: grid.clientHeight });
      if (!cards.some((c) => Number(c.dataset.nap) === focusId)) renderWindow(top);
      if (top !== grid.scrollTop) grid.scrollTop = top;
      const target = cards.find((c) => Number(c.dataset.nap) === focusId);
      if (target) {
        target.focus();
        if (target.scrollIntoView) target.scrollIntoView({ block: "nearest" });
      }
    }

    /** A NAP selected elsewhere (scatter, heatmap, Python) whose card is outside the window: scroll to it. */
    function revealSelected() {
      const sel = store.selectedNaps();
      if (sel.length !== 1 || cards.some((c) => Number(c.dataset.nap) === sel[0])) return;
      const i = rows.findIndex((r) => r.id === sel[0]);
      if (i < 0) return;
      const top = scrollToRow(Math.floor(i / cols), { rowHeight: win.rowHeight(), scrollTop: grid.scrollTop, viewport: grid.clientHeight });
      renderWindow(top);
      if (top !== grid.scrollTop) grid.scrollTop = top;
    }

    function updateHover(id) {
      for (const c of cards) c.classList.toggle("napw-hover", Number(c.dataset.nap) === id);
    }

    wireGrid(grid, store, {
      rows: () => rows,
      cols: () => cols,
      focus: (id, move) => { focusId = id; updateFocus(move); },
      focused: () => focusId,
    });
    grid.addEventListener("scroll", renderSoon, { passive: true });
    sortSelect.addEventListener("change", () => store.setSort(sortSelect.value));
    clearBtn.addEventListener("click", () => store.clearSelection());

    const offs = [
      store.on("data", () => { grid.scrollTop = 0; render(); }),
      store.on("sort", render),
      store.on("filters", render),
      store.on("crosslayer", (k) => {
        if (!CARD_KEYS.has(k)) return;
        // the sprite is compared by identity: a new result's arrived with it and is drawn already
        if (k === "_avg_thumbs" && !win.avgChanged()) return;
        if (k !== "_avg_thumbs") win.bumpOptions();
        render();
      }),
      store.on("selection", () => { revealSelected(); updateSelection(); }),
      store.on("hover", updateHover),
      onWidthChange(grid, renderSoon, 40),
    ];
    render();
    return () => offs.forEach((off) => off());
  },
};

/** Pointer and keyboard on the grid: click selects, arrows move over every NAP (not only the built cards). */
function wireGrid(grid, store, { rows, cols, focus, focused }) {
  const cardOf = (target) => (target?.closest ? target.closest("[data-testid=nap-card]") : null);
  grid.addEventListener("click", (e) => {
    const c = cardOf(e.target);
    if (!c) return;
    const id = Number(c.dataset.nap);
    focus(id, false);
    store.selectNaps([id], e.shiftKey || e.metaKey || e.ctrlKey ? "toggle" : (store.selectedNaps().length === 1 && store.isSelected(id) ? "toggle" : "replace"));
  });
  grid.addEventListener("keydown", (e) => {
    const all = rows();
    if (!all.length) return;
    const current = Math.max(0, all.findIndex((r) => r.id === focused()));
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      store.selectNaps([all[current].id], e.shiftKey || e.metaKey || e.ctrlKey ? "toggle" : "replace");
      return;
    }
    if (e.key === "Escape") {
      store.clearSelection();
      return;
    }
    const next = nextIndex(e.key, current, all.length, cols());
    if (next === null) return;
    e.preventDefault();
    focus(all[next].id, true);
    store.setHover(all[next].id);
  });
  grid.addEventListener("mouseover", (e) => {
    const c = cardOf(e.target);
    store.setHover(c ? Number(c.dataset.nap) : null);
  });
  grid.addEventListener("mouseleave", () => store.setHover(null));
  grid.addEventListener("focusout", (e) => { if (!grid.contains(e.relatedTarget)) store.setHover(null); });
}
