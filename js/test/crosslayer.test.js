// @vitest-environment jsdom
import { afterEach, describe, expect, it } from "vitest";
import { createStore, decodeSamples, membersOf } from "../src/store.js";
import grid from "../src/views/grid.js";
import gallery from "../src/views/gallery.js";
import layerstrip from "../src/views/layerstrip.js";
import pinned, { overlaySvg } from "../src/views/pinned.js";
import follow from "../src/views/follow.js";
import maxact, { unitFromTarget } from "../src/views/maxact.js";
import { extremes, filterIndices, followCounts, itemTitle, napOrder, sortIndices, ui } from "../src/views/crosslayer-common.js";
import { fakeModel, makeState, tick } from "./helpers.js";

const PARAMS = { min_cluster_size: 5, min_samples: 5, cluster_selection_method: "leaf", normalize: "unit" };

function crossState(extra = {}) {
  return makeState({
    extra: {
      pinned: [], pinned_view: [], ui_state: {}, cross_open: [], follow_layers: [], _follow_labels: new DataView(new ArrayBuffer(0)),
      max_activating: {}, layer_strip: [], _avg_thumbs: new DataView(new ArrayBuffer(0)),
      ...extra,
    },
  });
}

const thumbResponder = (msg) => msg.type === "thumbs" && {
  content: { type: "thumbs", req: msg.req, kind: "image", h: 2, w: 2, c: 1, indices: msg.indices },
  buffers: [new DataView(new Uint8Array(4 * msg.indices.length).buffer)],
};

function mountViews(views, state, opts = {}) {
  const model = fakeModel(state, { respond: thumbResponder, ...opts });
  const store = createStore(model);
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  const cleanups = views.map((v) => {
    const box = document.createElement("div");
    el.appendChild(box);
    return v.mount(box, store);
  });
  return { model, store, el, cleanup: () => cleanups.forEach((c) => c && c()) };
}

const click = (target, opts = {}) => target.dispatchEvent(new MouseEvent("click", { bubbles: true, ...opts }));

afterEach(() => {
  document.body.replaceChildren();
});

describe("member order", () => {
  const state = makeState({ sizes: [30, 20, 12] });
  const data = decodeSamples(state._samples, state._truth, state.view.n);

  it("most typical first as the kernel orders them; least typical from the tail, never repeated", () => {
    for (const nap of [0, 1, 2]) {
      const order = napOrder(data, nap);
      expect(order).toEqual(membersOf([nap], data.nap, data.prob));
      expect(order.slice(0, 8)).toEqual(state.view.naps[nap].members);
      const e = extremes(data, nap, 5, 3);
      expect(e.typical).toEqual(order.slice(0, 5));
      expect(e.atypical).toEqual([...order].reverse().slice(0, 3));
      const all = extremes(data, nap, 100, 100);
      expect(all.typical).toEqual(order);
      expect(all.atypical).toEqual([]);
    }
  });

  it("orders noise by GLOSH outlier score, and sorts / filters the gallery", () => {
    const d = { ...data, outlier: Float32Array.from(data.nap, (_, i) => (i * 37) % 11) };
    const noise = napOrder(d, -1);
    expect(noise.length).toBe(80 - 62);
    for (let j = 1; j < noise.length; j++) expect(d.outlier[noise[j]]).toBeGreaterThanOrEqual(d.outlier[noise[j - 1]]);
    const idx = [5, 1, 40, 3];
    expect(sortIndices(idx, d, "typical")).toBe(idx);
    expect(sortIndices(idx, d, "index")).toEqual([1, 3, 5, 40]);
    const byOut = sortIndices(idx, d, "outlier");
    for (let j = 1; j < byOut.length; j++) expect(d.outlier[byOut[j]]).toBeLessThanOrEqual(d.outlier[byOut[j - 1]]);
    const { store } = mountViews([], makeState());
    expect(filterIndices([0, 1, 2, 30], store, "wrong")).toEqual([0, 30]); // one misclassified per NAP (its first input)
    expect(filterIndices([0, 1, 2, 30], store, "right")).toEqual([1, 2]);
    const title = itemTitle(store, 0);
    expect(title).toContain("input #0");
    expect(title).toContain("label: zero");
    expect(title).toContain("prediction: one");
    expect(title).toContain("misclassified");
    expect(title).toMatch(/membership probability \d/);
    expect(title).toContain("GLOSH outlier score");
  });
});

