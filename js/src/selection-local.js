// The selection's owner when no kernel answers (a save_html page, a notebook whose kernel is gone): it applies
// the store's intents ("select", "filter") by the kernel's rules (napwidget/selection.py) and writes what the
// kernel would publish: selected_naps, selected_indices (the selection's inputs under the filters) and filters.
// With a kernel this module is not used: the kernel owns the selection and the store only renders it.
import { applyFilters, normalizeFilters } from "./filters.js";
import { decodeSamples, membersOf } from "./store.js";
import { toU8, typed } from "./dom.js";
import { idList, unpackView } from "./wire.js";

export const INTENTS = ["select", "filter"];
const MODES = ["replace", "add", "toggle"];

/** The int32 input indices an intent carries (one binary buffer, or a JSON list). */
export function intentIndices(msg, buffers) {
  if (buffers?.length && msg.count !== undefined) return Array.from(typed(toU8(buffers[0]), Int32Array, 0, msg.count));
  return (msg.indices || []).map(Number);
}

/**
 * @param model anywidget-like get/set: the traits are read from and written to it.
 * @returns {{apply(msg, buffers): object, sync(): void}} apply answers an intent with the kernel's reply.
 */
export function createLocalSelection(model) {
  let base = null; // the selection's inputs before filtering (the kernel's _sel_base)

  function data() {
    const view = unpackView(model.get("view") || {});
    const n = view.n || 0;
    return { view, n, ...decodeSamples(model.get("_samples"), model.get("_truth"), n), napIds: new Set((view.naps || []).map((r) => r.id)) };
  }

  /** Take the state from the traits as they are now (the page as saved, or as the kernel left it). */
  function sync() {
    const d = data();
    const naps = idList(model.get("selected_naps"));
    base = naps.length ? membersOf(naps, d.nap, d.prob) : [...idList(model.get("selected_indices"))];
  }

  // The kernel's two traits arrive in one message; here they are set one by one: the inputs first, so that a
  // view comparing selected_indices with the selection it asked for never sees the previous inputs.
  function publish(naps, d) {
    model.set("selected_indices", applyFilters(base, normalizeFilters(model.get("filters")), d));
    model.set("selected_naps", naps);
  }

  function selectNaps(ids, mode, d) {
    if (!MODES.includes(mode)) return `unknown selection mode ${JSON.stringify(mode)}. Fix: use one of ${MODES.join(", ")}.`;
    const asked = [...new Set(ids.map(Number))];
    const valid = asked.filter((id) => d.napIds.has(id));
    const current = idList(model.get("selected_naps"));
    let next = valid;
    if (mode === "add") next = [...new Set([...current, ...valid])];
    else if (mode === "toggle") next = [...current.filter((id) => !valid.includes(id)), ...valid.filter((id) => !current.includes(id))];
    base = membersOf(next, d.nap, d.prob);
    publish(next, d);
    return valid.length < asked.length ? `NAP(s) ${JSON.stringify(asked.filter((id) => !d.napIds.has(id)))} do not exist. Fix: pick ids 0..${d.napIds.size - 1}.` : "";
  }

  function selectInputs(indices, d) {
    const valid = [...new Set(indices.filter((i) => Number.isInteger(i) && i >= 0 && i < d.n))];
    base = valid;
    publish([], d);
    return valid.length < new Set(indices).size ? `input indices outside 0..${d.n - 1} were dropped. Fix: select existing inputs.` : "";
  }

  /** Apply one intent; the reply is what the kernel sends back ({type, req}). */
  function apply(msg, buffers = []) {
    if (base === null) sync();
    const d = data();
    let problem = "";
    if (msg.type === "filter") {
      model.set("filters", normalizeFilters(msg.filters));
      publish(idList(model.get("selected_naps")), d);
    } else if (Array.isArray(msg.naps)) {
      problem = selectNaps(msg.naps, msg.mode || "replace", d);
    } else {
      problem = selectInputs(intentIndices(msg, buffers), d);
    }
    if (problem) model.set("error", problem);
    return { type: msg.type, req: msg.req };
  }

  return { apply, sync };
}
