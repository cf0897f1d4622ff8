// Max-activating inputs: the unit-level baseline beside the NAPs. The k inputs that excite one unit (or the
// whole layer, by L2 norm) most, with their scores and the NAPs they fall in, and the NAPs whose members drive
// that unit most. Pick the unit by number, or click a unit in the heatmap's column heads or the profile's bars.
//
// Lazy: opening the panel adds "max_activating" to `cross_open`; the kernel computes the `max_activating` trait
// from `ui_state.max_unit / max_k / max_layer`.
import { h, fmt, int } from "../dom.js";
import { crossPanel, memberTile, setUi, ui } from "./crosslayer-common.js";

/** The unit a click on the heatmap's column head or the profile's bar points at, else null. */
export function unitFromTarget(target) {
  if (!target?.closest) return null;
  const head = target.closest(".napw-heat-col");
  if (head && /^\d+$/.test(head.textContent.trim())) return Number(head.textContent.trim());
  const bar = target.closest(".napw-profile-svg .napw-bars rect");
  if (bar?.parentNode) return [...bar.parentNode.children].indexOf(bar);
  return null;
}

export default {
  id: "max-activating",
  area: "side",
  mount(el, store) {
    const panel = crossPanel(el, store, {
      panel: "max_activating", title: "Max-activating inputs", testid: "max-activating",
      hint: "The unit-level baseline: the inputs that excite one unit (or the whole layer) most, beside the NAPs.",
    });
    const unit = h("input", { type: "number", min: 0, step: 1, class: "napw-num napw-num-sm", "data-testid": "max-unit", placeholder: "L2", title: "unit (empty: the whole layer, by L2 norm); or click a heatmap column / profile bar" });
    const k = h("input", { type: "number", min: 1, max: 200, step: 1, class: "napw-num napw-num-sm", "data-testid": "max-k", title: "how many inputs" });
    const layer = h("select", { class: "napw-select napw-select-sm", "data-testid": "max-layer", "aria-label": "layer of the unit" });
    const selectBtn = h("button", { type: "button", class: "napw-btn napw-btn-ghost", "data-testid": "max-select", text: "select these" });
    const summary = h("div", { class: "napw-cx-max-summary" });
    const tiles = h("div", { class: "napw-cx-max-tiles", "data-testid": "max-items" });
    const unitNaps = h("div", { class: "napw-cx-max-naps" });
    panel.body.append(h("div", { class: "napw-topo-toolbar" },
      h("label", { class: "napw-field napw-field-inline" }, h("span", { class: "napw-muted", text: "unit" }), unit),
      h("label", { class: "napw-field napw-field-inline" }, h("span", { class: "napw-muted", text: "top" }), k),
      h("label", { class: "napw-field napw-field-inline" }, h("span", { class: "napw-muted", text: "layer" }), layer),
      h("span", { class: "napw-spacer" }), selectBtn), summary, tiles, unitNaps);

    function render() {
      panel.sync();
      const o = ui(store);
      const layers = (store.get("layers") || []).map((l) => l.name);
      const key = JSON.stringify(layers);
      if (layer.dataset.options !== key) {
        layer.replaceChildren(h("option", { value: "", text: "current layer" }), ...layers.map((n) => h("option", { value: n, text: n })));
        layer.dataset.options = key;
      }
      layer.value = o.max_layer || "";
      if (document.activeElement !== unit) unit.value = o.max_unit === null || o.max_unit === undefined ? "" : o.max_unit;
      if (document.activeElement !== k) k.value = o.max_k;
      const disabled = store.isStatic();
      for (const c of [unit, k, layer]) c.disabled = disabled;
      if (!panel.isOpen()) return;
      const vm = store.get("max_activating") || {};
      if (!vm.indices) {
        summary.textContent = disabled ? "Not part of this static export (open the panel before saving)." : "computing…";
        tiles.replaceChildren();
        unitNaps.replaceChildren();
        return;
      }
      const what = vm.unit === null ? `the L2 norm of layer ${vm.layer}` : `unit ${vm.unit} of ${vm.layer} (${int(vm.n_units)} units)`;
      panel.sub.textContent = vm.unit === null ? `layer ${vm.layer} · L2 norm` : `${vm.layer} · unit ${vm.unit}`;
      const napText = vm.by_nap.map((b) => `${b.nap >= 0 ? `N${b.nap}` : "noise"} ×${b.count}`).join(", ");
      summary.replaceChildren(
        h("div", {}, `Top ${vm.indices.length} inputs by ${what}.`),
        h("div", { class: "napw-muted" }, `In the NAPs of ${vm.current}: ${vm.n_distinct_naps} distinct NAP${vm.n_distinct_naps === 1 ? "" : "s"} (${napText})`,
          vm.misclassified ? ` · ${vm.misclassified} misclassified` : ""));
      tiles.replaceChildren(...vm.indices.map((idx, j) => h("div", { class: "napw-cx-max-item", "data-testid": "max-item", "data-index": idx },
        memberTile(store, idx),
        h("span", { class: `napw-badge napw-badge-nap${vm.naps[j] < 0 ? " napw-badge-noise" : ""}`, text: vm.naps[j] >= 0 ? `N${vm.naps[j]}` : "noise" }),
        h("span", { class: "napw-cx-score", text: fmt(vm.scores[j], 2) }))));
      unitNaps.replaceChildren(...(vm.unit_naps || []).length ? [
        h("span", { class: "napw-muted", text: `NAPs that drive unit ${vm.unit} most (mean normalised activation): ` }),
        ...vm.unit_naps.map((u) => h("button", { type: "button", class: "napw-cx-chip", "data-testid": "max-unit-nap", "data-nap": u.nap, title: `select NAP ${u.nap} (${u.size} members)` },
          h("b", { text: `N${u.nap}` }), ` ${fmt(u.mean, 2)}`)),
      ] : []);
    }

    unit.addEventListener("change", () => {
      const raw = unit.value.trim();
      if (raw === "") { setUi(store, { max_unit: null }); return; }
      const v = Number(raw);
      if (!Number.isInteger(v) || v < 0) { unit.value = ui(store).max_unit ?? ""; return; }
      setUi(store, { max_unit: v });
    });
    k.addEventListener("change", () => {
      const v = Number(k.value);
      if (!Number.isInteger(v) || v < 1 || v > 200) { k.value = ui(store).max_k; return; }
      setUi(store, { max_k: v });
    });
    layer.addEventListener("change", () => setUi(store, { max_layer: layer.value || null, max_unit: null }));
    selectBtn.addEventListener("click", () => {
      const vm = store.get("max_activating") || {};
      if (vm.indices) store.selectIndices(vm.indices);
    });
    unitNaps.addEventListener("click", (e) => {
      const b = e.target.closest ? e.target.closest("[data-testid=max-unit-nap]") : null;
      if (b) store.selectNaps([Number(b.dataset.nap)]);
    });
    // a unit clicked anywhere in the widget (heatmap column head, profile bar) becomes the panel's unit
    const root = el.closest(".napw-root") || el.parentNode;
    const onRootClick = (e) => {
      const u = unitFromTarget(e.target);
      if (u === null || store.isStatic()) return;
      setUi(store, { max_unit: u, max_layer: null });
      if (!panel.isOpen()) panel.setOpen(true);
    };
    if (root) root.addEventListener("click", onRootClick);

    const offs = [
      store.on("crosslayer", (key) => { if (key === "cross_open" || key === "max_activating" || key === "ui_state") render(); }),
      store.on("data", render),
    ];
    render();
    return () => {
      offs.forEach((off) => off());
      if (root) root.removeEventListener("click", onRootClick);
    };
  },
};
