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
import { H, W, drawChart, draggedBand, placeBand, selectionPath, steppedBand, svgX } from "./midrange-chart.js";
import { bandMembers, curationCSV, curationJSON, curationRecords, download } from "./midrange-data.js";

export { BINS, bandMembers, curationCSV, curationJSON, curationRecords, download, histogram, ticks, xDomain } from "./midrange-data.js";

const HINT = "A class's logit over all inputs, with a band you drag: inputs in the middle of the range show what else the model ties to the class (an exploration tool). As a fix it is measured, not assumed: on our benchmark, up-weighting each class's lowest logits beat random curation and JTT, closing 91 % of the gap to a group-balanced oracle in a binary task but 30 % in a 20-group one; retraining on the band alone did not beat JTT (benchmarks/README.md). Opens on demand.";

/** The panel's elements: a collapsible header, the toolbar, the chart, the band-NAP list. */
function buildPanel() {
  const btn = (testid, text, extra = {}) => h("button", { type: "button", class: "napw-btn", "data-testid": testid, text, ...extra });
  const ui = {
    sub: h("span", { class: "napw-sub" }),
    toggle: h("button", { type: "button", class: "napw-btn napw-topo-toggle", "data-testid": "midrange-toggle", "aria-expanded": "false" }),
    hint: h("p", { class: "napw-topo-hint", text: HINT }),
    cls: h("select", { class: "napw-select napw-select-sm", "data-testid": "midrange-class", "aria-label": "class whose logit is shown" }),
    layer: h("select", { class: "napw-select napw-select-sm", "data-testid": "midrange-layer", "aria-label": "layer of the band's NAPs" }),
    count: h("span", { class: "napw-midrange-count", "data-testid": "midrange-count" }),
    reset: btn("midrange-reset", "reset band", { title: "the middle third of the logit's range" }),
    curate: btn("midrange-curate", "curate selection", { class: "napw-btn napw-btn-primary", title: "add the selected inputs (the gallery's) to curated_indices" }),
    clearBtn: btn("midrange-clear", "clear"),
    csvBtn: btn("midrange-export-csv", "CSV", { title: "download the curation as CSV" }),
    jsonBtn: btn("midrange-export-json", "JSON", { title: "download the curation as JSON" }),
    svg: s("svg", { viewBox: `0 0 ${W} ${H}`, class: "napw-midrange-svg", "data-testid": "midrange", role: "img", "aria-label": "logit histogram with a band" }),
    overlay: h("div", { class: "napw-topo-overlay", hidden: true }, h("span", { class: "napw-spinner" }), h("span", { text: "finding the band's NAPs…" })),
    note: h("div", { class: "napw-empty", hidden: true, "data-testid": "midrange-note" }),
    legend: h("div", { class: "napw-mapper-legend", "data-testid": "midrange-legend" }),
    napsTitle: h("div", { class: "napw-toolbar-label napw-midrange-naps-title" }),
    napList: h("div", { class: "napw-midrange-naps", "data-testid": "midrange-naps", role: "group", "aria-label": "NAPs of the band" }),
    info: h("div", { class: "napw-mapper-info", "data-testid": "midrange-info" }),
  };
  ui.head = h("header", { class: "napw-panel-head napw-topo-head" },
    h("span", { class: "napw-chevron", "aria-hidden": "true" }), h("h3", { text: "Mid-range activations" }), ui.sub,
    h("span", { class: "napw-spacer" }), ui.toggle);
  ui.body = h("div", { class: "napw-topo-body", hidden: true },
    h("div", { class: "napw-topo-toolbar" },
      h("span", { class: "napw-toolbar-label", text: "class" }), ui.cls,
      h("span", { class: "napw-toolbar-label", text: "NAPs at" }), ui.layer, ui.reset,
      h("span", { class: "napw-spacer" }), ui.count, ui.curate, ui.clearBtn, ui.csvBtn, ui.jsonBtn),
    h("div", { class: "napw-mapper-stage" }, ui.svg, ui.overlay, ui.note), ui.legend, ui.napsTitle, ui.napList, ui.info);
  ui.section = h("section", { class: "napw-panel napw-topo-panel napw-midrange-panel", "data-testid": "midrange-panel" }, ui.head, ui.hint, ui.body);
  return ui;
}

