// Pinned tray: NAPs pinned from any layer (the pin button on each card), kept while layers and parameters
// change, compared side by side: each one's most / least typical members, size, label make-up, how many
// members it shares with the other pins, and its per-unit mean profile (with IQR band) overlaid on the other
// pins of the same layer. Click a pin's title to go to its layer and select it; × unpins.
import { h, s, fmt, int, pct } from "../dom.js";
import { memberTile, gotoNap, samePin, PIN_COLORS } from "./crosslayer-common.js";

const W = 460;
const H = 150;
const M = { l: 30, r: 8, t: 8, b: 20 };

/** Overlaid mean profiles (and IQR bands) of pins of one layer. `pins`: [{ mean, q1, q3, color, label }]. */
export function overlaySvg(pins, layer) {
  const F = Math.max(...pins.map((p) => (p.mean || []).length), 1);
  const all = pins.flatMap((p) => [...(p.q1 || []), ...(p.q3 || []), ...(p.mean || [])]).filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...all);
  const hi = Math.max(1e-6, ...all);
  const x = (i) => M.l + ((i + 0.5) * (W - M.l - M.r)) / F;
  const y = (v) => M.t + ((hi - (v ?? 0)) * (H - M.t - M.b)) / (hi - lo || 1);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "napw-cx-overlay", "data-testid": "pinned-overlay", "data-layer": layer, role: "img", "aria-label": `mean activation profiles of ${pins.length} pinned NAPs in layer ${layer}` });
  for (const t of [lo, (lo + hi) / 2, hi]) {
    svg.append(s("line", { x1: M.l, x2: W - M.r, y1: y(t), y2: y(t), class: "napw-gridline" }));
    svg.append(s("text", { x: M.l - 4, y: y(t) + 3, class: "napw-axis-label", "text-anchor": "end", text: fmt(t, 1) }));
  }
  const ticks = F <= 16 ? F : 8;
  for (let k = 0; k < ticks; k++) {
    const i = Math.round((k * (F - 1)) / Math.max(1, ticks - 1));
    svg.append(s("text", { x: x(i), y: H - 5, class: "napw-axis-label", "text-anchor": "middle", text: String(i) }));
  }
  for (const p of pins) {
    const n = (p.mean || []).length;
    if (!n) continue;
    let band = "";
    for (let i = 0; i < n; i++) band += `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.q3[i]).toFixed(1)}`;
    for (let i = n - 1; i >= 0; i--) band += `L${x(i).toFixed(1)},${y(p.q1[i]).toFixed(1)}`;
    svg.append(s("path", { d: `${band}Z`, fill: p.color, "fill-opacity": 0.14, stroke: "none" }));
  }
  for (const p of pins) {
    const n = (p.mean || []).length;
    let line = "";
    for (let i = 0; i < n; i++) line += `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.mean[i]).toFixed(1)}`;
    const path = s("path", { d: line, fill: "none", stroke: p.color, "stroke-width": 1.8, class: "napw-cx-pin-line" });
    path.append(s("title", { text: `${p.label}: mean activation per unit` }));
    svg.append(path);
    if (n <= 64) for (let i = 0; i < n; i++) svg.append(s("circle", { cx: x(i), cy: y(p.mean[i]), r: 1.8, fill: p.color }));
  }
  return svg;
}

