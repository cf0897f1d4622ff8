// @vitest-environment jsdom
// Detail views: filters (pure functions and the store's actions), unit statistics rows, per-NAP chart rows, the
// label x NAP distribution matrix (model and clicks), the filter pills and the grid's filtered cards.
import { afterEach, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import { applyFilters, filteredMembersByNap, hasFilters, makePredicate, normalizeFilters, toggleFilter } from "../src/filters.js";
import stats, { statsMatch, statsRows, statsUnits, STAT_KEYS } from "../src/views/stats.js";
import { barRows, chartNaps, histRows } from "../src/views/napcharts.js";
import distribution, { bubbleRadius, distributionModel } from "../src/views/distribution.js";
import filterbar from "../src/views/filterbar.js";
import grid from "../src/views/grid.js";
import { fakeModel, makeState, tick } from "./helpers.js";

const PARAMS = { layer: "fc1", min_cluster_size: 5, min_samples: 5, cluster_selection_method: "leaf", normalize: "unit" };

/** nap_detail as the kernel makes it for makeState() (NAP j: label j % 3; its first member predicted +1). */
function detailFor(state) {
  const { naps, classes } = state.view;
  return {
    layer: "fc1", params: PARAMS, n_naps: naps.length, classes, class_colors: state.view.class_colors,
    has_labels: true, has_predictions: true,
    label_counts: naps.map((r) => [[r.id % 3, r.size]]),
    pred_counts: naps.map((r) => [[r.id % 3, r.size - 1], [(r.id + 1) % 3, 1]].sort((a, b) => a[0] - b[0])),
    noise_label_counts: [], noise_pred_counts: [],
    prob_edges: [0, 0.25, 0.5, 0.75, 1],
    prob_hist: naps.map((r) => [0, 1, 2, r.size - 3]),
    nap_colors: ["#111111", "#222222", "#333333"], max_compare: 6,
    specs: { stats: {}, hist: {}, bars: {} },
  };
}

function statsVm(ids, f = 5) {
  const naps = ids.map((id, pos) => {
    const st = {};
    for (const [j, k] of STAT_KEYS.entries()) st[k] = Array.from({ length: f }, (_, u) => (u === 0 ? 0 : 0.1 * j + 0.01 * u + id));
    return { id, size: 10, color: `#00000${pos}`, stats: st, near_zero: [0] };
  });
  return { layer: "fc1", params: PARAMS, n_units: f, threshold: 0.01, naps, near_zero: [0], truncated: false };
}

function setup(extra = {}, opts = {}) {
  const state = makeState({ extra });
  state.nap_detail = detailFor(state);
  state.filters = { labels: [], predictions: [] };
  state.nap_stats = {};
  Object.assign(state, extra);
  const model = fakeModel(state, opts);
  const store = createStore(model);
  return { state, model, store };
}

function mount(view, store) {
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  const cleanup = view.mount(el, store);
  return { el, cleanup };
}

afterEach(() => document.body.replaceChildren());

describe("filters (pure)", () => {
  it("normalises, toggles and tests inputs: OR within a kind, AND across kinds", () => {
    expect(normalizeFilters({ labels: ["a", "a"] })).toEqual({ labels: ["a"], predictions: [] });
    expect(hasFilters({ labels: [], predictions: [] })).toBe(false);
    let f = toggleFilter({}, "labels", "one");
    expect(f).toEqual({ labels: ["one"], predictions: [] });
    f = toggleFilter(f, "labels", "one");
    expect(hasFilters(f)).toBe(false);
    const data = { view: { classes: ["zero", "one", "two"] }, label: Int32Array.from([0, 1, 2, 1]), pred: Int32Array.from([0, 1, 1, 2]) };
    expect(makePredicate({ labels: [], predictions: [] }, data)).toBe(null);
    const ok = makePredicate({ labels: ["one", "two"], predictions: ["one"] }, data);
    expect([0, 1, 2, 3].filter(ok)).toEqual([1, 2]);
    expect(applyFilters([3, 2, 1, 0], { labels: ["one"] }, data)).toEqual([3, 1]);
  });

  it("groups passing members by NAP, most typical first", () => {
    const { store } = setup();
    const byNap = filteredMembersByNap({ labels: [], predictions: ["one"] }, store.data);
    // NAP 0 (label zero): only its first input is predicted "one"; NAP 1 (label one): all but its first
    expect(byNap.get(0)).toEqual([0]);
    expect(byNap.get(1).length).toBe(19);
    const probs = byNap.get(1).map((i) => store.data.prob[i]);
    expect(probs).toEqual([...probs].sort((a, b) => b - a));
  });
});

describe("store filters", () => {
  it("re-filters a NAP selection through the selection's owner", () => {
    const { store, model } = setup();
    store.selectNaps([0, 1]);
    expect(model.get("selected_indices").length).toBe(50);
    store.toggleFilter("labels", "one");
    expect(model.sent.at(-1)).toMatchObject({ type: "filter", filters: { labels: ["one"], predictions: [] } });
    expect(model.get("filters")).toEqual({ labels: ["one"], predictions: [] });
    const sel = model.get("selected_indices");
    expect(sel.length).toBe(20);
    expect(sel.every((i) => store.data.nap[i] === 1)).toBe(true);
    // a new NAP selection respects the active filter
    store.selectNaps([0]);
    expect(model.get("selected_indices")).toEqual([]);
    store.clearFilters();
    expect(model.get("selected_indices").length).toBe(30);
  });

  it("re-filters inputs picked directly and restores them when the filter goes", () => {
    const { store, model } = setup();
    const picked = [0, 1, 30, 31, 50, 70];
    store.selectIndices(picked);
    store.setFilters({ labels: ["zero"] });
    expect(model.get("selected_indices")).toEqual(picked.filter((i) => store.data.label[i] === 0));
    store.removeFilter("labels", "zero");
    expect(model.get("selected_indices")).toEqual(picked);
  });

  it("gives cards their passing members with a total", () => {
    const { store } = setup();
    const row = store.data.view.naps[0];
    expect(store.cardMembers(row)).toBe(row.members);
    store.setFilters({ predictions: ["one"] });
    const m = store.cardMembers(row);
    expect([...m]).toEqual([0]);
    expect(m.total).toBe(1);
    expect(store.cardMembers(store.data.view.naps[2]).total).toBe(0);
  });

  it("emits 'filters' when the kernel changes them", () => {
    const { store, model } = setup();
    const seen = [];
    store.on("filters", () => seen.push(store.filters()));
    model.set("filters", { labels: ["two"], predictions: [] });
    expect(seen).toEqual([{ labels: ["two"], predictions: [] }]);
  });
});

describe("unit statistics", () => {
  it("draws every unit, or hides those near zero in every NAP; orders by mean", () => {
    const vm = statsVm([2, 0]);
    expect(statsUnits(vm)).toEqual([0, 1, 2, 3, 4]);
    expect(statsUnits(vm, { hideZero: true })).toEqual([1, 2, 3, 4]);
    const byMean = statsUnits(vm, { order: "mean" });
    const mean = vm.naps[0].stats.mean;
    expect(byMean.map((u) => mean[u])).toEqual([...byMean.map((u) => mean[u])].sort((a, b) => b - a));
  });

  it("plots the kernel's numbers untouched, one row per unit and NAP", () => {
    const vm = statsVm([2, 0]);
    const rows = statsRows(vm, [3, 1]);
    expect(rows.map((r) => [r.unit, r.nap_id])).toEqual([[3, 2], [3, 0], [1, 2], [1, 0]]);
    for (const r of rows) {
      const nap = vm.naps.find((n) => n.id === r.nap_id);
      for (const k of STAT_KEYS) expect(r[k]).toBe(nap.stats[k][r.unit]);
      expect(r.color).toBe(nap.color);
    }
  });

  it("matches the view model to the selection and parameters", () => {
    const vm = statsVm([2, 0]);
    expect(statsMatch(vm, [2, 0], PARAMS)).toBe(true);
    expect(statsMatch(vm, [0, 2], PARAMS)).toBe(false);
    expect(statsMatch(vm, [2, 0], { ...PARAMS, layer: "conv" })).toBe(false);
    expect(statsMatch(statsVm([0, 1]), [0, 1, 2], PARAMS, 2)).toBe(true);
  });

  it("asks for a selection, and says when the statistics are not there yet", () => {
    const { store } = setup();
    const { el } = mount(stats, store);
    expect(el.querySelector("[data-testid=stats-chart]").dataset.naps).toBe("");
    expect(el.querySelector(".napw-empty").textContent).toMatch(/Select a NAP/);
    store.selectNaps([1]);
    expect(el.querySelector(".napw-empty").textContent).toMatch(/Computing/);
  });
});

describe("per-NAP charts", () => {
  it("describe the selection, or every NAP when none is selected", () => {
    const { state } = setup();
    const d = state.nap_detail;
    expect(chartNaps(d, [])).toEqual({ ids: [0, 1, 2], all: true });
    expect(chartNaps(d, [2, 9])).toEqual({ ids: [2], all: false });
    const all = histRows(d, chartNaps(d, []));
    expect(all.reduce((a, r) => a + r.count, 0)).toBe(62);
    const two = histRows(d, chartNaps(d, [0, 2]));
    expect(new Set(two.map((r) => r.color))).toEqual(new Set(["#111111", "#222222"]));
  });

  it("bar rows: class colours for one NAP, NAP colours stacked in compare mode, filters outlined / dimmed", () => {
    const { state } = setup();
    const d = state.nap_detail;
    const one = barRows(d, "predictions", chartNaps(d, [0]), { labels: [], predictions: [] });
    expect(one.rows.map((r) => [r.cls, r.count, r.rank])).toEqual([["zero", 29, 0], ["one", 1, 1]]);
    expect(one.rows[0].color).toBe(d.class_colors[0]);
    const cmp = barRows(d, "labels", chartNaps(d, [0, 1]), { labels: ["one"], predictions: [] });
    expect(cmp.rows.map((r) => [r.cls, r.nap, r.color, r.active, r.dim])).toEqual([
      ["zero", "NAP 0", "#111111", false, true],
      ["one", "NAP 1", "#222222", true, false],
    ]);
    const top = barRows(d, "labels", chartNaps(d, []), {}, 2);
    expect(top.shown).toBe(2);
    expect(top.total).toBe(3);
  });
});

describe("distribution matrix", () => {
  it("models counts per label and NAP, in the given NAP order", () => {
    const { state } = setup();
    const m = distributionModel(state.nap_detail, [2, 0, 1]);
    expect(m.cols).toEqual([2, 0, 1]);
    expect(m.rows.map((r) => r.name)).toEqual(["zero", "one", "two"]);
    expect(m.cells.map((c) => [c.nap, c.code, c.count])).toEqual([[2, 2, 12], [0, 0, 30], [1, 1, 20]]);
    expect(m.max).toBe(30);
    expect(distributionModel(state.nap_detail, [0, 1, 2], { maxRows: 2 }).hiddenRows).toBe(1);
    expect(bubbleRadius(0, 30, 20)).toBe(0);
    expect(bubbleRadius(30, 30, 20)).toBeGreaterThan(bubbleRadius(12, 30, 20));
  });

  it("click a bubble: select its NAP and filter its label; a row label: filter; a column: select", () => {
    const { store, model } = setup();
    const { el } = mount(distribution, store);
    const svg = el.querySelector("[data-testid=distribution]");
    expect(svg.querySelectorAll("[data-testid=dist-cell]").length).toBe(3);
    svg.querySelector("[data-testid=dist-cell][data-nap='1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected_naps")).toEqual([1]);
    expect(model.get("filters").labels).toEqual(["one"]);
    expect(model.get("selected_indices").length).toBe(20);
    expect(svg.querySelector("[data-testid=dist-col][data-nap='1']").classList.contains("selected")).toBe(true);
    expect(svg.querySelector("[data-testid=dist-row][data-label='one']").classList.contains("napw-filtered")).toBe(true);
    expect(svg.querySelector("[data-testid=dist-cell][data-nap='0']").classList.contains("napw-dim")).toBe(true);
    svg.querySelector("[data-testid=dist-row][data-label='zero'] text").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("filters").labels).toEqual(["one", "zero"]);
    svg.querySelector("[data-testid=dist-col][data-nap='2']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected_naps")).toEqual([2]);
    // keyboard: Enter on a focused label toggles its filter
    svg.querySelector("[data-testid=dist-row][data-label='one']").dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.get("filters").labels).toEqual(["zero"]);
  });
});

