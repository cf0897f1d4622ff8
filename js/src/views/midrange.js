// Mid-range activations (O'Mahony et al., WACV 2025): the histogram of one class's logit over all inputs (stacked
// by group when groups are known), with a draggable band (two handles; drag the band to move it, drag on the
// background to draw a new one). Inputs whose logit sits in the middle of its range show what else the model
// associates with the class. Releasing the band sends `midrange_band` to the kernel, which finds the band's NAPs
// (band_naps on `midrange_layer`) and selects the band's inputs (the gallery shows them, most typical of each
// band-NAP first). The band-NAPs are listed here: they are NAPs of a subset of the inputs, so they cannot be the
// grid's cards (whose ids, thumbnails, scatter and heatmap belong to the whole data set). "curate" adds the
// current selection to `curated_indices`; CSV / JSON buttons download the curation.
//
// Lazy: the panel starts collapsed; opening it sets `midrange_open` and only then does the kernel compute.
import "./topology.css";
import "./midrange.css";
import { h, s, fmt, int, pct } from "../dom.js";

const W = 760;
const H = 210;
const M = { l: 42, r: 14, t: 10, b: 30 };
export const BINS = 40;
const HANDLE_W = 8;

// ------------------------------------------------------------------------------------ pure functions
/** Stacked histogram of `logits` over `[lo, hi]` with `bins` bins: { edges, counts: [bin][group], totals }. */
export function histogram(logits, groups, nGroups, { bins = BINS, range } = {}) {
  const [lo, hi] = range || [Math.min(...logits), Math.max(...logits)];
  const span = hi - lo || 1;
  const g = Math.max(1, nGroups || 1);
  const counts = Array.from({ length: bins }, () => new Array(g).fill(0));
  for (let i = 0; i < logits.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(((logits[i] - lo) / span) * bins)));
    counts[b][groups ? groups[i] : 0] += 1;
  }
  const edges = Array.from({ length: bins + 1 }, (_, j) => lo + (j * span) / bins);
  return { edges, counts, totals: counts.map((c) => c.reduce((a, b) => a + b, 0)) };
}

/** Indices whose logit lies in the band: lo <= logit < hi (the kernel's logit_bands(mode="value") "mid"). */
export function bandMembers(logits, lo, hi) {
  const out = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] >= lo && logits[i] < hi) out.push(i);
  return out;
}

/** The x domain of the chart: the logit range padded by one bin on each side (a band can hold the extremes). */
export function xDomain(range, bins = BINS) {
  const [a, b] = range;
  const pad = (b - a || 1) / bins;
  return [a - pad, b + pad];
}

