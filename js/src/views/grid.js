// NAP grid: one card per NAP with its most typical members, size, persistence, label make-up and top units.
// Sortable; keyboard navigable (arrow keys move, Enter/Space select, Shift/Ctrl/⌘ adds to the selection).
import { h, fmt, int, pct } from "../dom.js";
import { visual } from "../thumbs.js";
import { CARD_KEYS, cardExtras, cardTypical, memberTile, noiseCards, pinButton } from "./crosslayer-common.js";

const SORT_LABELS = { persistence: "persistence", size: "size", purity: "purity" };
const PAGE = 60;

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
  const thumbs = h("div", { class: `napw-card-members napw-kind-${(view.item || {}).kind || "index"}` },
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

export default {
  id: "grid",
  area: "main",
  mount(el, store) {
    const sortSelect = h("select", { "data-testid": "sort-select", class: "napw-select napw-select-sm", "aria-label": "sort NAPs by" },
      Object.entries(SORT_LABELS).map(([v, label]) => h("option", { value: v, text: label })));
    const clearBtn = h("button", { type: "button", class: "napw-btn napw-btn-ghost", "data-testid": "clear-selection", text: "clear selection" });
    const grid = h("div", { class: "napw-grid", role: "listbox", "aria-multiselectable": "true", "aria-label": "NAPs", "data-testid": "nap-grid" });
    const more = h("button", { type: "button", class: "napw-btn napw-more", hidden: true });
    const hint = h("div", { class: "napw-empty", hidden: true });
    el.append(h("section", { class: "napw-panel napw-grid-panel" },
      h("header", { class: "napw-panel-head" },
        h("h3", { text: "NAPs" }),
        h("span", { class: "napw-sub", text: "most typical members first" }),
        h("span", { class: "napw-spacer" }),
        h("label", { class: "napw-inline" }, h("span", { class: "napw-muted", text: "sort by " }), sortSelect),
        clearBtn),
      hint, grid, more));

    let limit = PAGE;
    let focusId = null;
    let cards = [];
    // cards and thumbnails kept across renders: a card is reused while nothing it shows changed (same data,
    // row, view options, filters, thumbnails); a new card reuses the canvases of members it shares
    let cardCache = new Map(); // NAP id -> { key, el }
    let visuals = new Map(); // input index -> { thumb, node }
    let dataGen = 0;
    let optGen = 0;
    let avgGen = 0;
    let lastAvg = null;
    let lastData = null;

    function cardKey(row) {
      const shown = (store.cardMembers ? store.cardMembers(row) : row.members) || [];
      let bits = "";
      for (const i of shown) bits += store.thumbCache.has(i) ? "1" : "0";
      return `${dataGen}|${optGen}|${avgGen}|${JSON.stringify(store.filters())}|${bits}|${JSON.stringify(row)}`;
    }

    function render() {
      const rows = store.sortedNaps();
      const view = store.data.view;
      sortSelect.value = store.sortBy();
      sortSelect.querySelector("option[value=purity]").disabled = !view.has_labels;
      hint.hidden = rows.length > 0;
      hint.textContent = view.hint || "No NAPs yet.";
      const shown = rows.slice(0, limit);
      if (store.data !== lastData) {
        lastData = store.data;
        dataGen++;
      }
      if (store.get("_avg_thumbs") !== lastAvg) { // cards' average images: the sprite arrives with each result
        lastAvg = store.get("_avg_thumbs");
        avgGen++;
      }
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
          const prev = visuals.get(idx);
          if (prev && prev.node.parentNode === tile && !vis.next.has(idx)) vis.next.set(idx, prev);
        }
      }
      cards = shown.map((r, j) => {
        let c = reused[j];
        if (c) c.classList.remove("napw-hover"); // as a new card: hover is re-applied by the next mouse move
        else c = card(r, store, vis);
        nextCache.set(r.id, { key: keys[j], el: c });
        return c;
      });
      cardCache = nextCache;
      visuals = vis.next;
      grid.replaceChildren(...cards, ...noiseCards(store));
      const missing = [...new Set(shown.flatMap((r) => (store.cardMembers ? store.cardMembers(r) : [])))].filter((i) => !store.thumbCache.has(i));
      if (missing.length) store.thumbs(missing).then(render, () => {}); // filtered cards show members beyond the sprite
      more.hidden = rows.length <= limit;
      more.textContent = `show all ${rows.length} NAPs`;
      if (focusId === null || !shown.some((r) => r.id === focusId)) focusId = shown.length ? shown[0].id : null;
      updateSelection();
      updateFocus(false);
    }

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
      if (moveFocus) {
        const target = cards.find((c) => Number(c.dataset.nap) === focusId);
        if (target) {
          target.focus();
          if (target.scrollIntoView) target.scrollIntoView({ block: "nearest" });
        }
      }
    }

    function updateHover(id) {
      for (const c of cards) c.classList.toggle("napw-hover", Number(c.dataset.nap) === id);
    }

    function cardOf(target) {
      return target && target.closest ? target.closest("[data-testid=nap-card]") : null;
    }

    grid.addEventListener("click", (e) => {
      const c = cardOf(e.target);
      if (!c) return;
      const id = Number(c.dataset.nap);
      focusId = id;
      updateFocus(false);
      store.selectNaps([id], e.shiftKey || e.metaKey || e.ctrlKey ? "toggle" : (store.selectedNaps().length === 1 && store.isSelected(id) ? "toggle" : "replace"));
    });
    grid.addEventListener("keydown", (e) => {
      if (!cards.length) return;
      const current = Math.max(0, cards.findIndex((c) => Number(c.dataset.nap) === focusId));
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        const id = Number(cards[current].dataset.nap);
        store.selectNaps([id], e.shiftKey || e.metaKey || e.ctrlKey ? "toggle" : "replace");
        return;
      }
      if (e.key === "Escape") {
        store.clearSelection();
        return;
      }
      const next = nextIndex(e.key, current, cards.length, columnsOf(cards));
      if (next === null) return;
      e.preventDefault();
      focusId = Number(cards[next].dataset.nap);
      updateFocus(true);
      store.setHover(focusId);
    });
    grid.addEventListener("mouseover", (e) => {
      const c = cardOf(e.target);
      store.setHover(c ? Number(c.dataset.nap) : null);
    });
    grid.addEventListener("mouseleave", () => store.setHover(null));
    grid.addEventListener("focusout", (e) => { if (!grid.contains(e.relatedTarget)) store.setHover(null); });
    sortSelect.addEventListener("change", () => store.setSort(sortSelect.value));
    clearBtn.addEventListener("click", () => store.clearSelection());
    more.addEventListener("click", () => { limit = Infinity; render(); });

    const offs = [
      store.on("data", () => { limit = PAGE; render(); }),
      store.on("sort", render),
      store.on("filters", render),
      store.on("crosslayer", (k) => {
        if (!CARD_KEYS.has(k)) return;
        if (k !== "_avg_thumbs") optGen++; // the sprite is compared by identity in render()
        render();
      }),
      store.on("selection", updateSelection),
      store.on("hover", updateHover),
    ];
    render();
    return () => offs.forEach((off) => off());
  },
};
