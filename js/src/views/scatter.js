// Persistence scatter: one point per NAP (size vs persistence, coloured by dominant label), rendered from the
// kernel's Vega-Lite spec by the bundled vega-embed (SVG). Click selects (Shift adds), dragging brushes.
// Second mode ([data-testid=scatter-mode]): the layer's 0-dim persistence diagram (birth vs death, the infinite
// bar at the top); a NAP's point (nap_diagram_points) is clickable like the scatter's. The diagram is computed
// lazily: "diagram" in the `topology_open` trait asks the kernel for the `diagram` trait.
import embed, { vegaLite } from "vega-embed";
import { h, onWidthChange } from "../dom.js";
import { sameParams } from "./mapper.js";
import { latestOnly } from "../virtual.js";

/** SVG (one clickable node per mark) for a few points; vega's canvas renderer beyond (same events, no DOM). */
export const SVG_MAX_POINTS = 150;
export const rendererFor = (nPoints) => (nPoints > SVG_MAX_POINTS ? "canvas" : "svg");

function isDark(el) {
  const root = el.closest(".napw-root") || el;
  const bg = getComputedStyle(root).getPropertyValue("--napw-bg").trim();
  const m = bg.match(/#([0-9a-f]{6})/i);
  if (!m) return false;
  const v = parseInt(m[1], 16);
  const lum = 0.2126 * ((v >> 16) & 255) + 0.7152 * ((v >> 8) & 255) + 0.0722 * (v & 255);
  return lum < 110;
}

/**
 * Compile a Vega-Lite spec to Vega with its changing parts lifted out: inline datasets (by name) and literal
 * scale domains/ranges (as signals). `key` is the remaining structure: two specs with the same key differ only
 * in data, scale domains/ranges and width, so an existing view can take the new ones without being rebuilt.
 */
export function prepare(vlSpec, diag = false) {
  const spec = vegaLite.compile(vlSpec).spec;
  const data = {};
  const signals = {};
  for (const d of spec.data || []) {
    if (Array.isArray(d.values)) {
      data[d.name] = d.values;
      d.values = [];
    }
  }
  const added = [];
  for (const sc of spec.scales || []) {
    for (const part of ["domain", "range"]) {
      if (Array.isArray(sc[part]) && sc[part].every((x) => x === null || typeof x !== "object")) {
        const name = `napw_${part}_${sc.name}`;
        signals[name] = sc[part];
        added.push({ name, value: null });
        sc[part] = { signal: name };
      }
    }
  }
  const width = spec.width;
  const sigs = spec.signals || [];
  const widthSig = sigs.find((sg) => sg.name === "width");
  const widthVal = widthSig ? widthSig.value : undefined;
  delete spec.width;
  if (widthSig) delete widthSig.value;
  spec.signals = [...added, ...sigs];
  const nPoints = Object.values(data).reduce((m, v) => Math.max(m, v.length), 0);
  const renderer = rendererFor(nPoints);
  // the renderer is not part of the key: a view switches it in place (changeView)
  const key = JSON.stringify([diag, spec]);
  // the embedded spec carries the initial values
  for (const d of spec.data || []) if (d.name in data) d.values = data[d.name];
  for (const sg of added) sg.value = signals[sg.name];
  if (width !== undefined) spec.width = width;
  if (widthSig) widthSig.value = widthVal;
  const source = Object.keys(data).find((k) => data[k].length && data[k][0] && "nap" in data[k][0]) || "";
  return { spec, key, data, signals, renderer, nPoints, source };
}

const isLiteral = (v) => Array.isArray(v) && v.every((x) => x === null || typeof x !== "object");

/**
 * The Vega-Lite spec split into what changes from one result to the next (the top-level inline `values`,
 * literal scale domains/ranges as [channel, "domain" | "range", value], the width) and `key`, the rest (with
 * the renderer the point count picks): two specs with the same key compile to the same Vega structure.
 */
export function vlParts(vlSpec, diag = false) {
  const topData = vlSpec.data;
  const encodings = new WeakSet();
  const channelOf = new WeakMap(); // a scale object -> its encoding channel
  const lits = [];
  let values;
  const shape = JSON.stringify(vlSpec, function replace(k, v) {
    if (this === vlSpec && k === "width") return undefined;
    if (this === topData && k === "values" && Array.isArray(v)) {
      values = v;
      return "napw-values";
    }
    if (k === "encoding" && v && typeof v === "object") encodings.add(v);
    else if (encodings.has(this) && v?.scale && typeof v.scale === "object") channelOf.set(v.scale, k);
    else if ((k === "domain" || k === "range") && channelOf.has(this) && isLiteral(v)) {
      lits.push([channelOf.get(this), k, v]);
      return "napw-literal";
    }
    return v;
  });
  return { key: JSON.stringify([diag, shape]), values, lits };
}

/**
 * How a spec of this shape maps onto the compiled view (`compiled`, from prepare): the dataset that holds the
 * inline values and the signal of each literal domain/range. Null when the mapping cannot be checked (several
 * inline datasets, a literal that compiled elsewhere): such specs are compiled on every update.
 */
export function liftOf(parts, compiled) {
  const names = Object.keys(compiled.data);
  if (parts.values === undefined || names.length !== 1) return null;
  if (JSON.stringify(compiled.data[names[0]]) !== JSON.stringify(parts.values)) return null;
  for (const [channel, part, value] of parts.lits) {
    const sig = `napw_${part}_${channel}`;
    if (!(sig in compiled.signals) || JSON.stringify(compiled.signals[sig]) !== JSON.stringify(value)) return null;
  }
  return { key: parts.key, dataName: names[0], signals: new Set(Object.keys(compiled.signals)), source: compiled.source };
}

/** The data and scale signals of `parts` for a view compiled from the same shape, or null (compile again). */
export function liftValues(lift, parts) {
  if (!lift || parts.key !== lift.key) return null;
  const signals = {};
  for (const [channel, part, value] of parts.lits) {
    const sig = `napw_${part}_${channel}`;
    if (!lift.signals.has(sig)) return null;
    // two layers with different literals for one merged scale: only the compiler knows the result
    if (sig in signals && JSON.stringify(signals[sig]) !== JSON.stringify(value)) return null;
    signals[sig] = value;
  }
  const nPoints = parts.values.length;
  return { data: { [lift.dataName]: parts.values }, signals, nPoints, renderer: rendererFor(nPoints), source: lift.source };
}

// the plot fills the panel: axis labels and title take ~70px of its width
const plotWidth = (w) => Math.max(160, Math.min(900, w - 72));
const isDiagram = (store) => (store.get("topology_open") || []).includes("diagram");

/** The NAPs / diagram toggle: the diagram mode is "diagram" in `topology_open` (the kernel computes it then). */
function wireModeToggle(toggle, store) {
  const setMode = (mode) => {
    const open = store.get("topology_open") || [];
    if ((mode === "diagram") === open.includes("diagram")) return;
    store.setTopology("topology_open", mode === "diagram" ? [...open, "diagram"] : open.filter((p) => p !== "diagram"));
  };
  toggle.addEventListener("click", (e) => {
    const btn = e.target.closest ? e.target.closest("[data-mode]") : null;
    if (btn && btn !== toggle) setMode(btn.dataset.mode);
    else setMode(isDiagram(store) ? "naps" : "diagram");
  });
}

/** A legend click selects every NAP its label dominates (Shift/Ctrl/⌘ adds them). */
function wireLegend(legend, store) {
  legend.addEventListener("click", (e) => {
    const btn = e.target.closest ? e.target.closest(".napw-legend-item") : null;
    if (!btn) return;
    const code = Number(btn.dataset.class);
    const ids = (store.data.view.naps || []).filter((r) => r.dominant === code).map((r) => r.id);
    store.selectNaps(ids, e.shiftKey || e.metaKey || e.ctrlKey ? "add" : "replace");
  });
}

/** Embed `compiled` in a fresh host in `box`: a view being finalised never shares (and repaints) its SVG. */
function embedInto(box, compiled, dark) {
  const host = h("div", { class: "napw-scatter-host" });
  box.replaceChildren(host);
  return embed(host, compiled.spec, { actions: false, renderer: compiled.renderer, mode: "vega", tooltip: { theme: dark ? "dark" : "light" } });
}

/** Pointer on the plot: click selects a NAP (Shift/Ctrl/⌘ toggles), hover highlights, the brush selects. */
function listen(v, store, onBrush) {
  v.addEventListener("click", (event, item) => {
    const datum = item?.datum;
    if (datum && Number.isInteger(datum.nap) && datum.nap >= 0) {
      const additive = event && (event.shiftKey || event.metaKey || event.ctrlKey);
      store.selectNaps([datum.nap], additive ? "toggle" : "replace");
    }
  });
  v.addEventListener("mouseover", (_e, item) => {
    if (item?.datum && Number.isInteger(item.datum.nap) && item.datum.nap >= 0) store.setHover(item.datum.nap);
  });
  v.addEventListener("mouseout", () => store.setHover(null));
  try {
    v.addSignalListener("brush", (_name, value) => onBrush(value));
  } catch {
    // a spec without a brush
  }
}

/**
 * New data, scale signals, width and renderer into a vega view, then run it. Crossing SVG_MAX_POINTS switches
 * the renderer of the same view (vega re-initialises only its renderer and event handler): no new embed,
 * which would parse the spec and build the dataflow again (20-60 ms).
 */
async function changeView(v, c, newWidth) {
  if (c.renderer && v.renderer() !== c.renderer) v.renderer(c.renderer);
  for (const [name, values] of Object.entries(c.data)) v.data(name, values);
  for (const [name, value] of Object.entries(c.signals)) v.signal(name, value);
  if (newWidth !== undefined && v.width() !== newWidth) v.width(newWidth);
  await v.runAsync();
}

/** The panel: title, hint, the NAPs / diagram toggle, the plot's box, the legend. */
function buildPanel() {
  const modeBtn = (mode, text, tip) => h("button", { type: "button", class: "napw-seg-btn", "data-mode": mode, title: tip, text });
  const ui = {
    box: h("div", { class: "napw-scatter", "data-testid": "scatter" }),
    empty: h("div", { class: "napw-empty", hidden: true, text: "No NAPs to plot." }),
    legend: h("div", { class: "napw-scatter-legend", "data-testid": "scatter-legend" }),
    title: h("h3", { text: "Persistence vs size" }),
    hint: h("span", { class: "napw-sub", text: "click: select · shift: add · drag: brush" }),
    modeToggle: h("div", { class: "napw-seg", role: "group", "aria-label": "scatter mode", "data-testid": "scatter-mode", "data-mode": "naps" },
      modeBtn("naps", "NAPs", "persistence vs size of each NAP"),
      modeBtn("diagram", "diagram", "the layer's 0-dim persistence diagram (birth vs death)")),
  };
  ui.section = h("section", { class: "napw-panel napw-scatter-panel" },
    h("header", { class: "napw-panel-head" }, ui.title, ui.hint, h("span", { class: "napw-spacer" }), ui.modeToggle),
    ui.empty, ui.box, ui.legend);
  return ui;
}

/** Header texts for the mode: the NAPs' scatter, or the diagram (`dvm`, `fresh` when it matches the result). */
function showMode(ui, diag, dvm, fresh) {
  ui.modeToggle.dataset.mode = diag ? "diagram" : "naps";
  for (const b of ui.modeToggle.querySelectorAll("[data-mode]")) b.setAttribute("aria-pressed", String(b.dataset.mode === ui.modeToggle.dataset.mode));
  ui.title.textContent = diag ? "Persistence diagram" : "Persistence vs size";
  ui.hint.textContent = diag
    ? (fresh ? `0-dim · ${dvm.n_shown < dvm.n_bars ? `${dvm.n_shown} of ` : ""}${dvm.n_bars} bars · NAPs coloured: click to select` : "computing…")
    : "click: select · shift: add · drag: brush";
}

/** The dominant labels present, in class order: one button each (a click selects the NAPs it dominates). */
function legendItems(view) {
  const present = [...new Set((view.naps || []).map((r) => r.dominant).filter((d) => d !== null && d !== undefined))].sort((a, b) => a - b);
  if (!view.has_labels || !present.length) return [];
  return [h("span", { class: "napw-muted", text: "dominant label " }),
    ...present.map((code) => h("button", {
      type: "button",
      class: "napw-legend-item",
      "data-class": code,
      title: `select the NAPs dominated by ${view.classes[code]}`,
    }, h("span", { class: "napw-dot", style: { background: view.class_colors[code] } }), h("span", { class: "napw-class-name", text: view.classes[code] })))];
}

/** The NAPs inside a brush value { size: [a, b], persistence: [c, d] }, or null for a cleared brush. */
export function brushedNaps(naps, value) {
  if (!value?.size || !value.persistence) return null;
  const [s0, s1] = value.size;
  const [p0, p1] = value.persistence;
  return naps
    .filter((r) => r.size >= Math.min(s0, s1) && r.size <= Math.max(s0, s1) && r.persistence >= Math.min(p0, p1) && r.persistence <= Math.max(p0, p1))
    .map((r) => r.id);
}

/** The `napfilt` signal: the NAPs with inputs that pass the label / prediction filters ([] = no filter). */
function filterSignal(store) {
  const rows = store.data.view.naps || [];
  const pass = rows.filter((r) => { const m = store.cardMembers(r, 1); return m.total === undefined || m.total > 0; }).map((r) => r.id);
  if (pass.length === rows.length) return [];
  return pass.length ? pass : [-2];
}

/** Header, legend and empty note for the current mode; the Vega-Lite spec to draw (a copy), or null. */
function specToDraw(ui, store) {
  const view = store.data.view;
  const diag = isDiagram(store);
  const dvm = store.get("diagram") || {};
  const fresh = Boolean(dvm.spec) && sameParams(dvm.params, view.params);
  showMode(ui, diag, dvm, fresh);
  const source = diag ? (fresh ? dvm.spec : null) : view.scatter;
  const spec = source && (diag || (view.naps || []).length) ? structuredClone(source) : null;
  ui.empty.textContent = diag ? (store.isStatic() ? "The persistence diagram was not computed before this export." : "Computing the persistence diagram…") : "No NAPs to plot.";
  ui.empty.hidden = Boolean(spec);
  ui.legend.replaceChildren(...legendItems(view));
  ui.legend.hidden = !ui.legend.childNodes.length;
  return { diag, spec };
}

export default {
  id: "scatter",
  area: "side",
  mount(el, store) {
    const ui = buildPanel();
    const { box, legend, modeToggle } = ui;
    el.append(ui.section);

    const diagramMode = () => isDiagram(store);
    wireModeToggle(modeToggle, store);
    wireLegend(legend, store);

    let result = null;
    let resultKey = null; // structure of the spec on screen (without data, scale domains and width)
    let lift = null; // how a Vega-Lite spec of the on-screen shape maps onto the view (liftOf)
    let lastMode = false;
    let generation = 0;
    let brushTimer = null;
    let brushIds = null; // the NAPs the brush selected: another selection clears the brush rectangle
    let destroyed = false;

    async function drawNow() {
      const gen = ++generation;
      const { diag, spec } = specToDraw(ui, store);
      lastMode = diag;
      if (!spec) {
        dropView();
        return;
      }
      const width = box.clientWidth;
      if (width > 120) spec.width = plotWidth(width);
      const newWidth = width > 120 ? spec.width : undefined;
      // the shape of the view on screen: its data and scale domains change through the view API, without
      // compiling the Vega-Lite spec again or embedding anew (which builds every mark and the dataflow)
      const parts = vlParts(spec, diag);
      const same = result ? liftValues(lift, parts) : null;
      if (same && (await updateView(same, newWidth, gen, diag))) return;
      let compiled;
      try {
        compiled = prepare(spec, diag);
      } catch (err) {
        dropView();
        box.textContent = `The scatter could not be drawn: ${err?.message ? err.message : err}`;
        return;
      }
      const nextLift = liftOf(parts, compiled);
      if (result && compiled.key === resultKey && (await updateView(compiled, newWidth, gen, diag))) {
        lift = nextLift;
        return;
      }
      if (await embedView(compiled, gen, diag)) lift = nextLift;
    }

    /** New data, scale signals and width into the view on screen; false if it failed (embed anew). */
    async function updateView(c, newWidth, gen, diag) {
      try {
        delete box.dataset.ready;
        await changeView(result.view, c, newWidth);
      } catch {
        return false;
      }
      if (gen !== generation || destroyed) return true;
      box.dataset.mode = diag ? "diagram" : "naps";
      await sync();
      box.dataset.renderer = result.view.renderer();
      box.dataset.points = String(diag ? 0 : c.nPoints);
      box.dataset.source = c.source;
      box.dataset.ready = "1";
      return true;
    }

    /** A new vega view for `compiled` (a fresh host); true when it is the one on screen. */
    async function embedView(compiled, gen, diag) {
      dropView();
      box.dataset.mode = diag ? "diagram" : "naps";
      let r;
      try {
        r = await embedInto(box, compiled, isDark(el));
      } catch (err) {
        box.textContent = `The scatter could not be drawn: ${err?.message ? err.message : err}`;
        return false;
      }
      if (gen !== generation || destroyed) {
        r.finalize();
        return false;
      }
      result = r;
      resultKey = compiled.key;
      listen(r.view, store, (value) => {
        if (brushTimer) clearTimeout(brushTimer);
        brushTimer = setTimeout(() => applyBrush(value), 180);
      });
      await sync();
      box.dataset.renderer = compiled.renderer;
      box.dataset.points = String(diag ? 0 : compiled.nPoints);
      box.dataset.source = compiled.source;
      box.napwView = r.view; // tests read the plotted rows: box.napwView.data(box.dataset.source)
      box.dataset.ready = "1";
      return true;
    }

    const draw = latestOnly(drawNow); // never two draws at once: the newest state is drawn last

    function dropView() {
      if (result) {
        result.finalize();
        result = null;
      }
      resultKey = null;
      lift = null;
      box.replaceChildren();
      delete box.dataset.ready;
      delete box.dataset.points;
    }


    function applyBrush(value) {
      const ids = brushedNaps(store.data.view.naps || [], value);
      if (!ids) return; // cleared brush (or a click): nothing to do
      brushIds = JSON.stringify(ids);
      store.selectNaps(ids);
    }

    function clearBrush(v) {
      if (brushIds === null || brushIds === JSON.stringify(store.selectedNaps())) return;
      brushIds = null;
      try {
        v.signal("brush_x", [0, 0]);
        v.signal("brush_y", [0, 0]);
      } catch {
        // signal names differ: leave the rectangle
      }
    }

    async function sync() {
      if (!result) return;
      const v = result.view;
      try {
        clearBrush(v);
        v.signal("napsel", store.selectedNaps().slice());
        // label/prediction filters: fade the NAPs none of whose inputs pass
        if (store.cardMembers && !diagramMode()) v.signal("napfilt", filterSignal(store));
        const hover = store.hoverNap();
        v.signal("napHover", hover === null ? -1 : hover);
        await v.runAsync();
      } catch {
        // the view was finalised meanwhile
      }
    }

    const offs = [
      store.on("data", draw),
      store.on("selection", sync),
      store.on("hover", sync),
      store.on("filters", sync),
      store.on("topology", (key) => {
        if ((key === "topology_open" && diagramMode() !== lastMode) || (key === "diagram" && diagramMode())) draw();
      }),
    ];
    const offResize = onWidthChange(box, (w) => {
      if (!result) return;
      result.view.width(plotWidth(w)).runAsync().catch(() => {});
    });
    draw();
    return () => {
      destroyed = true;
      offResize();
      offs.forEach((off) => off());
      if (brushTimer) clearTimeout(brushTimer);
      if (result) result.finalize();
    };
  },
};
