// Mapper graph (TopoAct): nodes = clusters of inputs within one lens interval, edges = shared inputs.
// Node area ~ member count; colour = dominant class, mean L2 norm, or the share of the selection (e.g. a selected
// NAP's members); edge width = Jaccard weight, hidden below the threshold slider. Deterministic layout (a seeded
// force simulation, computed here), wheel zoom, background-drag pan, node drag, class search that fades the
// nodes whose top classes do not match. Click a node: its members become the selection (shift adds).
//
// Lazy: the panel starts collapsed; opening it adds "mapper" to the `topology_open` trait and the kernel
// computes the graph of the current layer (`mapper` trait). Mapper parameters live in `mapper_params`.
import "./topology.css";
import { h, s, fmt, int, pct } from "../dom.js";
import { colorScale } from "./heatmap.js";

// ------------------------------------------------------------------------------------ shared helpers
/** mulberry32: a tiny seeded PRNG, so that layouts are the same on every run and machine. */
export function seededRandom(seed = 0) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A collapsible panel whose open state is the `topology_open` trait (the kernel computes open panels only). */
export function lazyPanel(el, store, { panel, title, testid, hint }) {
  const sub = h("span", { class: "napw-sub" });
  const toggle = h("button", {
    type: "button", class: "napw-btn napw-topo-toggle", "data-testid": `${testid}-toggle`, "aria-expanded": "false",
  });
  const body = h("div", { class: "napw-topo-body", hidden: true });
  const head = h("header", { class: "napw-panel-head napw-topo-head" },
    h("span", { class: "napw-chevron", "aria-hidden": "true" }), h("h3", { text: title }), sub,
    h("span", { class: "napw-spacer" }), toggle);
  const section = h("section", { class: `napw-panel napw-topo-panel napw-${panel}-panel`, "data-testid": `${testid}-panel` },
    head, h("p", { class: "napw-topo-hint", text: hint }), body);
  el.append(section);
  const isOpen = () => (store.get("topology_open") || []).includes(panel);
  function setOpen(open) {
    const cur = store.get("topology_open") || [];
    if (open === cur.includes(panel)) return;
    store.setTopology("topology_open", open ? [...cur, panel] : cur.filter((p) => p !== panel));
  }
  function sync() {
    const open = isOpen();
    body.hidden = !open;
    section.classList.toggle("napw-open", open);
    section.querySelector(".napw-topo-hint").hidden = open;
    toggle.textContent = open ? "hide" : "show";
    toggle.setAttribute("aria-expanded", String(open));
  }
  toggle.addEventListener("click", (e) => { e.stopPropagation(); setOpen(!isOpen()); });
  head.addEventListener("click", () => setOpen(!isOpen()));
  sync();
  return { section, body, sub, toggle, isOpen, setOpen, sync };
}

