// @vitest-environment jsdom
// The widget's DOM stays within its budget (3,000 nodes under .napw-root) whatever the number of NAPs: the grid
// builds every card only for a few NAPs and at most MAX_CARDS beyond, the heatmap turns to one canvas.
// jsdom has no layout, so the grid and its cards get one here: a wide, very tall box (the worst case: many
// columns and rows in view), cards 240 px tall.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mount } from "../src/index.js";
import { createStore } from "../src/store.js";
import grid, { BUILD_ALL, MAX_CARDS } from "../src/views/grid.js";
import { fakeModel, makeState } from "./helpers.js";

const BUDGET = 3000;
const GRID_W = 4 * 178 + 3 * 8 + 6; // four columns
const GRID_H = 2400; // taller than any screen: the grid caps its own height
const CARD_H = 240;

const patched = [];
function fakeLayout(name, get) {
  const proto = HTMLElement.prototype;
  const orig = Object.getOwnPropertyDescriptor(proto, name) || Object.getOwnPropertyDescriptor(Element.prototype, name);
  Object.defineProperty(proto, name, { configurable: true, get() { const v = get(this); return v === undefined ? orig.get.call(this) : v; } });
  patched.push([name, orig]);
}

beforeAll(() => {
  const isGrid = (el) => el.classList.contains("napw-grid");
  const isCard = (el) => el.classList.contains("napw-card");
  fakeLayout("clientWidth", (el) => (isGrid(el) ? GRID_W : undefined));
  // the box is as tall as its max-height allows (the flex layout would give it GRID_H)
  fakeLayout("clientHeight", (el) => (isGrid(el) ? Math.min(GRID_H, Number.parseFloat(el.style.maxHeight) || GRID_H) : undefined));
  fakeLayout("offsetHeight", (el) => (isCard(el) ? CARD_H : undefined));
});
afterAll(() => {
  for (const [name, orig] of patched) {
    delete HTMLElement.prototype[name];
    if (Object.getOwnPropertyDescriptor(HTMLElement.prototype, name) === undefined && orig) Object.defineProperty(HTMLElement.prototype, name, orig);
  }
});
afterEach(() => document.body.replaceChildren());

/** A computed Mapper graph of `m` nodes (a chain): ~3 SVG elements per node and edge when drawn. */
function mapperGraph(m, n) {
  const nodes = Array.from({ length: m }, (_, id) => ({ id, size: 10, members: [id % n], interval: id % 10, l2: id, dominant: 0, purity: 1, top: [[0, 10, 1]] }));
  const edges = nodes.slice(1).map((nd) => ({ source: nd.id - 1, target: nd.id, shared: 2, jaccard: 0.1 }));
  return { layer: "fc1", params: { eps_used: 0.5 }, n, n_intervals: 10, nodes, edges, l2_range: [0, m], covered: n };
}

/** k NAPs of 14-20 members (every card shows 8 typical and 4 least typical members); the Mapper panel holds
 * a computed graph of 300 nodes but is closed (a saved page, or a panel opened once and closed again). */
function state(k) {
  const sizes = Array.from({ length: k }, (_, i) => 14 + (i % 7));
  const n = sizes.reduce((a, b) => a + b, 0) + 200;
  return makeState({ sizes, n, extra: { topology_open: [], mapper: mapperGraph(300, n) } });
}

const nodes = (el) => el.querySelectorAll("*").length;
const settle = () => new Promise((r) => setTimeout(r, 30));

describe("DOM budget", () => {
  it("the grid builds every card up to BUILD_ALL NAPs and at most MAX_CARDS beyond, whatever the count", () => {
    for (const k of [BUILD_ALL, 30, 60, 841]) {
      const el = document.createElement("div");
      document.body.appendChild(el);
      grid.mount(el, createStore(fakeModel(state(k))));
      const g = el.querySelector("[data-testid=nap-grid]");
      const cards = el.querySelectorAll("[data-testid=nap-card]");
      expect(g.dataset.count, `${k} NAPs`).toBe(String(k));
      if (k <= BUILD_ALL) expect(cards.length).toBe(k);
      else expect(cards.length, `${k} NAPs`).toBeLessThanOrEqual(MAX_CARDS);
      expect(cards.length).toBeGreaterThanOrEqual(Math.min(k, 4 * 4)); // the rows in view are filled
      expect(nodes(el), `${k} NAPs`).toBeLessThanOrEqual(MAX_CARDS * 75);
      el.remove();
    }
  });

  it("the whole widget stays <= 3,000 nodes for 16, 30, 60 and 841 NAPs, and after updates between them", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const model = fakeModel(state(841));
    const cleanup = mount(el, model);
    const root = el.querySelector(".napw-root");
    await settle();
    const seen = { 841: nodes(root) };
    for (const k of [36, 16, 60, 30]) {
      const next = state(k);
      for (const key of ["view", "_samples", "_truth", "_card_thumbs"]) model.set(key, next[key]);
      await settle();
      expect(root.querySelector("[data-testid=nap-grid]").dataset.count).toBe(String(k));
      seen[k] = nodes(root);
    }
    for (const [k, n] of Object.entries(seen)) expect(n, `${k} NAPs: ${JSON.stringify(seen)}`).toBeLessThanOrEqual(BUDGET);
    // a real budget: the cards are most of it
    expect(root.querySelectorAll("[data-testid=nap-card]").length).toBeGreaterThan(BUILD_ALL);
    cleanup();
  });
});
