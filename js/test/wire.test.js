// The kernel's wire form of large values (napwidget/views/wire.py) decodes to exactly the plain values Python
// holds: fixtures/wire/views.json is written by tests/test_wire.py from real widgets (the state with its
// buffers taken out, as ipywidgets sends it).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { idList, idsToWire, scatterValues, unpackView } from "../src/wire.js";

const FIX = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "fixtures", "wire", "views.json"), "utf8"));

/** What ipywidgets does on arrival: each buffer becomes a DataView at its path in the state. */
function withBuffers({ state, buffer_paths: paths, buffers }) {
  const out = structuredClone(state);
  paths.forEach((path, j) => {
    const u8 = Uint8Array.from(Buffer.from(buffers[j], "base64"));
    let obj = out;
    for (const key of path.slice(0, -1)) obj = obj[key];
    obj[path.at(-1)] = new DataView(u8.buffer);
  });
  return out;
}

describe("wire", () => {
  for (const [name, fx] of Object.entries(FIX)) {
    it(`decodes the ${name} widget's view and selection to the kernel's plain values`, () => {
      const state = withBuffers(fx);
      const view = unpackView(state.view);
      expect(view).toEqual(fx.plain.view);
      expect(unpackView(state.view)).toBe(view); // decoded once per value
      expect(idList(state.selected_indices)).toEqual(fx.plain.selected_indices);
      expect(idList(state.selected_naps)).toEqual(fx.plain.selected_naps);
    });
  }

  it("passes plain values through (a save_html page, the browser's own re-selection)", () => {
    const plain = FIX.labelled.plain.view;
    expect(unpackView(plain)).toBe(plain);
    expect(idList([3, 1])).toEqual([3, 1]);
    expect(idList(undefined)).toEqual([]);
    expect(scatterValues(plain.naps, plain.classes)).toEqual(plain.scatter.data.values);
  });

  it("writes long id lists as int32 buffers", () => {
    expect(idsToWire([1, 2])).toEqual([1, 2]);
    const ids = Array.from({ length: 100 }, (_, i) => 99 - i);
    expect(idList(idsToWire(ids))).toEqual(ids);
  });
});