/** Same clustering parameters (key order does not matter). */
export function sameParams(a, b) {
  const keys = Object.keys(a || {});
  return Boolean(a && b) && keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function svgPoint(svg, event, W, H) {
  const r = svg.getBoundingClientRect();
  const sx = r.width ? W / r.width : 1;
  const sy = r.height ? H / r.height : 1;
  return { x: (event.clientX - r.left) * sx, y: (event.clientY - r.top) * sy };
}

// ------------------------------------------------------------------------------------ pure functions
/**
 * Deterministic force layout (Fruchterman-Reingold with linear cooling and a weak pull to the centre).
 * Nodes start at x = their lens interval (Mapper graphs read left to right by lens) and a seeded random y.
 * Returns [{x, y}] in [0, 1] x [0, 1] (uniformly scaled, centred).
 */
export function layoutGraph(nodes, edges, { seed = 0, iterations } = {}) {
  const n = nodes.length;
  if (!n) return [];
  const rand = seededRandom(seed);
  const index = new Map(nodes.map((nd, i) => [nd.id, i]));
  const maxInt = Math.max(1, ...nodes.map((nd) => nd.interval || 0));
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = ((nodes[i].interval || 0) + 0.5) / (maxInt + 1) + (rand() - 0.5) * 0.02;
    y[i] = rand();
  }
  if (n === 1) return [{ x: 0.5, y: 0.5 }];
  const E = edges.map((e) => [index.get(e.source), index.get(e.target), e.jaccard || 0]).filter((e) => e[0] !== undefined && e[1] !== undefined);
  const k = Math.sqrt(1 / n) * 0.9;
  const iters = iterations ?? Math.max(60, Math.min(300, Math.round(4e7 / (n * n))));
  const dx = new Float64Array(n);
  const dy = new Float64Array(n);
  let temp = 0.1;
  const cool = temp / (iters + 1);
  for (let it = 0; it < iters; it++) {
    dx.fill(0);
    dy.fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let ex = x[i] - x[j];
        let ey = y[i] - y[j];
        let d2 = ex * ex + ey * ey;
        if (d2 < 1e-9) { ex = 1e-3 * (((i * 31 + j) % 7) - 3); ey = 1e-3; d2 = ex * ex + ey * ey; }
        const f = (k * k) / d2; // (k^2 / d) along the unit vector = k^2 / d^2 times (ex, ey)
        dx[i] += ex * f; dy[i] += ey * f;
        dx[j] -= ex * f; dy[j] -= ey * f;
      }
    }
    for (const [a, b, w] of E) {
      const ex = x[a] - x[b];
      const ey = y[a] - y[b];
      const d = Math.sqrt(ex * ex + ey * ey) || 1e-6;
      const f = (d / k) * (0.6 + w); // d^2 / k along the unit vector
      dx[a] -= ex * f; dy[a] -= ey * f;
      dx[b] += ex * f; dy[b] += ey * f;
    }
    for (let i = 0; i < n; i++) {
      dx[i] -= (x[i] - 0.5) * 0.6 * n * k * 0.05;
      dy[i] -= (y[i] - 0.5) * 0.6 * n * k * 0.05;
      const len = Math.sqrt(dx[i] * dx[i] + dy[i] * dy[i]);
      if (len > 0) {
        const step = Math.min(len, temp) / len;
        x[i] += dx[i] * step;
        y[i] += dy[i] * step;
      }
    }
    temp -= cool;
  }
  // fit into the unit square, keeping the aspect ratio
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, x[i]); x1 = Math.max(x1, x[i]);
    y0 = Math.min(y0, y[i]); y1 = Math.max(y1, y[i]);
  }
  const span = Math.max(x1 - x0, y1 - y0) || 1;
  const ox = (1 - (x1 - x0) / span) / 2;
  const oy = (1 - (y1 - y0) / span) / 2;
  return Array.from({ length: n }, (_, i) => ({ x: ox + (x[i] - x0) / span, y: oy + (y[i] - y0) / span }));
}

/** Scale unit-square positions uniformly to fill a width x height box (minus padding), centred. */
export function fitToBox(unit, width, height, pad) {
  if (!unit.length) return [];
  const xs = unit.map((q) => q.x);
  const ys = unit.map((q) => q.y);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const k = Math.min((width - 2 * pad) / Math.max(x1 - x0, 1e-9), (height - 2 * pad) / Math.max(y1 - y0, 1e-9));
  const ox = (width - k * (x1 - x0)) / 2;
  const oy = (height - k * (y1 - y0)) / 2;
  return unit.map((q) => ({ x: ox + (q.x - x0) * k, y: oy + (q.y - y0) * k }));
}

/** Edges drawn at Jaccard threshold `t` (an edge at exactly t is kept). */
export function visibleEdges(edges, t) {
  return edges.filter((e) => (e.jaccard ?? 0) >= t);
}

/** Ids of the nodes whose top classes contain `query` (case-insensitive); null when the query is empty. */
export function matchNodes(nodes, query, classes) {
  const q = String(query || "").trim().toLowerCase();
  if (!q) return null;
  const out = new Set();
  for (const nd of nodes) {
    if ((nd.top || []).some(([code]) => String(classes[code] ?? code).toLowerCase().includes(q))) out.add(nd.id);
  }
  return out;
}

/** Node id -> share of its members in `selected` (a Set), for nodes holding at least one selected input. */
export function nodeShares(nodes, selected) {
  const out = new Map();
  if (!selected?.size) return out;
  for (const nd of nodes) {
    let hit = 0;
    for (const m of nd.members) if (selected.has(m)) hit++;
    if (hit) out.set(nd.id, hit / nd.size);
  }
  return out;
}

