// NAP flow: an alluvial diagram of NAP membership across the chosen layers (default: the current layer and the
// next). Columns are layers, blocks are NAPs (noise last, hatched), bands are the inputs that are in NAP a at one
// layer and NAP b at the next. Click a band: its inputs become the selection everywhere; click a block: its
// inputs (a NAP of the current layer is selected as that NAP). Lazy: opening the panel adds "flow" to the
// `topology_open` trait and the kernel computes the `flow` trait (nap_flow on each layer's NAPs).
import { h, s, int, pct } from "../dom.js";
import { lazyPanel, sameParams } from "./mapper.js";

const W = 760;
const H = 380;
const TOP = 26;
const BOTTOM = 8;
const NODE_W = 14;
const GAP = 6;

/** Node order per column: column 0 by NAP id; later columns by the weighted mean position of their sources
 * (fewer crossings); noise always last. Returns one array of node objects per column. */
export function orderColumns(flow) {
  const cols = flow.columns.map((c) => c.nodes.map((nd) => ({ ...nd })));
  const rank = (col) => new Map(col.map((nd, i) => [nd.nap, i]));
  cols[0].sort((a, b) => (a.noise - b.noise) || (a.nap - b.nap));
  for (let c = 1; c < cols.length; c++) {
    const prev = rank(cols[c - 1]);
    const acc = new Map();
    for (const l of flow.links) {
      if (l.col !== c - 1 || l.noise_a || l.nap_a < 0) continue;
      const a = acc.get(l.nap_b) || [0, 0];
      a[0] += l.count * prev.get(l.nap_a);
      a[1] += l.count;
      acc.set(l.nap_b, a);
    }
    const key = (nd) => { const a = acc.get(nd.nap); return a?.[1] ? a[0] / a[1] : 1e9; };
    cols[c].sort((a, b) => (a.noise - b.noise) || (key(a) - key(b)) || (a.nap - b.nap));
  }
  return cols;
}

/** Geometry of the alluvial diagram: node rects and band paths (pure; used by the view and the tests). */
export function flowLayout(flow, { width = W, height = H, showNoise = true } = {}) {
  const links = flow.links.map((l, i) => ({ ...l, index: i })).filter((l) => showNoise || (l.nap_a >= 0 && l.nap_b >= 0));
  const cols = orderColumns(flow).map((col, c) => col.filter((nd) => showNoise || !nd.noise).map((nd) => ({ ...nd, col: c })));
  const nC = cols.length;
  const x = (c) => (nC === 1 ? width / 2 : 8 + (c * (width - 16 - NODE_W)) / (nC - 1));
  // node heights: what the visible links carry (a node's size on its busiest side)
  const inSum = new Map();
  const outSum = new Map();
  for (const l of links) {
    outSum.set(`${l.col}:${l.nap_a}`, (outSum.get(`${l.col}:${l.nap_a}`) || 0) + l.count);
    inSum.set(`${l.col + 1}:${l.nap_b}`, (inSum.get(`${l.col + 1}:${l.nap_b}`) || 0) + l.count);
  }
  const value = (nd) => Math.max(inSum.get(`${nd.col}:${nd.nap}`) || 0, outSum.get(`${nd.col}:${nd.nap}`) || 0);
  const maxTotal = Math.max(1, ...cols.map((col) => col.reduce((a, nd) => a + value(nd), 0)));
  const maxNodes = Math.max(1, ...cols.map((col) => col.length));
  const gap = Math.min(GAP, ((height - TOP - BOTTOM) * 0.3) / Math.max(1, maxNodes - 1));
  const k = Math.max(0.0001, (height - TOP - BOTTOM - gap * (maxNodes - 1)) / maxTotal);
  const nodes = new Map();
  cols.forEach((col, c) => {
    let y = TOP;
    for (const nd of col) {
      const hgt = Math.max(1, value(nd) * k);
      nodes.set(`${c}:${nd.nap}`, { ...nd, x: x(c), y, h: hgt, inY: y, outY: y });
      y += hgt + gap;
    }
  });
  // band order at each node: by the position of the other end (no crossings within a node)
  const pos = (c, nap) => nodes.get(`${c}:${nap}`);
  const sorted = [...links].sort((a, b) => (a.col - b.col) || (pos(a.col, a.nap_a).y - pos(b.col, b.nap_a).y) || (pos(a.col + 1, a.nap_b).y - pos(b.col + 1, b.nap_b).y));
  const bands = [];
  for (const l of sorted) {
    const a = pos(l.col, l.nap_a);
    const b = pos(l.col + 1, l.nap_b);
    if (!a || !b) continue;
    const th = l.count * k;
    bands.push({ link: l, x0: a.x + NODE_W, y0: a.outY, x1: b.x, y1: 0, th });
    a.outY += th;
  }
  const byTarget = [...bands].sort((p, q) => (p.link.col - q.link.col) || (pos(p.link.col + 1, p.link.nap_b).y - pos(q.link.col + 1, q.link.nap_b).y) || (p.y0 - q.y0));
  for (const band of byTarget) {
    const b = pos(band.link.col + 1, band.link.nap_b);
    band.y1 = b.inY;
    b.inY += band.th;
  }
  for (const band of bands) {
    const { x0, y0, x1, y1, th } = band;
    const xm = (x0 + x1) / 2;
    band.d = `M${x0.toFixed(1)},${y0.toFixed(2)}C${xm.toFixed(1)},${y0.toFixed(2)} ${xm.toFixed(1)},${y1.toFixed(2)} ${x1.toFixed(1)},${y1.toFixed(2)}`
      + `L${x1.toFixed(1)},${(y1 + th).toFixed(2)}C${xm.toFixed(1)},${(y1 + th).toFixed(2)} ${xm.toFixed(1)},${(y0 + th).toFixed(2)} ${x0.toFixed(1)},${(y0 + th).toFixed(2)}Z`;
  }
  return { columns: cols.map((col, c) => ({ layer: flow.columns[c].layer, x: x(c), nodes: col.map((nd) => nodes.get(`${c}:${nd.nap}`)) })), bands };
}

