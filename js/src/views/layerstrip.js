// Layer strip: every extracted layer in model order (name, type, shape, NAP count once computed); click one to
// switch layers (the layer <select> in the controls stays in sync). Beside it, the NAP cards' options: how many
// most / least typical members, the average image, and the noise as a pseudo-NAP card.
import { h, int } from "../dom.js";
import { ui, setUi } from "./crosslayer-common.js";

function shapeText(l) {
  if (Array.isArray(l.shape) && l.shape.length) return l.shape.join("×");
  return `${int(l.n_features)} units`;
}

export default {
  id: "layerstrip",
  area: "header",
  mount(el, store) {
    const strip = h("div", { class: "napw-cx-strip-layers", role: "tablist", "aria-label": "layers in model order", "data-testid": "layer-strip" });
    const nT = h("input", { type: "number", min: 0, max: 64, step: 1, class: "napw-num napw-num-sm", "data-testid": "n-typical", title: "most typical members per card" });
    const nA = h("input", { type: "number", min: 0, max: 64, step: 1, class: "napw-num napw-num-sm", "data-testid": "n-atypical", title: "least typical members per card" });
    const avg = h("input", { type: "checkbox", "data-testid": "show-average" });
    const noise = h("input", { type: "checkbox", "data-testid": "show-noise" });
    const opts = h("div", { class: "napw-cx-cardopts" },
      h("label", { class: "napw-inline" }, h("span", { class: "napw-muted", text: "typical " }), nT),
      h("label", { class: "napw-inline" }, h("span", { class: "napw-muted", text: "least typical " }), nA),
      h("label", { class: "napw-inline", title: "the pixel mean of each NAP's members" }, avg, h("span", { text: " average image" })),
      h("label", { class: "napw-inline", title: "inputs in no NAP, as a card of their own" }, noise, h("span", { text: " show noise" })));
    el.append(h("div", { class: "napw-cx-layerbar" }, strip, opts));

    function render() {
      const rows = store.get("layer_strip") || [];
      const fallback = store.get("layers") || [];
      const list = rows.length ? rows : fallback;
      const current = store.param("layer");
      const disabled = store.isStatic();
      strip.replaceChildren(...list.map((l, j) => {
        const on = l.name === current;
        const k = l.n_naps;
        const b = h("button", {
          type: "button", role: "tab", class: `napw-cx-layer${on ? " napw-on" : ""}`, "data-layer": l.name,
          "aria-selected": on ? "true" : "false", disabled: disabled && !on,
          title: `${l.name}${l.type ? ` (${l.type})` : ""} · ${shapeText(l)} · ${k === null || k === undefined ? "NAPs not computed yet" : `${k} NAPs`}${disabled ? " · static export: fixed layer" : ""}`,
        },
        h("span", { class: "napw-cx-layer-i", text: String(j + 1) }),
        h("span", { class: "napw-cx-layer-name", text: l.name }),
        h("span", { class: "napw-cx-layer-shape", text: shapeText(l) }),
        h("span", { class: "napw-cx-layer-k", text: k === null || k === undefined ? "–" : `${k} NAPs` }));
        return b;
      }));
      const o = ui(store);
      if (document.activeElement !== nT) nT.value = o.n_typical;
      if (document.activeElement !== nA) nA.value = o.n_atypical;
      avg.checked = Boolean(o.show_average);
      avg.disabled = store.data?.view.item?.kind !== "image";
      noise.checked = Boolean(o.show_noise);
    }

    strip.addEventListener("click", (e) => {
      const b = e.target.closest ? e.target.closest("[data-layer]") : null;
      if (!b || b.disabled || b.dataset.layer === store.param("layer")) return;
      store.setParam("layer", b.dataset.layer, { immediate: true });
    });
    const num = (input, key) => input.addEventListener("change", () => {
      const v = Number(input.value);
      if (!Number.isInteger(v) || v < 0 || v > 64) { input.value = ui(store)[key]; return; }
      setUi(store, { [key]: v });
    });
    num(nT, "n_typical");
    num(nA, "n_atypical");
    avg.addEventListener("change", () => setUi(store, { show_average: avg.checked }));
    noise.addEventListener("change", () => setUi(store, { show_noise: noise.checked }));

    const offs = [
      store.on("crosslayer", (k) => { if (k === "layer_strip" || k === "ui_state") render(); }),
      store.on("status", render),
      store.on("data", render),
    ];
    render();
    return () => offs.forEach((off) => off());
  },
};
