// @vitest-environment jsdom
import { describe, expect, it, vi } from "vitest";
import { createStore, decodeSamples, membersOf, sortNaps } from "../src/store.js";
import { fakeModel, makeState, tick } from "./helpers.js";

describe("per-sample tables", () => {
  it("decodes NAP ids, probabilities, labels and predictions from bytes traits", () => {
    const st = makeState({ sizes: [3, 2], n: 7 });
    const d = decodeSamples(st._samples, st._truth, 7);
    expect(Array.from(d.nap)).toEqual([0, 0, 0, 1, 1, -1, -1]);
    expect(d.prob[0]).toBeCloseTo(1);
    expect(d.label.length).toBe(7);
    expect(d.pred[0]).not.toBe(d.label[0]); // the first member of each NAP is misclassified
  });

  it("tolerates missing tables", () => {
    const d = decodeSamples(null, undefined, 3);
    expect(Array.from(d.nap)).toEqual([-1, -1, -1]);
  });
});

describe("membersOf", () => {
  it("orders by probability descending, ties by index, over several NAPs", () => {
    const nap = Int32Array.from([0, 1, 0, 0, -1, 1]);
    const prob = Float32Array.from([0.5, 0.9, 1, 0.5, 0.99, 1]);
    expect(membersOf([0], nap, prob)).toEqual([2, 0, 3]);
    expect(membersOf([0, 1], nap, prob)).toEqual([2, 5, 1, 0, 3]);
    expect(membersOf([], nap, prob)).toEqual([]);
  });
});

describe("sortNaps", () => {
  const rows = [
    { id: 0, size: 5, persistence: 0.9, purity: 0.5 },
    { id: 1, size: 50, persistence: 0.4, purity: 1 },
    { id: 2, size: 50, persistence: 0.2, purity: null },
  ];
  it("sorts by persistence, size (ties by id) and purity (missing last)", () => {
    expect(sortNaps(rows, "persistence").map((r) => r.id)).toEqual([0, 1, 2]);
    expect(sortNaps(rows, "size").map((r) => r.id)).toEqual([1, 2, 0]);
    expect(sortNaps(rows, "purity").map((r) => r.id)).toEqual([1, 0, 2]);
  });
});

