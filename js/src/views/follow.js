// Follow inputs through the network: for the selected inputs, one row per extracted layer (model order) with
// the NAPs that contain them: how many of the selection each holds, its size and purity (dominant label), and
// the share left as noise. Click a NAP to switch to its layer and select it.
//
// Lazy: opening the panel adds "follow" to `cross_open`; the kernel then sends the NAP of every input in every
// layer (`_follow_labels`, at the current clustering parameters) and the front end counts any selection itself.
import { h, int, pct } from "../dom.js";
import { crossPanel, followCounts, gotoNap } from "./crosslayer-common.js";

const MAX_CHIPS = 12;

export default {
  id: "follow",
  area: "side",
  mount(el, store) {
    const panel = crossPanel(el, store, {
      panel: "follow", title: "Follow inputs", testid: "follow",
      hint: "Where do the selected inputs go? For every layer, the NAPs that contain them (click to open).",
    });
    const list = h("div", { class: "napw-cx-follow" });
    panel.body.append(list);

    function render() {
      panel.sync();
      if (!panel.isOpen()) return;
      const rows = store.get("follow_layers") || [];
      const sel = store.selectedIndices();
      const view = store.data?.view || { classes: [], class_colors: [] };
      const current = view.layer;
      panel.sub.textContent = sel.length ? `${int(sel.length)} selected input${sel.length === 1 ? "" : "s"} · ${rows.length} layers` : "";
      if (!rows.length) {
        list.replaceChildren(h("div", { class: "napw-empty", text: store.isStatic() ? "Not part of this static export (open the panel before saving)." : "computing the NAPs of every layer…" }));
        return;
      }
      if (!sel.length) {
        list.replaceChildren(h("div", { class: "napw-empty", text: "Select inputs (a NAP card, scatter brush, Mapper node or gallery) to follow them through the layers." }));
        return;
      }
      const counts = followCounts(store, sel);
      list.replaceChildren(...rows.map((row) => {
        const m = counts[row.layer] || new Map();
        const noise = m.get(-1) || 0;
        const naps = [...m].filter(([k]) => k >= 0);
        const chips = naps.slice(0, MAX_CHIPS).map(([k, c]) => {
          const size = row.sizes[k];
          const dom = row.dominant[k];
          const pur = row.purity[k];
          const canGo = row.layer === current || !store.isStatic();
          const chip = h("button", {
            type: "button", class: "napw-cx-chip napw-cx-follow-nap", "data-testid": "follow-nap", "data-layer": row.layer, "data-nap": k,
            disabled: !canGo,
            title: `NAP ${k} of ${row.layer}: holds ${c} of the ${sel.length} selected inputs (${pct(c / sel.length)}); ${size} members` +
              (dom !== null && dom !== undefined ? `, ${pct(pur)} ${view.classes[dom]}` : "") + (canGo ? " · click to open it" : ""),
          },
          h("span", { class: "napw-cx-bar", style: { width: `${Math.max(4, Math.round((100 * c) / sel.length))}%` } }),
          dom !== null && dom !== undefined ? h("span", { class: "napw-swatch", style: { background: view.class_colors[dom] } }) : null,
          h("b", { text: `N${k}` }), h("span", { text: ` ${c}` }), h("span", { class: "napw-muted", text: `/${size}` }));
          return chip;
        });
        const more = naps.length > MAX_CHIPS ? h("span", { class: "napw-muted", text: ` +${naps.length - MAX_CHIPS} more` }) : null;
        return h("div", { class: `napw-cx-follow-row${row.layer === current ? " napw-on" : ""}`, "data-testid": "follow-row", "data-layer": row.layer },
          h("div", { class: "napw-cx-follow-layer" }, h("span", { class: "napw-cx-layer-name", text: row.layer }),
            h("span", { class: "napw-muted", text: ` ${naps.length} of ${row.n_naps} NAPs` })),
          h("div", { class: "napw-cx-follow-chips" }, chips, more,
            noise ? h("span", { class: "napw-cx-chip napw-cx-noise", "data-testid": "follow-noise", title: `${noise} of the selected inputs are noise in ${row.layer}`, text: `noise ${noise}` }) : null));
      }));
    }

    list.addEventListener("click", (e) => {
      const chip = e.target.closest ? e.target.closest("[data-testid=follow-nap]") : null;
      if (!chip || chip.disabled) return;
      gotoNap(store, chip.dataset.layer, Number(chip.dataset.nap));
    });
    const offs = [
      store.on("crosslayer", (k) => { if (k === "cross_open" || k === "follow_layers" || k === "_follow_labels") render(); }),
      store.on("selection", render),
      store.on("data", render),
    ];
    render();
    return () => offs.forEach((off) => off());
  },
};
