// The ONE shared state of the widget on the page: the decoded data every view reads, sorting, hover, pending
// parameter changes. Views never talk to each other: they call store actions and subscribe to store events.
// Synced state lives in the anywidget model. The selection and the filters are the kernel's
// (napwidget/selection.py): the store sends intents ("select", "filter") and renders what the kernel publishes
// (without a kernel, ./selection-local.js answers them). Local, unsynced state (hover, focused item, profile)
// lives here.
//
// Events: "data" (new clustering result), "selection", "hover", "sort", "status" (busy / error / params),
// "profile" (the item whose activation profile is shown), "thumbs" (new thumbnails arrived),
// "topology" (a topology trait changed; the key is the argument; see traitGroups below).

import { debounce, toU8, typed } from "./dom.js";
import { idList, unpackView } from "./wire.js";
import { filteredMembersByNap, hasFilters, normalizeFilters, removeFilter as without, toggleFilter as toggled } from "./filters.js";

export const SORT_KEYS = ["persistence", "size", "purity"];
// Which synced traits each family of views listens to comes from the kernel (`_groups`, built from the trait
// tags in napwidget/views/__init__.py): "params", "core", "cross" (views/pinned.js, follow.js, maxact.js,
// layerstrip.js), "detail" (stats.js, napcharts.js, distribution.js, filterbar.js: `filters` emits "filters",
// the rest "detail"), "topology" (mapper.js, flow.js, the scatter's diagram mode), "midrange" (midrange.js).
// A change of a family's trait emits the family's event with the key ("crosslayer" for "cross").
export function traitGroups(model) {
  const g = model.get("_groups") || {};
  const of = (name) => (Array.isArray(g[name]) ? g[name] : []);
  return { params: of("params"), cross: of("cross"), detail: of("detail"), topology: of("topology"), midrange: of("midrange") };
}

/** Decode the per-sample tables: NAP (int32), probability (float32), outlier score (float32); label, prediction. */
export function decodeSamples(samplesBuf, truthBuf, n) {
  const s = toU8(samplesBuf);
  const t = toU8(truthBuf);
  const empty = () => new Int32Array(n).fill(-1);
  const ok = s.byteLength >= 12 * n;
  const okT = t.byteLength >= 8 * n;
  return {
    nap: ok ? typed(s, Int32Array, 0, n) : empty(),
    prob: ok ? typed(s, Float32Array, n, n) : new Float32Array(n),
    outlier: ok ? typed(s, Float32Array, 2 * n, n) : new Float32Array(n),
    label: okT ? typed(t, Int32Array, 0, n) : empty(),
    pred: okT ? typed(t, Int32Array, n, n) : empty(),
  };
}

/** Members of the given NAPs, most typical first: probability descending, then index (as the kernel does). */
export function membersOf(ids, nap, prob) {
  const want = new Set(ids.map(Number));
  if (!want.size) return [];
  const out = [];
  for (let i = 0; i < nap.length; i++) if (want.has(nap[i])) out.push(i);
  out.sort((a, b) => (prob[b] - prob[a]) || (a - b));
  return out;
}

/** NAP rows sorted for display: persistence (= id order), size or purity, descending; ties by id. */
export function sortNaps(rows, key) {
  const val = (r) => {
    if (key === "size") return r.size;
    if (key === "purity") return r.purity === null || r.purity === undefined ? -1 : r.purity;
    return r.persistence === null || r.persistence === undefined ? -1 : r.persistence;
  };
  return [...rows].sort((a, b) => (val(b) - val(a)) || (a.id - b.id));
}

/** Events of the store: on(event, fn) -> off; emit(event, ...args) (a failing listener never breaks the rest). */
function createEvents() {
  const listeners = new Map();
  function on(event, fn) {
    if (!listeners.has(event)) listeners.set(event, new Set());
    listeners.get(event).add(fn);
    return () => listeners.get(event).delete(fn);
  }
  function emit(event, ...args) {
    for (const fn of [...(listeners.get(event) || [])]) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`napwidget: a view failed on "${event}"`, err); // one broken view must not break the rest
      }
    }
  }
  return { on, emit, clear: () => listeners.clear() };
}