describe("filter pills", () => {
  it("show the active filters, remove one on click, clear all", () => {
    const { store, model } = setup();
    const { el } = mount(filterbar, store);
    const bar = el.querySelector("[data-testid=filter-bar]");
    expect(bar.hidden).toBe(true);
    store.setFilters({ labels: ["one", "two"], predictions: ["zero"] });
    expect(bar.hidden).toBe(false);
    const pills = () => [...el.querySelectorAll("[data-testid=filter-pill]")].map((p) => `${p.dataset.kind}:${p.dataset.value}`);
    expect(pills()).toEqual(["labels:one", "labels:two", "predictions:zero"]);
    expect(el.querySelector("[data-testid=filter-count]").textContent).toMatch(/of 80 inputs pass/);
    el.querySelector("[data-testid=filter-pill][data-value='two'] .napw-pill-x").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("filters")).toEqual({ labels: ["one"], predictions: ["zero"] });
    expect(pills()).toEqual(["labels:one", "predictions:zero"]);
    el.querySelector("[data-testid=filter-clear]").click();
    expect(model.get("filters")).toEqual({ labels: [], predictions: [] });
    expect(bar.hidden).toBe(true);
  });
});

describe("grid respects filters", () => {
  it("cards show their passing members and how many pass; missing thumbnails are requested", async () => {
    const respond = (msg) => msg.type === "thumbs" && {
      content: { type: "thumbs", req: msg.req, kind: "image", h: 2, w: 2, c: 1, indices: msg.indices },
      buffers: [new DataView(new Uint8Array(4 * msg.indices.length).buffer)],
    };
    const { store, model } = setup({}, { respond });
    const { el } = mount(grid, store);
    const card = (id) => el.querySelector(`[data-testid=nap-card][data-nap='${id}']`);
    expect(card(0).querySelector("[data-testid=card-filter-count]")).toBe(null);
    store.setFilters({ predictions: ["one"] });
    expect(card(0).querySelector("[data-testid=card-filter-count]").textContent).toBe("1 match");
    expect(card(0).querySelectorAll(".napw-card-members > *").length).toBe(1);
    expect(card(2).querySelector("[data-testid=card-filter-count]").hasAttribute("data-zero")).toBe(true);
    expect(card(1).querySelectorAll(".napw-card-members > *").length).toBe(8);
    await tick();
    await tick();
    const asked = model.sent.filter((m) => m.type === "thumbs").flatMap((m) => m.indices);
    for (const i of asked) expect(store.thumbCache.has(i)).toBe(true);
  });
});
