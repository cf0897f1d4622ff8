// @vitest-environment jsdom
// Kernel-less re-selection wired into the pages: a save_html page (static model) and a notebook widget whose
// kernel does not answer. The shipped tree is a fixture from tests/reselect_fixtures.py, so the NAP counts
// and labels the pages show must be the kernel's for the new parameters.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";

vi.setConfig({ testTimeout: 30000 }); // whole pages with vega in jsdom: slow on a loaded 2-core machine
import widget, { renderStatic } from "../src/index.js";
import { createStaticModel } from "../src/static-model.js";
import { withKernelless, KERNELLESS_NOTE } from "../src/reselect/kernelless.js";
import { createLocalKernel } from "../src/reselect/local-kernel.js";
import { decodeSamples } from "../src/store.js";
import { probHist } from "../src/reselect/viewmodel.js";
import { fakeModel, makeState, tick } from "./helpers.js";

const FIX = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "fixtures", "reselect", "chain.json"), "utf8"));
const N = FIX.n;
const caseOf = (method, mcs) => FIX.cases.find((c) => c.method === method && c.min_cluster_size === mcs);
const labelsOf = (c) => Array.from(new Int32Array(Uint8Array.from(Buffer.from(c.labels, "base64")).buffer));

afterEach(() => document.body.replaceChildren());