describe("NAP cards", () => {
  it("has a pin button that writes `pinned` without selecting the card", () => {
    const { el, model } = mountViews([grid], crossState());
    const btn = el.querySelector("[data-nap='1'] [data-testid=pin-button]");
    expect(btn.getAttribute("aria-pressed")).toBe("false");
    click(btn);
    expect(model.get("pinned")).toEqual([{ layer: "fc1", nap: 1, params: PARAMS }]);
    expect(model.get("selected_naps")).toEqual([]);
    const again = el.querySelector("[data-nap='1'] [data-testid=pin-button]");
    expect(again.getAttribute("aria-pressed")).toBe("true");
    click(again);
    expect(model.get("pinned")).toEqual([]);
  });

  it("shows as many typical / least typical members as asked, the average image and misclassified marks", async () => {
    const n = 2 * 2 * 1;
    const avg = new Uint8Array(n * 4).fill(77); // 3 NAPs + noise
    const { el, model, store } = mountViews([grid], crossState({ _avg_thumbs: new DataView(avg.buffer) }));
    const card = () => el.querySelector("[data-testid=nap-card][data-nap='0']");
    expect(card().querySelector(".napw-card-members").children.length).toBe(8);
    expect(card().querySelectorAll("[data-testid=atypical-members] .napw-cx-tile").length).toBe(4);
    expect(el.querySelectorAll("[data-testid=average-image]").length).toBe(3);
    model.set("ui_state", { ...ui(store), n_typical: 12, n_atypical: 2, show_average: false });
    expect(card().querySelector(".napw-card-members").children.length).toBe(12);
    expect(card().querySelectorAll("[data-testid=atypical-members] .napw-cx-tile").length).toBe(2);
    expect(el.querySelectorAll("[data-testid=average-image]").length).toBe(0);
    // the first input of each NAP is misclassified: marked wherever it shows, with a full tooltip
    const tiles = [...el.querySelectorAll(".napw-cx-tile[data-index='0']")];
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles[0].classList.contains("napw-cx-wrong")).toBe(true);
    expect(tiles[0].title).toContain("prediction: one");
    // members beyond the card sprite were fetched
    await tick();
    await tick();
    expect(model.sent.some((m) => m.type === "thumbs")).toBe(true);
  });

  it("shows the noise as a pseudo-NAP card on demand; clicking it selects the noise", () => {
    const { el, model, store } = mountViews([grid], crossState());
    expect(el.querySelector("[data-testid=noise-card]")).toBeNull();
    model.set("ui_state", { ...ui(store), show_noise: true });
    const noise = el.querySelector("[data-testid=noise-card]");
    expect(noise.textContent).toContain("18");
    click(noise);
    expect(model.get("selected_indices")).toEqual(napOrder(store.data, -1));
    expect(model.get("selected_naps")).toEqual([]);
  });
});

describe("gallery", () => {
  it("sorts by GLOSH with a badge, filters, and keeps both in ui_state", () => {
    const state = crossState({ selected_naps: [0], selected_indices: [] });
    const { el, model, store } = mountViews([gallery], state);
    store.selectNaps([0]);
    const sort = el.querySelector("[data-testid=gallery-sort]");
    sort.value = "outlier";
    sort.dispatchEvent(new Event("change"));
    expect(model.get("ui_state").gallery_sort).toBe("outlier");
    expect([...el.querySelectorAll("[data-testid=gallery-item][data-glosh]")].map((n) => n.dataset.glosh)).toEqual(Array(30).fill("0.00"));
    expect(el.querySelector("[data-testid=gallery-item]").title).toContain("GLOSH outlier score");
    // set from Python: the view follows
    model.set("ui_state", { ...ui(store), gallery_filter: "wrong", gallery_sort: "index" });
    expect(el.querySelector("[data-testid=gallery-filter]").value).toBe("wrong");
    expect([...el.querySelectorAll("[data-testid=gallery-item]")].map((n) => Number(n.dataset.index))).toEqual([0]);
  });
});

