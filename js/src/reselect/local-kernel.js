// A stand-in for the kernel's min_cluster_size / selection-method handler, for pages with no kernel: a
// save_html export, or a notebook output whose kernel is gone. It reads the single-linkage tree the kernel
// shipped (the `_reselect_tree` trait), re-selects clusters with the kernel's exact arithmetic (./select.js)
// and writes the traits a kernel would write (view, _samples, _card_thumbs, nap_detail, nap_stats,
// selected_naps, error, _revision), so the views and the store cannot tell the difference.
import { decodeTree } from "./tree.js";
import { reselect } from "./select.js";
import { unpackView } from "../wire.js";
import { heatmap, napDetail, napMeans, napRows, sampleTable, scatterSpec } from "./viewmodel.js";

/** The parameters the browser can change on its own (the tree depends on the others). */
export const RESELECT_PARAMS = ["min_cluster_size", "cluster_selection_method"];
export const RESULT_TRAITS = ["_samples", "_card_thumbs", "nap_detail", "nap_stats", "view"];
const METHODS = ["leaf", "eom"];

function byteLength(buf) {
  return buf && typeof buf.byteLength === "number" ? buf.byteLength : 0;
}

function int32s(buf, offset, count) {
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice(4 * offset, 4 * (offset + count));
  return new Int32Array(u8.buffer, 0, count);
}

function key(params) {
  return `${params.min_cluster_size}|${params.cluster_selection_method}`;
}

/**
 * @param model anywidget-like: get(key), set(key, value) (emitting change events).
 * @param {{features?: Float32Array, nFeatures?: number}} options the (N, F) normalised activations, row-major,
 *   when the page holds all of them (then top units and the heatmap are computed too).
 */
export function createLocalKernel(model, { features = null, nFeatures = 0 } = {}) {
  let decoded = null; // { bytes, tree }
  const cache = new Map(); // key(params) -> trait values (the kernel's own for the state it last sent)

  function tree() {
    const bytes = model.get("_reselect_tree");
    if (!byteLength(bytes)) return null;
    if (!decoded || decoded.bytes !== bytes) {
      decoded = { bytes, tree: decodeTree(bytes) };
      cache.clear();
    }
    return decoded.tree;
  }

  /** True when the page holds the tree of the result on screen (so min_cluster_size / method can change). */
  function canReselect(name = RESELECT_PARAMS[0]) {
    const view = model.get("view") || {};
    const t = RESELECT_PARAMS.includes(name) ? tree() : null;
    return Boolean(t && view.n === t.n);
  }

  function remember() {
    const view = model.get("view") || {};
    if (view.params && !cache.has(key(view.params))) {
      cache.set(key(view.params), Object.fromEntries(RESULT_TRAITS.map((k) => [k, model.get(k)])));
    }
  }

  function compute(params) {
    const view = unpackView(model.get("view") || {}); // the kernel's may hold binary columns
    const n = view.n;
    const truth = model.get("_truth");
    const hasTruth = byteLength(truth) >= 8 * n;
    const labelCodes = view.has_labels && hasTruth ? int32s(truth, 0, n) : null;
    const predCodes = view.has_predictions && hasTruth ? int32s(truth, n, n) : null;
    const nClasses = (view.classes || []).length;
    const naps = reselect(tree(), params.min_cluster_size, params.cluster_selection_method);
    const prob32 = Float32Array.from(naps.probabilities);
    const means = napMeans(naps, features, nFeatures);
    const rows = napRows(naps, { prob32, labelCodes, predCodes, nClasses, means });
    const noise = naps.labels.reduce((s, l) => s + (l < 0 ? 1 : 0), 0);
    const next = {
      ...view, params, n_naps: naps.nNaps, noise, noise_fraction: Math.round((noise / Math.max(n, 1)) * 1e4) / 1e4,
      naps: rows, heatmap: heatmap(means, naps.nNaps), scatter: scatterSpec(view.scatter, rows, view.classes || [], view.class_colors || []),
      hint: naps.nNaps ? "" : "No NAPs at these settings: every input is noise. Try a smaller min_cluster_size or min_samples, the 'leaf' selection method, or another layer.",
      reselected_in_browser: true,
    };
    delete next.card_texts; // the cards ask for their members' texts like for any other page of items
    return {
      _samples: sampleTable(naps),
      _card_thumbs: new DataView(new ArrayBuffer(0)),
      nap_detail: napDetail(model.get("nap_detail"), naps, params, { labelCodes, predCodes, nClasses }),
      nap_stats: {},
      view: next,
    };
  }

  function validate(params, n) {
    const mcs = params.min_cluster_size;
    if (!Number.isInteger(mcs) || mcs < 2) return `min_cluster_size=${mcs} is too small. Fix: use 2 or more (the method's default is 5).`;
    if (mcs > n) return `min_cluster_size=${mcs} is larger than the ${n} inputs. Fix: use a value between 2 and ${n}.`;
    if (!METHODS.includes(params.cluster_selection_method)) {
      return `unknown cluster_selection_method=${JSON.stringify(params.cluster_selection_method)}. Fix: use one of 'leaf', 'eom' ('leaf' is the method's default).`;
    }
    return "";
  }

  /** Answer a parameter change as the kernel would; returns what happened ("same", "error", "reselected"). */
  function apply() {
    const view = model.get("view") || {};
    const current = view.params || {};
    if (!canReselect()) return "unavailable";
    remember();
    const params = { ...current };
    for (const name of RESELECT_PARAMS) params[name] = model.get(name);
    let outcome = "reselected";
    const problem = validate(params, view.n);
    if (problem) {
      for (const name of RESELECT_PARAMS) model.set(name, current[name]); // back to what is shown, as the kernel does
      model.set("error", problem);
      outcome = "error";
    } else if (key(params) === key(current)) {
      outcome = "same";
    } else {
      const traits = cache.get(key(params)) || compute(params);
      cache.set(key(params), traits);
      for (const name of RESULT_TRAITS) model.set(name, traits[name]);
      model.set("selected_naps", []); // NAP ids mean other NAPs now; the selected inputs stay
      model.set("error", "");
    }
    model.set("busy", false);
    model.set("_revision", (model.get("_revision") || 0) + 1);
    return outcome;
  }

  return { canReselect, apply, tree };
}
