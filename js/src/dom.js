// Small DOM helpers. Data from the user's model (class names, texts) only ever goes through textContent
// or attribute values: never innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an element: h("div", { class: "x", "data-testid": "y", onclick: fn }, child, "text", ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Create an SVG element (attributes only; text via the `text` key, set as textContent). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.setAttribute("class", value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function fmt(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return Number(x).toFixed(digits);
}

export function pct(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return `${Math.round(x * 100)}%`;
}

export function int(x) {
  return Number(x).toLocaleString("en-US");
}

export function debounce(fn, ms) {
  let t = null;
  const wrapped = (...args) => {
    if (t) clearTimeout(t);
    t = setTimeout(() => { t = null; fn(...args); }, ms);
  };
  wrapped.cancel = () => { if (t) clearTimeout(t); t = null; };
  return wrapped;
}

/** Bytes from a trait or message buffer (DataView, ArrayBuffer, typed array) as a Uint8Array. */
export function toU8(buf) {
  if (!buf) return new Uint8Array(0);
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  if (buf.buffer instanceof ArrayBuffer) return new Uint8Array(buf.buffer, buf.byteOffset || 0, buf.byteLength);
  return new Uint8Array(0);
}

/** A typed view of `count` elements of type `Type` at element `offset`, copying when unaligned. */
export function typed(u8, Type, offset, count) {
  const start = u8.byteOffset + offset * Type.BYTES_PER_ELEMENT;
  if (start % Type.BYTES_PER_ELEMENT === 0) return new Type(u8.buffer, start, count);
  const copy = u8.slice(offset * Type.BYTES_PER_ELEMENT, (offset + count) * Type.BYTES_PER_ELEMENT);
  return new Type(copy.buffer, 0, count);
}

/** Call fn(width) when el's width changes by more than `slack` pixels (no-op without ResizeObserver). */
export function onWidthChange(el, fn, slack = 24) {
  if (typeof ResizeObserver === "undefined") return () => {};
  let last = el.clientWidth;
  let frame = null;
  const ro = new ResizeObserver(() => {
    const w = el.clientWidth;
    if (!w || Math.abs(w - last) <= slack) return;
    last = w;
    if (frame) cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => fn(w));
  });
  ro.observe(el);
  return () => ro.disconnect();
}

/**
 * Coalesce redraws: a new result fires "data", then "selection" and "detail" in one go; `soon` draws once
 * after all of them (next microtask), `now` draws at once unless a coalesced draw is already queued.
 */
export function coalesce(draw) {
  let queued = false;
  const soon = () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => { queued = false; draw(); });
  };
  const now = () => { if (!queued) draw(); };
  return { soon, now };
}
