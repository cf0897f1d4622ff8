// Shared by the detail views (stats.js, napcharts.js): embed a kernel-made Vega-Lite template (named data
// sources filled in here), follow the theme, finalise cleanly.
import embed from "vega-embed";
import { latestOnly } from "../virtual.js";

export const FALLBACK_NAP_COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D", "#FF9DA6"];

/** Colour of the NAP at `position` in the selection (the kernel's palette when it sent one). */
export function napColor(detail, position) {
  const colors = detail?.nap_colors || FALLBACK_NAP_COLORS;
  return colors[position % colors.length];
}

export function isDark(el) {
  const root = el.closest?.(".napw-root") || el;
  const bg = getComputedStyle(root).getPropertyValue("--napw-bg").trim();
  const m = bg.match(/#([0-9a-f]{6})/i);
  if (!m) return false;
  const v = parseInt(m[1], 16);
  return 0.2126 * ((v >> 16) & 255) + 0.7152 * ((v >> 8) & 255) + 0.0722 * (v & 255) < 110;
}

/**
 * A chart slot: draw(spec, data, {width, height}) embeds (or re-fills) the chart; the vega View is kept on
 * the box element as `box.napwView` (browser tests read the plotted numbers with `box.napwView.data(name)`).
 */
export function vegaSlot(box, { onClick } = {}) {
  let result = null;
  let generation = 0;
  let specKey = null;
  let destroyed = false;

  async function drawNow(spec, data, size = {}, { renderer = "svg" } = {}) {
    const gen = ++generation;
    const key = JSON.stringify([spec, size, renderer]);
    if (result && key === specKey) {
      // same chart: only the data changed
      try {
        const v = result.view;
        for (const [name, values] of Object.entries(data)) v.data(name, values);
        await v.runAsync();
        box.dataset.ready = "1";
      } catch {
        // finalised meanwhile
      }
      return result?.view;
    }
    if (result) result.finalize();
    result = null;
    delete box.dataset.ready;
    const full = structuredClone(spec);
    if (size.width !== undefined) full.width = size.width;
    if (size.height !== undefined) full.height = size.height;
    // inline the first values (an empty named source would draw once with infinite extents)
    if (full.data && full.data.name in data) full.data = { name: full.data.name, values: data[full.data.name] };
    let r;
    try {
      const host = document.createElement("div"); // a fresh host per embed (see views/scatter.js)
      box.replaceChildren(host);
      r = await embed(host, full, { actions: false, renderer, mode: "vega-lite", tooltip: { theme: isDark(box) ? "dark" : "light" } });
    } catch (err) {
      box.textContent = `The chart could not be drawn: ${err?.message ? err.message : err}`;
      return null;
    }
    if (gen !== generation || destroyed) {
      r.finalize();
      return null;
    }
    result = r;
    specKey = key;
    const v = r.view;
    if (onClick) v.addEventListener("click", (event, item) => onClick(item?.datum, event));
    box.napwView = v;
    box.dataset.renderer = renderer;
    box.dataset.ready = "1";
    return v;
  }

  const draw = latestOnly(drawNow); // never two embeds at once: the latest data is drawn last

  function clear() {
    generation++;
    if (result) result.finalize();
    result = null;
    specKey = null;
    box.napwView = null;
    box.replaceChildren();
    delete box.dataset.ready;
  }

  return {
    draw,
    clear,
    get view() {
      return result ? result.view : null;
    },
    destroy() {
      destroyed = true;
      clear();
    },
  };
}
