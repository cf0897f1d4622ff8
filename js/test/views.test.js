// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import { createStore } from "../src/store.js";
import grid, { nextIndex } from "../src/views/grid.js";
import gallery, { pageCount, pageSlice } from "../src/views/gallery.js";
import controls from "../src/views/controls.js";
import heatmap from "../src/views/heatmap.js";
import profile, { profileSvg } from "../src/views/profile.js";
import { fakeModel, makeState, tick } from "./helpers.js";

function mountView(view, state, opts = {}) {
  const model = fakeModel(state, opts);
  const store = createStore(model, opts.storeOptions);
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  const cleanup = view.mount(el, store);
  return { model, store, el, cleanup };
}

afterEach(() => {
  document.body.replaceChildren();
});

const thumbResponder = (msg) => msg.type === "thumbs" && {
  content: { type: "thumbs", req: msg.req, kind: "image", h: 2, w: 2, c: 1, indices: msg.indices },
  buffers: [new DataView(new Uint8Array(4 * msg.indices.length).buffer)],
};

describe("grid", () => {
  const ids = (el) => [...el.querySelectorAll("[data-testid=nap-card]")].map((c) => Number(c.dataset.nap));

  it("renders one card per NAP with its top members and sorts by size or purity", () => {
    const { el, model } = mountView(grid, makeState({ sizes: [10, 40, 20] }));
    expect(ids(el)).toEqual([0, 1, 2]);
    expect(el.querySelector("[data-nap='1'] .napw-card-members").children.length).toBe(8);
    const sort = el.querySelector("[data-testid=sort-select]");
    sort.value = "size";
    sort.dispatchEvent(new Event("change"));
    expect(model.get("sort_by")).toBe("size");
    expect(ids(el)).toEqual([1, 2, 0]);
    model.set("sort_by", "purity");
    expect(ids(el)[0]).toBe(0);
  });

  it("selects on click (shift adds) and reflects selection from the kernel", () => {
    const { el, model } = mountView(grid, makeState());
    el.querySelector("[data-nap='1']").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected_naps")).toEqual([1]);
    expect(el.querySelector("[data-nap='1']").classList.contains("selected")).toBe(true);
    el.querySelector("[data-nap='2']").dispatchEvent(new MouseEvent("click", { bubbles: true, shiftKey: true }));
    expect(model.get("selected_naps")).toEqual([1, 2]);
    model.set("selected_naps", [0]);
    expect([...el.querySelectorAll(".napw-card.selected")].map((c) => c.dataset.nap)).toEqual(["0"]);
  });

  it("is keyboard navigable: roving focus with arrows, Enter/Space select, Escape clears", () => {
    const { el, model } = mountView(grid, makeState({ sizes: [5, 5, 5, 5] }));
    const g = el.querySelector("[data-testid=nap-grid]");
    const cards = () => [...el.querySelectorAll("[data-testid=nap-card]")];
    expect(cards().map((c) => c.tabIndex)).toEqual([0, -1, -1, -1]);
    cards()[0].focus();
    g.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect(document.activeElement.dataset.nap).toBe("1");
    expect(cards().map((c) => c.tabIndex)).toEqual([-1, 0, -1, -1]);
    g.dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true }));
    expect(document.activeElement.dataset.nap).toBe("3");
    g.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.get("selected_naps")).toEqual([3]);
    g.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
    g.dispatchEvent(new KeyboardEvent("keydown", { key: " ", shiftKey: true, bubbles: true }));
    expect(model.get("selected_naps")).toEqual([3, 2]);
    g.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(model.get("selected_naps")).toEqual([]);
  });

  it("moves by rows with ArrowUp/ArrowDown", () => {
    expect(nextIndex("ArrowDown", 1, 10, 3)).toBe(4);
    expect(nextIndex("ArrowUp", 1, 10, 3)).toBe(0);
    expect(nextIndex("ArrowRight", 9, 10, 3)).toBe(9);
    expect(nextIndex("Tab", 1, 10, 3)).toBe(null);
  });

  it("shows how many selected inputs fall in each NAP when inputs are selected directly", () => {
    const { el, model } = mountView(grid, makeState());
    model.set("selected_indices", [0, 1, 2, 35]);
    const badge = el.querySelector("[data-nap='0'] .napw-sel-badge");
    expect(badge.hidden).toBe(false);
    expect(badge.textContent).toBe("3 selected");
  });
});

describe("gallery", () => {
  it("pages through thousands of members, requesting thumbnails for one page at a time", async () => {
    const st = makeState({ sizes: [2000, 100], n: 2200 });
    const { el, model, store } = mountView(gallery, st, { respond: thumbResponder });
    expect(el.querySelectorAll("[data-testid=gallery-item]").length).toBe(0);
    store.selectNaps([0]);
    await tick();
    const items = () => [...el.querySelectorAll("[data-testid=gallery-item]")];
    expect(items().length).toBe(48);
    expect(items().map((x) => Number(x.dataset.index))).toEqual(model.get("selected_indices").slice(0, 48));
    const requested = model.sent.filter((m) => m.type === "thumbs").flatMap((m) => m.indices);
    expect(requested.length).toBeLessThanOrEqual(48);
    el.querySelector("[data-testid=gallery-page-next]").click();
    await tick();
    expect(Number(items()[0].dataset.index)).toBe(model.get("selected_indices")[48]);
    expect(el.querySelector("[data-testid=gallery-page-info]").textContent).toContain("49–96 of 2,000");
    expect(el.querySelector("[data-testid=gallery-page-prev]").disabled).toBe(false);
  });

  it("marks misclassified items and can show only those", async () => {
    const { el, store } = mountView(gallery, makeState(), { respond: thumbResponder });
    store.selectNaps([0]);
    await tick();
    const wrong = el.querySelectorAll("[data-testid=gallery-item].napw-wrong");
    expect(wrong.length).toBe(1);
    expect(wrong[0].getAttribute("aria-label")).toContain("predicted one"); // drawn on the page's atlas
    const filter = el.querySelector("[data-testid=gallery-filter]");
    filter.value = "wrong";
    filter.dispatchEvent(new Event("change"));
    await tick();
    expect(el.querySelectorAll("[data-testid=gallery-item]").length).toBe(1);
  });

  it("clicking an item asks for its profile", async () => {
    const { el, store } = mountView(gallery, makeState(), { respond: thumbResponder });
    const onProfile = vi.fn();
    store.on("profile", onProfile);
    store.selectNaps([1]);
    await tick();
    const first = el.querySelector("[data-testid=gallery-item]");
    first.click();
    expect(onProfile).toHaveBeenCalledWith(Number(first.dataset.index));
  });

  it("page helpers clamp", () => {
    expect(pageCount(0)).toBe(1);
    expect(pageCount(97, 48)).toBe(3);
    expect(pageSlice([1, 2, 3], 5, 2)).toEqual({ page: 1, items: [3] });
  });
});

