// Draw one input: a thumbnail image (raw uint8 pixels), a text snippet, or its index.
import { h } from "./dom.js";
import { indexTile, textSnippet } from "./text.js";

const IS_JSDOM = typeof navigator !== "undefined" && /jsdom/i.test(navigator.userAgent || "");

/** Paint raw uint8 pixels (h x w x c, c = 1 or 3) into a canvas. */
export function paint(canvas, thumb) {
  canvas.width = thumb.w;
  canvas.height = thumb.h;
  if (IS_JSDOM) return; // no canvas backend in tests
  const ctx = canvas.getContext?.("2d");
  if (!ctx) return;
  const img = ctx.createImageData(thumb.w, thumb.h);
  const px = thumb.pixels;
  const n = thumb.w * thumb.h;
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    if (thumb.c === 1) {
      const v = px[i];
      img.data[o] = v;
      img.data[o + 1] = v;
      img.data[o + 2] = v;
    } else {
      img.data[o] = px[3 * i];
      img.data[o + 1] = px[3 * i + 1];
      img.data[o + 2] = px[3 * i + 2];
    }
    img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Raw uint8 pixels (h x w x c, c = 1 or 3) as an uncompressed 24-bit BMP file (top-down rows). */
export function bmpBytes(thumb) {
  const { w, h: rows, c, pixels: px } = thumb;
  const stride = (3 * w + 3) & ~3; // rows are padded to 4 bytes
  const size = 54 + stride * rows;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = 0x42; // "BM"
  out[1] = 0x4d;
  dv.setUint32(2, size, true);
  dv.setUint32(10, 54, true); // pixel data offset
  dv.setUint32(14, 40, true); // BITMAPINFOHEADER
  dv.setInt32(18, w, true);
  dv.setInt32(22, -rows, true); // negative height: top-down
  dv.setUint16(26, 1, true); // planes
  dv.setUint16(28, 24, true); // bits per pixel
  dv.setUint32(34, stride * rows, true);
  for (let y = 0; y < rows; y++) {
    let o = 54 + y * stride;
    for (let x = 0; x < w; x++, o += 3) {
      const i = y * w + x;
      if (c === 1) {
        out[o] = out[o + 1] = out[o + 2] = px[i];
      } else { // BMP stores blue, green, red
        out[o] = px[3 * i + 2];
        out[o + 1] = px[3 * i + 1];
        out[o + 2] = px[3 * i];
      }
    }
  }
  return out;
}

const urls = new WeakMap(); // thumb -> its data: URL (thumbs are immutable; the URL goes with the thumb)
/** The thumb as a data: URL of a BMP, built once per thumb. */
export function thumbUrl(thumb) {
  let url = urls.get(thumb);
  if (!url) {
    const bytes = bmpBytes(thumb);
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    url = `data:image/bmp;base64,${btoa(bin)}`;
    urls.set(thumb, url);
  }
  return url;
}

/**
 * The visual of input `index` from its cached thumb (or a placeholder to fill in later). Images are <img>
 * elements, not canvases: Chromium composites every canvas as a layer of its own, and a hundred thumbnail
 * layers cost tens of ms of Layerize / Commit on every frame (benchmarks/profile_update.py).
 */
export function visual(index, thumb, { cls = "" } = {}) {
  if (thumb && thumb.kind === "image") {
    return h("img", { class: `napw-thumb ${cls}`, "aria-hidden": "true", alt: "", src: thumbUrl(thumb), draggable: "false" });
  }
  if (thumb && thumb.kind === "text") return textSnippet(thumb.text, { cls });
  if (thumb && thumb.kind === "index") return indexTile(index, { cls });
  return h("div", { class: `napw-thumb-placeholder ${cls}`, "aria-hidden": "true" });
}