export default {
  id: "pinned",
  area: "main",
  mount(el, store) {
    const sub = h("span", { class: "napw-sub" });
    const clearBtn = h("button", { type: "button", class: "napw-btn napw-btn-ghost", "data-testid": "unpin-all", text: "unpin all" });
    const tray = h("div", { class: "napw-cx-tray" });
    const charts = h("div", { class: "napw-cx-charts" });
    const empty = h("div", { class: "napw-empty", text: "Pin NAPs (the pin button on a card) to keep them here while you switch layers or parameters, and compare them side by side." });
    const section = h("section", { class: "napw-panel napw-cx-pinned", "data-testid": "pinned" },
      h("header", { class: "napw-panel-head" }, h("h3", { text: "Pinned NAPs" }), sub, h("span", { class: "napw-spacer" }), clearBtn),
      empty, tray, charts);
    el.append(section);

    function render() {
      const pins = store.get("pinned") || [];
      const views = store.get("pinned_view") || [];
      const view = store.data?.view || { classes: [], class_colors: [] };
      // the kernel's view models, in pin order (pins not computed yet show as waiting)
      const vmOf = (p) => views.find((v) => samePin(v, p));
      empty.hidden = pins.length > 0;
      clearBtn.hidden = pins.length === 0;
      sub.textContent = pins.length ? `${pins.length} pinned · ${new Set(pins.map((p) => p.layer)).size} layer(s)` : "";
      const colorOf = new Map(pins.map((p, j) => [p, PIN_COLORS[j % PIN_COLORS.length]]));
      tray.replaceChildren(...pins.map((p, j) => {
        const vm = vmOf(p);
        const color = colorOf.get(p);
        const title = h("button", { type: "button", class: "napw-cx-pin-title", "data-testid": "pinned-goto", title: `go to layer ${p.layer} and select NAP ${p.nap}` },
          h("span", { class: "napw-swatch", style: { background: color } }),
          h("span", { class: "napw-cx-pin-layer", text: p.layer }), h("b", { text: ` NAP ${p.nap}` }));
        const unpin = h("button", { type: "button", class: "napw-icon-btn", "data-testid": "unpin", "aria-label": `unpin NAP ${p.nap} of ${p.layer}`, title: "unpin", text: "×" });
        title.addEventListener("click", () => gotoNap(store, p.layer, p.nap));
        unpin.addEventListener("click", () => store.setCross("pinned", (store.get("pinned") || []).filter((q) => !samePin(q, p))));
        const card = h("div", { class: "napw-cx-pin-card", "data-testid": "pinned-nap", "data-layer": p.layer, "data-nap": p.nap, style: { borderTopColor: color } },
          h("div", { class: "napw-cx-pin-head" }, title, h("span", { class: "napw-spacer" }), unpin));
        if (!vm) {
          card.append(h("div", { class: "napw-muted", text: store.isStatic() ? "not part of this static export (pinned after saving)" : "computing…" }));
          return card;
        }
        const params = p.params || {};
        card.append(h("div", { class: "napw-cx-pin-stats" },
          h("span", {}, h("b", { text: int(vm.size) }), " members"),
          h("span", { title: "persistence" }, "pers ", h("b", { text: fmt(vm.persistence, 3) })),
          vm.dominant !== null && vm.dominant !== undefined ? h("span", { class: "napw-dominant" },
            h("span", { class: "napw-swatch", style: { background: view.class_colors[vm.dominant] } }),
            h("span", { class: "napw-class-name", text: view.classes[vm.dominant] }), h("span", { class: "napw-muted", text: ` ${pct(vm.purity)}` })) : null,
          vm.accuracy !== null && vm.accuracy !== undefined ? h("span", { class: vm.accuracy < 0.9 ? "napw-acc-low" : "", text: `${pct(vm.accuracy)} correct` }) : null,
          h("span", { class: "napw-muted", title: "mean GLOSH outlier score of the members", text: `GLOSH ${fmt(vm.outlier_mean, 2)}` })));
        card.append(h("div", { class: "napw-cx-pin-params napw-muted", text: `mcs ${params.min_cluster_size} · ms ${params.min_samples} · ${params.cluster_selection_method} · ${params.normalize}` }));
        card.append(h("div", { class: "napw-cx-pin-members" }, (vm.members || []).map((i) => memberTile(store, i))));
        if ((vm.atypical || []).length) {
          card.append(h("div", { class: "napw-cx-least" }, h("span", { class: "napw-cx-cap", text: "least typical" }),
            h("span", { class: "napw-cx-strip" }, vm.atypical.map((i) => memberTile(store, i)))));
        }
        const shared = (vm.overlap || []).map((c, k) => [c, k]).filter(([c, k]) => k !== j && c > 0);
        if (shared.length) {
          card.append(h("div", { class: "napw-cx-overlap", title: "members this NAP shares with the other pins" },
            h("span", { class: "napw-muted", text: "shares " }),
            shared.map(([c, k]) => h("span", { class: "napw-cx-chip", style: { borderColor: PIN_COLORS[k % PIN_COLORS.length] }, text: `${c} with ${pins[k] ? `${pins[k].layer}:${pins[k].nap}` : k}` }))));
        }
        return card;
      }));
      // one overlay chart per layer (units differ between layers)
      const byLayer = new Map();
      pins.forEach((p) => {
        const vm = vmOf(p);
        if (!vm) return;
        if (!byLayer.has(p.layer)) byLayer.set(p.layer, []);
        byLayer.get(p.layer).push({ ...vm, color: colorOf.get(p), label: `${p.layer} NAP ${p.nap}` });
      });
      charts.replaceChildren(...[...byLayer].map(([layer, list]) => h("figure", { class: "napw-cx-figure" },
        h("figcaption", { class: "napw-muted", text: `${layer}: mean normalised activation per unit${list.length > 1 ? ` · ${list.length} NAPs overlaid` : ""} (band: IQR)` }),
        overlaySvg(list, layer))));
    }

    clearBtn.addEventListener("click", () => store.setCross("pinned", []));
    const offs = [
      store.on("crosslayer", (k) => { if (k === "pinned" || k === "pinned_view") render(); }),
      store.on("data", render),
    ];
    render();
    return () => offs.forEach((off) => off());
  },
};
