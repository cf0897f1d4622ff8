// Activation profile: the clicked input's normalised activation per unit against its NAP's mean and IQR band
// (for noise inputs: against all inputs). A small hand-drawn SVG: instant, no vega round trip.
import { h, s, fmt } from "../dom.js";

const W = 420;
const H = 150;
const M = { l: 34, r: 8, t: 8, b: 22 };

export function profileSvg(p) {
  const F = p.values.length;
  const all = [...p.values, ...p.mean, ...p.q1, ...p.q3].filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...all);
  const hi = Math.max(1e-6, ...all);
  const x = (i) => M.l + ((i + 0.5) * (W - M.l - M.r)) / F;
  const y = (v) => M.t + ((hi - (v ?? 0)) * (H - M.t - M.b)) / (hi - lo || 1);
  const bw = Math.max(0.6, ((W - M.l - M.r) / F) * 0.72);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "napw-profile-svg", role: "img", "aria-label": `activation profile of input ${p.index}` });
  // axes and grid
  for (const t of [lo, (lo + hi) / 2, hi]) {
    svg.append(s("line", { x1: M.l, x2: W - M.r, y1: y(t), y2: y(t), class: "napw-gridline" }));
    svg.append(s("text", { x: M.l - 4, y: y(t) + 3, class: "napw-axis-label", "text-anchor": "end", text: fmt(t, 1) }));
  }
  svg.append(s("line", { x1: M.l, x2: W - M.r, y1: y(0), y2: y(0), class: "napw-axis" }));
  const ticks = F <= 16 ? F : 8;
  for (let k = 0; k < ticks; k++) {
    const i = Math.round((k * (F - 1)) / Math.max(1, ticks - 1));
    svg.append(s("text", { x: x(i), y: H - 6, class: "napw-axis-label", "text-anchor": "middle", text: String(i) }));
  }
  // IQR band of the reference
  let band = "";
  for (let i = 0; i < F; i++) band += `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.q3[i]).toFixed(1)}`;
  for (let i = F - 1; i >= 0; i--) band += `L${x(i).toFixed(1)},${y(p.q1[i]).toFixed(1)}`;
  svg.append(s("path", { d: `${band}Z`, class: "napw-band" }));
  // the input
  const bars = s("g", { class: "napw-bars" });
  for (let i = 0; i < F; i++) {
    const v = p.values[i] ?? 0;
    const y0 = y(0);
    const y1 = y(v);
    const bar = s("rect", { x: x(i) - bw / 2, y: Math.min(y0, y1), width: bw, height: Math.max(0.5, Math.abs(y1 - y0)) });
    bar.append(s("title", { text: `unit ${i}: ${fmt(v, 3)} (ref. mean ${fmt(p.mean[i], 3)})` }));
    bars.append(bar);
  }
  svg.append(bars);
  // the reference mean
  let line = "";
  for (let i = 0; i < F; i++) line += `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.mean[i]).toFixed(1)}`;
  svg.append(s("path", { d: line, class: "napw-mean-line" }));
  return svg;
}

export default {
  id: "profile",
  area: "footer-side",
  mount(el, store) {
    const title = h("span", { class: "napw-sub" });
    const body = h("div", { class: "napw-profile", "data-testid": "profile" });
    const legend = h("div", { class: "napw-legend", hidden: true },
      h("span", { class: "napw-key napw-key-bar" }), "this input ",
      h("span", { class: "napw-key napw-key-line" }), h("span", { class: "napw-ref-name", text: "NAP mean" }), " ",
      h("span", { class: "napw-key napw-key-band" }), "IQR");
    el.append(h("section", { class: "napw-panel napw-profile-panel" },
      h("header", { class: "napw-panel-head" }, h("h3", { text: "Activation profile" }), title),
      body, legend));
    let token = 0;

    function placeholder(text) {
      body.replaceChildren(h("div", { class: "napw-empty", text }));
      legend.hidden = true;
      body.dataset.index = "";
    }

    async function render() {
      const index = store.profileIndex();
      if (index === null || index === undefined) {
        title.textContent = "";
        placeholder("Click a member in the gallery to compare its activations with its NAP's typical profile.");
        return;
      }
      const my = ++token;
      title.textContent = `input #${index}`;
      let p;
      try {
        p = await store.profile(index);
      } catch (err) {
        if (my === token) placeholder(String(err?.message ? err.message : err));
        return;
      }
      if (my !== token) return;
      const ref = p.nap >= 0 ? `NAP ${p.nap} mean` : "mean of all inputs";
      title.textContent = `input #${index} · ${p.nap >= 0 ? `NAP ${p.nap} · p=${fmt(p.probability, 2)}` : "noise"} · layer ${p.layer}`;
      legend.querySelector(".napw-ref-name").textContent = ref;
      legend.hidden = false;
      body.replaceChildren(profileSvg(p));
      body.dataset.index = String(index);
    }

    const offs = [
      store.on("profile", render),
      store.on("data", () => { if (store.profileIndex() !== null) render(); }),
    ];
    render();
    return () => offs.forEach((off) => off());
  },
};
