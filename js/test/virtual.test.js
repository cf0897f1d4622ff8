// @vitest-environment jsdom
// Many NAPs: the grid builds only the cards in view, the heatmap paints a canvas, the scatter switches renderer.
import { afterEach, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import grid from "../src/views/grid.js";
import heatmap, { SVG_MAX_CELLS, heatColAt, heatRowAt, paintHeat } from "../src/views/heatmap.js";
import { distributionCols } from "../src/views/distribution.js";
import { rendererFor, SVG_MAX_POINTS } from "../src/views/scatter.js";
import { cappedRange, columnsFor, perFrame, scrollToRow, viewportCap, visibleRange } from "../src/virtual.js";
import { fakeModel, makeState } from "./helpers.js";

afterEach(() => document.body.replaceChildren());

function mount(view, state) {
  const model = fakeModel(state);
  const store = createStore(model);
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  view.mount(el, store);
  return { model, store, el };
}

const manySizes = (k) => Array.from({ length: k }, (_, i) => 5 + (i % 7));

describe("visibleRange", () => {
  it("builds whole rows around the viewport and pads the rest", () => {
    const r = visibleRange({ count: 787, cols: 4, rowHeight: 200, scrollTop: 2000, viewport: 600, overscan: 1 });
    // rows 10..12 are in view; one row of overscan each side
    expect([r.rowStart, r.rowEnd, r.start, r.end, r.rows]).toEqual([9, 14, 36, 56, 197]);
    expect(r.top).toBe(9 * 200);
    expect(r.bottom).toBe((197 - 14) * 200);
    // top + built rows + bottom = the full height
    expect(r.top + (r.rowEnd - r.rowStart) * 200 + r.bottom).toBe(r.rows * 200);
  });

  it("clamps at both ends and handles empty lists and missing layout", () => {
    expect(visibleRange({ count: 0, cols: 3, rowHeight: 100 })).toMatchObject({ start: 0, end: 0, top: 0, bottom: 0 });
    const end = visibleRange({ count: 10, cols: 3, rowHeight: 100, scrollTop: 99999, viewport: 300 });
    expect(end.end).toBe(10);
    expect(end.bottom).toBe(0);
    // no layout: a default viewport, so the first rows are built
    const nolayout = visibleRange({ count: 500, cols: 1, rowHeight: 200, viewport: 0, overscan: 2 });
    expect([nolayout.start, nolayout.end]).toEqual([0, 5]);
  });

  it("counts grid columns like CSS auto-fill and scrolls a row into view", () => {
    expect(columnsFor(0, 178, 8)).toBe(1);
    expect(columnsFor(178, 178, 8)).toBe(1);
    expect(columnsFor(178 * 3 + 16, 178, 8)).toBe(3);
    expect(scrollToRow(10, { rowHeight: 100, scrollTop: 0, viewport: 300 })).toBe(800);
    expect(scrollToRow(2, { rowHeight: 100, scrollTop: 500, viewport: 300 })).toBe(200);
    expect(scrollToRow(6, { rowHeight: 100, scrollTop: 500, viewport: 300 })).toBe(500);
  });

  it("caps the window at maxRows rows: overscan first, then the bottom rows; viewportCap never needs more", () => {
    const base = { count: 787, cols: 4, rowHeight: 200, scrollTop: 2000 };
    // 3 rows in view + 1 of overscan each side fit in 6
    expect(cappedRange({ ...base, viewport: 600, maxRows: 6 })).toMatchObject({ rowStart: 9, rowEnd: 14 });
    // 4 rows in view (not aligned): overscan dropped
    const tight = cappedRange({ ...base, scrollTop: 2100, viewport: 600, maxRows: 4 });
    expect([tight.rowStart, tight.rowEnd, tight.start, tight.end]).toEqual([10, 14, 40, 56]);
    // a box taller than maxRows rows: the rows below are cut, the full height stays
    const cut = cappedRange({ ...base, viewport: 2000, maxRows: 3 });
    expect([cut.rowStart, cut.rowEnd, cut.end - cut.start]).toEqual([10, 13, 12]);
    expect(cut.top + 3 * 200 + cut.bottom).toBe(cut.rows * 200);
    // with the box capped at viewportCap, no scroll position shows more rows than maxRows
    for (let top = 0; top < 1000; top += 37) {
      const r = cappedRange({ ...base, scrollTop: top, viewport: viewportCap(5, 200), maxRows: 5, overscan: 0 });
      const inView = Math.ceil((top + viewportCap(5, 200)) / 200) - Math.floor(top / 200);
      expect(inView).toBeLessThanOrEqual(5);
      expect(r.rowEnd - r.rowStart).toBe(inView);
    }
  });

  it("runs a scheduled function once per frame however often it is scheduled", async () => {
    let n = 0;
    const soon = perFrame(() => { n++; });
    soon(); soon(); soon();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    expect(n).toBe(1);
  });
});

describe("grid with hundreds of NAPs", () => {
  it("builds only the cards in view, says how many NAPs it holds, and keyboard focus reaches the last NAP", () => {
    const k = 300;
    const { el, model } = mount(grid, makeState({ sizes: manySizes(k), n: 3000 }));
    const g = el.querySelector("[data-testid=nap-grid]");
    const cards = () => [...el.querySelectorAll("[data-testid=nap-card]")];
    expect(g.dataset.count).toBe(String(k));
    expect(cards().length).toBeGreaterThan(0);
    expect(cards().length).toBeLessThan(20);
    expect(Number(g.querySelector(".napw-grid-sizer").style.height.replace("px", ""))).toBeGreaterThan(1000); // the rest
    cards()[0].focus();
    g.dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true }));
    expect(document.activeElement.dataset.nap).toBe(String(k - 1)); // built on demand
    g.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.get("selected_naps")).toEqual([k - 1]);
    expect(cards().length).toBeLessThan(20);
  });

  it("builds the card of a NAP selected elsewhere (scatter, Python) when it is outside the window", () => {
    const { el, model } = mount(grid, makeState({ sizes: manySizes(300), n: 3000 }));
    expect(el.querySelector("[data-testid=nap-card][data-nap='250']")).toBeNull();
    model.set("selected_naps", [250]);
    const card = el.querySelector("[data-testid=nap-card][data-nap='250']");
    expect(card).not.toBeNull();
    expect(card.classList.contains("selected")).toBe(true);
    expect(el.querySelectorAll("[data-testid=nap-card]").length).toBeLessThan(20);
  });

  it("follows a new result with fewer NAPs", () => {
    const { el, model } = mount(grid, makeState({ sizes: manySizes(200), n: 2000 }));
    const small = makeState({ sizes: [10, 20, 30], n: 2000 });
    model.set("view", small.view);
    model.set("_samples", small._samples);
    return Promise.resolve().then(() => {
      expect(el.querySelector("[data-testid=nap-grid]").dataset.count).toBe("3");
      expect([...el.querySelectorAll("[data-testid=nap-card]")].map((c) => c.dataset.nap)).toEqual(["0", "1", "2"]);
    });
  });
});

