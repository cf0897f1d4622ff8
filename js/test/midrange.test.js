// @vitest-environment jsdom
import { afterEach, describe, expect, it } from "vitest";
import { createStore } from "../src/store.js";
import midrange, { bandMembers, curationCSV, curationJSON, curationRecords, histogram, ticks, xDomain } from "../src/views/midrange.js";
import { fakeModel, makeState } from "./helpers.js";

// 80 inputs (makeState): logit of class "one" = index / 10 (0.0 .. 7.9); groups: even / odd index.
function midrangeVm({ band = [2, 4] } = {}) {
  const logits = Array.from({ length: 80 }, (_, i) => i / 10);
  const inside = bandMembers(logits, band[0], band[1]);
  return {
    class: 1, class_name: "one", outputs: ["zero", "one", "two"], layer: "fc1", layers: ["conv", "fc1"], n: 80,
    logits, range: [0, 7.9], band, default_band: [2.6333, 5.2667], band_indices: [...inside].reverse(), count: inside.length,
    groups: logits.map((_, i) => i % 2), group_names: ["even", "odd"], group_colors: ["#E69F00", "#56B4E9"],
    naps: [
      { id: 0, size: 6, members: [20, 22, 24], all_members: [20, 22, 24, 26, 28, 30], dominant: 0, purity: 1, composition: [[0, 6]], group_composition: [[0, 6]], mean_logit: 2.5 },
      { id: 1, size: 4, members: [21, 23], all_members: [21, 23, 25, 27], dominant: 1, purity: 0.75, composition: [[1, 3]], group_composition: [[1, 4]], mean_logit: 2.4 },
    ],
    noise: inside.length - 10, params: {}, hint: "", curation: [],
  };
}

function mountMidrange({ open = true, vm = midrangeVm(), extra = {} } = {}) {
  const state = makeState({ extra: { midrange_open: open, midrange_class: 1, midrange_band: open ? vm.band : [], midrange_layer: "", midrange: open ? vm : {}, curated_indices: [], ...extra } });
  const model = fakeModel(state);
  const store = createStore(model);
  const el = document.createElement("div");
  el.className = "napw-root";
  document.body.appendChild(el);
  const cleanup = midrange.mount(el, store);
  return { model, store, el, cleanup };
}

const fire = (target, type, clientX) => target.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX, button: 0 }));

afterEach(() => {
  document.body.replaceChildren();
});