async function waitFor(fn, ms = 20000) {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A widget state over the fixture's N inputs, shown at (leaf, 5), with the fixture's tree. */
function stateWithTree(extra = {}) {
  const st = makeState({ sizes: [40, 30, 20], n: N, ...extra });
  const tree = Uint8Array.from(Buffer.from(FIX.tree, "base64"));
  return { ...st, _reselect_tree: new DataView(tree.buffer) };
}

function staticPayload() {
  const st = stateWithTree();
  const state = { ...st, _reselect_tree: { __b64__: FIX.tree }, static: true };
  for (const k of ["_samples", "_truth", "_card_thumbs"]) {
    const u8 = new Uint8Array(st[k].buffer, st[k].byteOffset, st[k].byteLength);
    state[k] = { __b64__: Buffer.from(u8).toString("base64") };
  }
  return { state, static: { thumbs: { kind: "index", indices: [] }, profiles: { indices: [], n_features: 0 } } };
}

function countText(root) {
  return root.querySelector("[data-testid=nap-count] strong").textContent;
}

async function typeMcs(root, value) {
  const input = root.querySelector("[data-testid=mcs-input]");
  input.value = String(value);
  input.dispatchEvent(new Event("change"));
}

describe("the local kernel", () => {
  it("writes the kernel's labels, counts and detail counts for a new min_cluster_size and method", () => {
    const model = createStaticModel(staticPayload());
    const local = createLocalKernel(model);
    expect(local.canReselect()).toBe(true);
    expect(caseOf("leaf", 13).n_naps).not.toBe(caseOf("eom", 13).n_naps); // the UI test below sees both
    for (const [method, mcs] of [["leaf", 3], ["eom", 8], ["leaf", 30]]) {
      model.set("min_cluster_size", mcs);
      model.set("cluster_selection_method", method);
      expect(local.apply()).toBe("reselected");
      const c = caseOf(method, mcs);
      const view = model.get("view");
      expect(view.n_naps).toBe(c.n_naps);
      expect(view.naps.map((r) => r.size)).toEqual(c.sizes);
      expect(view.params).toMatchObject({ min_cluster_size: mcs, cluster_selection_method: method });
      const samples = decodeSamples(model.get("_samples"), model.get("_truth"), N);
      expect(Array.from(samples.nap)).toEqual(labelsOf(c));
      const detail = model.get("nap_detail") || {};
      expect(model.get("selected_naps")).toEqual([]);
      // cards list each NAP's most typical members first, as the kernel does
      for (const r of view.naps) {
        const probs = r.members.map((i) => samples.prob[i]);
        expect([...probs].sort((a, b) => b - a)).toEqual(probs);
        expect(r.members.every((i) => samples.nap[i] === r.id)).toBe(true);
      }
      expect(view.scatter.data.values.length).toBe(c.n_naps);
      expect(detail).toBeDefined();
    }
  });

  it("answers a bad min_cluster_size like the kernel: an error with the fix, the shown value restored", () => {
    const model = createStaticModel(staticPayload());
    const local = createLocalKernel(model);
    model.set("min_cluster_size", N + 1);
    expect(local.apply()).toBe("error");
    expect(model.get("error")).toMatch(/larger than the 159 inputs\. Fix:/);
    expect(model.get("min_cluster_size")).toBe(5);
  });

  it("bins probabilities as numpy.histogram does (last bin closed)", () => {
    // numpy: np.histogram(v, bins=np.linspace(0, 1, 21)); 0.15, 0.35, 0.7 sit just below their edges
    expect(probHist([0, 0.05, 0.1, 0.15, 0.95, 1.0, 1.0, 0.35, 0.7], 20)).toEqual([1, 1, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2]);
  });
});

describe("a save_html page", () => {
  it("re-selects when min_cluster_size or the method changes, and restores the kernel's own result", async () => {
    const el = document.createElement("div");
    document.body.appendChild(el);
    const { root } = await renderStatic(el, staticPayload());
    expect(root.querySelector("[data-testid=mcs-input]").disabled).toBe(false);
    expect(root.querySelector("[data-testid=method-select]").disabled).toBe(false);
    expect(root.querySelector("[data-testid=ms-input]").disabled).toBe(true);
    expect(root.querySelector("[data-testid=kernel-note]").textContent).toMatch(/re-select in the browser/);
    await typeMcs(root, 13);
    const c = caseOf("leaf", 13);
    await waitFor(() => countText(root) === `${c.n_naps} NAPs`);
    const method = root.querySelector("[data-testid=method-select]");
    method.value = "eom";
    method.dispatchEvent(new Event("change"));
    await waitFor(() => countText(root) === `${caseOf("eom", 13).n_naps} NAPs`);
    await waitFor(() => root.querySelector("[data-testid=busy]").hidden);
    // selecting a NAP selects its members (selection linking on the re-selected result)
    const card = root.querySelector("[data-testid=nap-card]");
    card.click();
    await tick();
    const id = Number(card.dataset.nap);
    expect(root.querySelectorAll("[data-testid=gallery-item]").length).toBeGreaterThan(0);
    for (const it2 of root.querySelectorAll("[data-testid=gallery-item]")) {
      expect(labelsOf(caseOf("eom", 13))[Number(it2.dataset.index)]).toBe(id);
    }
    // back at the exported parameters: the kernel's own view model again
    method.value = "leaf";
    method.dispatchEvent(new Event("change"));
    await typeMcs(root, 5);
    await waitFor(() => countText(root) === "3 NAPs");
  });
});

describe("a notebook widget whose kernel does not answer", () => {
  it("falls back to re-selecting in the browser and says so", async () => {
    const model = fakeModel(stateWithTree()); // never answers: no _revision change
    const el = document.createElement("div");
    document.body.appendChild(el);
    const wrapped = withKernelless(model, el, { timeoutMs: 30 });
    const { root } = await import("../src/index.js").then((m) => m.mount(el, wrapped));
    await typeMcs(root, 8);
    expect(model.saved.length).toBe(1); // the kernel was asked first
    const c = caseOf("leaf", 8);
    await waitFor(() => countText(root) === `${c.n_naps} NAPs`);
    expect(root.querySelector("[data-testid=kernel-note]").textContent).toBe(KERNELLESS_NOTE);
    expect(model.get("view").n_naps).toBe(3); // the real model holds only what the kernel sent
    // a later answer from the kernel wins and the note goes away
    model.set("_revision", 7);
    await tick();
    expect(root.querySelector("[data-testid=kernel-note]").hidden).toBe(true);
  });

  it("does nothing locally when the kernel answers in time", async () => {
    const model = fakeModel(stateWithTree());
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = await widget.render({ model, el });
    const root = el.querySelector(".napw-root");
    await typeMcs(root, 8);
    model.set("_revision", 1); // the kernel's answer (same view in this fake)
    await new Promise((r) => setTimeout(r, 60));
    expect(countText(root)).toBe("3 NAPs");
    expect(root.querySelector("[data-testid=kernel-note]").hidden).toBe(true);
    cleanup();
  });

  it("waits for a slow kernel that is working (busy), and never times out a layer change", async () => {
    const model = fakeModel(stateWithTree());
    const el = document.createElement("div");
    document.body.appendChild(el);
    const wrapped = withKernelless(model, el, { timeoutMs: 30 });
    const { root } = await import("../src/index.js").then((m) => m.mount(el, wrapped));
    await typeMcs(root, 8);
    model.set("busy", true); // the kernel's handler started: alive
    await new Promise((r) => setTimeout(r, 120));
    expect(wrapped.kernelGone).toBe(false);
    expect(countText(root)).toBe("3 NAPs");
    const layer = root.querySelector("[data-testid=layer-select]");
    layer.value = "conv";
    layer.dispatchEvent(new Event("change"));
    await new Promise((r) => setTimeout(r, 120));
    expect(wrapped.kernelGone).toBe(false);
    expect(model.get("layer")).toBe("conv"); // still waiting for the kernel's new tree, not reverted
    expect(root.querySelector("[data-testid=kernel-note]").hidden).toBe(true);
  });

  it("answers selection and filter intents in the browser, in order, when the kernel does not", async () => {
    const model = fakeModel(stateWithTree(), { owner: false }); // a kernel that never answers
    const el = document.createElement("div");
    document.body.appendChild(el);
    const wrapped = withKernelless(model, el, { timeoutMs: 30 });
    const { root, store } = await import("../src/index.js").then((m) => m.mount(el, wrapped));
    store.selectNaps([0]);
    store.selectNaps([2], "toggle");
    expect(model.sent.filter((m) => m.type === "select")).toHaveLength(2); // the kernel was asked first
    expect(store.selectedNaps()).toEqual([]);
    await waitFor(() => wrapped.kernelGone);
    await waitFor(() => store.selectedNaps().length === 2);
    expect(store.selectedNaps()).toEqual([0, 2]);
    expect(root.querySelector("[data-testid=kernel-note]").textContent).toBe(KERNELLESS_NOTE);
    // now at once, without asking the kernel again
    const intents = () => model.sent.filter((m) => m.type === "select" || m.type === "filter").length;
    store.setFilters({ labels: ["one"] });
    store.selectIndices([0, 45, 1, 46]);
    expect(intents()).toBe(2);
    await waitFor(() => store.selectedIndices().length === 2);
    const one = store.data.view.classes.indexOf("one");
    expect(store.selectedIndices()).toEqual([0, 45, 1, 46].filter((i) => store.data.label[i] === one));
    expect(store.selectedNaps()).toEqual([]);
    expect(model.get("selected_indices")).toEqual([]); // the real model holds only what the kernel sent
  });

  it("leaves the selection to a kernel that answers", async () => {
    const model = fakeModel(stateWithTree()); // answers intents as the kernel does
    const el = document.createElement("div");
    document.body.appendChild(el);
    const wrapped = withKernelless(model, el, { timeoutMs: 30 });
    const { store } = await import("../src/index.js").then((m) => m.mount(el, wrapped));
    store.selectNaps([1]);
    await new Promise((r) => setTimeout(r, 90));
    expect(wrapped.kernelGone).toBe(false);
    expect(model.get("selected_naps")).toEqual([1]);
    expect(store.selectedNaps()).toEqual([1]);
  });

  it("re-selects at once when ipywidgets marks the output disconnected", async () => {
    const model = fakeModel(stateWithTree());
    const outer = document.createElement("div");
    outer.className = "jupyter-widgets-disconnected";
    const el = document.createElement("div");
    outer.appendChild(el);
    document.body.appendChild(outer);
    const { root } = await import("../src/index.js").then((m) => m.mount(el, withKernelless(model, el, { timeoutMs: 60000 })));
    await typeMcs(root, 30);
    await waitFor(() => countText(root) === `${caseOf("leaf", 30).n_naps} NAPs`);
    expect(model.saved.length).toBe(0);
  });
});
