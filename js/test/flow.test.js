// @vitest-environment jsdom
import { afterEach, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import flow, { flowLayout, orderColumns } from "../src/views/flow.js";
import { fakeModel, makeState } from "./helpers.js";

// Two layers over inputs 0..9: fc1 NAPs {0: 0-4, 1: 5-7, noise: 8-9}; fc2 NAPs {0: 5-9, 1: 0-3, noise: 4}.
function flowVm() {
  const links = [
    { col: 0, nap_a: -1, nap_b: 0, count: 2, members: [8, 9], dominant: 0, purity: 1, noise: true },
    { col: 0, nap_a: 0, nap_b: -1, count: 1, members: [4], dominant: 0, purity: 1, noise: true },
    { col: 0, nap_a: 0, nap_b: 1, count: 4, members: [0, 1, 2, 3], dominant: 0, purity: 1, noise: false },
    { col: 0, nap_a: 1, nap_b: 0, count: 3, members: [5, 6, 7], dominant: 1, purity: 1, noise: false },
  ];
  return {
    layers: ["conv", "fc1"], current: "fc1", n: 10,
    params: { layer: "fc1", min_cluster_size: 5, min_samples: 5, cluster_selection_method: "leaf", normalize: "unit" },
    columns: [
      { layer: "conv", n_naps: 2, nodes: [{ nap: -1, size: 2, noise: true, dominant: 0, purity: 1 }, { nap: 0, size: 5, noise: false, dominant: 0, purity: 1 }, { nap: 1, size: 3, noise: false, dominant: 1, purity: 1 }] },
      { layer: "fc1", n_naps: 2, nodes: [{ nap: -1, size: 1, noise: true, dominant: 0, purity: 1 }, { nap: 0, size: 5, noise: false, dominant: 0, purity: 0.6 }, { nap: 1, size: 4, noise: false, dominant: 0, purity: 1 }] },
    ],
    links,
  };
}

function mountFlow({ open = true } = {}) {
  const state = makeState({ extra: { topology_open: open ? ["flow"] : [], flow_layers: [], mapper_params: {}, mapper: {}, diagram: {}, flow: open ? flowVm() : {} } });
  const model = fakeModel(state);
  const store = createStore(model);
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  const cleanup = flow.mount(el, store);
  return { model, store, el, cleanup };
}

const click = (target, opts = {}) => target.dispatchEvent(new MouseEvent("click", { bubbles: true, ...opts }));

afterEach(() => {
  document.body.replaceChildren();
});

describe("flow layout", () => {
  it("orders the next column by where its inputs come from, noise last", () => {
    const cols = orderColumns(flowVm());
    expect(cols[0].map((n) => n.nap)).toEqual([0, 1, -1]);
    expect(cols[1].map((n) => n.nap)).toEqual([1, 0, -1]); // fc1 NAP 1 comes from conv NAP 0 (top)
  });

  it("gives bands a thickness proportional to their count and conserves each node's inputs", () => {
    const lay = flowLayout(flowVm(), { width: 700, height: 300 });
    expect(lay.bands).toHaveLength(4);
    const th = new Map(lay.bands.map((b) => [b.link.index, b.th]));
    expect(th.get(2) / th.get(3)).toBeCloseTo(4 / 3);
    const conv0 = lay.columns[0].nodes.find((n) => n.nap === 0);
    const out = lay.bands.filter((b) => b.link.col === 0 && b.link.nap_a === 0).reduce((a, b) => a + b.th, 0);
    expect(out).toBeCloseTo(conv0.h);
    expect(flowLayout(flowVm(), { showNoise: false }).bands).toHaveLength(2);
    // deterministic
    expect(flowLayout(flowVm()).bands.map((b) => b.d)).toEqual(flowLayout(flowVm()).bands.map((b) => b.d));
  });
});

describe("flow view", () => {
  it("draws one band per link and one block per NAP and layer", () => {
    const { el } = mountFlow();
    expect(el.querySelector("svg[data-testid=flow]").dataset.ready).toBe("1");
    expect(el.querySelectorAll("path[data-testid=flow-band]").length).toBe(4); // noise (20 %) shown
    el.querySelector("[data-testid=flow-noise]").click();
    expect(el.querySelectorAll("path[data-testid=flow-band]").length).toBe(2);
    el.querySelector("[data-testid=flow-noise]").click();
    expect(el.querySelectorAll("[data-testid=flow-node]").length).toBe(6);
    expect([...el.querySelectorAll("[data-testid=flow-layer]")].map((b) => [b.dataset.layer, b.getAttribute("aria-pressed")]))
      .toEqual([["conv", "true"], ["fc1", "true"]]);
  });

  it("selects a band's inputs everywhere, and marks the bands holding the selection", () => {
    const { el, model } = mountFlow();
    click(el.querySelector("path[data-testid=flow-band][data-link='3']"));
    expect(model.get("selected_indices")).toEqual([5, 6, 7]);
    expect(model.get("selected_naps")).toEqual([]);
    const band = el.querySelector("path[data-link='3']");
    expect(band.classList.contains("napw-picked")).toBe(true);
    expect(band.dataset.selected).toBe("3");
    expect(el.querySelector("path[data-link='2']").classList.contains("napw-lit")).toBe(false);
    expect(el.querySelector("[data-testid=flow-info]").textContent).toContain("3 inputs selected");
  });

  it("a block of the current layer selects that NAP; another layer's block selects its inputs", () => {
    const { el, model } = mountFlow();
    click(el.querySelector("[data-testid=flow-node][data-layer='fc1'][data-nap='1'] rect"));
    expect(model.get("selected_naps")).toEqual([1]);
    click(el.querySelector("[data-testid=flow-node][data-layer='conv'][data-nap='0'] rect"));
    expect(model.get("selected_naps")).toEqual([]);
    expect(model.get("selected_indices")).toEqual([0, 1, 2, 3, 4]);
  });

  it("layer chips write flow_layers (at least two), opening the panel writes topology_open", () => {
    const { el, model } = mountFlow({ open: false });
    click(el.querySelector("[data-testid=flow-toggle]"));
    expect(model.get("topology_open")).toEqual(["flow"]);
    model.set("flow", flowVm());
    click(el.querySelector("[data-testid=flow-layer][data-layer='fc1']"));
    expect(model.get("flow_layers")).toEqual([]); // one layer left: refused
    expect(el.querySelector("[data-testid=flow-info]").textContent).toContain("at least two");
  });
});