/**
 * Requests to the kernel (custom messages answered with the same `req`), and what they fetch: thumbnails
 * (cached; the card sprite seeds the cache) and activation profiles.
 */
function createRequests(model, emit) {
  const thumbCache = new Map(); // input index -> { kind: "image", pixels, h, w, c } | { kind: "text", text }
  const THUMB_CACHE_MAX = 6000;
  let reqCounter = 0;
  const waiting = new Map();

  function seedCardThumbs(view) {
    const item = view.item || {};
    const members = (view.naps || []).flatMap((r) => r.members || []);
    // the sprite holds the first cards' members (NAP by NAP); cards scrolled to later request theirs
    if (item.kind === "image") {
      const sprite = toU8(model.get("_card_thumbs"));
      const size = item.h * item.w * item.c;
      if (!size) return;
      const count = Math.min(members.length, Math.floor(sprite.byteLength / size));
      for (let j = 0; j < count; j++) {
        const idx = members[j];
        if (!thumbCache.has(idx)) {
          putThumb(idx, { kind: "image", h: item.h, w: item.w, c: item.c, pixels: sprite.slice(j * size, (j + 1) * size) });
        }
      }
    } else if (item.kind === "text" && Array.isArray(view.card_texts)) {
      const count = Math.min(members.length, view.card_texts.length);
      for (let j = 0; j < count; j++) putThumb(members[j], { kind: "text", text: String(view.card_texts[j] ?? "") });
    }
  }

  function putThumb(idx, thumb) {
    thumbCache.set(idx, thumb);
    if (thumbCache.size > THUMB_CACHE_MAX) thumbCache.delete(thumbCache.keys().next().value);
  }

  // --------------------------------------------------------------------------------- requests
  function request(type, content = {}, buffers = undefined) {
    const req = ++reqCounter;
    return new Promise((resolve, reject) => {
      waiting.set(req, { resolve, reject });
      try {
        model.send({ type, req, ...content }, undefined, buffers);
      } catch (err) {
        waiting.delete(req);
        reject(err);
      }
    });
  }

  function onCustom(msg, buffers) {
    if (!msg || msg.req === undefined) return;
    const w = waiting.get(msg.req);
    if (!w) return;
    waiting.delete(msg.req);
    if (msg.error) w.reject(new Error(msg.error));
    else w.resolve({ msg, buffers: buffers || [] });
  }

  /** Thumbnails for `indices` (cached; only missing ones are requested, each once even while a request for it
   * is in flight: a selection's two traits change in two events, and a view may draw twice). Resolves to Map
   * index -> thumb. */
  const inFlight = new Map(); // input index -> the request that fetches it
  async function thumbs(indices) {
    const missing = indices.filter((i) => !thumbCache.has(i) && !inFlight.has(i));
    if (missing.length) {
      const fetching = fetchThumbs(missing);
      for (const i of missing) inFlight.set(i, fetching);
      fetching.finally(() => { for (const i of missing) if (inFlight.get(i) === fetching) inFlight.delete(i); }).catch(() => {});
    }
    await Promise.all([...new Set(indices.map((i) => inFlight.get(i)).filter(Boolean))]);
    return new Map(indices.map((i) => [i, thumbCache.get(i)]));
  }

  async function fetchThumbs(missing) {
    const { msg, buffers } = await request("thumbs", { indices: missing });
    const got = msg.indices || missing;
    if (msg.kind === "image") {
      const u8 = toU8(buffers[0]);
      const size = msg.h * msg.w * msg.c;
      got.forEach((idx, j) => {
        if (u8.byteLength >= (j + 1) * size) {
          putThumb(idx, { kind: "image", h: msg.h, w: msg.w, c: msg.c, pixels: u8.slice(j * size, (j + 1) * size) });
        }
      });
    } else if (msg.kind === "text") {
      got.forEach((idx, j) => putThumb(idx, { kind: "text", text: String((msg.texts || [])[j] ?? "") }));
    } else {
      got.forEach((idx) => putThumb(idx, { kind: "index" }));
    }
    for (const idx of missing) if (!thumbCache.has(idx)) putThumb(idx, { kind: "index" });
    emit("thumbs", got);
  }

  const profileCache = new Map();
  async function profile(index) {
    const key = `${JSON.stringify(model.get("view")?.params || {})}:${index}`;
    if (profileCache.has(key)) return profileCache.get(key);
    const { msg } = await request("profile", { index });
    profileCache.set(key, msg);
    if (profileCache.size > 200) profileCache.delete(profileCache.keys().next().value);
    return msg;
  }

  function rejectAll() {
    for (const w of waiting.values()) w.reject(new Error("widget closed"));
    waiting.clear();
  }

  return { thumbCache, seedCardThumbs, request, onCustom, thumbs, profile, rejectAll };
}

