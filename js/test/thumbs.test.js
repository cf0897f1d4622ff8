// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { bmpBytes, thumbUrl, visual } from "../src/thumbs.js";

const gray = { kind: "image", h: 2, w: 3, c: 1, pixels: Uint8Array.from([0, 10, 20, 30, 40, 50]) };
const rgb = { kind: "image", h: 1, w: 2, c: 3, pixels: Uint8Array.from([1, 2, 3, 4, 5, 6]) };

describe("thumbnail images", () => {
  it("encodes grey pixels as a top-down 24-bit BMP with rows padded to 4 bytes", () => {
    const b = bmpBytes(gray);
    const dv = new DataView(b.buffer);
    expect(String.fromCharCode(b[0], b[1])).toBe("BM");
    expect(dv.getUint32(2, true)).toBe(b.length);
    expect(b.length).toBe(54 + 12 * 2); // 3 px * 3 bytes = 9, padded to 12, two rows
    expect(dv.getInt32(18, true)).toBe(3);
    expect(dv.getInt32(22, true)).toBe(-2); // top-down
    expect(dv.getUint16(28, true)).toBe(24);
    expect(Array.from(b.subarray(54, 54 + 9))).toEqual([0, 0, 0, 10, 10, 10, 20, 20, 20]); // first row first
    expect(Array.from(b.subarray(66, 66 + 9))).toEqual([30, 30, 30, 40, 40, 40, 50, 50, 50]);
  });

  it("stores colour pixels as blue, green, red", () => {
    const b = bmpBytes(rgb);
    expect(Array.from(b.subarray(54, 60))).toEqual([3, 2, 1, 6, 5, 4]);
  });

  it("draws an image thumb as an <img> (no canvas: no compositing layer per thumbnail), URL made once", () => {
    const el = visual(7, gray, { cls: "x" });
    expect(el.tagName).toBe("IMG");
    expect(el.classList.contains("napw-thumb")).toBe(true);
    expect(el.classList.contains("x")).toBe(true);
    expect(el.getAttribute("src")).toMatch(/^data:image\/bmp;base64,/);
    // no width / height attributes: on an <img> they are CSS sizes (a canvas' are its pixels), and the
    // tiles size the image with CSS (width 100 %, square)
    expect(el.hasAttribute("width")).toBe(false);
    expect(el.hasAttribute("height")).toBe(false);
    expect(thumbUrl(gray)).toBe(el.getAttribute("src"));
    const bytes = Uint8Array.from(atob(thumbUrl(gray).split(",")[1]), (ch) => ch.charCodeAt(0));
    expect(Array.from(bytes)).toEqual(Array.from(bmpBytes(gray)));
  });

  it("keeps text, index and placeholder visuals", () => {
    expect(visual(1, null).className).toContain("napw-thumb-placeholder");
    expect(visual(1, { kind: "index" }).tagName).not.toBe("IMG");
  });
});
