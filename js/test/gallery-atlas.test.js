// @vitest-environment jsdom
// The gallery draws a page of images into one canvas: every thumbnail lands in its item's cell, under that
// item's overlay button (which selects, shows the profile and takes keyboard focus). jsdom has no canvas
// backend: a small one stands in here (pixels in a buffer; putImageData, drawImage with nearest-neighbour
// scaling and fillRect are what the atlas uses), and the browser test (tests/browser/test_static_html.py)
// samples the real canvas.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import gallery from "../src/views/gallery.js";
import { atlasLayout, cellRect, paintAtlas, thumbRect } from "../src/views/gallery-atlas.js";
import { fakeModel, makeState, tick } from "./helpers.js";

function parseColor(c) {
  const hex = /^#([0-9a-f]{6})$/i.exec(c || "");
  if (hex) { const v = parseInt(hex[1], 16); return [(v >> 16) & 255, (v >> 8) & 255, v & 255, 255]; }
  const rgb = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(c || "");
  return rgb ? [Number(rgb[1]), Number(rgb[2]), Number(rgb[3]), 255] : [1, 1, 1, 255];
}

/** A 2D context over an RGBA buffer (scale-only transforms, no text rendering). */
class PixelContext {
  constructor(canvas) { this.canvas = canvas; this.sx = 1; this.sy = 1; this.fillStyle = "#000000"; }
  get buf() {
    const { width, height } = this.canvas;
    if (!this._buf || this._w !== width || this._h !== height) { this._buf = new Uint8ClampedArray(4 * width * height); this._w = width; this._h = height; }
    return this._buf;
  }
  setTransform(a, _b, _c, d) { this.sx = a; this.sy = d; }
  put(x, y, rgba) {
    const buf = this.buf; // sized to the canvas first
    if (x < 0 || y < 0 || x >= this._w || y >= this._h) return;
    buf.set(rgba, 4 * (y * this._w + x));
  }
  rect(x, y, w, h, fn) {
    const x0 = Math.round(x * this.sx); const y0 = Math.round(y * this.sy);
    const x1 = Math.round((x + w) * this.sx); const y1 = Math.round((y + h) * this.sy);
    for (let py = y0; py < y1; py++) for (let px = x0; px < x1; px++) fn(px, py, (px - x0) / (x1 - x0), (py - y0) / (y1 - y0));
  }
  clearRect(x, y, w, h) { this.rect(x, y, w, h, (px, py) => this.put(px, py, [0, 0, 0, 0])); }
  fillRect(x, y, w, h) { const c = parseColor(this.fillStyle); this.rect(x, y, w, h, (px, py) => this.put(px, py, c)); }
  putImageData(img, x, y) {
    for (let j = 0; j < img.height; j++) for (let i = 0; i < img.width; i++) this.put(x + i, y + j, img.data.slice(4 * (j * img.width + i), 4 * (j * img.width + i) + 4));
  }
  drawImage(src, sx, sy, sw, sh, dx, dy, dw, dh) {
    const from = src.getContext("2d");
    this.rect(dx, dy, dw, dh, (px, py, fx, fy) => {
      const i = sx + Math.floor(fx * sw); const j = sy + Math.floor(fy * sh);
      this.put(px, py, from.pixel(i, j));
    });
  }
  pixel(x, y) { const o = 4 * (y * this._w + x); return [...this.buf.slice(o, o + 4)]; }
  fillText() {}
  measureText(t) { return { width: 6 * String(t).length }; }
}

const saved = {};
beforeAll(() => {
  saved.getContext = HTMLCanvasElement.prototype.getContext;
  saved.ImageData = globalThis.ImageData;
  globalThis.ImageData = class { constructor(data, width, height) { Object.assign(this, { data, width, height }); } };
  HTMLCanvasElement.prototype.getContext = function getContext() {
    if (!this._ctx) this._ctx = new PixelContext(this);
    return this._ctx;
  };
});
afterAll(() => {
  HTMLCanvasElement.prototype.getContext = saved.getContext;
  globalThis.ImageData = saved.ImageData;
});
afterEach(() => document.body.replaceChildren());

const grey = (index) => 20 + ((index * 37) % 200); // every input its own grey level
const respond = (msg) => msg.type === "thumbs" && {
  content: { type: "thumbs", req: msg.req, kind: "image", h: 2, w: 2, c: 1, indices: msg.indices },
  buffers: [new DataView(Uint8Array.from(msg.indices.flatMap((i) => [grey(i), grey(i), grey(i), grey(i)])).buffer)],
};

