// Mid-range activations, the chart: one class's logit histogram over all inputs (stacked by group), the band
// with its two handles, and the outline of the selected inputs' histogram. SVG built from the view model;
// midrange.js owns the state and the events.
import { s, fmt, int } from "../dom.js";
import { BINS, bandMembers, histogram, ticks, xDomain } from "./midrange-data.js";

export const W = 760;
export const H = 210;
const M = { l: 42, r: 14, t: 10, b: 30 };
const HANDLE_W = 8;

/** The x of a pointer event in chart units. */
export function svgX(svg, event) {
  const r = svg.getBoundingClientRect();
  return (event.clientX - r.left) * (r.width ? W / r.width : 1);
}

function axis(x, domain, maxC, vm) {
  const g = s("g", { class: "napw-midrange-axis" });
  for (const t of ticks(domain[0], domain[1])) {
    g.append(s("line", { x1: x(t), x2: x(t), y1: H - M.b, y2: H - M.b + 4 }),
      s("text", { x: x(t), y: H - M.b + 15, "text-anchor": "middle", text: fmt(t, Math.abs(t) < 10 && t % 1 ? 1 : 0) }));
  }
  g.append(s("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }),
    s("text", { x: M.l - 6, y: M.t + 8, "text-anchor": "end", text: int(maxC) }),
    s("text", { x: M.l - 6, y: H - M.b, "text-anchor": "end", text: "0" }),
    s("text", { x: (M.l + W - M.r) / 2, y: H - 2, "text-anchor": "middle", class: "napw-midrange-axis-title", text: `logit of “${vm.class_name}” (all ${int(vm.n)} inputs)` }));
  return g;
}

/** One bin: a rect per group, stacked, with a tooltip. */
function bin(vm, hist, b, { x, y }, colors) {
  const x0 = x(hist.edges[b]) + 0.5;
  const wd = Math.max(1, x(hist.edges[b + 1]) - x(hist.edges[b]) - 1);
  const g = s("g", { class: "napw-midrange-bin", "data-bin": b });
  let acc = 0;
  hist.counts[b].forEach((c, gi) => {
    if (!c) return;
    g.append(s("rect", { x: x0, y: y(acc + c), width: wd, height: y(acc) - y(acc + c), fill: colors[gi % colors.length] }));
    acc += c;
  });
  const names = vm.groups ? hist.counts[b].map((c, gi) => (c ? `${vm.group_names[gi]}: ${c}` : "")).filter(Boolean).join(" · ") : "";
  g.append(s("title", { text: `${fmt(hist.edges[b], 2)} to ${fmt(hist.edges[b + 1], 2)}: ${int(hist.totals[b])} inputs${names ? ` (${names})` : ""}` }));
  return g;
}

/**
 * Draw `vm`'s histogram into `svg`. Returns { geo: { x, inv, domain, y }, els: { bars, band, lo, hi, sel } }:
 * the scales and the elements that placeBand and selectionPath update.
 */
export function drawChart(svg, vm) {
  svg.replaceChildren();
  const domain = xDomain(vm.range);
  const x = (v) => M.l + ((v - domain[0]) / (domain[1] - domain[0])) * (W - M.l - M.r);
  const inv = (px) => domain[0] + ((px - M.l) / (W - M.l - M.r)) * (domain[1] - domain[0]);
  const hist = histogram(vm.logits, vm.groups, vm.groups ? vm.group_names.length : 1, { range: vm.range });
  const maxC = Math.max(1, ...hist.totals);
  const y = (c) => H - M.b - (c / maxC) * (H - M.t - M.b);
  const geo = { x, inv, domain, y };
  svg.append(s("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, class: "napw-midrange-bg", "data-testid": "midrange-bg" }),
    axis(x, domain, maxC, vm));
  const colors = vm.groups ? vm.group_colors : ["var(--napw-accent)"];
  const gBars = s("g", { class: "napw-midrange-bars" });
  const bars = hist.counts.map((_, b) => {
    const el = bin(vm, hist, b, geo, colors);
    gBars.append(el);
    return { el, lo: hist.edges[b], hi: hist.edges[b + 1] };
  });
  const sel = s("path", { class: "napw-midrange-selhist", "data-testid": "midrange-selection" });
  const full = { y: M.t, height: H - M.t - M.b };
  const band = s("rect", { class: "napw-midrange-band", "data-testid": "midrange-band", ...full });
  const handle = (which, label) => s("rect", { class: "napw-midrange-handle", "data-testid": `midrange-band-${which}`, "data-handle": which, ...full, width: HANDLE_W, tabindex: 0, role: "slider", "aria-label": label });
  const lo = handle("lo", "lower edge of the band");
  const hi = handle("hi", "upper edge of the band");
  svg.append(gBars, sel, s("g", { class: "napw-midrange-brush" }, band, lo, hi));
  svg.dataset.ready = "1";
  return { geo, els: { bars, band, lo, hi, sel } };
}

/** Put the band [lo, hi] on the chart (bins outside it dimmed); returns how many inputs it holds. */
export function placeBand({ geo, els }, vm, [lo, hi]) {
  const x0 = geo.x(lo);
  const x1 = geo.x(hi);
  els.band.setAttribute("x", x0.toFixed(2));
  els.band.setAttribute("width", Math.max(0, x1 - x0).toFixed(2));
  els.band.dataset.lo = String(lo);
  els.band.dataset.hi = String(hi);
  els.lo.setAttribute("x", (x0 - HANDLE_W / 2).toFixed(2));
  els.hi.setAttribute("x", (x1 - HANDLE_W / 2).toFixed(2));
  els.lo.setAttribute("aria-valuenow", fmt(lo, 3));
  els.hi.setAttribute("aria-valuenow", fmt(hi, 3));
  for (const b of els.bars) b.el.classList.toggle("napw-out", b.hi <= lo || b.lo >= hi);
  return bandMembers(vm.logits, lo, hi).length;
}

/** The outline of the selected inputs' histogram ("" when nothing, or exactly the band, is selected). */
export function selectionPath({ geo }, vm, sel) {
  const bi = vm.band_indices || [];
  const isBand = sel.length === bi.length && sel.every((v, i) => v === bi[i]);
  if (!sel.length || isBand) return "";
  const logits = sel.filter((i) => i < vm.logits.length).map((i) => vm.logits[i]);
  const hh = histogram(logits, null, 1, { range: vm.range });
  let d = "";
  hh.totals.forEach((c, b) => {
    if (!c) return;
    const x0 = geo.x(hh.edges[b]) + 0.5;
    const x1 = geo.x(hh.edges[b + 1]) - 0.5;
    d += `M${x0.toFixed(1)},${geo.y(0).toFixed(1)}V${geo.y(c).toFixed(1)}H${x1.toFixed(1)}V${geo.y(0).toFixed(1)}`;
  });
  return d;
}

/** Keep [lo, hi] inside the chart's domain and at least 1/400 of it wide. */
export function clampBand(geo, lo, hi) {
  const [d0, d1] = geo.domain;
  const minW = (d1 - d0) / 400;
  const l = Math.max(d0, Math.min(lo, d1 - minW));
  return [l, Math.min(d1, Math.max(hi, l + minW))];
}

/** The band after dragging to chart value `v` (`drag`: which handle, the band, or a new band's anchor). */
export function draggedBand(geo, drag, band, v) {
  if (drag.mode === "lo") return clampBand(geo, Math.min(v, band[1] - 1e-9), band[1]);
  if (drag.mode === "hi") return clampBand(geo, band[0], Math.max(v, band[0] + 1e-9));
  if (drag.mode === "move") {
    const [d0, d1] = geo.domain;
    const lo = Math.max(d0, Math.min(v - drag.offset, d1 - drag.width));
    return [lo, lo + drag.width];
  }
  return clampBand(geo, Math.min(drag.anchor, v), Math.max(drag.anchor, v));
}

/** The band after an arrow key on handle `which` (a bin per press, five with Shift). */
export function steppedBand(geo, which, band, key, shift) {
  const step = ((geo.domain[1] - geo.domain[0]) / BINS) * (shift ? 5 : 1) * (key === "ArrowLeft" ? -1 : 1);
  return which === "lo" ? clampBand(geo, Math.min(band[0] + step, band[1] - 1e-6), band[1]) : clampBand(geo, band[0], Math.max(band[1] + step, band[0] + 1e-6));
}