describe("pinned tray", () => {
  const pinVm = (layer, nap, F) => ({
    layer, nap, params: PARAMS, key: `${layer}:${nap}`, size: 20 + nap, persistence: 0.3, dominant: 0, purity: 0.9, accuracy: 0.95,
    outlier_mean: 0.1, members: [0, 1, 2, 3], atypical: [29, 28], n_features: F, top_units: [0],
    mean: Array.from({ length: F }, (_, i) => (i + nap) % 3 / 3), q1: Array(F).fill(0), q3: Array(F).fill(0.5),
    lower_whisker: Array(F).fill(0), upper_whisker: Array(F).fill(1), overlap: [20, 5],
  });

  it("shows every pin with its members and one overlaid chart per layer, and keeps them across layer changes", () => {
    const pins = [{ layer: "fc1", nap: 0, params: PARAMS }, { layer: "conv", nap: 2, params: PARAMS }, { layer: "fc1", nap: 1, params: PARAMS }];
    const views = [pinVm("fc1", 0, 5), pinVm("conv", 2, 4), pinVm("fc1", 1, 5)];
    const { el, model } = mountViews([pinned], crossState({ pinned: pins, pinned_view: views }));
    const items = () => [...el.querySelectorAll("[data-testid=pinned] [data-testid=pinned-nap]")];
    expect(items().map((n) => `${n.dataset.layer}:${n.dataset.nap}`)).toEqual(["fc1:0", "conv:2", "fc1:1"]);
    expect(items()[0].querySelectorAll(".napw-cx-pin-members .napw-cx-tile").length).toBe(4);
    const charts = [...el.querySelectorAll("[data-testid=pinned-overlay]")];
    expect(charts.map((c) => c.dataset.layer)).toEqual(["fc1", "conv"]);
    expect(charts[0].querySelectorAll(".napw-cx-pin-line").length).toBe(2);
    // a new clustering result (another layer) keeps the tray
    model.set("view", { ...model.get("view"), layer: "conv" });
    expect(items().length).toBe(3);
    click(items()[1].querySelector("[data-testid=unpin]"));
    expect(model.get("pinned").map((p) => `${p.layer}:${p.nap}`)).toEqual(["fc1:0", "fc1:1"]);
  });

  it("overlaySvg draws a band and a line per pin", () => {
    const svg = overlaySvg([{ mean: [0, 1], q1: [0, 0.5], q3: [0.5, 1], color: "#000", label: "a" }], "fc1");
    expect(svg.querySelectorAll("path").length).toBe(2);
  });
});

describe("follow", () => {
  function followState() {
    const state = crossState({ cross_open: ["follow"] });
    const n = state.view.n;
    const nap = new Int32Array(state._samples.buffer, 0, n);
    const conv = Int32Array.from(nap, (v, i) => (v < 0 ? -1 : (i % 2)));
    const labels = new Int32Array(2 * n);
    labels.set(conv, 0);
    labels.set(nap, n);
    state._follow_labels = new DataView(labels.buffer);
    state.follow_layers = [
      { layer: "conv", n_naps: 2, sizes: [31, 31], noise: 18, dominant: [0, 1], purity: [0.5, 0.5] },
      { layer: "fc1", n_naps: 3, sizes: [30, 20, 12], noise: 18, dominant: [0, 1, 2], purity: [1, 1, 1] },
    ];
    return state;
  }

  it("counts the selection in every layer; counts sum to the selection", () => {
    const { el, store, model } = mountViews([follow], followState());
    expect(el.querySelector("[data-testid=follow-row]")).toBeNull();
    const sel = [0, 1, 2, 3, 30, 70, 71];
    store.selectIndices(sel);
    const counts = followCounts(store, sel);
    for (const m of Object.values(counts)) expect([...m.values()].reduce((a, b) => a + b, 0)).toBe(sel.length);
    expect([...counts.fc1]).toEqual([[0, 4], [-1, 2], [1, 1]]);
    const rows = [...el.querySelectorAll("[data-testid=follow-row]")];
    expect(rows.map((r) => r.dataset.layer)).toEqual(["conv", "fc1"]);
    const chips = (layer) => [...el.querySelectorAll(`[data-testid=follow-nap][data-layer=${layer}]`)].map((c) => Number(c.dataset.nap));
    expect(chips("fc1")).toEqual([0, 1]);
    expect(chips("conv")).toEqual([0, 1]);
    expect(el.querySelector("[data-testid=follow-row][data-layer=fc1] [data-testid=follow-noise]").textContent).toContain("2");
    void model;
  });

  it("clicking a NAP of another layer switches layer, then selects it", async () => {
    const { el, store, model } = mountViews([follow], followState());
    store.selectIndices([0, 1, 2]);
    click(el.querySelector("[data-testid=follow-nap][data-layer=conv][data-nap='1']"));
    expect(model.get("layer")).toBe("conv");
    // the kernel answers with the new layer's NAPs
    model.set("view", { ...model.get("view"), layer: "conv" });
    await tick();
    await tick();
    expect(model.get("selected_naps")).toEqual([1]);
    // a NAP of the current layer is selected at once
    click(el.querySelector("[data-testid=follow-nap][data-layer=conv][data-nap='0']"));
    expect(model.get("selected_naps")).toEqual([0]);
  });

  it("opens lazily through cross_open", () => {
    const { el, model } = mountViews([follow], crossState());
    click(el.querySelector("[data-testid=follow-toggle]"));
    expect(model.get("cross_open")).toEqual(["follow"]);
  });
});