/** Read-only views of the state: what is selected, sorted, pending; one input's row of the per-sample table. */
function createGetters(model, local, st) {
  function get(key) {
    return model.get(key);
  }

  // large selections arrive as int32 buffers (./wire.js): decoded once per value, so views comparing
  // selectedIndices() between calls see the same array
  const decoded = new Map();
  function ids(key) {
    const raw = model.get(key);
    const hit = decoded.get(key);
    if (hit && hit.raw === raw) return hit.list;
    const list = idList(raw);
    decoded.set(key, { raw, list });
    return list;
  }

  function selectedNaps() {
    return ids("selected_naps");
  }

  function selectedIndices() {
    return ids("selected_indices");
  }

  function isSelected(id) {
    return selectedNaps().includes(id);
  }

  function sortBy() {
    const k = model.get("sort_by");
    return SORT_KEYS.includes(k) ? k : "persistence";
  }

  function sortedNaps() {
    const data = st.data;
    return sortNaps(data?.view.naps || [], sortBy());
  }

  function item(index) {
    const d = st.data;
    const label = d.label[index];
    const pred = d.pred[index];
    return {
      index,
      nap: d.nap[index],
      prob: d.prob[index],
      outlier: d.outlier[index],
      label,
      pred,
      misclassified: label >= 0 && pred >= 0 && label !== pred,
    };
  }

  /** NAP id -> how many of the selected inputs it holds (for "n selected" badges). */
  function selectionCounts() {
    const counts = new Map();
    const data = st.data;
    if (!data) return counts;
    for (const i of selectedIndices()) {
      const k = data.nap[i];
      if (k >= 0) counts.set(k, (counts.get(k) || 0) + 1);
    }
    return counts;
  }

  function isStatic() {
    return Boolean(model.get("static"));
  }

  // ------------------------------------------------ kernel-less re-selection (src/reselect/, static-model.js)
  /** True when `name` can change without a kernel (the page holds the tree: min_cluster_size, method). */
  function canReselect(name) {
    return Array.isArray(model.reselects) && model.reselects.includes(name);
  }

  /** A line about where results come from now (e.g. "kernel not connected: re-selecting in the browser"). */
  function notice() {
    return String(model.get("_local_notice") || "");
  }

  function isBusy() {
    return Boolean(model.get("busy")) || local.pending > 0 || Object.keys(local.pendingParams).length > 0;
  }

  function param(name) {
    return name in local.pendingParams ? local.pendingParams[name] : model.get(name);
  }

  return { get, selectedNaps, selectedIndices, isSelected, sortBy, sortedNaps, item, selectionCounts, isStatic, canReselect, notice, isBusy, param };
}

/**
 * The selection and the filters, as intents to their owner (the kernel, or ./selection-local.js without one):
 * select NAPs (their members follow, most typical first) or inputs directly, set the filters. The owner
 * publishes selected_naps / selected_indices / filters; the views draw them on "selection" / "filters".
 */
