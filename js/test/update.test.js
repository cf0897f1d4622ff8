// @vitest-environment jsdom
// One draw per new result: a kernel update brings `view` with traits that fire their own events right after
// "data" (selection, _avg_thumbs, nap_detail); the views drew those with the result already and must not draw
// everything again (each extra draw cost a forced layout and a rebuilt panel per update).
import { afterEach, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import grid from "../src/views/grid.js";
import gallery from "../src/views/gallery.js";
import distribution from "../src/views/distribution.js";
import { fakeModel, makeState, tick } from "./helpers.js";

const thumbResponder = (msg) => msg.type === "thumbs" && {
  content: { type: "thumbs", req: msg.req, kind: "image", h: 2, w: 2, c: 1, indices: msg.indices },
  buffers: [new DataView(new Uint8Array(4 * msg.indices.length).buffer)],
};

function mountViews(views, state, respond = thumbResponder) {
  const model = fakeModel(state, { respond });
  const store = createStore(model);
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  for (const v of views) {
    const box = document.createElement("div");
    el.appendChild(box);
    v.mount(box, store);
  }
  return { model, store, el };
}

/** What `pick()` shows when "data" has just been handled by the views (listeners run in mount order). */
function atData(store, pick) {
  const seen = [];
  store.on("data", () => seen.push(pick()));
  return seen;
}

const sprite = (value) => new DataView(new Uint8Array(4 * 4).fill(value).buffer); // 2x2x1, 3 NAPs + noise

afterEach(() => document.body.replaceChildren());

describe("one draw per new result", () => {
  it("grid: the cards built on 'data' stay when the result's _avg_thumbs event follows", async () => {
    const st = makeState({ extra: { pinned: [], ui_state: {}, _avg_thumbs: sprite(10) } });
    const { model, store, el } = mountViews([grid], st, () => null); // thumbnails never arrive: no redraw for them
    const card = () => el.querySelector("[data-testid=nap-card][data-nap='0']");
    const avgSrc = () => card().querySelector("[data-testid=average-image]").getAttribute("src");
    const before = avgSrc();
    const seen = atData(store, card);
    // from the end of the grid's "data" render on, its cards box must not change
    let changes = 0;
    const mo = new MutationObserver((records) => { changes += records.length; });
    store.on("data", () => mo.observe(el.querySelector(".napw-grid-cards"), { childList: true }));
    model.set("view", { ...model.get("view") }); // a new result, with new average images in the same message
    model.set("_avg_thumbs", sprite(200));
    await tick();
    expect(seen.length).toBe(1);
    expect(card()).toBe(seen[0]);
    changes += mo.takeRecords().length;
    expect(changes).toBe(0); // not rendered again by the _avg_thumbs event
    mo.disconnect();
    expect(avgSrc()).not.toBe(before); // and it shows the new average images
    // new average images alone (no new result) are drawn
    const shown = avgSrc();
    model.set("_avg_thumbs", sprite(90));
    expect(avgSrc()).not.toBe(shown);
  });

  it("gallery: the page drawn on 'data' is not drawn again for the selection event that follows", async () => {
    const st = makeState({ sizes: [40, 20], n: 70 });
    const { model, store, el } = mountViews([gallery], st);
    store.selectNaps([0]);
    await tick();
    const atlas = () => el.querySelector("[data-testid=gallery-atlas]");
    expect(atlas()).not.toBe(null);
    const seen = atData(store, atlas);
    model.set("view", { ...model.get("view") });
    await tick();
    expect(seen.length).toBe(1);
    expect(atlas()).toBe(seen[0]);
    // another selection is drawn
    store.selectNaps([1]);
    await tick();
    expect(atlas()).not.toBe(seen[0]);
    expect(Number(el.querySelector("[data-testid=gallery-item]").dataset.index)).toBe(model.get("selected_indices")[0]);
  });

  it("distribution: the matrix drawn on 'data' is not drawn again for the result's nap_detail event", async () => {
    const st = makeState({ sizes: [30, 20, 12] });
    const { naps, classes } = st.view;
    st.nap_detail = {
      params: st.view.params, n_naps: naps.length, classes, class_colors: st.view.class_colors, has_labels: true,
      label_counts: naps.map((r) => [[r.id % 3, r.size]]), noise_label_counts: [],
    };
    st.filters = { labels: [], predictions: [] };
    const { model, store, el } = mountViews([distribution], st);
    const svg = () => el.querySelector("[data-testid=distribution]");
    expect(svg()).not.toBe(null);
    const seen = atData(store, svg);
    model.set("view", { ...model.get("view") });
    model.set("nap_detail", { ...model.get("nap_detail") });
    await tick();
    expect(seen.length).toBe(1);
    expect(svg()).toBe(seen[0]);
    // a nap_detail that arrives on its own (computed later) is drawn
    model.set("nap_detail", { ...model.get("nap_detail") });
    expect(svg()).not.toBe(seen[0]);
  });
});