/** Node radius: area proportional to the member count; smaller for graphs with many nodes. */
export function nodeRadius(size, maxSize, nNodes = 1) {
  const scale = Math.max(7, Math.min(16, 110 / Math.sqrt(Math.max(1, nNodes))));
  return 3.5 + scale * Math.sqrt(size / Math.max(1, maxSize));
}

const SHARE_STOPS = ["#eceff3", "#f6c89f", "#ef8a3c", "#c4461b", "#7f1d0c"];
function shareColor(t) {
  const x = Math.min(1, Math.max(0, t)) * (SHARE_STOPS.length - 1);
  const i = Math.min(SHARE_STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = parseInt(SHARE_STOPS[i].slice(1), 16);
  const b = parseInt(SHARE_STOPS[i + 1].slice(1), 16);
  const c = [16, 8, 0].map((sh) => Math.round(((a >> sh) & 255) + f * (((b >> sh) & 255) - ((a >> sh) & 255))));
  return `rgb(${c.join(",")})`;
}

const W = 760;
const H = 430;
const PAD = 30;

/** The panel's DOM: toolbars, the SVG stage, legend and info line. */
function mapperDom(el, store) {
  const panel = lazyPanel(el, store, {
    panel: "mapper", title: "Mapper graph", testid: "mapper",
    hint: "The shape of this layer's activation space (TopoAct): clusters of inputs along the activation norm, joined where they share inputs. Opens on demand.",
  });
  const ctl = (label, control, cls = "") => h("label", { class: `napw-field napw-field-inline ${cls}` }, h("span", { class: "napw-field-label", text: label }), control);
  const lens = h("select", { class: "napw-select napw-select-sm", "data-testid": "mapper-lens", "aria-label": "lens" },
    h("option", { value: "l2norm", text: "L2 norm" }), h("option", { value: "pca", text: "1st principal comp." }));
  const intervals = h("input", { type: "number", min: 1, max: 200, step: 1, class: "napw-num napw-num-sm", "data-testid": "mapper-intervals", "aria-label": "intervals" });
  const overlap = h("input", { type: "range", min: 0, max: 0.9, step: 0.05, class: "napw-range", "data-testid": "mapper-overlap", "aria-label": "overlap" });
  const overlapOut = h("output", { class: "napw-range-out" });
  const eps = h("input", { type: "text", class: "napw-num napw-num-sm", placeholder: "auto", "data-testid": "mapper-eps", "aria-label": "DBSCAN eps (empty = auto)", title: "DBSCAN radius; empty = auto (elbow of the k-NN distances)" });
  const colorBy = h("select", { class: "napw-select napw-select-sm", "data-testid": "mapper-color", "aria-label": "colour by" },
    h("option", { value: "class", text: "dominant class" }), h("option", { value: "l2", text: "mean L2 norm" }),
    h("option", { value: "share", text: "share of selection" }));
  const threshold = h("input", { type: "range", min: 0, max: 1, step: 0.01, value: 0, class: "napw-range", "data-testid": "mapper-threshold", "aria-label": "edge threshold (Jaccard)" });
  const thresholdOut = h("output", { class: "napw-range-out", text: "0.00" });
  const search = h("input", { type: "search", class: "napw-search", placeholder: "search class…", "data-testid": "mapper-search", "aria-label": "search class" });
  const reset = h("button", { type: "button", class: "napw-btn napw-btn-ghost", "data-testid": "mapper-reset", title: "fit the graph to the panel", text: "fit" });
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "napw-mapper-svg", "data-testid": "mapper", role: "img", "aria-label": "Mapper graph" });
  const viewport = s("g", { class: "napw-mapper-viewport" });
  const gEdges = s("g", { class: "napw-mapper-edges" });
  const gNodes = s("g", { class: "napw-mapper-nodes" });
  viewport.append(gEdges, gNodes);
  svg.append(viewport);
  const overlay = h("div", { class: "napw-topo-overlay", hidden: true }, h("span", { class: "napw-spinner" }), h("span", { text: "computing the Mapper graph…" }));
  const empty = h("div", { class: "napw-empty", hidden: true });
  const legend = h("div", { class: "napw-mapper-legend", "data-testid": "mapper-legend" });
  const info = h("div", { class: "napw-mapper-info", "data-testid": "mapper-info" });
  panel.body.append(
    h("div", { class: "napw-topo-toolbar" },
      h("span", { class: "napw-toolbar-label", text: "graph" }),
      ctl("lens", lens), ctl("intervals", intervals), ctl("overlap", h("span", { class: "napw-inline" }, overlap, overlapOut)), ctl("eps", eps)),
    h("div", { class: "napw-topo-toolbar" },
      h("span", { class: "napw-toolbar-label", text: "view" }),
      ctl("colour", colorBy), ctl("edges ≥", h("span", { class: "napw-inline" }, threshold, thresholdOut)), search, h("span", { class: "napw-spacer" }), reset),
    h("div", { class: "napw-mapper-stage" }, svg, overlay, empty),
    legend, info);

  return { panel, lens, intervals, overlap, overlapOut, eps, colorBy, threshold, thresholdOut, search, reset, svg, viewport, gEdges, gNodes, overlay, empty, legend, info };
}