describe("mid-range helpers", () => {
  it("bins logits into stacked groups and keeps every input", () => {
    const hst = histogram([0, 0.5, 1, 1, 2], [0, 1, 0, 1, 1], 2, { bins: 4, range: [0, 2] });
    expect(hst.edges).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(hst.counts).toEqual([[1, 0], [0, 1], [1, 1], [0, 1]]);
    expect(hst.totals.reduce((a, b) => a + b, 0)).toBe(5);
  });

  it("band membership is lo <= logit < hi, like logit_bands(mode='value')", () => {
    expect(bandMembers([0, 1, 2, 3], 1, 3)).toEqual([1, 2]);
    expect(xDomain([0, 4], 4)).toEqual([-1, 5]);
    expect(ticks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
  });

  it("writes the same CSV as the kernel (quoting, 4-decimal logits)", () => {
    const records = [
      { index: 3, label: "a,b", prediction: 'say "x"', group: "", curated_for: "one", logit: 0.5, weight: 2.5 },
      { index: 7, label: "two", prediction: "two", group: "odd", curated_for: "", logit: null, weight: 1 },
    ];
    // the text napwidget.midrange_views.curation_csv gives for the same records
    expect(curationCSV(records)).toBe('index,label,prediction,group,curated_for,logit,weight\n3,"a,b","say ""x""",,one,0.5000,2.500000\n7,two,two,odd,,,1.000000\n');
    const doc = JSON.parse(curationJSON(records, 80));
    expect(doc).toMatchObject({ format: "napwidget-curation", version: 1, n_inputs: 80, count: 2, indices: [3, 7], weights: [2.5, 1] });
  });
});

describe("mid-range view", () => {
  it("is lazy: closed, nothing is drawn; the toggle opens the panel through midrange_open", () => {
    const { el, model } = mountMidrange({ open: false });
    expect(el.querySelector("svg[data-testid=midrange]").dataset.ready).toBe("");
    el.querySelector("[data-testid=midrange-toggle]").click();
    expect(model.get("midrange_open")).toBe(true);
    expect(model.saved.length).toBe(1);
  });

  it("draws the stacked histogram, the band, the class picker and the band-NAPs", () => {
    const { el } = mountMidrange();
    const svg = el.querySelector("svg[data-testid=midrange]");
    expect(svg.dataset.ready).toBe("1");
    expect(svg.querySelectorAll(".napw-midrange-bin").length).toBe(40);
    expect(svg.querySelector(".napw-midrange-bin rect[fill='#56B4E9']")).not.toBeNull(); // the odd group
    expect(el.querySelector("[data-testid=midrange-count]").dataset.count).toBe("20");
    expect(el.querySelector("[data-testid=midrange-class]").value).toBe("1");
    expect([...el.querySelectorAll("[data-testid=midrange-class] option")].map((o) => o.textContent)).toEqual(["zero", "one", "two"]);
    expect(el.querySelectorAll("[data-testid=midrange-nap]").length).toBe(2);
    expect(el.querySelector("[data-testid=midrange-band]").dataset.lo).toBe("2");
  });

  it("dragging a handle updates the count live and sends midrange_band on release", () => {
    const { el, model } = mountMidrange();
    const hi = el.querySelector("[data-testid=midrange-band-hi]");
    // jsdom has no layout: clientX is read as the viewBox x. The domain is [-0.1975, 8.0975] over x 42..746.
    const x = (v) => 42 + ((v + 0.1975) / 8.295) * 704;
    fire(hi, "pointerdown", x(4));
    fire(window, "pointermove", x(6.05));
    expect(Number(el.querySelector("[data-testid=midrange-count]").dataset.count)).toBe(41); // 2.0 .. 6.0
    expect(model.get("midrange_band")).toEqual([2, 4]); // nothing sent while dragging
    fire(window, "pointerup", x(6.05));
    const [lo, hiV] = model.get("midrange_band");
    expect(lo).toBe(2);
    expect(hiV).toBeCloseTo(6.05, 1);
  });

  it("drawing on the background makes a new band", () => {
    const { el, model } = mountMidrange();
    const bg = el.querySelector("[data-testid=midrange-bg]");
    const x = (v) => 42 + ((v + 0.1975) / 8.295) * 704;
    fire(bg, "pointerdown", x(5));
    fire(window, "pointermove", x(7));
    fire(window, "pointerup", x(7));
    const [lo, hi] = model.get("midrange_band");
    expect(lo).toBeCloseTo(5, 1);
    expect(hi).toBeCloseTo(7, 1);
  });

  it("a band-NAP click selects its members; the class picker sends midrange_class", () => {
    const { el, model } = mountMidrange();
    el.querySelector("[data-testid=midrange-nap][data-nap='1']").click();
    expect(model.get("selected_indices")).toEqual([21, 23, 25, 27]);
    expect(model.get("selected_naps")).toEqual([]);
    el.querySelector("[data-testid=midrange-whole-band]").click();
    expect(model.get("selected_indices")).toEqual(midrangeVm().band_indices);
    const sel = el.querySelector("[data-testid=midrange-class]");
    sel.value = "2";
    sel.dispatchEvent(new Event("change"));
    expect(model.get("midrange_class")).toBe(2);
  });

  it("curate adds the selection to curated_indices; the records fall back to local data", () => {
    const { el, model, store } = mountMidrange();
    store.selectIndices([30, 21]);
    el.querySelector("[data-testid=midrange-curate]").click();
    expect(model.get("curated_indices")).toEqual([21, 30]);
    store.selectIndices([21, 5]);
    el.querySelector("[data-testid=midrange-curate]").click();
    expect(model.get("curated_indices")).toEqual([5, 21, 30]);
    expect(el.querySelector("[data-testid=midrange-count]").textContent).toContain("3 curated");
    const recs = curationRecords(model.get("curated_indices"), midrangeVm(), store);
    expect(recs.map((r) => [r.index, r.group, r.curated_for, r.logit])).toEqual([[5, "odd", "one", 0.5], [21, "odd", "one", 2.1], [30, "even", "one", 3]]);
    el.querySelector("[data-testid=midrange-clear]").click();
    expect(model.get("curated_indices")).toEqual([]);
  });

  it("shows the kernel's error when there is nothing to draw (no outputs)", () => {
    const { el } = mountMidrange({ open: true, vm: midrangeVm(), extra: { midrange: {}, error: "the mid-range view needs the model's outputs (logits). Fix: pass outputs=." } });
    const note = el.querySelector("[data-testid=midrange-note]");
    expect(note.hidden).toBe(false);
    expect(note.textContent).toContain("outputs");
  });

});