describe("atlas layout and painting", () => {
  it("places cells like the CSS grid and each thumbnail, scaled, at the top of its own cell", () => {
    const layout = atlasLayout(10, 4 * 74 + 3 * 6);
    expect([layout.cols, layout.rows, layout.cellW]).toEqual([4, 3, 74]);
    expect(cellRect(layout, 5)).toMatchObject({ x: 80, y: layout.cellH + 6 });
    const canvas = document.createElement("canvas");
    canvas.width = layout.width;
    canvas.height = layout.height;
    const ctx = canvas.getContext("2d");
    // 2 x 2 sources: top-left, top-right, bottom-left, bottom-right quadrants of their own colours
    const src = (i) => {
      const c = document.createElement("canvas");
      c.width = 2; c.height = 2;
      c.getContext("2d").putImageData(new ImageData(Uint8ClampedArray.from([i, 0, 0, 255, 0, i, 0, 255, 0, 0, i, 255, i, i, 0, 255]), 2, 2), 0, 0);
      return c;
    };
    const cells = Array.from({ length: 10 }, (_, i) => ({ image: src(100 + i), w: 2, h: 2, lines: [[], []], prob: 0.5, probText: "0.50" }));
    paintAtlas(ctx, layout, cells, { fg: "#000000", muted: "#000000", subtle: "#eeeeee", accent: "#0000ff", wrong: "#ff0000", font: "x" });
    for (let i = 0; i < 10; i++) {
      const t = thumbRect(layout, i);
      const q = t.w / 4;
      expect(ctx.pixel(t.x + q, t.y + q)).toEqual([100 + i, 0, 0, 255]);
      expect(ctx.pixel(t.x + 3 * q, t.y + q)).toEqual([0, 100 + i, 0, 255]);
      expect(ctx.pixel(t.x + q, t.y + 3 * q)).toEqual([0, 0, 100 + i, 255]);
      expect(ctx.pixel(t.x + 3 * q, t.y + 3 * q)).toEqual([100 + i, 100 + i, 0, 255]);
    }
    expect(ctx.pixel(74 + 3, 10)[3]).toBe(0); // the gap between two cells stays clear
  });
});

describe("gallery page as one canvas", () => {
  function mountGallery(width) {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const model = fakeModel(makeState({ sizes: [60, 20], n: 100 }), { respond });
    const store = createStore(model);
    const cleanup = gallery.mount(el, store);
    Object.defineProperty(el.querySelector("[data-testid=gallery]"), "clientWidth", { configurable: true, get: () => width });
    return { el, model, store, cleanup };
  }

  it("one canvas and one overlay per item; each item's thumbnail is under its overlay", async () => {
    const { el, model, store } = mountGallery(700);
    store.selectNaps([0]);
    await tick();
    await tick();
    const box = el.querySelector("[data-testid=gallery]");
    expect(box.querySelectorAll("canvas").length).toBe(1);
    const items = [...box.querySelectorAll("[data-testid=gallery-item]")];
    expect(items.length).toBe(48);
    expect(items.map((n) => Number(n.dataset.index))).toEqual(model.get("selected_indices").slice(0, 48));
    expect(box.querySelectorAll("*").length).toBe(49); // not ~11 nodes per item
    const ctx = box.querySelector("[data-testid=gallery-atlas]").getContext("2d");
    // the cards' members came with the card sprite (grey 128), the others from the thumbnail request
    const level = (index) => store.thumbCache.get(index).pixels[0];
    expect(new Set(items.map((n) => level(Number(n.dataset.index)))).size).toBeGreaterThan(20);
    for (const item of items) {
      const [x, y, w] = ["left", "top", "width"].map((k) => Number.parseFloat(item.style[k]));
      const g = level(Number(item.dataset.index));
      expect(ctx.pixel(Math.round(x + w / 2), y + 20), `input ${item.dataset.index}`).toEqual([g, g, g, 255]);
    }
    // the next page: new overlays, new pixels
    el.querySelector("[data-testid=gallery-page-next]").click();
    await tick();
    await tick();
    const first = box.querySelector("[data-testid=gallery-item]");
    const g = level(Number(first.dataset.index));
    expect(Number(first.dataset.index)).toBe(model.get("selected_indices")[48]);
    expect(box.querySelector("[data-testid=gallery-atlas]").getContext("2d").pixel(Math.round(Number.parseFloat(first.style.width) / 2), 20)).toEqual([g, g, g, 255]);
  });

  it("an overlay is the item: click shows its profile, arrows move the focus, misclassified is marked", async () => {
    const { el, store } = mountGallery(400);
    const shown = [];
    store.on("profile", (i) => shown.push(i));
    store.selectNaps([1]);
    await tick();
    const items = [...el.querySelectorAll("[data-testid=gallery-item]")];
    items[3].click();
    expect(shown).toEqual([Number(items[3].dataset.index)]);
    expect(items[3].classList.contains("napw-active")).toBe(true);
    items[3].focus();
    items[3].dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect(document.activeElement).toBe(items[4]);
    expect(el.querySelectorAll("[data-testid=gallery-item].napw-wrong").length).toBe(1); // one per NAP (helpers)
    // the columns follow the box: 400 px = 5 columns of 74 px
    expect(new Set(items.map((n) => n.style.top)).size).toBe(Math.ceil(20 / 5));
  });
});
