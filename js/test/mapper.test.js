// @vitest-environment jsdom
import { afterEach, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import mapper, { fitToBox, layoutGraph, matchNodes, nodeShares, seededRandom, visibleEdges } from "../src/views/mapper.js";
import { fakeModel, makeState } from "./helpers.js";

// A small Mapper view model over makeState()'s 80 inputs: a chain 0-1-2-3 plus an isolated node 4.
function mapperVm() {
  const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
  const nodes = [
    { id: 0, size: 20, members: range(0, 20), interval: 0, l2: 1.0, dominant: 0, purity: 1, top: [[0, 20, 1]] },
    { id: 1, size: 20, members: range(15, 35), interval: 1, l2: 2.0, dominant: 0, purity: 0.75, top: [[0, 15, 0.75], [1, 5, 0.25]] },
    { id: 2, size: 20, members: range(30, 50), interval: 2, l2: 3.0, dominant: 1, purity: 1, top: [[1, 20, 1]] },
    { id: 3, size: 12, members: range(48, 60), interval: 3, l2: 4.0, dominant: 2, purity: 1, top: [[2, 12, 1]] },
    { id: 4, size: 5, members: range(70, 75), interval: 3, l2: 5.0, dominant: null, purity: null, top: [] },
  ];
  const edges = [
    { source: 0, target: 1, shared: 5, jaccard: 5 / 35 },
    { source: 1, target: 2, shared: 5, jaccard: 5 / 35 },
    { source: 2, target: 3, shared: 2, jaccard: 2 / 30 },
  ];
  return {
    layer: "fc1", params: { lens: "l2norm", n_intervals: 4, overlap: 0.3, eps: "auto", min_samples: 3, metric: "euclidean", eps_used: 0.5 },
    n: 80, n_intervals: 4, nodes, edges, l2_range: [1, 5], covered: 65,
  };
}

function mountMapper({ open = true, extra = {} } = {}) {
  const state = makeState({
    extra: {
      topology_open: open ? ["mapper"] : [],
      mapper_params: { lens: "l2norm", n_intervals: 10, overlap: 0.3, eps: "auto", min_samples: 3, metric: "euclidean" },
      flow_layers: [], mapper: open ? mapperVm() : {}, diagram: {}, flow: {},
      ...extra,
    },
  });
  const model = fakeModel(state);
  const store = createStore(model);
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  const cleanup = mapper.mount(el, store);
  return { model, store, el, cleanup };
}

const node = (el, id) => el.querySelector(`circle[data-testid=mapper-node][data-node='${id}']`);
const click = (target, opts = {}) => target.dispatchEvent(new MouseEvent("click", { bubbles: true, ...opts }));

afterEach(() => {
  document.body.replaceChildren();
});

describe("mapper layout", () => {
  it("is deterministic: the same graph gives the same positions, every time", () => {
    const vm = mapperVm();
    const a = layoutGraph(vm.nodes, vm.edges, { seed: 0 });
    const b = layoutGraph(structuredClone(vm.nodes), structuredClone(vm.edges), { seed: 0 });
    expect(a).toEqual(b);
    expect(a).toHaveLength(5);
    for (const q of a) {
      expect(q.x).toBeGreaterThanOrEqual(0);
      expect(q.x).toBeLessThanOrEqual(1);
      expect(q.y).toBeGreaterThanOrEqual(0);
      expect(q.y).toBeLessThanOrEqual(1);
    }
    // another seed is another (still valid) layout; the PRNG itself is reproducible
    expect(layoutGraph(vm.nodes, vm.edges, { seed: 1 })).not.toEqual(a);
    const r1 = seededRandom(7);
    const r2 = seededRandom(7);
    expect([r1(), r1(), r1()]).toEqual([r2(), r2(), r2()]);
  });

  it("keeps linked nodes closer than unlinked ones and fits the box", () => {
    const vm = mapperVm();
    const p = layoutGraph(vm.nodes, vm.edges, { seed: 0 });
    const d = (i, j) => Math.hypot(p[i].x - p[j].x, p[i].y - p[j].y);
    expect(d(0, 1)).toBeLessThan(d(0, 3));
    const box = fitToBox(p, 760, 430, 30);
    expect(Math.min(...box.map((q) => q.x))).toBeGreaterThanOrEqual(29.9);
    expect(Math.max(...box.map((q) => q.y))).toBeLessThanOrEqual(400.1);
  });

  it("renders the same positions on every mount", () => {
    const first = mountMapper();
    const pos1 = [...first.el.querySelectorAll("[data-testid=mapper-node]")].map((c) => [c.getAttribute("cx"), c.getAttribute("cy")]);
    first.cleanup();
    document.body.replaceChildren();
    const second = mountMapper();
    const pos2 = [...second.el.querySelectorAll("[data-testid=mapper-node]")].map((c) => [c.getAttribute("cx"), c.getAttribute("cy")]);
    expect(pos2).toEqual(pos1);
  });
});

describe("mapper view", () => {
  it("draws one circle per node (area ~ size) and one line per edge", () => {
    const { el } = mountMapper();
    const svg = el.querySelector("svg[data-testid=mapper]");
    expect(svg.dataset.ready).toBe("1");
    expect(el.querySelectorAll("circle[data-testid=mapper-node]")).toHaveLength(5);
    expect(el.querySelectorAll("[data-testid=mapper-edge]")).toHaveLength(3);
    expect(Number(node(el, 0).getAttribute("r"))).toBeGreaterThan(Number(node(el, 4).getAttribute("r")));
    // dominant-class colour from the main view model's palette; no dominant class: the "other" colour
    expect(node(el, 2).getAttribute("fill")).toBe("#56B4E9");
    expect(node(el, 4).getAttribute("fill")).toBe("#9E9E9E");
  });

  it("hides edges below the Jaccard threshold", () => {
    const { el } = mountMapper();
    const svg = el.querySelector("svg[data-testid=mapper]");
    expect(svg.dataset.edgesShown).toBe("3");
    const slider = el.querySelector("[data-testid=mapper-threshold]");
    slider.value = "0.1";
    slider.dispatchEvent(new Event("input"));
    expect(svg.dataset.edgesShown).toBe("2");
    const hidden = [...el.querySelectorAll("[data-testid=mapper-edge]")].filter((l) => l.dataset.visible === "0");
    expect(hidden.map((l) => [l.dataset.source, l.dataset.target])).toEqual([["2", "3"]]);
    expect(visibleEdges(mapperVm().edges, 0.2)).toEqual([]);
    expect(visibleEdges(mapperVm().edges, 0)).toHaveLength(3);
  });

  it("fades the nodes whose top classes do not match the search", () => {
    const { el } = mountMapper();
    const search = el.querySelector("[data-testid=mapper-search]");
    search.value = "ONE";
    search.dispatchEvent(new Event("input"));
    const faded = [...el.querySelectorAll("[data-testid=mapper-node]")].filter((c) => c.dataset.faded === "1").map((c) => c.dataset.node);
    expect(faded).toEqual(["0", "3", "4"]); // nodes 1 (25 % "one") and 2 (all "one") match
    expect(el.querySelector("[data-testid=mapper]").dataset.matches).toBe("2");
    search.value = "";
    search.dispatchEvent(new Event("input"));
    expect(el.querySelectorAll("[data-faded='1']")).toHaveLength(0);
    expect(matchNodes(mapperVm().nodes, "two", ["zero", "one", "two"])).toEqual(new Set([3]));
    expect(matchNodes(mapperVm().nodes, "  ", ["zero"])).toBeNull();
  });

  it("selects a node's members on click (shift adds another node)", () => {
    const { el, model } = mountMapper();
    click(node(el, 3));
    expect(model.get("selected_indices")).toEqual(Array.from({ length: 12 }, (_, i) => 48 + i));
    expect(model.get("selected_naps")).toEqual([]);
    expect(node(el, 3).classList.contains("napw-picked")).toBe(true);
    click(node(el, 4), { shiftKey: true });
    expect(model.get("selected_indices")).toHaveLength(17);
    // a selection made elsewhere clears the picked rings
    model.set("selected_indices", [1, 2]);
    expect(el.querySelectorAll(".napw-picked")).toHaveLength(0);
  });

  it("highlights the nodes holding a selected NAP's members, and colours by their share", () => {
    const { el, store } = mountMapper();
    store.selectNaps([1]); // makeState: NAP 1 = inputs 30..49
    const lit = [...el.querySelectorAll("[data-testid=mapper-node]")].filter((c) => c.dataset.highlight === "1").map((c) => c.dataset.node);
    expect(lit).toEqual(["1", "2", "3"]);
    expect(Number(node(el, 2).dataset.share)).toBe(1);
    expect(Number(node(el, 1).dataset.share)).toBeCloseTo(5 / 20);
    expect(Number(node(el, 3).dataset.share)).toBeCloseTo(2 / 12);
    expect(node(el, 0).classList.contains("napw-dim")).toBe(true);
    const color = el.querySelector("[data-testid=mapper-color]");
    color.value = "share";
    color.dispatchEvent(new Event("change"));
    expect(node(el, 2).getAttribute("fill")).not.toBe(node(el, 0).getAttribute("fill"));
    expect(nodeShares(mapperVm().nodes, new Set([0, 16]))).toEqual(new Map([[0, 0.1], [1, 0.05]]));
  });

  it("builds its graph only while open: a closed panel with a computed graph holds no SVG nodes", () => {
    const { el, model } = mountMapper({ open: false, extra: { mapper: mapperVm() } });
    const nodes = () => el.querySelectorAll("[data-testid=mapper-node]").length;
    expect(nodes()).toBe(0);
    expect(el.querySelector("[data-testid=mapper-panel]").textContent).toContain("5 nodes · 3 edges"); // the header still says
    model.set("topology_open", ["mapper"]);
    expect(nodes()).toBe(mapperVm().nodes.length);
    model.set("topology_open", []);
    expect(nodes()).toBe(0);
    expect(el.querySelectorAll("[data-testid=mapper-edge]").length).toBe(0);
  });

  it("is lazy: opening the panel asks the kernel (topology_open), parameters go to mapper_params", () => {
    const { el, model } = mountMapper({ open: false });
    expect(el.querySelector("[data-testid=mapper-panel] .napw-topo-body").hidden).toBe(true);
    expect(el.querySelectorAll("[data-testid=mapper-node]")).toHaveLength(0);
    click(el.querySelector("[data-testid=mapper-toggle]"));
    expect(model.get("topology_open")).toEqual(["mapper"]);
    expect(el.querySelector(".napw-topo-overlay").hidden).toBe(false);
    const intervals = el.querySelector("[data-testid=mapper-intervals]");
    intervals.value = "14";
    intervals.dispatchEvent(new Event("change"));
    expect(model.get("mapper_params").n_intervals).toBe(14);
    const eps = el.querySelector("[data-testid=mapper-eps]");
    eps.value = "0.75";
    eps.dispatchEvent(new Event("change"));
    expect(model.get("mapper_params").eps).toBe(0.75);
    model.set("mapper", mapperVm()); // the kernel answers
    expect(el.querySelectorAll("[data-testid=mapper-node]")).toHaveLength(5);
    expect(el.querySelector(".napw-topo-overlay").hidden).toBe(true);
  });

  it("zooms with the wheel and pans by dragging the background", () => {
    const { el } = mountMapper();
    const svg = el.querySelector("svg[data-testid=mapper]");
    svg.dispatchEvent(new WheelEvent("wheel", { deltaY: -200, clientX: 100, clientY: 100, bubbles: true, cancelable: true }));
    expect(Number(svg.dataset.zoom)).toBeGreaterThan(1);
    el.querySelector("[data-testid=mapper-reset]").click();
    expect(svg.dataset.zoom).toBe("1.000");
  });

  it("writes class names as text, never as HTML", () => {
    const evil = "<img src=x onerror=alert(1)>";
    const state = makeState({ classes: [evil, "one", "two"], extra: { topology_open: ["mapper"], mapper_params: {}, mapper: mapperVm(), flow: {}, diagram: {}, flow_layers: [] } });
    const model = fakeModel(state);
    const el = document.createElement("div");
    document.body.appendChild(el);
    mapper.mount(el, createStore(model));
    expect(el.querySelector("[data-testid=mapper-legend]").textContent).toContain(evil);
    expect(node(el, 0).querySelector("title").textContent).toContain(evil);
    expect(el.querySelector("img")).toBeNull();
  });
});
