// napwidget front end: render() builds the layout, creates the one shared store and mounts every view.
import "./widget.css";
import { h } from "./dom.js";
import { createStore } from "./store.js";
import { createStaticModel } from "./static-model.js";
import { withKernelless } from "./reselect/kernelless.js";
import { markItemKind } from "./text.js";
import { VIEWS } from "./views/index.js";

export const AREAS = ["header", "main", "side", "footer", "footer-side"];

/** Mount all views on `el` for an anywidget-like `model`; returns the cleanup function. */
export function mount(el, model, { views = VIEWS, storeOptions = {} } = {}) {
  const slots = Object.fromEntries(AREAS.map((a) => [a, h("div", { class: `napw-area napw-area-${a}` })]));
  const root = h("div", { class: "napw-root", "data-testid": "napw-root" },
    slots.header,
    h("div", { class: "napw-body" }, slots.main, slots.side),
    h("div", { class: "napw-foot" }, slots.footer, slots["footer-side"]));
  if (model.get("static")) root.classList.add("napw-static");
  el.appendChild(root);
  const store = createStore(model, storeOptions);
  const cleanups = [];
  const markKind = (data) => markItemKind(root, data?.view?.item);
  markKind(store.data);
  cleanups.push(store.on("data", markKind));
  for (const view of views) {
    const slot = slots[view.area] || slots.footer;
    const container = h("div", { class: `napw-view napw-view-${view.id}` });
    slot.appendChild(container);
    try {
      const cleanup = view.mount(container, store);
      if (typeof cleanup === "function") cleanups.push(cleanup);
    } catch (err) {
      // one broken view must not take the others down
      console.error(`napwidget: view "${view.id}" failed`, err);
      container.textContent = `The ${view.id} view failed: ${err?.message ? err.message : err}`;
    }
  }
  return Object.assign(() => {
    for (const c of cleanups.reverse()) {
      try { c(); } catch (err) { console.error(err); }
    }
    store.destroy();
    root.remove();
  }, { store, root });
}

function render({ model, el }) {
  // without a kernel's answer, min_cluster_size / method are re-selected in the browser (src/reselect/)
  const wrapped = withKernelless(model, el);
  const cleanup = mount(el, wrapped);
  return Object.assign(() => { cleanup(); wrapped.dispose(); }, { store: cleanup.store, root: cleanup.root });
}

/** Kernel-less rendering for save_html exports: the embedded state behind a static model shim. */
export async function renderStatic(el, payload) {
  const model = createStaticModel(payload);
  return mount(el, model);
}

export default { render };
