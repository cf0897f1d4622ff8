// @vitest-environment jsdom
// The persistence scatter compiles its Vega-Lite spec once: a new result of the same shape changes the data and
// scale domains through the vega view (no compile, no new embed); a new shape compiles and embeds again.
import { afterEach, describe, expect, it, vi } from "vitest";
import { vegaLite } from "vega-embed";
import { createStore } from "../src/store.js";
import scatter, { liftOf, liftValues, prepare, vlParts } from "../src/views/scatter.js";
import { fakeModel, makeState } from "./helpers.js";

// count the Vega-Lite compilations the view asks for (vega-embed's own vegaLite, the one the bundle uses)
vi.mock("vega-embed", async (importOriginal) => {
  const mod = await importOriginal();
  const compile = vi.fn((...args) => mod.vegaLite.compile(...args));
  return { ...mod, vegaLite: { ...mod.vegaLite, compile } };
});

afterEach(() => document.body.replaceChildren());

const COLORS = ["#E69F00", "#56B4E9", "#009E73"];

/** A spec shaped like the kernel's (explorer.scatter_spec): layers, literal x and colour domains, inline data. */
function kernelSpec(naps, classes, { text = naps.length <= 60, tooltipTitle = "NAP" } = {}) {
  const present = [...new Set(naps.map((r) => r.dominant))].sort();
  const sizes = naps.map((r) => r.size);
  const enc = () => ({
    x: { field: "size", type: "quantitative", scale: { type: "log", domain: [Math.min(...sizes) * 0.8, Math.max(...sizes) * 1.25], nice: false } },
    y: { field: "persistence", type: "quantitative", scale: { zero: false, nice: true } },
  });
  const points = {
    name: "points",
    mark: { type: "point", filled: true },
    encoding: {
      ...enc(),
      color: { field: "dominant", type: "nominal", legend: null, scale: { domain: present.map((c) => classes[c]), range: present.map((c) => COLORS[c % 3]) } },
      tooltip: [{ field: "nap", type: "quantitative", title: tooltipTitle }],
      opacity: { condition: { test: "indexof(napsel, datum.nap) >= 0", value: 1 }, value: 0.5 },
    },
  };
  const layer = [points];
  if (text) layer.push({ mark: { type: "text", dx: 7 }, encoding: { ...enc(), text: { field: "nap", type: "quantitative" } } });
  return {
    data: { values: naps.map((r) => ({ nap: r.id, size: r.size, persistence: r.persistence, dominant: classes[r.dominant] })) },
    params: [{ name: "napsel", value: [] }, { name: "napHover", value: -1 }, { name: "napfilt", value: [] },
      { name: "brush", select: { type: "interval", encodings: ["x", "y"] }, views: ["points"] }],
    layer,
    width: 300,
    height: 200,
  };
}

function stateOf(sizes, opts) {
  const st = makeState({ sizes, n: sizes.reduce((a, b) => a + b, 0) + 20 });
  st.view.scatter = kernelSpec(st.view.naps, st.view.classes, opts);
  return st;
}

async function waitFor(fn, ms = 8000) {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Vega-Lite parts", () => {
  it("keys a spec by its shape: data, literal domains/ranges and width do not count", () => {
    const a = vlParts(stateOf([10, 20, 30]).view.scatter);
    const b = vlParts({ ...stateOf([5, 8, 40]).view.scatter, width: 512 });
    expect(a.key).toBe(b.key);
    expect(b.values.map((d) => d.size)).toEqual([5, 8, 40]);
    expect(b.lits).toContainEqual(["x", "domain", [4, 50]]);
    expect(b.lits).toContainEqual(["color", "range", COLORS]);
    // another tooltip title or the text layer gone: another shape
    expect(vlParts(stateOf([10, 20, 30], { tooltipTitle: "id" }).view.scatter).key).not.toBe(a.key);
    expect(vlParts(stateOf([10, 20, 30], { text: false }).view.scatter).key).not.toBe(a.key);
    // hundreds of points (canvas) are the same shape: the view switches its renderer in place
    expect(vlParts(stateOf(Array(200).fill(6), { text: true }).view.scatter).key).toBe(vlParts(stateOf(Array(20).fill(6)).view.scatter).key);
    const lift = liftOf(a, prepare(structuredClone(stateOf([10, 20, 30]).view.scatter)));
    expect(liftValues(lift, vlParts(stateOf(Array(200).fill(6), { text: true }).view.scatter)).renderer).toBe("canvas");
    expect(liftValues(lift, vlParts(stateOf([5, 6]).view.scatter)).renderer).toBe("svg");
  });

  it("maps the parts onto the compiled view, and gives the compiler's values for another result", () => {
    const first = stateOf([10, 20, 30]).view.scatter;
    const parts = vlParts(first);
    const lift = liftOf(parts, prepare(structuredClone(first)));
    expect(lift).not.toBeNull();
    // a second result: what the lift gives equals what compiling it gives
    const second = stateOf([5, 8, 40, 12]).view.scatter;
    const got = liftValues(lift, vlParts(second));
    const want = prepare(structuredClone(second));
    expect(got.data).toEqual(want.data);
    for (const [name, value] of Object.entries(got.signals)) expect(want.signals[name]).toEqual(value);
    expect(Object.keys(got.signals).sort()).toEqual(Object.keys(want.signals).sort());
    expect(got.nPoints).toBe(4);
    // another shape: compile again
    expect(liftValues(lift, vlParts(stateOf([5, 8], { tooltipTitle: "id" }).view.scatter))).toBeNull();
    // two inline datasets: no mapping to check, compiled every time
    const two = { ...first, layer: [first.layer[0], { ...first.layer[1], data: { values: [{ nap: 0, size: 2 }] } }] };
    expect(liftOf(vlParts(two), prepare(structuredClone(two)))).toBeNull();
  });
});

describe("scatter updates", () => {
  it("compiles once: a result of the same shape goes through the view API into the same SVG", async () => {
    const model = fakeModel(stateOf([10, 20, 30, 5]));
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = scatter.mount(el, createStore(model));
    const box = el.querySelector("[data-testid=scatter]");
    await waitFor(() => box.dataset.ready === "1");
    const compiles = vegaLite.compile.mock.calls.length;
    const svg = box.querySelector("svg");
    expect(box.querySelectorAll(".mark-symbol path").length).toBe(4);

    const next = stateOf([7, 9, 60, 40, 25]);
    for (const k of ["view", "_samples", "_truth"]) model.set(k, next[k]);
    await waitFor(() => box.dataset.ready === "1" && box.dataset.points === "5");
    expect(vegaLite.compile.mock.calls.length).toBe(compiles); // no compile
    expect(box.querySelector("svg")).toBe(svg); // no embed
    const v = box.napwView;
    expect(v.data(box.dataset.source).map((d) => d.size)).toEqual([7, 9, 60, 40, 25]);
    expect(v.scale("x").domain()).toEqual([7 * 0.8, 60 * 1.25]); // the new literal domain
    expect(box.querySelectorAll(".mark-symbol path").length).toBe(5);

    // a new shape (no text layer): compiled and embedded again
    const other = stateOf([7, 9, 60], { text: false });
    model.set("view", other.view);
    await waitFor(() => box.dataset.ready === "1" && box.dataset.points === "3");
    expect(vegaLite.compile.mock.calls.length).toBe(compiles + 1);
    expect(box.querySelector("svg")).not.toBe(svg);
    expect(box.querySelectorAll(".mark-text.role-mark text").length).toBe(0); // the NAP ids layer is gone
    cleanup();
  });
});