/** The Mapper parameters (kernel side: `mapper_params`): inputs, and what a change writes. */
function mapperParams(M, store, showOverlay) {
  const { lens, intervals, overlap, overlapOut, eps } = M;
  // ------------------------------------------------------------------ parameters (kernel)
  function params() {
    return { ...(store.get("mapper_params") || {}) };
  }

  function renderParams() {
    const p = params();
    lens.value = p.lens || "l2norm";
    if (document.activeElement !== intervals) intervals.value = p.n_intervals ?? 10;
    overlap.value = p.overlap ?? 0.3;
    overlapOut.textContent = pct(Number(overlap.value));
    if (document.activeElement !== eps) eps.value = p.eps === "auto" || p.eps === undefined || p.eps === null ? "" : String(p.eps);
    for (const c of [lens, intervals, overlap, eps]) c.disabled = store.isStatic();
  }

  function setParam(name, value) {
    const p = params();
    if (p[name] === value) return;
    M.waiting = true;
    showOverlay();
    store.setTopology("mapper_params", { ...p, [name]: value });
  }

  lens.addEventListener("change", () => setParam("lens", lens.value));
  intervals.addEventListener("change", () => {
    const v = Number(intervals.value);
    if (Number.isInteger(v) && v >= 1) setParam("n_intervals", v);
    else renderParams();
  });
  overlap.addEventListener("input", () => { overlapOut.textContent = pct(Number(overlap.value)); });
  overlap.addEventListener("change", () => setParam("overlap", Number(overlap.value)));
  eps.addEventListener("change", () => {
    const raw = eps.value.trim();
    setParam("eps", raw === "" || raw.toLowerCase() === "auto" ? "auto" : Number(raw));
  });

  return { renderParams };
}

