// Controls: layer picker and clustering parameters, NAP count, busy indicator and error banner.
import { h, int, pct } from "../dom.js";

const METHOD_LABELS = { leaf: "leaf (many small NAPs)", eom: "eom (fewer, larger NAPs)" };
const NORM_LABELS = { unit: "per unit (max |a|)", layer: "per layer", none: "none" };

function layerLabel(l) {
  const parts = [l.name];
  if (l.type) parts.push(l.type);
  parts.push(`${l.n_features} units`);
  return parts.join(" · ");
}

function numberInput(testid, min, title) {
  return h("input", { type: "number", min, step: 1, "data-testid": testid, class: "napw-num", title, inputmode: "numeric" });
}

export default {
  id: "controls",
  area: "header",
  mount(el, store) {
    const layerSelect = h("select", { "data-testid": "layer-select", class: "napw-select", "aria-label": "layer" });
    const mcs = numberInput("mcs-input", 2, "min_cluster_size: the smallest group of inputs that counts as a NAP");
    const ms = numberInput("ms-input", 1, "min_samples: how conservative the clustering is (larger = more noise)");
    const method = h("select", { "data-testid": "method-select", class: "napw-select", "aria-label": "cluster selection method" });
    const norm = h("select", { "data-testid": "normalize-select", class: "napw-select", "aria-label": "normalisation" });
    const busy = h("span", { "data-testid": "busy", class: "napw-busy", role: "status", hidden: true },
      h("span", { class: "napw-spinner", "aria-hidden": "true" }), "computing…");
    const count = h("span", { "data-testid": "nap-count", class: "napw-count" });
    // [data-testid=error] holds the message text only (empty when there is none); icon and button sit beside it
    const errText = h("span", { class: "napw-error-text", "data-testid": "error", role: "alert" });
    const errClose = h("button", { class: "napw-icon-btn", type: "button", title: "dismiss", "aria-label": "dismiss error", text: "×" });
    const error = h("div", { class: "napw-error", hidden: true }, errText, errClose);
    const note = h("div", { class: "napw-static-note", "data-testid": "kernel-note", hidden: true });

    const field = (label, control) => h("label", { class: "napw-field" }, h("span", { class: "napw-field-label", text: label }), control);
    el.append(
      h("div", { class: "napw-controls" },
        h("div", { class: "napw-brand" }, h("span", { class: "napw-logo", text: "NAP" }), h("span", { class: "napw-brand-text", text: "explorer" })),
        field("layer", layerSelect),
        field("min cluster size", mcs),
        field("min samples", ms),
        field("selection", method),
        field("normalise", norm),
        h("div", { class: "napw-status" }, busy, count),
      ),
      error,
      note,
    );

    let localError = "";

    function fillSelect(select, values, labels, current) {
      const key = JSON.stringify(values);
      if (select.dataset.options !== key) {
        select.replaceChildren(...values.map((v) => h("option", { value: v, text: labels ? labels(v) : v })));
        select.dataset.options = key;
      }
      select.value = current;
    }

    function renderParams() {
      const layers = store.get("layers") || [];
      const options = store.get("options") || {};
      const byName = new Map(layers.map((l) => [l.name, l]));
      fillSelect(layerSelect, layers.map((l) => l.name), (n) => layerLabel(byName.get(n)), store.param("layer"));
      fillSelect(method, options.methods || ["leaf", "eom"], (v) => METHOD_LABELS[v] || v, store.param("cluster_selection_method"));
      fillSelect(norm, options.normalizations || ["unit"], (v) => NORM_LABELS[v] || v, store.param("normalize"));
      const n = store.data?.n || 2;
      mcs.max = n;
      ms.max = Math.max(1, n - 1);
      if (document.activeElement !== mcs) mcs.value = store.param("min_cluster_size");
      if (document.activeElement !== ms) ms.value = store.param("min_samples");
      const fixed = (name) => store.isStatic() && !store.canReselect(name);
      for (const [c, name] of [[layerSelect, "layer"], [mcs, "min_cluster_size"], [ms, "min_samples"], [method, "cluster_selection_method"], [norm, "normalize"]]) c.disabled = fixed(name);
      renderNote();
    }

    function renderStatus() {
      renderParams();
      busy.hidden = !store.isBusy();
      el.closest(".napw-root")?.classList.toggle("napw-is-busy", store.isBusy());
      const msg = localError || store.get("error") || "";
      error.hidden = !msg;
      errText.textContent = msg;
    }

    function renderCount() {
      const v = store.data?.view || {};
      const k = v.n_naps || 0;
      count.replaceChildren(
        h("strong", { text: `${k} NAP${k === 1 ? "" : "s"}` }),
        h("span", { class: "napw-muted", text: ` · ${pct(v.noise_fraction)} noise · ${int(v.n || 0)} inputs · ${v.n_features || 0} units` }),
      );
      renderNote();
    }

    function renderNote() {
      const live = store.canReselect("min_cluster_size");
      let text = store.notice();
      if (!text && store.isStatic()) {
        text = live
          ? "Static export: no kernel. min cluster size and the selection method re-select in the browser (the kernel's results); the other parameters are fixed. Selecting, sorting, paging and hovering work."
          : "Static export: no kernel, so the clustering parameters are fixed. Selecting, sorting, paging and hovering still work.";
      }
      note.hidden = !text;
      note.textContent = text;
    }

    function commitNumber(input, name, immediate = false) {
      const raw = input.value.trim();
      const v = Number(raw);
      if (raw === "" || !Number.isInteger(v)) {
        localError = `${name.replace(/_/g, " ")} must be a whole number, got "${raw}". Fix: type an integer such as 5.`;
        input.value = store.param(name);
        renderStatus();
        return;
      }
      localError = "";
      store.setParam(name, v, { immediate });
    }

    layerSelect.addEventListener("change", () => { localError = ""; store.setParam("layer", layerSelect.value, { immediate: true }); });
    method.addEventListener("change", () => { localError = ""; store.setParam("cluster_selection_method", method.value, { immediate: true }); });
    norm.addEventListener("change", () => { localError = ""; store.setParam("normalize", norm.value, { immediate: true }); });
    // "change" fires on Enter, blur (Tab) and spinner clicks: the value is final, so it is committed at once
    // (store.setParam's debounce is for callers that send a stream of values)
    mcs.addEventListener("change", () => commitNumber(mcs, "min_cluster_size", true));
    ms.addEventListener("change", () => commitNumber(ms, "min_samples", true));
    for (const [input, name] of [[mcs, "min_cluster_size"], [ms, "min_samples"]]) {
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          commitNumber(input, name);
          store.commit();
        }
      });
    }
    errClose.addEventListener("click", () => {
      localError = "";
      if (store.get("error")) store.dismissError();
      renderStatus();
    });

    const offs = [
      store.on("status", renderStatus),
      store.on("data", () => { renderCount(); renderStatus(); }),
    ];
    renderCount();
    renderStatus();
    return () => offs.forEach((off) => off());
  },
};
