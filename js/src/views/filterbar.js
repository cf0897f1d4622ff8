// Active label / prediction filters as removable pills, with "clear all" and how many inputs pass. Hidden while
// no filter is active. Filters are set by the bar charts (napcharts.js), the distribution matrix, or Python
// (`w.filters = {...}`); every view respects them (store.js / filters.js, napwidget/views/detail.py).
import "./detail.css";
import { h, int, s } from "../dom.js";
import { FILTER_KINDS, hasFilters, makePredicate } from "../filters.js";

const KIND_LABEL = { labels: "label", predictions: "prediction" };

export default {
  id: "filterbar",
  area: "header",
  mount(el, store) {
    const pills = h("div", { class: "napw-pills", role: "list" });
    const count = h("span", { class: "napw-sub", "data-testid": "filter-count" });
    const clearAll = h("button", { type: "button", class: "napw-btn napw-btn-ghost", "data-testid": "filter-clear", text: "clear all" });
    const bar = h("div", { class: "napw-filterbar", "data-testid": "filter-bar", role: "region", "aria-label": "active filters", hidden: true },
      s("svg", { class: "napw-filter-icon", viewBox: "0 0 16 16", width: 13, height: 13, "aria-hidden": "true" }, s("path", { d: "M1.5 2.5h13l-5 6v5l-3 1.5v-6.5z" })),
      h("span", { class: "napw-filterbar-title", text: "Filters" }), pills, count, h("span", { class: "napw-spacer" }), clearAll);
    el.append(bar);

    function render() {
      const f = store.filters();
      const data = store.data;
      bar.hidden = !hasFilters(f);
      if (bar.hidden) {
        pills.replaceChildren();
        return;
      }
      const view = data?.view || {};
      const classes = view.classes || [];
      const items = [];
      for (const kind of FILTER_KINDS) {
        for (const name of f[kind]) {
          const code = classes.indexOf(name);
          items.push(h("button", {
            type: "button", class: "napw-pill", role: "listitem", "data-testid": "filter-pill", "data-kind": kind, "data-value": name,
            title: `remove the ${KIND_LABEL[kind]} filter "${name}"`, "aria-label": `remove ${KIND_LABEL[kind]} filter ${name}`,
          },
          h("span", { class: "napw-pill-kind", text: KIND_LABEL[kind] }),
          code >= 0 ? h("span", { class: "napw-swatch", style: { background: (view.class_colors || [])[code] } }) : null,
          h("span", { class: "napw-class-name", text: name }),
          h("span", { class: "napw-pill-x", "aria-hidden": "true", text: "×" })));
        }
      }
      pills.replaceChildren(...items);
      const ok = makePredicate(f, data);
      if (ok && data) {
        let pass = 0;
        let inNaps = 0;
        for (let i = 0; i < data.n; i++) {
          if (ok(i)) {
            pass++;
            if (data.nap[i] >= 0) inNaps++;
          }
        }
        count.textContent = `${int(pass)} of ${int(data.n)} inputs pass · ${int(inNaps)} in NAPs`;
      }
    }

    pills.addEventListener("click", (e) => {
      const pill = e.target.closest ? e.target.closest("[data-testid=filter-pill]") : null;
      if (pill) store.removeFilter(pill.dataset.kind, pill.dataset.value);
    });
    clearAll.addEventListener("click", () => store.clearFilters());
    const offs = [store.on("filters", render), store.on("data", render)];
    render();
    return () => offs.forEach((off) => off());
  },
};