describe("heatmap with hundreds of NAPs", () => {
  it("switches to one canvas (no SVG row per NAP) and selects the row under a click", () => {
    const k = 120; // x 5 units > SVG_MAX_CELLS
    expect((k + 1) * 5).toBeGreaterThan(SVG_MAX_CELLS);
    const { el, model } = mount(heatmap, makeState({ sizes: manySizes(k), n: 2000 }));
    expect(el.querySelectorAll(".napw-heat-row").length).toBe(0);
    const canvas = el.querySelector("[data-testid=heatmap-canvas]");
    expect(canvas.dataset.rows).toBe(String(k));
    // jsdom has no layout: the canvas' rect is at 0, so clientY is the content y
    canvas.getBoundingClientRect = () => ({ top: 0, left: 0, width: 400, height: 340 });
    const y = 26 + 13 * (1 + 5) + 4; // row 5 (after the overall row) = NAP 5 in persistence order
    canvas.dispatchEvent(new MouseEvent("click", { bubbles: true, clientY: y }));
    expect(model.get("selected_naps")).toEqual([5]);
  });

  it("hit-tests rows and columns and paints only the visible slice", () => {
    expect(heatRowAt(10, 100)).toBe(null); // column heads
    expect(heatRowAt(26 + 2, 100)).toBe(-1); // the overall row
    expect(heatRowAt(26 + 13 * 3 + 1, 100)).toBe(2);
    expect(heatRowAt(26 + 13 * 200, 100)).toBe(null);
    expect(heatColAt(56 + 10 * 3 + 1, 20, 10)).toBe(3);
    expect(heatColAt(10, 20, 10)).toBe(null);
    const calls = [];
    const ctx = new Proxy({}, {
      get: (_t, name) => (name === "fillRect" ? (...a) => calls.push(a) : () => {}),
      set: () => true,
    });
    const rows = Array.from({ length: 500 }, (_, i) => ({ label: `NAP ${i}`, values: [0.1, 0.5], id: i }));
    paintHeat(ctx, { hm: { units: [1, 2] }, rows, color: () => "#000", cellW: 10, width: 100, top: 26 + 13 * 100, height: 130,
      marks: { selected: new Set(), hover: null }, css: { font: "x", mono: "x", fg: "#000", muted: "#000", accent: "#000", hover: "#000" } });
    // ~10 visible rows x 2 cells, not 500 x 2
    expect(calls.length).toBeGreaterThan(15);
    expect(calls.length).toBeLessThan(30);
  });
});

describe("scatter renderer", () => {
  it("draws SVG for a few NAPs and canvas for hundreds", () => {
    expect(rendererFor(25)).toBe("svg");
    expect(rendererFor(SVG_MAX_POINTS)).toBe("svg");
    expect(rendererFor(787)).toBe("canvas");
  });
});

describe("distribution with hundreds of NAPs", () => {
  it("draws the first columns in the grid's order plus the selected NAPs", () => {
    const order = Array.from({ length: 300 }, (_, i) => 299 - i);
    const cols = distributionCols(order, [5, 290, 999], 60);
    expect(cols.slice(0, 60)).toEqual(order.slice(0, 60));
    expect(cols.slice(60)).toEqual([5]); // 290 is drawn already, 999 is not a NAP
    expect(distributionCols([1, 2], [2], 60)).toEqual([1, 2]);
  });
});