describe("controls", () => {
  it("commits min_cluster_size on change (at once, no debounce), shows busy, then the kernel's error", () => {
    vi.useFakeTimers();
    const { el, model } = mountView(controls, makeState(), { storeOptions: { commitDelay: 100 } });
    const mcs = el.querySelector("[data-testid=mcs-input]");
    const busy = el.querySelector("[data-testid=busy]");
    expect(busy.hidden).toBe(true);
    mcs.value = "1";
    mcs.dispatchEvent(new Event("change"));
    expect(busy.hidden).toBe(false);
    expect(model.get("min_cluster_size")).toBe(1); // committed by the change event itself
    expect(model.saved.length).toBe(1);
    vi.advanceTimersByTime(150);
    expect(model.saved.length).toBe(1);
    // the kernel rejects it: error, value reverted, revision bumped
    model.set("error", "min_cluster_size=1 is too small. Fix: use 2 or more.");
    model.set("min_cluster_size", 5);
    model.set("_revision", 1);
    expect(busy.hidden).toBe(true);
    const err = el.querySelector("[data-testid=error]");
    expect(err.closest(".napw-error").hidden).toBe(false);
    expect(err.textContent).toContain("too small");
    expect(mcs.value).toBe("5");
    vi.useRealTimers();
  });

  it("rejects non-integers locally with a readable message", () => {
    const { el, model } = mountView(controls, makeState());
    const ms = el.querySelector("[data-testid=ms-input]");
    ms.value = "2.5";
    ms.dispatchEvent(new Event("change"));
    expect(el.querySelector("[data-testid=error]").textContent).toContain("whole number");
    expect(model.saved.length).toBe(0);
  });

  it("lists layers, switches layer at once, and shows the NAP count", () => {
    const { el, model } = mountView(controls, makeState());
    const sel = el.querySelector("[data-testid=layer-select]");
    expect([...sel.options].map((o) => o.value)).toEqual(["conv", "fc1"]);
    expect(sel.value).toBe("fc1");
    sel.value = "conv";
    sel.dispatchEvent(new Event("change"));
    expect(model.get("layer")).toBe("conv");
    expect(el.querySelector("[data-testid=nap-count]").textContent).toContain("3 NAPs");
    expect(el.querySelector("[data-testid=method-select]").value).toBe("leaf");
  });

  it("disables the parameters in a static export", () => {
    const { el } = mountView(controls, makeState({ extra: { static: true } }));
    expect(el.querySelector("[data-testid=mcs-input]").disabled).toBe(true);
    expect(el.querySelector("[data-testid=layer-select]").disabled).toBe(true);
    expect(el.querySelector(".napw-static-note").hidden).toBe(false);
  });
});

describe("heatmap and profile", () => {
  it("draws one row per NAP plus the overall mean, in the grid's order; a row click selects", () => {
    const { el, model } = mountView(heatmap, makeState({ sizes: [5, 30, 10] }));
    const rows = () => [...el.querySelectorAll("[data-testid=heatmap] .napw-heat-row")].map((g) => g.dataset.nap);
    expect(rows()).toEqual(["all", "0", "1", "2"]);
    expect(el.querySelectorAll(".napw-heat-cell").length).toBe(4 * 5);
    model.set("sort_by", "size");
    expect(rows()).toEqual(["all", "1", "2", "0"]);
    el.querySelector(".napw-heat-row[data-nap='2'] .napw-heat-cell").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected_naps")).toEqual([2]);
  });

  it("draws the profile of a clicked item against its NAP mean", async () => {
    const respond = (msg) => msg.type === "profile" && {
      content: { type: "profile", req: msg.req, index: msg.index, nap: 1, layer: "fc1", probability: 0.9, values: [0, 1, 0.5], mean: [0.1, 0.8, 0.4], q1: [0, 0.7, 0.3], q3: [0.2, 0.9, 0.6] },
    };
    const { el, store } = mountView(profile, makeState(), { respond });
    expect(el.querySelector("[data-testid=profile]").textContent).toContain("Click a member");
    store.showProfile(31);
    await tick();
    await tick();
    expect(el.querySelector("[data-testid=profile]").dataset.index).toBe("31");
    expect(el.querySelectorAll("[data-testid=profile] .napw-bars rect").length).toBe(3);
    expect(el.textContent).toContain("NAP 1");
  });

  it("profileSvg handles negative values", () => {
    const svg = profileSvg({ index: 0, values: [-1, 2], mean: [0, 1], q1: [-0.5, 0.5], q3: [0.5, 1.5] });
    expect(svg.querySelectorAll("rect").length).toBe(2);
  });
});