/** The band-NAP buttons, "whole band" first; `picked` (a band-NAP id or "band") is highlighted. */
function napButtons(vm, view, picked) {
  const items = [h("button", { type: "button", class: `napw-chip${picked === "band" ? " napw-on" : ""}`, "data-testid": "midrange-whole-band", text: `whole band (${int(vm.count)})` })];
  for (const row of vm.naps) {
    const known = row.dominant !== null && row.dominant !== undefined;
    const dom = known ? view.classes[row.dominant] : null;
    const bar = h("span", { class: "napw-midrange-gbar", "aria-hidden": "true" });
    for (const [g, c] of row.group_composition || []) {
      bar.append(h("span", { style: { width: `${(100 * c) / row.size}%`, background: vm.group_colors[g] } }));
    }
    const gtxt = (row.group_composition || []).map(([g, c]) => `${vm.group_names[g]} ${pct(c / row.size)}`).join(", ");
    items.push(h("button", {
      type: "button", class: `napw-midrange-nap${picked === row.id ? " napw-on" : ""}`, "data-testid": "midrange-nap", "data-nap": row.id,
      title: `band-NAP ${row.id}: ${row.size} inputs, mean logit ${fmt(row.mean_logit, 2)}${dom ? `, mostly ${dom} (${pct(row.purity)})` : ""}${gtxt ? `; groups: ${gtxt}` : ""}`,
    },
    h("span", { class: "napw-swatch", style: { background: known ? view.class_colors[row.dominant] : "#9e9e9e" } }),
    h("b", { text: `N${row.id}` }), h("span", { text: ` ${int(row.size)}` }),
    dom ? h("span", { class: "napw-muted", text: ` · ${dom} ${pct(row.purity)}` }) : null,
    row.group_composition?.length ? bar : null));
  }
  return items;
}

function legendItems(vm) {
  if (!vm.groups) return [];
  return [h("span", { class: "napw-muted", text: "groups:" }), ...vm.group_names.map((name, gi) => h("span", { class: "napw-legend-item" },
    h("span", { class: "napw-swatch", style: { background: vm.group_colors[gi] } }), h("span", { text: name })))];
}

/**
 * Pointer and keyboard on the chart: drag a handle, drag the band, or drag on the background for a new band;
 * arrows move a focused handle. `ctl` = { chart() -> { geo, els } | null, band(), setBand(b), commit() }.
 */
function wireBand(svg, win, ctl) {
  let drag = null;
  svg.addEventListener("pointerdown", (e) => {
    const chart = ctl.chart();
    if (!chart || (e.button !== undefined && e.button !== 0)) return;
    const v = chart.geo.inv(svgX(svg, e));
    const handle = e.target.dataset ? e.target.dataset.handle : undefined;
    const band = ctl.band();
    if (handle) drag = { mode: handle };
    else if (e.target === chart.els.band) drag = { mode: "move", offset: v - band[0], width: band[1] - band[0] };
    else drag = { mode: "new", anchor: v };
    drag.moved = false;
    if (svg.setPointerCapture && e.pointerId !== undefined) {
      try { svg.setPointerCapture(e.pointerId); } catch (_) { /* not capturable: window listeners still work */ }
    }
    e.preventDefault();
  });
  const onMove = (e) => {
    const chart = ctl.chart();
    if (!drag || !chart) return;
    drag.moved = true;
    ctl.setBand(draggedBand(chart.geo, drag, ctl.band(), chart.geo.inv(svgX(svg, e))));
  };
  const onUp = () => {
    if (!drag) return;
    const moved = drag.moved;
    drag = null;
    if (moved) ctl.commit();
  };
  win.addEventListener("pointermove", onMove);
  win.addEventListener("pointerup", onUp);
  svg.addEventListener("keydown", (e) => {
    const handle = e.target.dataset ? e.target.dataset.handle : undefined;
    const chart = ctl.chart();
    if (!handle || !chart || (e.key !== "ArrowLeft" && e.key !== "ArrowRight")) return;
    ctl.setBand(steppedBand(chart.geo, handle, ctl.band(), e.key, e.shiftKey));
    ctl.commit();
    e.preventDefault();
  });
  return () => {
    win.removeEventListener("pointermove", onMove);
    win.removeEventListener("pointerup", onUp);
  };
}