/** "Nice" tick values covering [a, b]. */
export function ticks(a, b, count = 6) {
  const span = b - a || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(a / step) * step; v <= b + 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function csvField(v) {
  const t = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** The curation as CSV: the same text as the kernel's `w.export_curation("x.csv")`. */
export function curationCSV(records) {
  const lines = ["index,label,prediction,group,curated_for,logit,weight"];
  for (const r of records) {
    const logit = r.logit === null || r.logit === undefined ? "" : Number(r.logit).toFixed(4);
    const weight = r.weight === null || r.weight === undefined ? "" : Number(r.weight).toFixed(6);
    lines.push([r.index, r.label, r.prediction, r.group, r.curated_for, logit, weight].map(csvField).join(","));
  }
  return `${lines.join("\n")}\n`;
}

/** The curation as JSON (the kernel's `w.export_curation("x.json")` content). */
export function curationJSON(records, nInputs) {
  const doc = { format: "napwidget-curation", version: 1, n_inputs: nInputs, count: records.length,
    indices: records.map((r) => r.index), weights: records.map((r) => r.weight ?? 1), records };
  return `${JSON.stringify(doc, null, 1)}\n`;
}

/** Records of the curated inputs: the kernel's (vm.curation) where it has them, else built here (static
 * exports, or a curate click the kernel has not answered yet), curated for the shown class. */
export function curationRecords(curated, vm, store) {
  const known = new Map((vm.curation || []).map((r) => [r.index, r]));
  const view = store.data ? store.data.view : { classes: [] };
  return [...new Set(curated)].sort((a, b) => a - b).map((i) => {
    if (known.has(i)) return known.get(i);
    const it = store.data && i < store.data.n ? store.item(i) : { label: -1, pred: -1 };
    return {
      index: i,
      label: it.label >= 0 ? view.classes[it.label] : "",
      prediction: it.pred >= 0 ? view.classes[it.pred] : "",
      group: vm.groups ? vm.group_names[vm.groups[i]] : "",
      curated_for: vm.class_name ?? "",
      logit: vm.logits ? vm.logits[i] : null,
      weight: 1,
    };
  });
}

export function download(filename, text, type) {
  if (typeof URL === "undefined" || !URL.createObjectURL) return false;
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  return true;
}

function svgX(svg, event) {
  const r = svg.getBoundingClientRect();
  return (event.clientX - r.left) * (r.width ? W / r.width : 1);
}

// ------------------------------------------------------------------------------------ the view
export default {
  id: "midrange",
  area: "footer",
  mount(el, store) {
    const sub = h("span", { class: "napw-sub" });
    const toggle = h("button", { type: "button", class: "napw-btn napw-topo-toggle", "data-testid": "midrange-toggle", "aria-expanded": "false" });
    const head = h("header", { class: "napw-panel-head napw-topo-head" },
      h("span", { class: "napw-chevron", "aria-hidden": "true" }), h("h3", { text: "Mid-range activations" }), sub,
      h("span", { class: "napw-spacer" }), toggle);
    const hint = h("p", { class: "napw-topo-hint", text: "A class's logit over all inputs, with a band you drag: inputs in the middle of the range show what else the model ties to the class (an exploration tool). As a fix it is measured, not assumed: on our benchmark, up-weighting each class's lowest logits beat random curation and JTT, closing 91 % of the gap to a group-balanced oracle in a binary task but 30 % in a 20-group one; retraining on the band alone did not beat JTT (benchmarks/README.md). Opens on demand." });
    const cls = h("select", { class: "napw-select napw-select-sm", "data-testid": "midrange-class", "aria-label": "class whose logit is shown" });
    const layer = h("select", { class: "napw-select napw-select-sm", "data-testid": "midrange-layer", "aria-label": "layer of the band's NAPs" });
    const count = h("span", { class: "napw-midrange-count", "data-testid": "midrange-count" });
    const reset = h("button", { type: "button", class: "napw-btn", "data-testid": "midrange-reset", title: "the middle third of the logit's range", text: "reset band" });
    const curate = h("button", { type: "button", class: "napw-btn napw-btn-primary", "data-testid": "midrange-curate", title: "add the selected inputs (the gallery's) to curated_indices", text: "curate selection" });
    const clearBtn = h("button", { type: "button", class: "napw-btn", "data-testid": "midrange-clear", text: "clear" });
    const csvBtn = h("button", { type: "button", class: "napw-btn", "data-testid": "midrange-export-csv", title: "download the curation as CSV", text: "CSV" });
    const jsonBtn = h("button", { type: "button", class: "napw-btn", "data-testid": "midrange-export-json", title: "download the curation as JSON", text: "JSON" });
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "napw-midrange-svg", "data-testid": "midrange", role: "img", "aria-label": "logit histogram with a band" });
    const overlay = h("div", { class: "napw-topo-overlay", hidden: true }, h("span", { class: "napw-spinner" }), h("span", { text: "finding the band's NAPs…" }));
    const note = h("div", { class: "napw-empty", hidden: true, "data-testid": "midrange-note" });
    const legend = h("div", { class: "napw-mapper-legend", "data-testid": "midrange-legend" });
    const napsTitle = h("div", { class: "napw-toolbar-label napw-midrange-naps-title" });
    const napList = h("div", { class: "napw-midrange-naps", "data-testid": "midrange-naps", role: "group", "aria-label": "NAPs of the band" });
    const info = h("div", { class: "napw-mapper-info", "data-testid": "midrange-info" });
    const body = h("div", { class: "napw-topo-body", hidden: true },
      h("div", { class: "napw-topo-toolbar" },
        h("span", { class: "napw-toolbar-label", text: "class" }), cls,
        h("span", { class: "napw-toolbar-label", text: "NAPs at" }), layer, reset,
        h("span", { class: "napw-spacer" }), count, curate, clearBtn, csvBtn, jsonBtn),
      h("div", { class: "napw-mapper-stage" }, svg, overlay, note), legend, napsTitle, napList, info);
    const section = h("section", { class: "napw-panel napw-topo-panel napw-midrange-panel", "data-testid": "midrange-panel" }, head, hint, body);
    el.append(section);

    let vm = null;
    let band = null; // [lo, hi] shown (dragged locally until the kernel answers)
    let waiting = false;
    let picked = null; // band-NAP id whose members this view selected, "band" for the whole band
    let mySelection = null;
    let drag = null;
    let geo = null; // { x, inv, domain, y0, y1 }
    const els = { bars: [], band: null, lo: null, hi: null, sel: null };

    const isOpen = () => Boolean(store.get("midrange_open"));
    const current = () => { const v = store.get("midrange") || {}; return Array.isArray(v.logits) ? v : null; };
    const curated = () => store.get("curated_indices") || [];

    function setOpen(open) {
      if (open !== isOpen()) store.setMidrange("midrange_open", open);
    }
    function syncOpen() {
      const open = isOpen();
      body.hidden = !open;
      section.classList.toggle("napw-open", open);
      hint.hidden = open;
      toggle.textContent = open ? "hide" : "show";
      toggle.setAttribute("aria-expanded", String(open));
      if (store.isStatic() && !current()) draw(); // opened in a file without the view: show the note
      if (open && !current()) waiting = true;
      showOverlay();
    }
    toggle.addEventListener("click", (e) => { e.stopPropagation(); setOpen(!isOpen()); });
    head.addEventListener("click", () => setOpen(!isOpen()));

    function showOverlay() {
      overlay.hidden = !(isOpen() && waiting && !store.isStatic() && !store.get("error"));
    }

    function renderPickers() {
      if (!vm) return;
      cls.replaceChildren(...vm.outputs.map((name, k) => h("option", { value: k, text: name, selected: k === vm.class })));
      cls.value = String(vm.class);
      layer.replaceChildren(...vm.layers.map((name) => h("option", { value: name, text: name, selected: name === vm.layer })));
      layer.value = vm.layer;
      const off = store.isStatic();
      for (const c of [cls, layer, reset]) c.disabled = off;
    }

    function colors() {
      return vm.groups ? vm.group_colors : ["var(--napw-accent)"];
    }

    function drawChart() {
      svg.replaceChildren();
      els.bars = [];
      const domain = xDomain(vm.range);
      const x = (v) => M.l + ((v - domain[0]) / (domain[1] - domain[0])) * (W - M.l - M.r);
      const inv = (px) => domain[0] + ((px - M.l) / (W - M.l - M.r)) * (domain[1] - domain[0]);
      const hist = histogram(vm.logits, vm.groups, vm.groups ? vm.group_names.length : 1, { range: vm.range });
      const maxC = Math.max(1, ...hist.totals);
      const y = (c) => H - M.b - (c / maxC) * (H - M.t - M.b);
      geo = { x, inv, domain, hist, y, maxC };
      const bg = s("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, class: "napw-midrange-bg", "data-testid": "midrange-bg" });
      svg.append(bg);
      const gAxis = s("g", { class: "napw-midrange-axis" });
      for (const t of ticks(domain[0], domain[1])) {
        gAxis.append(s("line", { x1: x(t), x2: x(t), y1: H - M.b, y2: H - M.b + 4 }),
          s("text", { x: x(t), y: H - M.b + 15, "text-anchor": "middle", text: fmt(t, Math.abs(t) < 10 && t % 1 ? 1 : 0) }));
      }
      gAxis.append(s("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }),
        s("text", { x: M.l - 6, y: M.t + 8, "text-anchor": "end", text: int(maxC) }),
        s("text", { x: M.l - 6, y: H - M.b, "text-anchor": "end", text: "0" }),
        s("text", { x: (M.l + W - M.r) / 2, y: H - 2, "text-anchor": "middle", class: "napw-midrange-axis-title", text: `logit of “${vm.class_name}” (all ${int(vm.n)} inputs)` }));
      svg.append(gAxis);
      const gBars = s("g", { class: "napw-midrange-bars" });
      const col = colors();
      hist.counts.forEach((cs, b) => {
        const x0 = x(hist.edges[b]) + 0.5;
        const wd = Math.max(1, x(hist.edges[b + 1]) - x(hist.edges[b]) - 1);
        const g = s("g", { class: "napw-midrange-bin", "data-bin": b });
        let acc = 0;
        cs.forEach((c, gi) => {
          if (!c) return;
          g.append(s("rect", { x: x0, y: y(acc + c), width: wd, height: y(acc) - y(acc + c), fill: col[gi % col.length] }));
          acc += c;
        });
        const names = vm.groups ? cs.map((c, gi) => (c ? `${vm.group_names[gi]}: ${c}` : "")).filter(Boolean).join(" · ") : "";
        g.append(s("title", { text: `${fmt(hist.edges[b], 2)} to ${fmt(hist.edges[b + 1], 2)}: ${int(hist.totals[b])} inputs${names ? ` (${names})` : ""}` }));
        els.bars.push({ el: g, lo: hist.edges[b], hi: hist.edges[b + 1] });
        gBars.append(g);
      });
      svg.append(gBars);
      els.sel = s("path", { class: "napw-midrange-selhist", "data-testid": "midrange-selection" });
      svg.append(els.sel);
      const gBand = s("g", { class: "napw-midrange-brush" });
      els.band = s("rect", { class: "napw-midrange-band", "data-testid": "midrange-band", y: M.t, height: H - M.t - M.b });
      els.lo = s("rect", { class: "napw-midrange-handle", "data-testid": "midrange-band-lo", "data-handle": "lo", y: M.t, height: H - M.t - M.b, width: HANDLE_W, tabindex: 0, role: "slider", "aria-label": "lower edge of the band" });
      els.hi = s("rect", { class: "napw-midrange-handle", "data-testid": "midrange-band-hi", "data-handle": "hi", y: M.t, height: H - M.t - M.b, width: HANDLE_W, tabindex: 0, role: "slider", "aria-label": "upper edge of the band" });
      gBand.append(els.band, els.lo, els.hi);
      svg.append(gBand);
      svg.dataset.ready = "1";
    }

    function placeBand() {
      if (!vm || !geo || !band) return;
      const [lo, hi] = band;
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
      const n = bandMembers(vm.logits, lo, hi).length;
      count.dataset.count = String(n);
      count.textContent = `${int(n)} in band [${fmt(lo, 2)}, ${fmt(hi, 2)}) · ${int(curated().length)} curated`;
    }

    function drawSelection() {
      if (!vm || !geo || !els.sel) return;
      const sel = store.selectedIndices();
      const bi = vm.band_indices || [];
      const isBand = sel.length === bi.length && sel.every((v, i) => v === bi[i]); // the band itself: no outline
      if (!sel.length || isBand) { els.sel.setAttribute("d", ""); return; }
      const logits = sel.filter((i) => i < vm.logits.length).map((i) => vm.logits[i]);
      const hh = histogram(logits, null, 1, { range: vm.range });
      let d = "";
      hh.totals.forEach((c, b) => {
        if (!c) return;
        const x0 = geo.x(hh.edges[b]) + 0.5;
        const x1 = geo.x(hh.edges[b + 1]) - 0.5;
        d += `M${x0.toFixed(1)},${geo.y(0).toFixed(1)}V${geo.y(c).toFixed(1)}H${x1.toFixed(1)}V${geo.y(0).toFixed(1)}`;
      });
      els.sel.setAttribute("d", d);
    }

    function drawLegend() {
      legend.replaceChildren();
      if (!vm.groups) return;
      legend.append(h("span", { class: "napw-muted", text: "groups:" }));
      vm.group_names.forEach((name, gi) => legend.append(h("span", { class: "napw-legend-item" },
        h("span", { class: "napw-swatch", style: { background: vm.group_colors[gi] } }), h("span", { text: name }))));
    }

    function drawNaps() {
      const view = store.data ? store.data.view : { classes: [], class_colors: [] };
      napsTitle.textContent = `band-NAPs at ${vm.layer}: ${vm.naps.length} · ${int(vm.noise)} noise`;
      const items = [h("button", { type: "button", class: `napw-chip${picked === "band" ? " napw-on" : ""}`, "data-testid": "midrange-whole-band", text: `whole band (${int(vm.count)})` })];
      for (const row of vm.naps) {
        const dom = row.dominant !== null && row.dominant !== undefined ? view.classes[row.dominant] : null;
        const bar = h("span", { class: "napw-midrange-gbar", "aria-hidden": "true" });
        for (const [g, c] of row.group_composition || []) {
          bar.append(h("span", { style: { width: `${(100 * c) / row.size}%`, background: vm.group_colors[g] } }));
        }
        const gtxt = (row.group_composition || []).map(([g, c]) => `${vm.group_names[g]} ${pct(c / row.size)}`).join(", ");
        items.push(h("button", {
          type: "button", class: `napw-midrange-nap${picked === row.id ? " napw-on" : ""}`, "data-testid": "midrange-nap", "data-nap": row.id,
          title: `band-NAP ${row.id}: ${row.size} inputs, mean logit ${fmt(row.mean_logit, 2)}${dom ? `, mostly ${dom} (${pct(row.purity)})` : ""}${gtxt ? `; groups: ${gtxt}` : ""}`,
        },
        h("span", { class: "napw-swatch", style: { background: row.dominant !== null && row.dominant !== undefined ? view.class_colors[row.dominant] : "#9e9e9e" } }),
        h("b", { text: `N${row.id}` }), h("span", { text: ` ${int(row.size)}` }),
        dom ? h("span", { class: "napw-muted", text: ` · ${dom} ${pct(row.purity)}` }) : null,
        row.group_composition?.length ? bar : null));
      }
      napList.replaceChildren(...items);
    }

    function draw() {
      vm = current();
      waiting = false;
      showOverlay();
      const err = store.get("error");
      if (!vm) {
        svg.replaceChildren();
        svg.dataset.ready = "";
        geo = null;
        note.hidden = !isOpen();
        note.textContent = store.isStatic() ? "Not part of this static export (open the panel in the notebook before saving)." : (err || "");
        if (!note.textContent) note.hidden = true;
        sub.textContent = "";
        legend.replaceChildren();
        napList.replaceChildren();
        napsTitle.textContent = "";
        info.replaceChildren();
        count.textContent = "";
        return;
      }
      note.hidden = true;
      band = [...vm.band];
      sub.textContent = `“${vm.class_name}” · ${int(vm.count)} inputs in the band · ${vm.naps.length} band-NAPs at ${vm.layer}`;
      renderPickers();
      drawChart();
      placeBand();
      drawLegend();
      drawNaps();
      drawSelection();
      info.replaceChildren(h("span", { class: "napw-muted", text: vm.hint || "drag the handles or the band; drag on the histogram to draw a new band · click a band-NAP: its inputs fill the gallery" }));
      for (const b of [curate, clearBtn, csvBtn, jsonBtn]) b.disabled = false;
      clearBtn.disabled = csvBtn.disabled = jsonBtn.disabled = !curated().length;
    }

    // ------------------------------------------------------------------ band dragging
    function clampBand(lo, hi) {
      const [d0, d1] = geo.domain;
      const minW = (d1 - d0) / 400;
      lo = Math.max(d0, Math.min(lo, d1 - minW));
      hi = Math.min(d1, Math.max(hi, lo + minW));
      return [lo, hi];
    }

    function commitBand() {
      if (!vm || !band) return;
      if (store.isStatic()) {
        // no kernel: select the band's inputs here, highest logit first
        const members = bandMembers(vm.logits, band[0], band[1]).sort((a, b) => vm.logits[b] - vm.logits[a] || a - b);
        pickSelection(members, "band");
        return;
      }
      const cur = store.get("midrange_band") || [];
      if (cur.length === 2 && cur[0] === band[0] && cur[1] === band[1]) return;
      waiting = true;
      showOverlay();
      picked = "band";
      mySelection = null;
      store.setMidrange("midrange_band", [band[0], band[1]]);
    }

    svg.addEventListener("pointerdown", (e) => {
      if (!vm || !geo || (e.button !== undefined && e.button !== 0)) return;
      const px = svgX(svg, e);
      const v = geo.inv(px);
      const handle = e.target.dataset ? e.target.dataset.handle : undefined;
      if (handle) drag = { mode: handle };
      else if (e.target === els.band) drag = { mode: "move", offset: v - band[0], width: band[1] - band[0] };
      else drag = { mode: "new", anchor: v };
      drag.moved = false;
      if (svg.setPointerCapture && e.pointerId !== undefined) {
        try { svg.setPointerCapture(e.pointerId); } catch (_) { /* not capturable: window listeners still work */ }
      }
      e.preventDefault();
    });

    function onMove(e) {
      if (!drag || !geo) return;
      const v = geo.inv(svgX(svg, e));
      drag.moved = true;
      if (drag.mode === "lo") band = clampBand(Math.min(v, band[1] - 1e-9), band[1]);
      else if (drag.mode === "hi") band = clampBand(band[0], Math.max(v, band[0] + 1e-9));
      else if (drag.mode === "move") {
        const [d0, d1] = geo.domain;
        const lo = Math.max(d0, Math.min(v - drag.offset, d1 - drag.width));
        band = [lo, lo + drag.width];
      } else band = clampBand(Math.min(drag.anchor, v), Math.max(drag.anchor, v));
      placeBand();
    }

    function onUp() {
      if (!drag) return;
      const moved = drag.moved;
      drag = null;
      if (moved) commitBand();
    }
    const win = el.ownerDocument.defaultView || window;
    win.addEventListener("pointermove", onMove);
    win.addEventListener("pointerup", onUp);

    svg.addEventListener("keydown", (e) => {
      const handle = e.target.dataset ? e.target.dataset.handle : undefined;
      if (!handle || !vm || !geo || (e.key !== "ArrowLeft" && e.key !== "ArrowRight")) return;
      const step = ((geo.domain[1] - geo.domain[0]) / BINS) * (e.shiftKey ? 5 : 1) * (e.key === "ArrowLeft" ? -1 : 1);
      band = handle === "lo" ? clampBand(Math.min(band[0] + step, band[1] - 1e-6), band[1]) : clampBand(band[0], Math.max(band[1] + step, band[0] + 1e-6));
      placeBand();
      commitBand();
      e.preventDefault();
    });

    // ------------------------------------------------------------------ actions
    function pickSelection(indices, key) {
      picked = key;
      mySelection = [...indices];
      store.selectIndices(mySelection);
      if (vm) drawNaps();
    }

    napList.addEventListener("click", (e) => {
      if (!vm) return;
      const whole = e.target.closest ? e.target.closest("[data-testid=midrange-whole-band]") : null;
      if (whole) { pickSelection(vm.band_indices, "band"); return; }
      const btn = e.target.closest ? e.target.closest("[data-testid=midrange-nap]") : null;
      if (!btn) return;
      const row = vm.naps.find((r) => r.id === Number(btn.dataset.nap));
      if (row) pickSelection(row.all_members, row.id);
    });
    cls.addEventListener("change", () => {
      waiting = true;
      showOverlay();
      picked = "band";
      store.setMidrange("midrange_class", Number(cls.value));
    });
    layer.addEventListener("change", () => {
      waiting = true;
      showOverlay();
      picked = "band";
      store.setMidrange("midrange_layer", layer.value);
    });
    reset.addEventListener("click", () => {
      if (!vm) return;
      band = [...vm.default_band];
      placeBand();
      commitBand();
    });
    curate.addEventListener("click", () => {
      const sel = store.selectedIndices();
      if (!sel.length) {
        info.replaceChildren(h("span", { class: "napw-warn", text: "Nothing selected: drag a band or pick a band-NAP first." }));
        return;
      }
      const next = [...new Set([...curated(), ...sel])].sort((a, b) => a - b);
      store.setMidrange("curated_indices", next);
      info.replaceChildren(h("span", { text: `curated ${int(sel.length)} selected inputs: ${int(next.length)} in the curation set (w.curated_indices)` }));
    });
    clearBtn.addEventListener("click", () => store.setMidrange("curated_indices", []));
    function exportAs(kind) {
      if (!vm) return;
      const records = curationRecords(curated(), vm, store);
      const text = kind === "csv" ? curationCSV(records) : curationJSON(records, vm.n);
      download(`napwidget-curation.${kind}`, text, kind === "csv" ? "text/csv" : "application/json");
    }
    csvBtn.addEventListener("click", () => exportAs("csv"));
    jsonBtn.addEventListener("click", () => exportAs("json"));

    function onSelection() {
      if (mySelection !== null) {
        const cur = store.selectedIndices();
        if (!(cur.length === mySelection.length && cur.every((v, i) => v === mySelection[i]))) { picked = null; mySelection = null; if (vm) drawNaps(); }
      }
      drawSelection();
    }

    const offs = [
      store.on("midrange", (key) => {
        if (key === "midrange_open") syncOpen();
        else if (key === "midrange") draw();
        else if (key === "curated_indices") { placeBand(); if (vm) draw(); }
      }),
      store.on("selection", onSelection),
      store.on("status", () => { if (store.get("error")) { waiting = false; if (!vm) draw(); } showOverlay(); }),
      store.on("data", () => { if (vm) drawNaps(); }),
    ];
    syncOpen();
    draw();
    return () => {
      offs.forEach((off) => off());
      win.removeEventListener("pointermove", onMove);
      win.removeEventListener("pointerup", onUp);
    };
  },
};
