// @vitest-environment jsdom
// The whole widget: every view mounted on one store, vega scatter in SVG, user strings escaped, and the
// static (kernel-less) model used by save_html exports.
import { afterEach, describe, expect, it } from "vitest";
import widget, { mount, renderStatic } from "../src/index.js";
import { createStaticModel } from "../src/static-model.js";
import { fakeModel, makeState, tick } from "./helpers.js";

const EVIL = "<img src=x onerror=alert(1)>";

async function waitFor(fn, ms = 4000) {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterEach(() => document.body.replaceChildren());

function b64(u8) {
  let s = "";
  for (const b of u8) s += String.fromCharCode(b);
  return btoa(s);
}

describe("the whole widget", () => {
  it("mounts all views under .napw-root, draws one vega symbol per NAP, and links selection", async () => {
    const model = fakeModel(makeState({ sizes: [10, 20, 30, 5] }));
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = await widget.render({ model, el });
    const root = el.querySelector(".napw-root");
    for (const id of ["layer-select", "mcs-input", "ms-input", "method-select", "busy", "error", "nap-count", "scatter", "gallery", "gallery-page-next", "profile", "heatmap"]) {
      expect(root.querySelector(`[data-testid=${id}]`), id).not.toBeNull();
    }
    await waitFor(() => root.querySelector("[data-testid=scatter]").dataset.ready === "1");
    expect(root.querySelectorAll("[data-testid=scatter] .mark-symbol path").length).toBe(4);
    root.querySelector("[data-testid=nap-card][data-nap='2']").click();
    await tick();
    expect(model.get("selected_naps")).toEqual([2]);
    expect(root.querySelector(".napw-heat-row[data-nap='2']").classList.contains("selected")).toBe(true);
    expect(root.querySelectorAll("[data-testid=gallery-item]").length).toBe(30);
    cleanup();
    expect(el.querySelector(".napw-root")).toBeNull();
    expect(model.listenerCount("change:view")).toBe(0);
  });

  it("updates the scatter in place on a new result and reuses unchanged NAP cards", async () => {
    const model = fakeModel(makeState({ sizes: [10, 20, 30, 5] }));
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = mount(el, model);
    const root = el.querySelector(".napw-root");
    const box = root.querySelector("[data-testid=scatter]");
    await waitFor(() => box.dataset.ready === "1");
    const svg = box.querySelector("svg");
    // a new result with the same chart structure: the vega view takes the new data, no new embed
    const next = makeState({ sizes: [10, 20, 30, 5, 8] });
    for (const k of ["view", "_samples", "_truth", "_card_thumbs"]) model.set(k, next[k]);
    await waitFor(() => box.dataset.ready === "1" && box.querySelectorAll(".mark-symbol path").length === 5);
    expect(box.querySelector("svg")).toBe(svg);
    expect([...box.querySelectorAll(".mark-symbol path")].map((p) => p.__data__ && p.__data__.datum && p.__data__.datum.nap).sort()).toEqual([0, 1, 2, 3, 4]);
    // sorting only reorders: the same card elements
    const before = new Map([...root.querySelectorAll("[data-testid=nap-card]")].map((c) => [c.dataset.nap, c]));
    cleanup.store.setSort("size");
    await tick();
    const after = [...root.querySelectorAll("[data-testid=nap-card]")];
    expect(after.map((c) => Number(c.dataset.nap))).toEqual([2, 1, 0, 4, 3]);
    for (const c of after) expect(c).toBe(before.get(c.dataset.nap));
    cleanup();
  });

  it("renders class names and text items from the data as text, never as HTML", async () => {
    const st = makeState({ classes: [EVIL, "b<b>old</b>", "ok"], kind: "text" });
    const model = fakeModel(st, {
      respond: (msg) => msg.type === "thumbs" && { content: { type: "thumbs", req: msg.req, kind: "text", indices: msg.indices, texts: msg.indices.map(() => EVIL) } },
    });
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = mount(el, model);
    const store = cleanup.store;
    store.selectNaps([0, 1]);
    await tick();
    await tick();
    await waitFor(() => el.querySelector("[data-testid=scatter]").dataset.ready === "1");
    expect(el.querySelectorAll("img").length).toBe(0);
    expect([...el.querySelectorAll("b")].filter((b) => b.textContent === "old").length).toBe(0);
    expect(el.textContent).toContain(EVIL);
    expect(el.querySelector(".napw-card .napw-class-name").textContent).toBe(EVIL);
    model.set("error", `unknown layer '${EVIL}'. Fix: pick one of fc1.`);
    expect(el.querySelector("[data-testid=error]").textContent).toContain(EVIL);
    expect(el.querySelectorAll("img").length).toBe(0);
    cleanup();
  });
});

describe("static model (save_html)", () => {
  function payload() {
    const st = makeState();
    const revive = (dv) => ({ __b64__: b64(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength)) });
    const state = { ...st, _samples: revive(st._samples), _truth: revive(st._truth), _card_thumbs: revive(st._card_thumbs) };
    const F = 5;
    const feats = new Float32Array(3 * F).map((_, i) => i / 10);
    const stats = new Float32Array(3 * F).fill(0.5);
    return {
      state,
      static: {
        thumbs: { kind: "image", h: 2, w: 2, c: 1, indices: [0, 1, 2], data: { __b64__: b64(new Uint8Array(12).fill(9)) } },
        profiles: {
          indices: [0, 1, 2], n_features: F, values: { __b64__: b64(new Uint8Array(feats.buffer)) }, probabilities: [1, 0.9, 0.8],
          stats: { mean: { __b64__: b64(new Uint8Array(stats.buffer)) }, q1: { __b64__: b64(new Uint8Array(stats.buffer)) }, q3: { __b64__: b64(new Uint8Array(stats.buffer)) } },
          overall: { mean: { __b64__: b64(new Uint8Array(F * 4)) }, q1: { __b64__: b64(new Uint8Array(F * 4)) }, q3: { __b64__: b64(new Uint8Array(F * 4)) } },
          layer: "fc1",
        },
        complete: false,
        n_embedded: 3,
      },
    };
  }

  it("answers thumbnail and profile requests from the embedded data", async () => {
    const model = createStaticModel(payload());
    expect(model.get("static")).toBe(true);
    expect(model.get("_samples")).toBeInstanceOf(DataView);
    const got = [];
    model.on("msg:custom", (msg, buffers) => got.push([msg, buffers]));
    model.send({ type: "thumbs", req: 1, indices: [2, 50] });
    model.send({ type: "profile", req: 2, index: 1 });
    model.send({ type: "profile", req: 3, index: 60 });
    await new Promise((r) => setTimeout(r, 5));
    const [thumbs, prof, missing] = got.map((g) => g[0]);
    expect(thumbs.indices).toEqual([2]);
    expect(new Uint8Array(got[0][1][0].buffer)[0]).toBe(9);
    expect(prof.values).toEqual([0.5, 0.6, 0.7, 0.8, 0.9]);
    expect(prof.nap).toBe(0);
    expect(prof.mean[0]).toBe(0.5);
    expect(missing.error).toContain("not part of the static export");
  });

  it("renders the widget with sorting and selection working but no kernel", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = await renderStatic(el, payload());
    const root = el.querySelector(".napw-root");
    expect(root.classList.contains("napw-static")).toBe(true);
    root.querySelector("[data-testid=nap-card][data-nap='1']").click();
    await tick();
    expect(root.querySelector("[data-nap='1']").classList.contains("selected")).toBe(true);
    expect(root.querySelectorAll("[data-testid=gallery-item]").length).toBe(20);
    expect(root.querySelector("[data-testid=mcs-input]").disabled).toBe(true);
    cleanup();
  });
});