function createSelection(model, local, request, st) {
  const dataOf = () => st.data;
  function intent(content, buffers) {
    request(content.type, content, buffers).catch(() => {}); // the owner reports problems in `error`
  }

  function selectNaps(ids, mode = "replace") {
    intent({ type: "select", naps: [...new Set(ids.map(Number))], mode });
  }

  /** Select inputs directly (a brush, Mapper nodes, a flow band): they travel as one int32 buffer. */
  function selectIndices(indices) {
    const a = Int32Array.from(indices);
    intent({ type: "select", mode: "replace", count: a.length }, [a.buffer]);
  }

  function clearSelection() {
    selectNaps([]);
  }

  // ------------------------------------------------------------ filters (the `filters` trait; ./filters.js)
  function filters() {
    return normalizeFilters(model.get("filters"));
  }

  /** Ask for new filters; the owner re-filters the selection from its unfiltered inputs. */
  function setFilters(next) {
    intent({ type: "filter", filters: normalizeFilters(next) });
  }

  /** A card's members that pass the filters, most typical first (`row.members` when no filter is active). */
  function cardMembers(row, count = (row.members || []).length) {
    const f = filters();
    const data = dataOf();
    if (!hasFilters(f) || !data) return row.members || [];
    const key = JSON.stringify(f);
    if (!local.passing || local.passing.data !== data || local.passing.key !== key) local.passing = { data, key, byNap: filteredMembersByNap(f, data) };
    const all = local.passing.byNap.get(row.id) || [];
    return Object.assign(all.slice(0, count), { total: all.length });
  }

  return { selectNaps, selectIndices, clearSelection, filters, setFilters, cardMembers };
}

/** Writes to the kernel other than the selection: parameters (one request per commit), sorting, view traits. */
function createActions(model, local, emit, groups, { commitDelay, isStatic, canReselect, sortBy }) {
  function setSort(key) {
    if (!SORT_KEYS.includes(key) || key === sortBy()) return;
    model.set("sort_by", key);
    model.save_changes();
  }

  function setHover(id) {
    const v = id === undefined ? null : id;
    if (local.hoverNap === v) return;
    local.hoverNap = v;
    emit("hover", v);
  }

  function hoverNap() {
    return local.hoverNap;
  }

  function showProfile(index) {
    local.profileIndex = index;
    emit("profile", index);
  }

  function profileIndex() {
    return local.profileIndex;
  }

  const commitLater = debounce(commit, commitDelay);

  function commit() {
    commitLater.cancel();
    const entries = Object.entries(local.pendingParams);
    local.pendingParams = {};
    let changed = false;
    for (const [k, v] of entries) {
      if (model.get(k) !== v) {
        model.set(k, v);
        changed = true;
      }
    }
    if (changed) {
      local.pending += 1;
      model.save_changes();
    }
    emit("status");
  }

  /** Change a clustering parameter: debounced (the latest value wins), committed to the kernel as one request. */
  function setParam(name, value, { immediate = false } = {}) {
    if ((isStatic() && !canReselect(name)) || !groups.params.includes(name)) return;
    local.pendingParams[name] = value;
    emit("status");
    if (immediate) commit();
    else commitLater();
  }

  /** Write a cross-layer trait (pins, view options, open panels); the kernel recomputes what depends on it. */
  function setCross(name, value) {
    if (!groups.cross.includes(name)) return;
    model.set(name, value);
    model.save_changes();
  }

  /** Write a topology trait (open panels, Mapper parameters, flow layers); the kernel recomputes what is open. */
  function setTopology(name, value) {
    if (!groups.topology.includes(name)) return;
    model.set(name, value);
    model.save_changes();
  }

  /** Write a mid-range trait (open, class, band, layer, curation); the kernel recomputes the view while open. */
  function setMidrange(name, value) {
    if (!groups.midrange.includes(name)) return;
    model.set(name, value);
    model.save_changes();
  }

  function dismissError() {
    model.set("error", "");
    model.save_changes();
  }

  return { setSort, setHover, hoverNap, showProfile, profileIndex, commit, commitLater, setParam, setCross, setTopology, setMidrange, dismissError };
}