/** The legend (colour key, size key, search matches) and the info line (the hovered or picked node). */
function mapperInfo(M, store) {
  const { legend, info } = M;
  function renderLegend(mode, share, lo, hi, l2color, match) {
    const view = store.data.view;
    const items = [];
    if (mode === "class") {
      const present = [...new Set(M.vm.nodes.map((nd) => nd.dominant).filter((d) => d !== null && d !== undefined))].sort((a, b) => a - b);
      items.push(h("span", { class: "napw-muted", text: "dominant class " }));
      for (const code of present.slice(0, 16)) {
        items.push(h("button", { type: "button", class: "napw-legend-item", "data-class": code, title: `find nodes where ${view.classes[code]} is a top class` },
          h("span", { class: "napw-dot", style: { background: view.class_colors[code] } }), h("span", { class: "napw-class-name", text: view.classes[code] })));
      }
    } else {
      const stops = [];
      for (let q = 0; q <= 10; q++) stops.push(mode === "l2" ? l2color(lo + ((hi - lo) * q) / 10) : shareColor(q / 10));
      const grad = h("span", { class: "napw-heat-gradient" });
      grad.style.background = `linear-gradient(to right, ${stops.join(",")})`;
      if (mode === "l2") items.push(h("span", { text: fmt(lo, 2) }), grad, h("span", { text: fmt(hi, 2) }), h("span", { class: "napw-muted", text: " mean L2 norm of the members' activations" }));
      else {
        items.push(h("span", { text: "0%" }), grad, h("span", { text: "100%" }));
        items.push(h("span", { class: "napw-muted", text: share.size ? ` of each node's inputs are selected (${share.size} nodes hold some)` : " select a NAP (or inputs) to colour nodes by their share of it" }));
      }
    }
    items.push(h("span", { class: "napw-spacer" }));
    items.push(h("span", { class: "napw-muted napw-legend-size" }, h("span", { class: "napw-size-key" }), "size = inputs · width = Jaccard"));
    if (match !== null) items.push(h("span", { class: "napw-match-count", text: ` · ${match.size} node${match.size === 1 ? "" : "s"} match` }));
    legend.replaceChildren(...items);
  }

  function renderInfo() {
    const view = store.data.view;
    const id = M.hoverNode !== null ? M.hoverNode : M.selectedNodes.size === 1 ? [...M.selectedNodes][0] : null;
    const nd = id !== null && M.byId.has(id) ? M.vm.nodes[M.byId.get(id)] : null;
    if (!nd) {
      const n = M.selectedNodes.size;
      info.replaceChildren(h("span", { class: "napw-muted", text: n > 1
        ? `${n} nodes selected · ${int(store.selectedIndices().length)} inputs in the gallery`
        : "click a node: its inputs fill the gallery · shift-click adds · drag nodes · wheel zooms · drag the background to pan" }));
      return;
    }
    const parts = [h("strong", { text: `node ${nd.id}` }), h("span", { class: "napw-muted", text: ` · ${int(nd.size)} inputs · interval ${nd.interval + 1}/${M.vm.n_intervals} · mean ‖a‖ ${fmt(nd.l2, 2)} ` })];
    for (const [code, count, sh] of nd.top || []) {
      parts.push(h("span", { class: "napw-top-class" },
        h("span", { class: "napw-swatch", style: { background: view.class_colors[code] || view.other_color } }),
        h("span", { class: "napw-class-name", text: view.classes[code] ?? String(code) }),
        h("span", { class: "napw-muted", text: ` ${pct(sh)} (${int(count)})` })));
    }
    info.replaceChildren(...parts);
  }

  return { renderLegend, renderInfo };
}

/** Drawing: the graph of the `mapper` trait (layout, nodes, edges), restyled on selection / search / colour. */
/** The header's one-line summary of a Mapper graph. */
function summary(vm) {
  const p = vm.params || {};
  return `${vm.layer} · ${int(vm.nodes.length)} nodes · ${int(vm.edges.length)} edges · eps ${fmt(p.eps_used, 3)}${p.eps === "auto" ? " (auto)" : ""} · ${pct(vm.covered / Math.max(1, vm.n))} of inputs covered`;
}

