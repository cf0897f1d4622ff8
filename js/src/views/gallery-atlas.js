// One canvas per gallery page: the page's thumbnails, label, prediction and membership probability drawn into
// a single atlas, with one light overlay button per item on top (hit testing, focus, tooltip, the
// data-testid=gallery-item hook). A page of 48 images is ~50 DOM nodes instead of ~550.
// Pure layout and painting here (tested in js/test/gallery-atlas.test.js); gallery.js owns the DOM.
import { columnsFor } from "../virtual.js";

const MIN_W = 74; // the tile grid's minmax(74px, 1fr)
const GAP = 6;
const PAD = 4;
const THUMB = 64; // the largest thumbnail side (px)
const LINE = 13; // one line of text under the thumbnail
const BAR = 12; // the probability bar's line

/** Cells of a page of `count` items in a box `width` px wide: columns like the CSS grid, fixed-height rows. */
export function atlasLayout(count, width) {
  const cols = columnsFor(width, MIN_W, GAP);
  const cellW = width > 0 ? Math.max(MIN_W, (width - (cols - 1) * GAP) / cols) : MIN_W;
  const thumb = Math.min(THUMB, Math.floor(cellW - 2 * PAD));
  const cellH = PAD + thumb + 4 + 2 * LINE + BAR + PAD;
  const rows = Math.ceil(count / cols);
  return {
    count, cols, rows, cellW, cellH, thumb,
    width: cols * cellW + (cols - 1) * GAP,
    height: rows ? rows * cellH + (rows - 1) * GAP : 0,
  };
}

/** The box of item `i` (px, atlas coordinates). */
export function cellRect(layout, i) {
  const col = i % layout.cols;
  const row = Math.floor(i / layout.cols);
  return { x: col * (layout.cellW + GAP), y: row * (layout.cellH + GAP), w: layout.cellW, h: layout.cellH };
}

/** Where item `i`'s thumbnail goes: centred at the top of its cell. */
export function thumbRect(layout, i) {
  const c = cellRect(layout, i);
  return { x: Math.round(c.x + (c.w - layout.thumb) / 2), y: c.y + PAD, w: layout.thumb, h: layout.thumb };
}

/** RGBA pixels of a thumbnail (uint8 h x w x c, c = 1 or 3) for an ImageData. */
export function thumbRGBA(thumb) {
  const n = thumb.w * thumb.h;
  const out = new Uint8ClampedArray(4 * n);
  const px = thumb.pixels;
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    if (thumb.c === 1) {
      out[o] = px[i];
      out[o + 1] = px[i];
      out[o + 2] = px[i];
    } else {
      out[o] = px[3 * i];
      out[o + 1] = px[3 * i + 1];
      out[o + 2] = px[3 * i + 2];
    }
    out[o + 3] = 255;
  }
  return out;
}

/** Fit `text` into `maxW` px (measured by ctx), with an ellipsis when cut. */
function clip(ctx, text, maxW) {
  if (ctx.measureText(text).width <= maxW) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= maxW) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

/** Text parts [{ text, color, bold }] drawn left to right on one line, clipped to the cell. */
function drawParts(ctx, parts, x, y, maxW, css) {
  let cx = x;
  for (const p of parts) {
    if (cx >= x + maxW) break;
    if (p.swatch) {
      ctx.fillStyle = p.swatch;
      ctx.fillRect(cx, y - 8, 8, 8);
      cx += 11;
      continue;
    }
    ctx.font = `${p.bold ? "600 " : ""}10.5px ${css.font}`;
    ctx.fillStyle = p.color || css.fg;
    const t = clip(ctx, p.text, x + maxW - cx);
    ctx.fillText(t, cx, y);
    cx += ctx.measureText(`${t} `).width;
  }
}

/**
 * Paint a page: for item i, `cells[i]` = { image (a drawable of the thumbnail at its own size, or null while
 * it loads), w, h, lines: [parts, parts], prob (0..1 or null for noise), probText }.
 */
export function paintAtlas(ctx, layout, cells, css) {
  ctx.clearRect(0, 0, layout.width, layout.height);
  ctx.textBaseline = "alphabetic";
  cells.forEach((cell, i) => {
    const t = thumbRect(layout, i);
    const c = cellRect(layout, i);
    if (cell.image) {
      ctx.imageSmoothingEnabled = false; // pixels stay square: thumbnails are small
      ctx.drawImage(cell.image, 0, 0, cell.w, cell.h, t.x, t.y, t.w, t.h);
    } else {
      ctx.fillStyle = css.subtle;
      ctx.fillRect(t.x, t.y, t.w, t.h);
    }
    const textW = c.w - 2 * PAD;
    let y = t.y + t.h + 4 + LINE - 3;
    for (const parts of cell.lines) {
      drawParts(ctx, parts, c.x + PAD, y, textW, css);
      y += LINE;
    }
    // membership probability: a bar and its value
    const barW = Math.max(10, textW - 30);
    const barY = y - 3;
    ctx.fillStyle = css.subtle;
    ctx.fillRect(c.x + PAD, barY, barW, 3);
    ctx.fillStyle = css.accent;
    ctx.fillRect(c.x + PAD, barY, Math.round(barW * Math.max(0, Math.min(1, cell.prob || 0))), 3);
    ctx.font = `10.5px ${css.font}`;
    ctx.fillStyle = css.muted;
    ctx.fillText(cell.probText, c.x + PAD + barW + 4, y + 1);
  });
}
