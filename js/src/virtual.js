// Draw only what is on screen: the row window of a virtualised list or grid, and a once-per-frame scheduler.
// Pure functions (tested in js/test/virtual.test.js); the views own the DOM.

/** Columns of a CSS grid `repeat(auto-fill, minmax(minCol, 1fr))` with `gap` in a box `width` wide. */
export function columnsFor(width, minCol, gap) {
  if (!(width > 0)) return 1;
  return Math.max(1, Math.floor((width + gap) / (minCol + gap)));
}

/**
 * The items to build for a scroll position: whole rows from `overscan` rows above the viewport to `overscan`
 * rows below it. Without a layout (jsdom, a hidden panel) the viewport is taken as `fallbackHeight` tall.
 *
 * Returns { start, end (exclusive), rowStart, rowEnd, rows, top, bottom }: `top` / `bottom` are the heights (px)
 * of the spacers standing in for the rows above and below the window.
 */
export function visibleRange({ count, cols = 1, rowHeight, scrollTop = 0, viewport = 0, overscan = 2, fallbackHeight = 600 }) {
  const rows = Math.ceil(count / Math.max(1, cols));
  const h = viewport > 0 ? viewport : fallbackHeight;
  const rh = Math.max(1, rowHeight);
  const first = Math.floor(Math.max(0, scrollTop) / rh);
  const rowStart = Math.max(0, Math.min(rows, first - overscan));
  const rowEnd = Math.max(rowStart, Math.min(rows, Math.ceil((Math.max(0, scrollTop) + h) / rh) + overscan));
  return {
    start: rowStart * cols,
    end: Math.min(count, rowEnd * cols),
    rowStart,
    rowEnd,
    rows,
    top: rowStart * rh,
    bottom: Math.max(0, (rows - rowEnd) * rh),
  };
}

/**
 * visibleRange with at most `maxRows` rows built: the overscan goes first, then rows at the bottom (a box whose
 * height is capped with viewportCap never needs that). Keeps a view's DOM bounded whatever the screen size.
 */
export function cappedRange({ maxRows, overscan = 1, ...opts }) {
  const cap = Math.max(1, maxRows);
  let r = visibleRange({ ...opts, overscan });
  if (r.rowEnd - r.rowStart > cap && overscan > 0) r = visibleRange({ ...opts, overscan: 0 });
  if (r.rowEnd - r.rowStart <= cap) return r;
  const cols = Math.max(1, opts.cols || 1);
  const rh = Math.max(1, opts.rowHeight);
  const rowEnd = r.rowStart + cap;
  return { ...r, rowEnd, end: Math.min(opts.count, rowEnd * cols), bottom: Math.max(0, (r.rows - rowEnd) * rh) };
}

/** The tallest viewport (px) in which no scroll position shows parts of more than `maxRows` rows. */
export function viewportCap(maxRows, rowHeight) {
  return Math.max(1, maxRows - 1) * rowHeight;
}

/** The scrollTop that brings row `row` into view (nearest edge), or the current one when it is visible. */
export function scrollToRow(row, { rowHeight, scrollTop, viewport }) {
  const top = row * rowHeight;
  const h = viewport > 0 ? viewport : rowHeight; // no layout: put the row at the top
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + h) return top + rowHeight - h;
  return scrollTop;
}

/** `fn` runs at most once per animation frame however often `schedule()` is called (microtask without rAF). */
export function perFrame(fn) {
  let queued = false;
  const raf = typeof requestAnimationFrame === "function" ? requestAnimationFrame : (cb) => queueMicrotask(cb);
  const schedule = () => {
    if (queued) return;
    queued = true;
    raf(() => { queued = false; fn(); });
  };
  return schedule;
}

/**
 * Run an async redraw so that two never overlap: a call while one runs marks it dirty, and one more run follows
 * with the latest state. (Overlapping vega embeds shared one SVG, so a slow draw of an older result could paint
 * over a newer one: the page kept showing the previous layer's scatter.)
 */
export function latestOnly(fn) {
  let running = false;
  let again = false;
  let lastArgs = [];
  return async function run(...args) {
    lastArgs = args;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await fn(...lastArgs);
      } while (again);
    } finally {
      running = false;
    }
  };
}
