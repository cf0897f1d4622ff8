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
import layerstrip from "./layerstrip.js";
import pinned from "./pinned.js";
import follow from "./follow.js";
import maxact from "./maxact.js";
import midrange from "./midrange.js";
import filterbar from "./filterbar.js";
import prednote from "./prednote.js";
import stats from "./stats.js";
import napcharts from "./napcharts.js";
import distribution from "./distribution.js";

export const VIEWS = [
  controls,
  layerstrip,
  filterbar,
  prednote,
  grid,
  pinned,
  scatter,
  heatmap,
  follow,
  maxact,
  gallery,
  stats,
  distribution,
  napcharts,
  profile,
  mapper,
  flow,
  midrange,
];