function mapperRender(M, store) {
  const { renderLegend, renderInfo } = mapperInfo(M, store);
  const { panel, colorBy, threshold, thresholdOut, search, svg, gEdges, gNodes, overlay, empty, legend, info } = M;
  // ------------------------------------------------------------------ drawing
  function current() {
    const v = store.get("mapper") || {};
    return v.nodes ? v : null;
  }

  function showOverlay() {
    const open = panel.isOpen();
    const layer = store.data?.view ? store.data.view.layer : null;
    const stale = !M.vm || (layer && M.vm.layer !== layer);
    overlay.hidden = !(open && !store.isStatic() && (M.waiting || stale) && !store.get("error"));
  }

  function draw() {
    // a closed panel holds no graph (hundreds of nodes and edges are ~1,000 SVG elements): drawn on opening
    const next = panel.isOpen() ? current() : null;
    if (next === M.vm && M.vm) return restyle();
    M.vm = next;
    M.waiting = false;
    M.selectedNodes = new Set();
    showOverlay();
    gEdges.replaceChildren();
    gNodes.replaceChildren();
    M.circles = [];
    M.lines = [];
    if (!M.vm) {
      panel.sub.textContent = current() ? summary(current()) : ""; // a closed panel still says what it holds
      empty.hidden = !(panel.isOpen() && store.isStatic());
      empty.textContent = "Not part of this static export (open the panel in the notebook before saving).";
      svg.dataset.ready = "";
      legend.replaceChildren();
      info.replaceChildren();
      return;
    }
    const nodes = M.vm.nodes;
    empty.hidden = nodes.length > 0;
    empty.textContent = "No Mapper nodes at these settings: every interval is noise. Try a larger eps, fewer intervals or a larger overlap.";
    panel.sub.textContent = summary(M.vm);
    M.pos = fitToBox(layoutGraph(nodes, M.vm.edges, { seed: 0 }), W, H, PAD);
    M.byId = new Map(nodes.map((nd, i) => [nd.id, i]));
    const maxSize = Math.max(1, ...nodes.map((nd) => nd.size));
    for (const e of M.vm.edges) {
      const line = s("line", { class: "napw-mapper-edge", "data-testid": "mapper-edge", "data-source": e.source, "data-target": e.target, "stroke-width": (0.8 + 6 * (e.jaccard || 0)).toFixed(2) });
      line.append(s("title", { text: `nodes ${e.source}–${e.target}: ${int(e.shared)} shared inputs · Jaccard ${fmt(e.jaccard, 2)}` }));
      M.lines.push({ el: line, e });
      gEdges.append(line);
    }
    nodes.forEach((nd) => {
      const c = s("circle", { class: "napw-mapper-node", "data-testid": "mapper-node", "data-node": nd.id, r: nodeRadius(nd.size, maxSize, nodes.length).toFixed(2), tabindex: 0, role: "button" });
      c.append(s("title", { text: nodeTitle(nd) }));
      M.circles.push({ el: c, nd });
      gNodes.append(c);
    });
    placeAll();
    M.setZoom({ k: 1, x: 0, y: 0 });
    restyle();
    svg.dataset.ready = "1";
    svg.dataset.layer = M.vm.layer;
  }

  function className(code) {
    const v = store.data?.view;
    return v?.classes && code !== null && code !== undefined ? v.classes[code] : String(code);
  }

  function nodeTitle(nd) {
    const top = (nd.top || []).map(([code, , share]) => `${className(code)} ${pct(share)}`).join(", ");
    return `node ${nd.id} · ${int(nd.size)} inputs · interval ${nd.interval + 1} · mean ‖a‖ ${fmt(nd.l2, 2)}${top ? ` · ${top}` : ""}`;
  }

  function placeAll() {
    M.circles.forEach(({ el: c }, i) => { c.setAttribute("cx", M.pos[i].x.toFixed(1)); c.setAttribute("cy", M.pos[i].y.toFixed(1)); });
    for (const { el: line, e } of M.lines) placeEdge(line, e);
  }

  function placeEdge(line, e) {
    const a = M.pos[M.byId.get(e.source)];
    const b = M.pos[M.byId.get(e.target)];
    line.setAttribute("x1", a.x.toFixed(1)); line.setAttribute("y1", a.y.toFixed(1));
    line.setAttribute("x2", b.x.toFixed(1)); line.setAttribute("y2", b.y.toFixed(1));
  }

  function fillFor(mode, nd, share, l2color) {
    const view = store.data.view;
    if (mode === "l2") return l2color(nd.l2 ?? 0);
    if (mode === "share") return shareColor(share.get(nd.id) || 0);
    return nd.dominant === null || nd.dominant === undefined ? view.other_color || "#9e9e9e" : view.class_colors[nd.dominant];
  }

  function restyle() {
    if (!M.vm) return;
    const view = store.data.view;
    const mode = colorBy.value;
    const t = Number(threshold.value);
    thresholdOut.textContent = t.toFixed(2);
    const match = matchNodes(M.vm.nodes, search.value, view.classes || []);
    const selected = new Set(store.selectedIndices());
    const share = nodeShares(M.vm.nodes, selected);
    const [lo, hi] = M.vm.l2_range || [0, 1];
    const l2color = colorScale(Math.min(lo, hi), hi > lo ? hi : lo + 1);
    const anySel = selected.size > 0;
    svg.classList.toggle("napw-has-selection", anySel);
    for (const { el: c, nd } of M.circles) {
      c.setAttribute("fill", fillFor(mode, nd, share, l2color));
      const faded = match !== null && !match.has(nd.id);
      const lit = share.has(nd.id);
      c.classList.toggle("napw-faded", faded);
      c.classList.toggle("napw-lit", lit);
      c.classList.toggle("napw-dim", anySel && !lit && !faded);
      c.classList.toggle("napw-picked", M.selectedNodes.has(nd.id));
      c.classList.toggle("napw-hover", M.hoverNode === nd.id);
      c.dataset.faded = faded ? "1" : "0";
      c.dataset.highlight = lit ? "1" : "0";
      c.dataset.share = lit ? share.get(nd.id).toFixed(4) : "0";
    }
    let shown = 0;
    for (const { el: line, e } of M.lines) {
      const visible = (e.jaccard ?? 0) >= t;
      line.style.display = visible ? "" : "none";
      line.dataset.visible = visible ? "1" : "0";
      if (visible) shown++;
      const fade = match !== null && !(match.has(e.source) && match.has(e.target));
      line.classList.toggle("napw-faded", fade);
      line.classList.toggle("napw-lit", share.has(e.source) && share.has(e.target));
    }
    svg.dataset.edgesShown = String(shown);
    svg.dataset.matches = match === null ? "" : String(match.size);
    renderLegend(mode, share, lo, hi, l2color, match);
    renderInfo();
  }

  return { showOverlay, draw, restyle, renderInfo, placeEdge, current };
}