/** One chip per layer of the model: on for the flow's layers, marked for the current one. */
function layerChips(store, vm) {
  const layers = (store.get("layers") || []).map((l) => l.name);
  const chosen = new Set(vm ? vm.layers : store.get("flow_layers") || []);
  const cur = store.data?.view ? store.data.view.layer : null;
  return layers.map((name) => h("button", {
    type: "button",
    class: `napw-chip${chosen.has(name) ? " napw-on" : ""}${name === cur ? " napw-current" : ""}`,
    "data-testid": "flow-layer",
    "data-layer": name,
    "aria-pressed": String(chosen.has(name)),
    disabled: store.isStatic(),
    title: name === cur ? `${name} (the current layer)` : name,
    text: name,
  }));
}

const nodeLabel = (nd) => (nd.noise ? "noise" : `NAP ${nd.nap}`);
const mostly = (view, row) => (row.dominant !== null && row.dominant !== undefined ? ` · mostly ${view.classes[row.dominant]} (${pct(row.purity)})` : "");

/** The bands (one path per link) and the NAP blocks of each layer's column, laid out by flowLayout. */
function drawFlow(svg, vm, lay, view, colorOf) {
  const pat = s("pattern", { id: `napw-hatch-${Math.random().toString(36).slice(2, 8)}`, width: 4, height: 4, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    s("rect", { width: 4, height: 4, fill: "#bdbdbd" }), s("line", { x1: 0, y1: 0, x2: 0, y2: 4, stroke: "#8a8a8a", "stroke-width": 2 }));
  svg.append(s("defs", {}, pat));
  const gBands = s("g", { class: "napw-flow-bands" });
  const gNodes = s("g", { class: "napw-flow-nodes" });
  const bandEls = lay.bands.map(({ link: l, d }) => {
    const p = s("path", {
      d, class: `napw-flow-band${l.noise ? " napw-flow-noise" : ""}`, "data-testid": "flow-band", "data-link": l.index,
      "data-col": l.col, "data-from": l.nap_a, "data-to": l.nap_b, fill: l.noise ? "#9e9e9e" : colorOf(l.dominant),
    });
    const from = l.nap_a < 0 ? "noise" : `NAP ${l.nap_a}`;
    const to = l.nap_b < 0 ? "noise" : `NAP ${l.nap_b}`;
    p.append(s("title", { text: `${from} (${vm.layers[l.col]}) → ${to} (${vm.layers[l.col + 1]}): ${int(l.count)} inputs${mostly(view, l)}` }));
    gBands.append(p);
    return { el: p, link: l };
  });
  const nodeEls = [];
  const last = lay.columns.length - 1;
  lay.columns.forEach((col, c) => {
    gNodes.append(s("text", { x: c === 0 ? col.x : c === last ? col.x + NODE_W : col.x + NODE_W / 2, y: 14, class: `napw-flow-head${col.layer === view.layer ? " napw-current" : ""}`, "text-anchor": c === 0 ? "start" : c === last ? "end" : "middle", text: col.layer }));
    for (const nd of col.nodes) {
      const g = s("g", { class: "napw-flow-node", "data-testid": "flow-node", "data-col": c, "data-layer": col.layer, "data-nap": nd.nap });
      g.append(s("rect", { x: nd.x, y: nd.y, width: NODE_W, height: Math.max(1, nd.h), rx: 2, fill: nd.noise ? `url(#${pat.id})` : colorOf(nd.dominant) }));
      if (nd.h >= 11) {
        const right = c < last;
        g.append(s("text", { x: right ? nd.x + NODE_W + 4 : nd.x - 4, y: nd.y + Math.min(nd.h / 2, 12) + 3.5, "text-anchor": right ? "start" : "end", class: "napw-flow-label", text: nodeLabel(nd) }));
      }
      g.append(s("title", { text: `${nodeLabel(nd)} at ${col.layer}: ${int(nd.size)} inputs${mostly(view, nd)}` }));
      nodeEls.push({ el: g, nd, col: c, layer: col.layer });
      gNodes.append(g);
    }
  });
  svg.append(gBands, gNodes);
  return { bandEls, nodeEls };
}

export default {
  id: "flow",
  area: "footer",
  mount(el, store) {
    const panel = lazyPanel(el, store, {
      panel: "flow", title: "NAP flow across layers", testid: "flow",
      hint: "Where the inputs of each NAP go at the next layer: an alluvial diagram of NAP membership. Opens on demand.",
    });
    const chips = h("div", { class: "napw-chips", "data-testid": "flow-layers", role: "group", "aria-label": "layers of the flow" });
    const noise = h("input", { type: "checkbox", checked: true, "data-testid": "flow-noise" });
    const noiseNote = h("span", { class: "napw-muted" });
    let noiseTouched = false; // until the user decides, noise is hidden where it would dwarf the NAPs
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "napw-flow-svg", "data-testid": "flow", role: "img", "aria-label": "NAP flow" });
    const overlay = h("div", { class: "napw-topo-overlay", hidden: true }, h("span", { class: "napw-spinner" }), h("span", { text: "clustering the chosen layers…" }));
    const note = h("div", { class: "napw-empty", hidden: true });
    const info = h("div", { class: "napw-mapper-info", "data-testid": "flow-info" });
    panel.body.append(
      h("div", { class: "napw-topo-toolbar" }, h("span", { class: "napw-toolbar-label", text: "layers" }), chips,
        h("span", { class: "napw-spacer" }), noiseNote, h("label", { class: "napw-inline", title: "show the inputs that are in no NAP (hatched)" }, noise, "noise")),
      h("div", { class: "napw-mapper-stage" }, svg, overlay, note), info);

    let vm = null;
    let bandEls = [];
    let nodeEls = [];
    let waiting = false;
    let picked = null; // "band:<i>" | "node:<col>:<nap>" this view selected
    let mySelection = null;

    function current() {
      const v = store.get("flow") || {};
      return v.columns ? v : null;
    }

    const renderChips = () => chips.replaceChildren(...layerChips(store, vm));

    chips.addEventListener("click", (e) => {
      const btn = e.target.closest ? e.target.closest("[data-testid=flow-layer]") : null;
      if (!btn || store.isStatic()) return;
      const layers = (store.get("layers") || []).map((l) => l.name);
      const chosen = new Set(vm ? vm.layers : store.get("flow_layers") || []);
      const name = btn.dataset.layer;
      if (chosen.has(name)) chosen.delete(name);
      else chosen.add(name);
      const next = layers.filter((l) => chosen.has(l));
      if (next.length < 2) {
        info.replaceChildren(h("span", { class: "napw-warn", text: "Pick at least two layers for the flow." }));
        return;
      }
      waiting = true;
      showOverlay();
      store.setTopology("flow_layers", next);
    });

    function showOverlay() {
      const params = store.data?.view ? store.data.view.params : null;
      const stale = !vm || (params && !sameParams(vm.params, params));
      overlay.hidden = !(panel.isOpen() && !store.isStatic() && (waiting || stale) && !store.get("error"));
    }

    function colorOf(code) {
      const v = store.data.view;
      return code === null || code === undefined ? v.other_color || "#9e9e9e" : v.class_colors[code];
    }

    function draw() {
      vm = current();
      waiting = false;
      showOverlay();
      renderChips();
      svg.replaceChildren();
      bandEls = [];
      nodeEls = [];
      if (!vm) {
        panel.sub.textContent = "";
        note.hidden = !(panel.isOpen() && store.isStatic());
        note.textContent = "The flow was not computed before this export.";
        svg.dataset.ready = "";
        info.replaceChildren();
        return;
      }
      note.hidden = true;
      const view = store.data.view;
      const noiseShare = Math.max(0, ...vm.columns.map((c) => (c.nodes.find((nd) => nd.noise) || { size: 0 }).size / Math.max(1, vm.n)));
      if (!noiseTouched) noise.checked = noiseShare <= 0.4;
      noiseNote.textContent = noise.checked ? "" : `noise hidden (up to ${pct(noiseShare)} of inputs)`;
      const lay = flowLayout(vm, { showNoise: noise.checked });
      panel.sub.textContent = `${vm.layers.join(" → ")} · ${vm.columns.map((c) => c.n_naps).join(" → ")} NAPs · ${int(vm.links.length)} bands`;
      ({ bandEls, nodeEls } = drawFlow(svg, vm, lay, view, colorOf));
      svg.dataset.ready = "1";
      restyle();
    }

    function restyle() {
      if (!vm) return;
      const sel = new Set(store.selectedIndices());
      svg.classList.toggle("napw-has-selection", sel.size > 0);
      for (const { el, link } of bandEls) {
        let hit = 0;
        if (sel.size) for (const m of link.members) if (sel.has(m)) hit++;
        el.classList.toggle("napw-lit", hit > 0);
        el.classList.toggle("napw-picked", picked === `band:${link.index}`);
        el.dataset.selected = String(hit);
      }
      for (const { el, nd, col } of nodeEls) el.classList.toggle("napw-picked", picked === `node:${col}:${nd.nap}`);
      if (!picked) {
        info.replaceChildren(h("span", { class: "napw-muted", text: "click a band: its inputs fill the gallery · click a block: that NAP's inputs · hover for counts" }));
      }
    }

    function select(indices, key, text) {
      picked = key;
      mySelection = [...indices];
      store.selectIndices(mySelection);
      info.replaceChildren(h("span", { text }));
      restyle();
    }

    svg.addEventListener("click", (e) => {
      if (!vm) return;
      const band = e.target.closest ? e.target.closest("[data-testid=flow-band]") : null;
      if (band) {
        const l = vm.links[Number(band.dataset.link)];
        const from = l.nap_a < 0 ? "noise" : `NAP ${l.nap_a}`;
        const to = l.nap_b < 0 ? "noise" : `NAP ${l.nap_b}`;
        select(l.members, `band:${band.dataset.link}`, `${from} at ${vm.layers[l.col]} → ${to} at ${vm.layers[l.col + 1]}: ${int(l.count)} inputs selected`);
        return;
      }
      const node = e.target.closest ? e.target.closest("[data-testid=flow-node]") : null;
      if (!node) return;
      const col = Number(node.dataset.col);
      const nap = Number(node.dataset.nap);
      const layer = node.dataset.layer;
      if (layer === store.data.view.layer && nap >= 0) {
        picked = null;
        mySelection = null;
        store.selectNaps([nap]);
        return;
      }
      const members = new Set();
      for (const l of vm.links) {
        if (l.col === col && l.nap_a === nap) l.members.forEach((m) => members.add(m));
        if (l.col === col - 1 && l.nap_b === nap) l.members.forEach((m) => members.add(m));
      }
      select([...members].sort((a, b) => a - b), `node:${col}:${nap}`, `${nap < 0 ? "noise" : `NAP ${nap}`} at ${layer}: ${int(members.size)} inputs selected`);
    });
    noise.addEventListener("change", () => { noiseTouched = true; draw(); });

    function onSelection() {
      if (mySelection !== null) {
        const cur = store.selectedIndices();
        if (!(cur.length === mySelection.length && cur.every((v, i) => v === mySelection[i]))) { picked = null; mySelection = null; }
      }
      restyle();
    }

    const offs = [
      store.on("topology", (key) => {
        if (key === "topology_open") {
          panel.sync();
          if (panel.isOpen() && !current()) waiting = true;
          showOverlay();
        } else if (key === "flow") draw();
        else if (key === "flow_layers") renderChips();
      }),
      store.on("selection", onSelection),
      store.on("status", () => { if (store.get("error")) waiting = false; showOverlay(); }),
      store.on("data", () => { showOverlay(); renderChips(); }),
    ];
    draw();
    return () => offs.forEach((off) => off());
  },
};
