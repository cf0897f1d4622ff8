// @vitest-environment jsdom
// The canvas heatmap fills its box: measured with the full height in it at the first paint, painted again
// (once per frame) when the box is resized, the observer disconnected on teardown. jsdom has neither layout
// nor ResizeObserver: the box gets a small layout here (its height = its content's, up to its max-height) and
// a ResizeObserver the test triggers.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import heatmap from "../src/views/heatmap.js";
import { fakeModel, makeState } from "./helpers.js";

const observers = [];
class FakeResizeObserver {
  constructor(cb) {
    this.cb = cb;
    this.targets = new Set();
    this.connected = true;
    observers.push(this);
  }
  observe(el) { this.targets.add(el); }
  unobserve(el) { this.targets.delete(el); }
  disconnect() { this.targets.clear(); this.connected = false; }
  /** What the browser does after a layout that changed the size of an observed element. */
  fire() { if (this.connected) this.cb([...this.targets].map((target) => ({ target })), this); }
}

const px = (v, dflt) => (v ? Number.parseFloat(v) : dflt);
const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

// the heatmap box's layout: as tall as its children (a canvas is 150 px tall until styled), at most boxMaxH
let boxMaxH = 340;
const isBox = (el) => el.dataset?.testid === "heatmap";
const layout = {
  clientHeight(el) {
    let content = 0;
    for (const c of el.children) content += px(c.style.height, c.tagName === "CANVAS" ? 150 : 0);
    return Math.min(boxMaxH, content);
  },
  clientWidth: () => 440,
};
const originals = {};

beforeEach(() => {
  originals.RO = globalThis.ResizeObserver;
  globalThis.ResizeObserver = FakeResizeObserver;
  observers.length = 0;
  boxMaxH = 340;
  for (const name of Object.keys(layout)) {
    const orig = Object.getOwnPropertyDescriptor(Element.prototype, name);
    originals[name] = orig;
    Object.defineProperty(HTMLElement.prototype, name, {
      configurable: true,
      get() { return isBox(this) ? layout[name](this) : orig.get.call(this); },
    });
  }
});
afterEach(() => {
  globalThis.ResizeObserver = originals.RO;
  for (const name of Object.keys(layout)) delete HTMLElement.prototype[name];
  document.body.replaceChildren();
});

function mountHeat(k) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const sizes = Array.from({ length: k }, (_, i) => 5 + (i % 7));
  const store = createStore(fakeModel(makeState({ sizes, n: sizes.reduce((a, b) => a + b, 0) + 50 })));
  const cleanup = heatmap.mount(el, store);
  return { el, box: el.querySelector("[data-testid=heatmap]"), canvas: el.querySelector("[data-testid=heatmap-canvas]"), cleanup };
}

describe("canvas heatmap sizing", () => {
  it("fills the box at the first paint, not the 150 px of a fresh canvas", () => {
    const { canvas } = mountHeat(120); // (120 + 1) rows x 5 units: canvas
    expect(canvas).not.toBeNull();
    // 340 px of box: ~24 rows, where a view measured around the fresh canvas showed 150 px (~9 rows)
    expect(canvas.style.height).toBe("340px");
    expect(canvas.height).toBe(340 * (window.devicePixelRatio || 1));
  });

  it("paints again, once per frame, when the box grows, and disconnects its observer on teardown", async () => {
    const { box, canvas, cleanup } = mountHeat(120);
    const ro = observers.find((o) => o.targets.has(box));
    expect(ro).toBeDefined();
    let paints = 0;
    const w = Object.getOwnPropertyDescriptor(HTMLCanvasElement.prototype, "width");
    Object.defineProperty(canvas, "width", { configurable: true, get: () => w.get.call(canvas), set: (v) => { paints++; w.set.call(canvas, v); } });
    boxMaxH = 520; // the panel grew
    ro.fire();
    ro.fire();
    ro.fire();
    expect(paints).toBe(0); // coalesced: nothing until the frame
    await frame();
    expect(paints).toBe(1);
    expect(canvas.style.height).toBe("520px");
    // the sticky canvas + the spacer still span every row
    const spacer = box.querySelector(".napw-heat-spacer");
    expect(520 + px(spacer.style.height, 0)).toBe(26 + 121 * 13 + 6);
    ro.fire(); // same size: no paint
    await frame();
    expect(paints).toBe(1);
    cleanup();
    expect(ro.connected).toBe(false);
  });

  it("shows the cell under the pointer as the canvas' tooltip (the SVG's per-cell titles)", () => {
    const { canvas } = mountHeat(120);
    const cellW = 22; // (440 - 56 - 12) / 5 units, at most 22
    const at = (row, col) => new MouseEvent("mousemove", { bubbles: true, clientY: 26 + 13 * (row + 1) + 4, clientX: 56 + cellW * col + 1 });
    canvas.dispatchEvent(at(2, 2));
    expect(canvas.title).toBe("NAP 2 · unit 2 · mean 0.900");
    canvas.dispatchEvent(at(3, 1));
    expect(canvas.title).toBe("NAP 3 · unit 1 · mean 0.100");
    canvas.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientY: 5, clientX: 80 })); // column heads
    expect(canvas.title).toBe("");
  });
});