describe("layer strip", () => {
  it("lists layers in model order with NAP counts and switches layer on click", () => {
    const strip = [
      { name: "conv", type: "Conv2d", shape: [4, 2, 2], n_features: 4, n_naps: null, current: false },
      { name: "fc1", type: "Linear", shape: [5], n_features: 5, n_naps: 3, current: true },
    ];
    const { el, model, store } = mountViews([layerstrip], crossState({ layer_strip: strip }));
    const items = [...el.querySelectorAll("[data-testid=layer-strip] [data-layer]")];
    expect(items.map((b) => b.dataset.layer)).toEqual(["conv", "fc1"]);
    expect(items[1].getAttribute("aria-selected")).toBe("true");
    expect(items[1].textContent).toContain("3 NAPs");
    expect(items[0].textContent).toContain("4×2×2");
    click(items[0]);
    expect(model.get("layer")).toBe("conv");
    const nT = el.querySelector("[data-testid=n-typical]");
    nT.value = "3";
    nT.dispatchEvent(new Event("change"));
    expect(ui(store).n_typical).toBe(3);
    const noise = el.querySelector("[data-testid=show-noise]");
    noise.checked = true;
    noise.dispatchEvent(new Event("change"));
    expect(ui(store).show_noise).toBe(true);
  });
});

describe("max-activating", () => {
  it("shows the top inputs with their NAPs; unit from the number input or a heatmap column click", () => {
    const vm = { layer: "fc1", unit: 2, k: 3, n_units: 5, current: "fc1", indices: [7, 3, 40], scores: [0.9, 0.8, 0.7], naps: [0, 0, 1],
      by_nap: [{ nap: 0, count: 2 }, { nap: 1, count: 1 }], unit_naps: [{ nap: 1, mean: 0.8, size: 20 }], n_distinct_naps: 2, misclassified: 0 };
    const { el, model, store } = mountViews([maxact], crossState({ cross_open: ["max_activating"], max_activating: vm }));
    const items = [...el.querySelectorAll("[data-testid=max-activating] [data-testid=max-item]")];
    expect(items.map((n) => Number(n.dataset.index))).toEqual([7, 3, 40]);
    expect(items[2].textContent).toContain("N1");
    click(el.querySelector("[data-testid=max-unit-nap]"));
    expect(model.get("selected_naps")).toEqual([1]);
    click(el.querySelector("[data-testid=max-select]"));
    expect(model.get("selected_indices")).toEqual([7, 3, 40]);
    const unit = el.querySelector("[data-testid=max-unit]");
    unit.value = "4";
    unit.dispatchEvent(new Event("change"));
    expect(ui(store).max_unit).toBe(4);
    unit.value = "";
    unit.dispatchEvent(new Event("change"));
    expect(ui(store).max_unit).toBe(null);
    // a heatmap column head anywhere in the widget picks the unit
    const head = document.createElementNS("http://www.w3.org/2000/svg", "text");
    head.setAttribute("class", "napw-heat-col");
    head.textContent = "3";
    el.appendChild(head);
    expect(unitFromTarget(head)).toBe(3);
    click(head);
    expect(ui(store).max_unit).toBe(3);
  });
});
