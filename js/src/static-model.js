// A kernel-less stand-in for the anywidget model, used by save_html exports: the same get/set/on/off/
// save_changes/send API, with the state embedded in the HTML file. Requests the views send to the kernel
// (thumbnails, activation profiles) are answered from data embedded next to the state. With the kernel's
// single-linkage tree embedded (`_reselect_tree`), min_cluster_size and the selection method stay live: a
// change is answered by ./reselect/local-kernel.js exactly as the kernel would answer it, and selection /
// filter intents by ./selection-local.js.
import { createLocalKernel, RESELECT_PARAMS } from "./reselect/local-kernel.js";
import { createLocalSelection, INTENTS } from "./selection-local.js";

function b64ToBytes(b64) {
  const bin = atob(b64 || "");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Turn {"__b64__": "..."} values into DataViews, as anywidget hands over Bytes traits. */
export function reviveState(state) {
  const out = {};
  for (const [k, v] of Object.entries(state || {})) {
    if (v && typeof v === "object" && typeof v.__b64__ === "string") {
      const u8 = b64ToBytes(v.__b64__);
      out[k] = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    } else {
      out[k] = v;
    }
  }
  return out;
}

function floats(entry) {
  const u8 = b64ToBytes(entry?.__b64__);
  return new Float32Array(u8.buffer, u8.byteOffset, Math.floor(u8.byteLength / 4));
}

function round(x) {
  return Math.round(x * 1e4) / 1e4;
}

/** The (N, F) activations in index order when the export holds every input's profile, else null. */
function allFeatures(pr, values, n) {
  const F = pr.n_features || 0;
  const idx = pr.indices || [];
  if (!F || !n || idx.length !== n || values.length < n * F) return null;
  const out = new Float32Array(n * F);
  idx.forEach((i, j) => out.set(values.subarray(j * F, (j + 1) * F), i * F));
  return out;
}

export function createStaticModel(payload) {
  const state = reviveState(payload.state || {});
  state.static = true;
  state.busy = false;
  const extra = payload.static || {};
  const handlers = new Map();

  // thumbnails: index -> position in the embedded block
  const th = extra.thumbs || { kind: "index", indices: [] };
  const thumbPos = new Map((th.indices || []).map((idx, j) => [idx, j]));
  const thumbBytes = th.data ? b64ToBytes(th.data.__b64__) : new Uint8Array(0);

  // profiles
  const pr = extra.profiles || { indices: [], n_features: 0 };
  const F = pr.n_features || 0;
  const profPos = new Map((pr.indices || []).map((idx, j) => [idx, j]));
  const profValues = floats(pr.values);
  const stats = {};
  for (const key of ["mean", "q1", "q3"]) stats[key] = pr.stats?.[key] ? floats(pr.stats[key]) : new Float32Array(0);
  const overall = {};
  for (const key of ["mean", "q1", "q3"]) overall[key] = pr.overall?.[key] ? floats(pr.overall[key]) : new Float32Array(0);

  function emit(event, ...args) {
    for (const fn of [...(handlers.get(event) || [])]) fn(...args);
  }

  function reply(content, buffers = []) {
    // asynchronous, like a kernel round trip
    setTimeout(() => emit("msg:custom", content, buffers), 0);
  }

  function answerThumbs(msg) {
    const indices = msg.indices || [];
    if (th.kind === "image") {
      const size = th.h * th.w * th.c;
      // inputs that did not fit in the export are left out of the answer: the views show their index
      const got = indices.filter((i) => thumbPos.has(i));
      const packed = new Uint8Array(size * got.length);
      got.forEach((idx, j) => {
        const p = thumbPos.get(idx);
        packed.set(thumbBytes.subarray(p * size, (p + 1) * size), j * size);
      });
      reply({ type: "thumbs", req: msg.req, kind: "image", h: th.h, w: th.w, c: th.c, indices: got }, [new DataView(packed.buffer)]);
    } else if (th.kind === "text") {
      const got = indices.filter((i) => thumbPos.has(i));
      reply({ type: "thumbs", req: msg.req, kind: "text", indices: got, texts: got.map((i) => th.texts[thumbPos.get(i)]) });
    } else {
      reply({ type: "thumbs", req: msg.req, kind: "index", indices });
    }
  }

  function answerProfile(msg) {
    const index = Number(msg.index);
    const p = profPos.get(index);
    if (p === undefined || !F) {
      reply({ type: "profile", req: msg.req, error: "This input's activation profile is not part of the static export (it was too large). Fix: open the notebook, or save_html(max_bytes=...) with a larger budget." });
      return;
    }
    const view = state.view || {};
    const samples = state._samples;
    const n = view.n || 0;
    const nap = samples && samples.byteLength >= 4 * n ? samples.getInt32(index * 4, true) : -1;
    // the embedded NAP statistics belong to the exported result, not to one re-selected in the browser
    const own = !view.reselected_in_browser;
    const src = own && nap >= 0 && stats.mean.length >= (nap + 1) * F ? stats : overall;
    const off = nap >= 0 && src === stats ? nap * F : 0;
    const pick = (arr) => Array.from(arr.subarray(off, off + F), round);
    reply({
      type: "profile",
      req: msg.req,
      index,
      nap,
      layer: pr.layer,
      probability: (pr.probabilities || [])[p],
      values: Array.from(profValues.subarray(p * F, (p + 1) * F), round),
      mean: pick(src.mean),
      q1: pick(src.q1),
      q3: pick(src.q3),
    });
  }

  const model = {
    isStatic: true,
    embedded: { complete: Boolean(extra.complete), count: extra.n_embedded || 0 },
    get: (key) => state[key],
    set(key, value) {
      state[key] = value;
      emit(`change:${key}`, value);
      emit("change");
    },
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(fn);
    },
    off(event, fn) {
      if (!event) handlers.clear();
      else if (!fn) handlers.delete(event);
      else if (handlers.has(event)) handlers.get(event).delete(fn);
    },
    save_changes() {
      const shown = state.view?.params || {};
      if (RESELECT_PARAMS.some((k) => state[k] !== shown[k]) && local.canReselect()) setTimeout(() => local.apply(), 0);
    },
    send(msg, _callbacks, buffers) {
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "thumbs") answerThumbs(msg);
      else if (msg.type === "profile") answerProfile(msg);
      else if (INTENTS.includes(msg.type)) reply(selection.apply(msg, buffers));
    },
  };
  const selection = createLocalSelection(model);
  const local = createLocalKernel(model, { features: allFeatures(pr, profValues, state.view?.n || 0), nFeatures: F });
  model.reselects = local.canReselect() ? [...RESELECT_PARAMS] : [];
  return model;
}