/** The toolbar and the band-NAP list: class, layer, reset, curate, clear, export, pick a band-NAP. */
function wireActions(ui, store, ctl) {
  const curated = () => store.get("curated_indices") || [];
  ui.napList.addEventListener("click", (e) => {
    const vm = ctl.vm();
    if (!vm) return;
    const whole = e.target.closest ? e.target.closest("[data-testid=midrange-whole-band]") : null;
    if (whole) { ctl.pick(vm.band_indices, "band"); return; }
    const btn = e.target.closest ? e.target.closest("[data-testid=midrange-nap]") : null;
    const row = btn ? vm.naps.find((r) => r.id === Number(btn.dataset.nap)) : null;
    if (row) ctl.pick(row.all_members, row.id);
  });
  ui.cls.addEventListener("change", () => ctl.ask("midrange_class", Number(ui.cls.value)));
  ui.layer.addEventListener("change", () => ctl.ask("midrange_layer", ui.layer.value));
  ui.reset.addEventListener("click", () => {
    const vm = ctl.vm();
    if (!vm) return;
    ctl.setBand([...vm.default_band]);
    ctl.commit();
  });
  ui.curate.addEventListener("click", () => {
    const sel = store.selectedIndices();
    if (!sel.length) {
      ui.info.replaceChildren(h("span", { class: "napw-warn", text: "Nothing selected: drag a band or pick a band-NAP first." }));
      return;
    }
    const next = [...new Set([...curated(), ...sel])].sort((a, b) => a - b);
    store.setMidrange("curated_indices", next);
    ui.info.replaceChildren(h("span", { text: `curated ${int(sel.length)} selected inputs: ${int(next.length)} in the curation set (w.curated_indices)` }));
  });
  ui.clearBtn.addEventListener("click", () => store.setMidrange("curated_indices", []));
  const exportAs = (kind) => {
    const vm = ctl.vm();
    if (!vm) return;
    const records = curationRecords(curated(), vm, store);
    const text = kind === "csv" ? curationCSV(records) : curationJSON(records, vm.n);
    download(`napwidget-curation.${kind}`, text, kind === "csv" ? "text/csv" : "application/json");
  };
  ui.csvBtn.addEventListener("click", () => exportAs("csv"));
  ui.jsonBtn.addEventListener("click", () => exportAs("json"));
}

