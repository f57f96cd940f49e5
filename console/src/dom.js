// Building the page without innerHTML: every value from the hub is set as text, never parsed
// as HTML, so a device name or message contents cannot inject markup.

/** `h("a", {href: "#tx/3", class: "x", onclick: f, "aria-label": "…"}, child…)`. Children may be
 * strings, numbers, nodes, arrays of them, or null/undefined/false (skipped). */
export function h(tag, attrs, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class" && Array.isArray(v)) el.setAttribute("class", v.filter(Boolean).join(" "));
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** An SVG element: `s("rect", {x: 1})`. */
export const s = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces `el`'s children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