describe("store", () => {
  it("sends selection intents and writes nothing itself: the owner publishes the selection", () => {
    const model = fakeModel(makeState(), { owner: false }); // a kernel that has not answered yet
    const store = createStore(model);
    store.selectNaps([1, 1], "toggle");
    expect(model.sent.at(-1)).toMatchObject({ type: "select", naps: [1], mode: "toggle" });
    store.selectIndices([5, 3, 40]);
    expect(model.sent.at(-1)).toMatchObject({ type: "select", mode: "replace", count: 3 });
    expect(Array.from(new Int32Array(model.sentBuffers.at(-1)[0]))).toEqual([5, 3, 40]); // binary, in order
    store.setFilters({ labels: ["one", "one"] });
    expect(model.sent.at(-1)).toMatchObject({ type: "filter", filters: { labels: ["one"], predictions: [] } });
    expect(model.get("selected_naps")).toEqual([]);
    expect(model.get("selected_indices")).toEqual([]);
    expect(model.get("filters")).toBeUndefined();
    expect(model.saved.length).toBe(0);
    // the kernel's answer: a large selection arrives as an int32 buffer, decoded once per value
    const seen = vi.fn();
    store.on("selection", seen);
    const big = Int32Array.from({ length: 70 }, (_, i) => 79 - i);
    model.set("selected_indices", { __i32__: big.length, b: new DataView(big.buffer) });
    expect(seen).toHaveBeenCalledTimes(1);
    expect(store.selectedIndices()).toEqual(Array.from(big));
    expect(store.selectedIndices()).toBe(store.selectedIndices());
  });

  it("selection intents follow the kernel's rules without a kernel (./selection-local.js)", () => {
    const model = fakeModel(makeState());
    const store = createStore(model);
    store.selectNaps([1]);
    expect(model.get("selected_naps")).toEqual([1]);
    const idx = model.get("selected_indices");
    expect(idx.length).toBe(20);
    expect(idx).toEqual(membersOf([1], store.data.nap, store.data.prob));
    store.selectNaps([2], "toggle");
    expect(model.get("selected_naps")).toEqual([1, 2]);
    store.selectNaps([1], "toggle");
    expect(model.get("selected_naps")).toEqual([2]);
    store.selectNaps([2, 0], "add");
    expect(model.get("selected_naps")).toEqual([2, 0]);
    store.selectNaps([99]);
    expect(model.get("selected_naps")).toEqual([]); // unknown ids are dropped, with the problem in `error`
    expect(model.get("error")).toContain("NAP(s) [99] do not exist");
    store.selectIndices([7, 3, 7, -1, 500]);
    expect(model.get("selected_indices")).toEqual([7, 3]);
    expect(model.get("error")).toContain("outside 0..79");
  });

  it("emits selection when the kernel changes the selection", () => {
    const model = fakeModel(makeState());
    const store = createStore(model);
    const seen = vi.fn();
    store.on("selection", seen);
    model.set("selected_indices", [1, 2, 3]);
    expect(seen).toHaveBeenCalled();
    expect(store.selectionCounts().get(0)).toBe(3);
  });

  it("debounces parameter changes: the latest value wins, one commit, busy until the kernel answers", () => {
    vi.useFakeTimers();
    const model = fakeModel(makeState());
    const store = createStore(model, { commitDelay: 200 });
    store.setParam("min_cluster_size", 6);
    store.setParam("min_cluster_size", 7);
    store.setParam("min_cluster_size", 8);
    expect(store.isBusy()).toBe(true);
    expect(model.saved.length).toBe(0);
    vi.advanceTimersByTime(250);
    expect(model.saved.length).toBe(1);
    expect(model.get("min_cluster_size")).toBe(8);
    expect(store.isBusy()).toBe(true);
    model.set("_revision", 1);
    expect(store.isBusy()).toBe(false);
    vi.useRealTimers();
  });

  it("does not commit a value equal to the current one, and never commits in a static export", () => {
    const model = fakeModel(makeState());
    const store = createStore(model);
    store.setParam("layer", "fc1", { immediate: true });
    expect(model.saved.length).toBe(0);
    const stat = fakeModel(makeState({ extra: { static: true } }));
    const s2 = createStore(stat);
    s2.setParam("layer", "conv", { immediate: true });
    expect(stat.get("layer")).toBe("fc1");
  });

  it("re-decodes once when view and samples change together", async () => {
    const model = fakeModel(makeState());
    const store = createStore(model);
    const onData = vi.fn();
    store.on("data", onData);
    const next = makeState({ sizes: [10, 10, 10, 10] });
    model.set("view", next.view);
    model.set("_samples", next._samples);
    model.set("_card_thumbs", next._card_thumbs);
    await tick();
    expect(onData).toHaveBeenCalledTimes(1);
    expect(store.data.view.n_naps).toBe(4);
  });

  it("requests only missing thumbnails and caches them (binary buffers)", async () => {
    const model = fakeModel(makeState(), {
      respond: (msg) => msg.type === "thumbs" && {
        content: { type: "thumbs", req: msg.req, kind: "image", h: 2, w: 2, c: 1, indices: msg.indices },
        buffers: [new DataView(new Uint8Array(4 * msg.indices.length).fill(7).buffer)],
      },
    });
    const store = createStore(model);
    const cardMember = store.data.view.naps[0].members[0];
    expect(store.thumbCache.has(cardMember)).toBe(true); // seeded from the card sprite
    const got = await store.thumbs([cardMember, 70, 71]);
    expect(model.sent.length).toBe(1);
    expect(model.sent[0].indices).toEqual([70, 71]);
    expect(got.get(70).pixels[0]).toBe(7);
    await store.thumbs([70, 71]);
    expect(model.sent.length).toBe(1);
  });

  it("rejects a request the kernel answers with an error", async () => {
    const model = fakeModel(makeState(), { respond: (msg) => ({ content: { type: msg.type, req: msg.req, error: "input 5 does not exist" } }) });
    const store = createStore(model);
    await expect(store.profile(5)).rejects.toThrow("does not exist");
  });

  it("removes its model listeners on destroy", () => {
    const model = fakeModel(makeState());
    const store = createStore(model);
    expect(model.listenerCount("change:view")).toBe(1);
    store.destroy();
    expect(model.listenerCount("change:view")).toBe(0);
  });
});