/** Pointer and keyboard: wheel zoom, background pan, node drag, click / Enter picks nodes, hover, legend. */
function mapperInput(M, store, { restyle, renderInfo, placeEdge }) {
  const { colorBy, threshold, search, reset, svg, viewport, legend } = M;
  // ------------------------------------------------------------------ M.zoom / pan / drag / click
  function setZoom(z) {
    M.zoom = z;
    viewport.setAttribute("transform", `translate(${z.x.toFixed(2)},${z.y.toFixed(2)}) scale(${z.k.toFixed(4)})`);
    svg.dataset.zoom = z.k.toFixed(3);
  }

  svg.addEventListener("wheel", (e) => {
    if (!M.vm) return;
    e.preventDefault();
    const p = svgPoint(svg, e, W, H);
    const k = Math.min(8, Math.max(0.25, M.zoom.k * Math.exp(-e.deltaY * 0.0015)));
    const f = k / M.zoom.k;
    setZoom({ k, x: p.x - (p.x - M.zoom.x) * f, y: p.y - (p.y - M.zoom.y) * f });
  }, { passive: false });

  let drag = null;
  let suppressClick = false;
  svg.addEventListener("pointerdown", (e) => {
    if (!M.vm || e.button !== 0) return;
    const c = e.target.closest ? e.target.closest("[data-testid=mapper-node]") : null;
    const p = svgPoint(svg, e, W, H);
    drag = { node: c ? Number(c.dataset.node) : null, start: p, last: p, moved: false, id: e.pointerId };
    suppressClick = false;
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) {
      return;
    }
    const p = svgPoint(svg, e, W, H);
    if (!drag.moved && Math.hypot(p.x - drag.start.x, p.y - drag.start.y) < 3) return;
    if (!drag.moved) {
      drag.moved = true;
      try { svg.setPointerCapture(drag.id); } catch { /* synthetic events */ }
      svg.classList.add("napw-dragging");
    }
    const ddx = p.x - drag.last.x;
    const ddy = p.y - drag.last.y;
    drag.last = p;
    if (drag.node !== null && M.byId.has(drag.node)) {
      const i = M.byId.get(drag.node);
      M.pos[i] = { x: M.pos[i].x + ddx / M.zoom.k, y: M.pos[i].y + ddy / M.zoom.k };
      M.circles[i].el.setAttribute("cx", M.pos[i].x.toFixed(1));
      M.circles[i].el.setAttribute("cy", M.pos[i].y.toFixed(1));
      for (const { el: line, e: edge } of M.lines) if (edge.source === drag.node || edge.target === drag.node) placeEdge(line, edge);
    } else {
      setZoom({ k: M.zoom.k, x: M.zoom.x + ddx, y: M.zoom.y + ddy });
    }
  });
  const endDrag = () => {
    if (drag?.moved) suppressClick = true;
    drag = null;
    svg.classList.remove("napw-dragging");
  };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);

  function pick(id, additive) {
    if (additive) {
      if (M.selectedNodes.has(id)) M.selectedNodes.delete(id);
      else M.selectedNodes.add(id);
    } else {
      M.selectedNodes = new Set([id]);
    }
    const members = new Set();
    for (const nid of M.selectedNodes) for (const m of M.vm.nodes[M.byId.get(nid)].members) members.add(m);
    M.mySelection = [...members].sort((a, b) => a - b);
    store.selectIndices(M.mySelection);
    restyle();
  }

  svg.addEventListener("click", (e) => {
    if (suppressClick) { suppressClick = false; return; }
    const c = e.target.closest ? e.target.closest("[data-testid=mapper-node]") : null;
    if (!c || !M.vm) return;
    pick(Number(c.dataset.node), e.shiftKey || e.metaKey || e.ctrlKey);
  });
  svg.addEventListener("keydown", (e) => {
    const c = e.target.closest ? e.target.closest("[data-testid=mapper-node]") : null;
    if (c && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      pick(Number(c.dataset.node), e.shiftKey);
    }
  });
  svg.addEventListener("mouseover", (e) => {
    const c = e.target.closest ? e.target.closest("[data-testid=mapper-node]") : null;
    const id = c ? Number(c.dataset.node) : null;
    if (id === M.hoverNode) return;
    M.hoverNode = id;
    for (const { el: circle, nd } of M.circles) circle.classList.toggle("napw-hover", nd.id === id);
    renderInfo();
  });
  svg.addEventListener("mouseleave", () => { M.hoverNode = null; for (const { el: c } of M.circles) c.classList.remove("napw-hover"); if (M.vm) renderInfo(); });
  reset.addEventListener("click", () => setZoom({ k: 1, x: 0, y: 0 }));
  colorBy.addEventListener("change", restyle);
  threshold.addEventListener("input", restyle);
  search.addEventListener("input", restyle);
  legend.addEventListener("click", (e) => {
    const btn = e.target.closest ? e.target.closest(".napw-legend-item") : null;
    if (!btn) return;
    const name = store.data.view.classes[Number(btn.dataset.class)];
    search.value = search.value === name ? "" : name;
    restyle();
  });

  return { setZoom };
}

