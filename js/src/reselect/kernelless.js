// The notebook widget without its kernel. When a parameter change or a selection intent gets no answer (the
// comm is closed, the output was reopened after the kernel died, a Colab runtime is gone), min_cluster_size
// and the selection method are re-selected in the browser from the tree the kernel shipped
// (./local-kernel.js), selection and filter intents are answered by ../selection-local.js, and the page says
// so: "kernel not connected: re-selecting in the browser".
//
// The browser's results never go into the real model: ipywidgets would sync every set() back to a kernel
// that may still be alive but slow. They live in an overlay that get() reads first; anything the kernel
// sends later replaces them.
import { createLocalKernel, RESELECT_PARAMS, RESULT_TRAITS } from "./local-kernel.js";
import { createLocalSelection, INTENTS } from "../selection-local.js";

export const KERNELLESS_NOTE = "kernel not connected: re-selecting in the browser";
const OTHER_PARAMS = ["layer", "min_samples", "normalize"];
const SELECTION_KEYS = ["selected_naps", "selected_indices", "filters"];
const LOCAL_KEYS = [...RESULT_TRAITS, ...RESELECT_PARAMS, ...OTHER_PARAMS, ...SELECTION_KEYS, "error", "busy", "_revision"];

/**
 * Wrap an anywidget model so that parameter changes fall back to in-browser re-selection without a kernel.
 * @param model the anywidget model (get/set/on/off/save_changes/send).
 * @param {Element} el the view's element (ipywidgets marks a disconnected widget's ancestor).
 * @param {{timeoutMs?: number}} options how long a parameter change may wait for the kernel's answer.
 */
export function withKernelless(model, el, { timeoutMs = 5000 } = {}) {
  const overlay = new Map();
  const handlers = new Map(); // event -> Set of the views' callbacks (to announce overlay changes)
  let gone = false;
  let timer = null;
  let heard = false; // the kernel changed something since the last parameter change (it is alive, maybe slow)
  let selfSetting = false;

  const get = (k) => (overlay.has(k) ? overlay.get(k) : model.get(k));
  function emitLocal(k) {
    for (const fn of [...(handlers.get(`change:${k}`) || [])]) fn(get(k));
  }
  function setLocal(k, v) {
    overlay.set(k, v);
    emitLocal(k);
  }
  const local = createLocalKernel({ get, set: setLocal });
  const selection = createLocalSelection({ get, set: setLocal });
  const unanswered = new Map(); // req -> [intent, buffers] sent to the kernel, not answered yet
  let intentTimer = null;

  // The kernel's own changes replace the overlay (registered before any view's handler, so views read them).
  const own = LOCAL_KEYS.map((k) => [`change:${k}`, () => {
    if (selfSetting) return;
    heard = true;
    overlay.delete(k);
    if (k === "_revision" && gone) { gone = false; setLocal("_local_notice", ""); }
  }]);
  own.push(["msg:custom", (msg) => {
    heard = true;
    if (msg && msg.req !== undefined) unanswered.delete(msg.req);
  }]);
  for (const [event, fn] of own) model.on(event, fn);

  function disconnected() {
    return gone || Boolean(el && typeof el.closest === "function" && el.closest(".jupyter-widgets-disconnected"));
  }

  const shown = () => (get("view")?.params || {});
  const changed = (names) => names.filter((k) => get(k) !== shown()[k]);

  function goLocal() {
    timer = null;
    gone = true;
    selection.sync(); // from the selection the kernel published last
    setLocal("_local_notice", KERNELLESS_NOTE);
    const fixed = changed(OTHER_PARAMS);
    if (fixed.length) {
      for (const k of fixed) setLocal(k, shown()[k]);
      setLocal("error", `${fixed.join(", ")} cannot change without a kernel. Fix: rerun the notebook; min cluster size and the selection method still work here.`);
      setLocal("_revision", (get("_revision") || 0) + 1);
    }
    if (changed(RESELECT_PARAMS).length || !fixed.length) local.apply();
  }

  function saveChanges() {
    const params = changed([...RESELECT_PARAMS, ...OTHER_PARAMS]);
    if (!disconnected()) {
      try {
        model.save_changes();
      } catch {
        gone = true; // no comm to send on
      }
    }
    if (!params.length) return;
    if (disconnected()) {
      if (local.canReselect()) goLocal();
      return;
    }
    // a new layer / min_samples / normalisation means a new tree: only the kernel can answer, however long it takes
    if (changed(OTHER_PARAMS).length) return;
    heard = false;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      // silence (not even `busy`) and the change still unanswered: no kernel is listening
      // (the tree is decoded only now: 20-45 ms at 50k inputs that a live kernel never needs)
      if (!heard && changed(RESELECT_PARAMS).length && local.canReselect()) goLocal();
    }, timeoutMs);
  }

  function answerLocally(msg, buffers) {
    const reply = selection.apply(msg, buffers);
    setTimeout(() => { for (const fn of [...(handlers.get("msg:custom") || [])]) fn(reply, []); }, 0);
  }

  /** A selection / filter intent: to the kernel; answered here when there is none, or none answers in time. */
  function sendIntent(msg, callbacks, buffers) {
    if (!disconnected()) {
      try {
        model.send(msg, callbacks, buffers);
        unanswered.set(msg.req, [msg, buffers]);
        heard = false;
        if (intentTimer) clearTimeout(intentTimer);
        intentTimer = setTimeout(() => {
          intentTimer = null;
          if (heard || !unanswered.size) return;
          goLocal();
          for (const [m, b] of unanswered.values()) answerLocally(m, b); // in the order they were made
          unanswered.clear();
        }, timeoutMs);
        return;
      } catch {
        gone = true; // no comm to send on
      }
    }
    if (!gone) goLocal();
    answerLocally(msg, buffers);
  }

  return {
    get,
    set(k, v) {
      overlay.delete(k); // an intent of the user: it goes to the kernel
      selfSetting = true;
      try {
        model.set(k, v);
      } finally {
        selfSetting = false;
      }
    },
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(fn);
      if (event !== "change:_local_notice") model.on(event, fn);
    },
    off(event, fn) {
      if (handlers.has(event)) handlers.get(event).delete(fn);
      if (event !== "change:_local_notice") model.off(event, fn);
    },
    save_changes: saveChanges,
    send(msg, callbacks, buffers) {
      if (msg && INTENTS.includes(msg.type)) return sendIntent(msg, callbacks, buffers);
      return model.send(msg, callbacks, buffers); // other requests to a dead kernel stay unanswered: placeholders
    },
    get reselects() {
      return gone && local.canReselect() ? [...RESELECT_PARAMS] : [];
    },
    get kernelGone() {
      return gone;
    },
    local,
    /** Remove the wrapper's own listeners (the views remove theirs). */
    dispose() {
      if (timer) clearTimeout(timer);
      if (intentTimer) clearTimeout(intentTimer);
      for (const [event, fn] of own) model.off(event, fn);
      handlers.clear();
    },
  };
}
