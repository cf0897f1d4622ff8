// Text and index items (src/text.js): whole snippets clipped by CSS, full text on hover/focus, ids never cut;
// the root's item-kind class; the "no predictions" line.
import { describe, it, expect } from "vitest";
import { indexTile, markItemKind, textSnippet } from "../src/text.js";
import { visual } from "../src/thumbs.js";
import { mount } from "../src/index.js";
import { fakeModel, makeState, tick } from "./helpers.js";

const LONG = "hashlib.sha256(data=b'', *, usedforsecurity=True) returns a SHA-256 hash object; optionally initialized with a string";

describe("text items", () => {
  it("a snippet holds the whole text (CSS clips it), as its tooltip too, and is focusable", () => {
    const el = textSnippet(LONG);
    expect(el.textContent).toBe(LONG);
    expect(el.title).toBe(LONG);
    expect(el.getAttribute("tabindex")).toBe("0");
    expect(el.classList.contains("napw-text-snippet")).toBe(true);
    expect(visual(3, { kind: "text", text: "<b>x</b>" }).textContent).toBe("<b>x</b>"); // text, never HTML
  });

  it("an index tile shows the whole id", () => {
    expect(indexTile(152).textContent).toBe("#152");
    expect(visual(152, { kind: "index" }).textContent).toBe("#152");
  });

  it("marks the root with the item kind", () => {
    const root = document.createElement("div");
    markItemKind(root, { kind: "text" });
    expect([...root.classList]).toEqual(["napw-items-text"]);
    markItemKind(root, null);
    expect([...root.classList]).toEqual(["napw-items-index"]);
  });

  it("cards of a text widget show their least typical members as text snippets, one per tile", async () => {
    const st = makeState({ kind: "text" });
    const model = fakeModel(st, {
      respond: (msg) => msg.type === "thumbs" && { content: { type: "thumbs", req: msg.req, kind: "text", indices: msg.indices, texts: msg.indices.map((i) => `${LONG} #${i}`) } },
    });
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = mount(el, model);
    await tick();
    await tick();
    expect(cleanup.root.classList.contains("napw-items-text")).toBe(true);
    const strip = el.querySelector("[data-testid=nap-card] [data-testid=atypical-members]");
    const snippets = [...strip.querySelectorAll("[data-testid=text-snippet]")];
    expect(snippets.length).toBe(4);
    for (const s of snippets) expect(s.textContent).toBe(s.title), expect(s.textContent.startsWith(LONG)).toBe(true);
    cleanup();
  }, 30000);

  it("says why there are no predictions, and only then", async () => {
    const st = makeState();
    const model = fakeModel(st);
    const el = document.createElement("div");
    const cleanup = mount(el, model);
    await tick();
    const line = el.querySelector("[data-testid=predictions-note]");
    expect(line.hidden).toBe(true);
    const note = "outputs are 384-wide, not scores for 15 classes: pass predictions= to show correctness";
    model.set("view", { ...st.view, has_predictions: false, predictions_note: note });
    await tick();
    expect(line.hidden).toBe(false);
    expect(line.textContent).toBe(`No predictions: ${note}.`);
    cleanup();
  }, 30000);
});