export function createStore(model, { commitDelay = 300 } = {}) {
  const groups = traitGroups(model);
  const { on, emit, clear } = createEvents();
  const local = { hoverNap: null, profileIndex: null, pending: 0, pendingParams: {} };
  const st = { data: null };
  const modelHandlers = [];
  const req = createRequests(model, emit);
  const getters = createGetters(model, local, st);
  const sel = createSelection(model, local, req.request, st);
  const act = createActions(model, local, emit, groups, { commitDelay, isStatic: getters.isStatic, canReselect: getters.canReselect, sortBy: getters.sortBy });

  function listen(event, fn) {
    model.on(event, fn);
    modelHandlers.push([event, fn]);
  }

  // ------------------------------------------------------------------------------------ data
  function decode() {
    const raw = model.get("view") || {};
    const view = unpackView(raw); // NAP rows and heatmap travel as binary columns (./wire.js)
    const n = view.n || 0;
    const samples = decodeSamples(model.get("_samples"), model.get("_truth"), n);
    const napById = new Map((view.naps || []).map((r) => [r.id, r]));
    st.data = { view, raw, n, ...samples, napById };
    req.seedCardThumbs(view);
    return st.data;
  }

  let dataScheduled = false;
  function scheduleData() {
    // view, _samples and _card_thumbs arrive together: render once, after all of them changed
    if (dataScheduled) return;
    dataScheduled = true;
    queueMicrotask(() => {
      dataScheduled = false;
      decode();
      emit("data", st.data);
      emit("selection");
      const later = deferred.splice(0);
      for (const [event, arg] of later) emit(event, arg);
    });
  }

  // Traits that arrive in the same kernel message as a new result (nap_detail, diagram, _avg_thumbs, ...) fire
  // their change events before the result is decoded (that waits for a microtask): the views would draw them
  // against the previous result, find them stale, and draw again. While a new `view` is pending, hold such
  // events until just after "data".
  const deferred = [];
  function emitAfterData(event, arg) {
    if (dataScheduled || (st.data && model.get("view") !== st.data.raw && model.get("view"))) {
      scheduleData();
      if (!deferred.some(([e, a]) => e === event && a === arg)) deferred.push([event, arg]);
      return;
    }
    emit(event, arg);
  }

  // --------------------------------------------------------------------------------- wiring
  for (const k of ["view", "_samples", "_card_thumbs", "_truth"]) listen(`change:${k}`, scheduleData);
  listen("change:selected_naps", () => emit("selection"));
  listen("change:selected_indices", () => emit("selection"));
  listen("change:sort_by", () => emit("sort"));
  listen("change:busy", () => emit("status"));
  listen("change:_local_notice", () => emit("status"));
  listen("change:error", () => emit("status"));
  listen("change:_revision", () => {
    local.pending = 0;
    emit("status");
  });
  for (const k of groups.params) listen(`change:${k}`, () => emit("status"));
  listen("msg:custom", req.onCustom);
  for (const k of groups.topology) listen(`change:${k}`, () => emitAfterData("topology", k));
  for (const k of groups.cross) listen(`change:${k}`, () => emitAfterData("crosslayer", k));
  for (const k of groups.midrange) listen(`change:${k}`, () => emitAfterData("midrange", k));
  for (const k of groups.detail) listen(`change:${k}`, () => emitAfterData(k === "filters" ? "filters" : "detail", k));

  decode();

  function destroy() {
    act.commitLater.cancel();
    for (const [event, fn] of modelHandlers) model.off(event, fn);
    clear();
    req.rejectAll();
  }

  const { commitLater: _later, ...actions } = act;
  return {
    on,
    emit,
    get data() {
      return st.data;
    },
    thumbCache: req.thumbCache,
    request: req.request,
    thumbs: req.thumbs,
    profile: req.profile,
    ...getters,
    ...sel,
    ...actions,
    toggleFilter: (kind, name) => sel.setFilters(toggled(sel.filters(), kind, name)),
    removeFilter: (kind, name) => sel.setFilters(without(sel.filters(), kind, name)),
    clearFilters: () => sel.setFilters({}),
    destroy,
  };
}