// ------------------------------------------------------------------------------------ the view
export default {
  id: "mapper",
  area: "footer",
  mount(el, store) {
    const M = mapperDom(el, store);
    Object.assign(M, {
      vm: null,
      pos: [], // per node index: {x, y} in SVG units
      byId: new Map(),
      circles: [],
      lines: [],
      waiting: false,
      zoom: { k: 1, x: 0, y: 0 },
      selectedNodes: new Set(),
      mySelection: null, // the selected_indices this view set (other selections clear its node ring)
      hoverNode: null,
      destroyed: false,
    });
    const { panel } = M;
    const render = mapperRender(M, store);
    const { showOverlay, draw, restyle, current } = render;
    const { renderParams } = mapperParams(M, store, showOverlay);
    M.setZoom = mapperInput(M, store, render).setZoom;

    function onSelection() {
      if (M.mySelection !== null) {
        const cur = store.selectedIndices();
        const same = cur.length === M.mySelection.length && cur.every((v, i) => v === M.mySelection[i]);
        if (!same) { M.selectedNodes = new Set(); M.mySelection = null; }
      }
      if (M.vm) restyle();
    }

    function onTopology(key) {
      if (M.destroyed) return;
      if (key === "topology_open") {
        panel.sync();
        // opened: draw the graph (or, in a file without it, the note); closed: drop it
        if (panel.isOpen() !== Boolean(M.vm) || (store.isStatic() && !current())) draw();
        if (panel.isOpen() && !current()) M.waiting = true;
        showOverlay();
      } else if (key === "mapper") draw();
      else if (key === "mapper_params") renderParams();
    }

    const offs = [
      store.on("topology", onTopology),
      store.on("selection", onSelection),
      store.on("status", () => { if (store.get("error")) M.waiting = false; renderParams(); showOverlay(); }),
      store.on("data", () => { showOverlay(); if (M.vm) restyle(); }),
    ];
    renderParams();
    draw();
    return () => {
      M.destroyed = true;
      offs.forEach((off) => off());
    };
  },
};
