// The view registry. Adding a view = one new module in this folder + one line here.
// A view is { id, area, mount(el, store) -> cleanup }; `area` is one of the layout slots in ../index.js:
// "header", "main", "side", "footer", "footer-side".
import controls from "./controls.js";
import grid from "./grid.js";
import scatter from "./scatter.js";
import heatmap from "./heatmap.js";
import gallery from "./gallery.js";
import profile from "./profile.js";
import mapper from "./mapper.js";
import flow from "./flow.js";

export const VIEWS = [
  controls,
  grid,
  scatter,
  heatmap,
  gallery,
  profile,
  mapper,
  flow,
];
