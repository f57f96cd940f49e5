// Views by URL fragment: `#` (incidents), `#tx/12`, `#msg/40`, `#device/oven`,
// `#messages?valid=false`, `#federation/substation@grid`, … A view is `render(el, match, params)`; it may return a function
// the router calls when the user leaves it (to drop live subscriptions and timers).
import { $ } from "./dom.js";

const routes = [];
let leave = null;

/** Registers a view for fragments matching `pattern` (matched against the part before `?`). */
export function route(pattern, render, title) {
  routes.push({ pattern, render, title });
}

/** The current fragment's path and parameters: `#tx/3?x=1` → {path: "tx/3", params}. */
export function current() {
  const raw = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const q = raw.indexOf("?");
  return { path: q < 0 ? raw : raw.slice(0, q), params: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
}

/** Goes to `hash` (with or without the leading #). */
export function go(hash) {
  location.hash = hash.startsWith("#") ? hash : `#${hash}`;
}

/** Rewrites the current fragment's parameters without adding a history step or re-rendering. */
export function setParams(params) {
  const { path } = current();
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") p.set(k, String(v));
  const t = p.toString();
  history.replaceState(null, "", `#${path}${t ? `?${t}` : ""}`);
}

async function show() {
  if (leave) { try { leave(); } catch (e) { console.error(e); } leave = null; }
  const { path, params } = current();
  const view = $("#view");
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    view.replaceChildren();
    document.title = `${typeof r.title === "function" ? r.title(m) : r.title} · M2MHub`;
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.match && new RegExp(a.dataset.match).test(path)) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    window.scrollTo(0, 0);
    view.focus({ preventScroll: true });
    try {
      leave = (await r.render(view, m, params)) ?? null;
    } catch (e) {
      console.error(e);
      view.append(Object.assign(document.createElement("p"), { className: "error", textContent: e.message }));
    }
    return;
  }
  view.replaceChildren(Object.assign(document.createElement("p"), { textContent: "No such page." }));
}

export function start() {
  window.addEventListener("hashchange", show);
  show();
}