// ------------------------------------------------------------------------------------ the view
export default {
  id: "midrange",
  area: "footer",
  mount(el, store) {
    const ui = buildPanel();
    el.append(ui.section);
    let vm = null;
    let band = null; // [lo, hi] shown (dragged locally until the kernel answers)
    let waiting = false;
    let picked = null; // band-NAP id whose members this view selected, "band" for the whole band
    let mySelection = null;
    let chart = null; // { geo, els } of the chart on screen

    const isOpen = () => Boolean(store.get("midrange_open"));
    const current = () => { const v = store.get("midrange") || {}; return Array.isArray(v.logits) ? v : null; };
    const curated = () => store.get("curated_indices") || [];
    const setOpen = (open) => { if (open !== isOpen()) store.setMidrange("midrange_open", open); };
    const showOverlay = () => { ui.overlay.hidden = !(isOpen() && waiting && !store.isStatic() && !store.get("error")); };

    function syncOpen() {
      const open = isOpen();
      ui.body.hidden = !open;
      ui.section.classList.toggle("napw-open", open);
      ui.hint.hidden = open;
      ui.toggle.textContent = open ? "hide" : "show";
      ui.toggle.setAttribute("aria-expanded", String(open));
      if (store.isStatic() && !current()) draw(); // opened in a file without the view: show the note
      if (open && !current()) waiting = true;
      showOverlay();
    }
    ui.toggle.addEventListener("click", (e) => { e.stopPropagation(); setOpen(!isOpen()); });
    ui.head.addEventListener("click", () => setOpen(!isOpen()));

    function renderPickers() {
      ui.cls.replaceChildren(...vm.outputs.map((name, k) => h("option", { value: k, text: name, selected: k === vm.class })));
      ui.cls.value = String(vm.class);
      ui.layer.replaceChildren(...vm.layers.map((name) => h("option", { value: name, text: name, selected: name === vm.layer })));
      ui.layer.value = vm.layer;
      for (const c of [ui.cls, ui.layer, ui.reset]) c.disabled = store.isStatic();
    }

    function showBand() {
      if (!vm || !chart || !band) return;
      const n = placeBand(chart, vm, band);
      ui.count.dataset.count = String(n);
      ui.count.textContent = `${int(n)} in band [${fmt(band[0], 2)}, ${fmt(band[1], 2)}) · ${int(curated().length)} curated`;
    }

    const drawSelection = () => { if (vm && chart) chart.els.sel.setAttribute("d", selectionPath(chart, vm, store.selectedIndices())); };

    function drawNaps() {
      const view = store.data ? store.data.view : { classes: [], class_colors: [] };
      ui.napsTitle.textContent = `band-NAPs at ${vm.layer}: ${vm.naps.length} · ${int(vm.noise)} noise`;
      ui.napList.replaceChildren(...napButtons(vm, view, picked));
    }

    /** No view model (closed, computing, an error, or a static export without it). */
    function drawNothing() {
      ui.svg.replaceChildren();
      ui.svg.dataset.ready = "";
      chart = null;
      ui.note.textContent = store.isStatic() ? "Not part of this static export (open the panel in the notebook before saving)." : (store.get("error") || "");
      ui.note.hidden = !isOpen() || !ui.note.textContent;
      for (const part of [ui.legend, ui.napList, ui.info]) part.replaceChildren();
      ui.sub.textContent = "";
      ui.napsTitle.textContent = "";
      ui.count.textContent = "";
    }

    function draw() {
      vm = current();
      waiting = false;
      showOverlay();
      if (!vm) {
        drawNothing();
        return;
      }
      ui.note.hidden = true;
      band = [...vm.band];
      ui.sub.textContent = `“${vm.class_name}” · ${int(vm.count)} inputs in the band · ${vm.naps.length} band-NAPs at ${vm.layer}`;
      renderPickers();
      chart = drawChart(ui.svg, vm);
      showBand();
      ui.legend.replaceChildren(...legendItems(vm));
      drawNaps();
      drawSelection();
      ui.info.replaceChildren(h("span", { class: "napw-muted", text: vm.hint || "drag the handles or the band; drag on the histogram to draw a new band · click a band-NAP: its inputs fill the gallery" }));
      ui.curate.disabled = false;
      ui.clearBtn.disabled = ui.csvBtn.disabled = ui.jsonBtn.disabled = !curated().length;
    }

    function pickSelection(indices, key) {
      picked = key;
      mySelection = [...indices];
      store.selectIndices(mySelection);
      if (vm) drawNaps();
    }

    function commitBand() {
      if (!vm || !band) return;
      if (store.isStatic()) { // no kernel: select the band's inputs here, highest logit first
        pickSelection(bandMembers(vm.logits, band[0], band[1]).sort((a, b) => vm.logits[b] - vm.logits[a] || a - b), "band");
        return;
      }
      const cur = store.get("midrange_band") || [];
      if (cur.length === 2 && cur[0] === band[0] && cur[1] === band[1]) return;
      picked = "band";
      mySelection = null;
      ask("midrange_band", [band[0], band[1]]);
    }

    /** A new band, class or layer for the kernel: wait for its answer (overlay), then the band is selected. */
    function ask(key, value) {
      waiting = true;
      showOverlay();
      picked = "band";
      store.setMidrange(key, value);
    }

    const win = el.ownerDocument.defaultView || window;
    const unwire = wireBand(ui.svg, win, { chart: () => (vm ? chart : null), band: () => band, setBand: (b) => { band = b; showBand(); }, commit: commitBand });
    wireActions(ui, store, { vm: () => vm, pick: pickSelection, ask, setBand: (b) => { band = b; showBand(); }, commit: commitBand });

    function onSelection() {
      const cur = store.selectedIndices();
      if (mySelection !== null && !(cur.length === mySelection.length && cur.every((v, i) => v === mySelection[i]))) {
        picked = null;
        mySelection = null;
        if (vm) drawNaps();
      }
      drawSelection();
    }

    const offs = [
      store.on("midrange", (key) => {
        if (key === "midrange_open") syncOpen();
        else if (key === "midrange") draw();
        else if (key === "curated_indices") { showBand(); if (vm) draw(); }
      }),
      store.on("selection", onSelection),
      store.on("status", () => { if (store.get("error")) { waiting = false; if (!vm) draw(); } showOverlay(); }),
      store.on("data", () => { if (vm) drawNaps(); }),
    ];
    syncOpen();
    draw();
    return () => {
      offs.forEach((off) => off());
      unwire();
    };
  },
};
