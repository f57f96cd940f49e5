// Pieces shared by the shell's views (incidents, messages, devices, dossier, security): message
// rows, the pager that never hides a page, boxes for errors and confirmations, newest-first
// listing of messages, and the small rate chart.
import { h, s, replace } from "../dom.js";
import { api, qs, ApiError } from "../api.js";
import { num, time, ago, verdict } from "../format.js";
import { party } from "../federation.js";

/** True when `e` says the hub has no such route (an older hub, before the console's APIs). */
export const missingRoute = (e) => e?.status === 404 && e?.code === "not_found";
/** True when `e` is the hub refusing a query parameter it does not know (an older hub). */
export const unknownParam = (e) => e?.status === 400 && (e?.code === "malformed" || e?.code === "not_supported");

export const errorBox = (e, prefix = "") =>
  h("p", { class: "bad-box", role: "alert" }, `${prefix}${e?.message ?? e}`);
export const okBox = (text) => h("p", { class: "ok-box", role: "status" }, text);
export const note = (text) => h("p", { class: "warn-box" }, text);

/** `<time>` with the local time on screen and the ISO time in its title. */
export const when = (iso) => (iso ? h("time", { datetime: iso, title: `${iso} (${ago(iso)})` }, time(iso)) : h("span", { class: "muted" }, "—"));

export const txLink = (tx) => (tx ? h("a", { href: `#tx/${tx}` }, `tx ${tx}`) : h("span", { class: "muted" }, "—"));
export const seqLink = (seq) => h("a", { href: `#msg/${seq}`, "aria-label": `message ${seq}` }, `#${seq}`);
/** A device's name as a link: a bare name (this hub's device) to its dossier; `name@hub`
 * (another member's device, SPEC §7) to the federation view, its hub shown as a badge. */
export const deviceLink = (name) => {
  if (!name) return h("span", { class: "muted" }, "—");
  const p = party(name);
  if (p.hub === null) return h("a", { href: `#device/${encodeURIComponent(name)}` }, name);
  return h("a", { href: `#federation/${encodeURIComponent(name)}`, class: "party-foreign", title: `${p.name} is a device of hub ${p.hub}, another member of the federation: what reached it across the federation` },
    p.name, hubBadge(p.hub));
};
/** The `@hub` of a `name@hub`, styled as a badge (its text stays part of the name). */
export const hubBadge = (hub) => h("span", { class: "hub-badge" }, `@${hub}`);

/** The header of a message table. */
export const messageHead = () =>
  h("thead", {}, h("tr", {}, ["seq", "time", "tx", "from → to", "action", "verdict", "contents"].map((c) => h("th", { scope: "col", class: c }, c))));

/** One message record as a table row (red when invalid, its notices in words). A record of a
 * tx id not issued yet (provenance null, SPEC §3.1) says so instead of linking the tx. */
export function messageRow(r) {
  const noTx = !r.valid && r.provenance === null && r.action !== "begin";
  return h("tr", { class: ["msg", !r.valid && "invalid"], "data-seq": r.seq },
    h("td", {}, seqLink(r.seq)),
    h("td", {}, when(r.time)),
    h("td", {}, noTx ? h("span", { title: "this message named a transaction that did not exist yet: it belongs to none" }, `none (named ${r.tx})`) : txLink(r.tx)),
    h("td", {}, deviceLink(r.sender), " → ", deviceLink(r.receiver)),
    h("td", {}, r.action),
    h("td", { class: "verdict" }, verdict(r)),
    h("td", { class: "contents" }, r.contents === null || r.contents === undefined ? h("span", { class: "muted" }, "pruned") : clip(r.contents)),
  );
}
const clip = (t) => (t.length > 80 ? `${t.slice(0, 80)}…` : t);

// Newest-first message listing: the contract's `order=desc` (cursor `after`), else the older
// hubs' `before` cursor. Decided once per page load, on the first answer.
let descMode = null;

/** One newest-first page of `/v1/messages` with `filters`, from `cursor` (null: the newest).
 * Answers `{items, next, total}` (`total` null when the hub does not know it). */
export async function messagesNewestFirst(filters, cursor, limit = 100) {
  const newer = Object.keys(filters).filter((k) => NEWER_FILTERS[k]);
  try {
    if (filters.leaf_hash) {
      // A leaf hash names at most one message; the hub takes it alone.
      const r = await api(`/v1/messages${qs({ leaf_hash: filters.leaf_hash })}`);
      return { items: r.items, next: r.next, total: r.total ?? r.items.length };
    }
    if (descMode !== "before") {
      try {
        const r = await api(`/v1/messages${qs({ ...filters, order: "desc", after: cursor, limit })}`);
        descMode = "order";
        return { items: r.items, next: r.next, total: r.total ?? null };
      } catch (e) {
        if (descMode === "order" || !unknownParam(e) || newer.length) throw e;
        descMode = "before";
      }
    }
    const r = await api(`/v1/messages${qs({ ...filters, before: cursor ?? Number.MAX_SAFE_INTEGER, limit })}`);
    return { items: r.items, next: r.next, total: r.total ?? null };
  } catch (e) {
    if (newer.length && unknownParam(e)) {
      throw new ApiError(400, "not_supported", `This hub cannot list messages by ${newer.map((k) => NEWER_FILTERS[k]).join(" or ")} yet (its /v1/messages predates the console's read APIs).`);
    }
    throw e;
  }
}
/** Filters only hubs with the console's read APIs know, in words. */
const NEWER_FILTERS = { from: "time range", to: "time range", provenance: "provenance", leaf_hash: "leaf hash" };

/** A pager over a cursor-paged list that never hides a page: "Older" stays offered while the
 * hub's `next` is non-null, even after a short or empty page. `fetch(cursor)` answers
 * `{items, next, total?}`; `show(items, info)` draws them. Lists kept oldest first (`asc`)
 * say "Earlier" and "Later" instead; lists the hub never counts (`totals: false`) do not say
 * the total is unknown. Returns `{reload, el, state, …}`. */
export function pager({ fetch, show, what = "items", limit = 100, asc = false, totals = true }) {
  const [firstWord, backWord, onWord] = asc ? ["Oldest", "Earlier", "Later"] : ["Newest", "Newer", "Older"];
  // Not a live region: live rows update it many times a second.
  const status = h("p", { class: "pager-status muted" });
  const newer = h("button", { type: "button", class: "secondary", onclick: () => go(-1) }, `← ${backWord}`);
  const older = h("button", { type: "button", class: "secondary", onclick: () => go(+1) }, `${onWord} →`);
  const first = h("button", { type: "button", class: "secondary", onclick: () => { st.stack = [null]; load(); } }, firstWord);
  const buttons = h("div", { class: "pager-buttons" }, first, newer, older);
  const el = h("div", { class: "pager" }, status, buttons);
  const st = { stack: [null], next: null, total: null, shown: 0, offset: 0, items: [] };
  const offsets = [0];
  async function load() {
    const i = st.stack.length - 1;
    status.textContent = "Loading…";
    for (const b of [newer, older, first]) b.disabled = true;
    let r;
    try {
      r = await fetch(st.stack[i]);
    } catch (e) {
      st.failed = true;
      replace(status, errorBox(e));
      show(null, e);
      return;
    }
    st.failed = false;
    st.next = r.next;
    st.total = r.total ?? null;
    st.items = r.items;
    st.offset = offsets[i] ?? 0;
    show(r.items, st);
    words();
  }
  function words() {
    const i = st.stack.length - 1;
    const n = st.items.length;
    const range = n ? `${num(st.offset + 1)}–${num(st.offset + n)}` : "none";
    const of = st.total !== null ? ` of ${num(st.total)}` : "";
    const more = st.next !== null && st.next !== undefined
      ? (n < limit ? ` · this page is short but there are more ${what}: use ${onWord}` : "")
      : ` · no ${onWord.toLowerCase()} ${what}`;
    status.textContent = `${what[0].toUpperCase()}${what.slice(1)} ${range}${of}${st.total === null && totals ? " (total not known for this filter)" : ""}${more}`;
    newer.disabled = i === 0;
    first.disabled = i === 0;
    older.disabled = st.next === null || st.next === undefined;
    // One page and nothing more: no buttons to tab through.
    buttons.hidden = i === 0 && older.disabled;
  }
  function go(d) {
    if (d > 0) {
      offsets[st.stack.length] = st.offset + st.items.length;
      st.stack.push(st.next);
    } else st.stack.pop();
    load();
  }
  return { el, state: st, reload: () => { st.stack = [null]; return load(); }, load, words, onFirstPage: () => st.stack.length === 1 };
}

/** Every registered device (every page of `/v1/devices`, up to 20,000 devices). */
export async function allDevices() {
  const out = [];
  let after = null;
  for (let i = 0; i < 20; i++) {
    const r = await api(`/v1/devices${qs({ after, limit: 1000 })}`);
    out.push(...r.items);
    if (r.next === null || r.next === undefined) return { devices: out, complete: true };
    after = r.next;
  }
  return { devices: out, complete: false };
}

/** The message and invalid rates chart (`/v1/stats/rates`, kept by the hub at append), drawn
 * as SVG bars: grey for messages, red for invalid ones, with its numbers in words beside. */
export async function rateChart(el, { provenance, title = "Messages and invalid messages, last hour" } = {}) {
  const fig = h("figure", { class: "chart card" }, h("figcaption", {}, title), h("p", { class: "muted" }, "Loading…"));
  replace(el, fig);
  let r;
  try {
    r = await api(`/v1/stats/rates${qs({ provenance })}`);
  } catch (e) {
    fig.lastChild.replaceWith(missingRoute(e)
      ? note("This hub does not serve rate aggregates yet (/v1/stats/rates): no chart.")
      : errorBox(e));
    return;
  }
  const items = r.items ?? [];
  // With a provenance and buckets under an hour the hub counts invalid messages only
  // (`messages` null): the bars then scale to those.
  const counted = items.some((b) => b.messages !== null && b.messages !== undefined);
  const W = 600, H = 120, pad = 4;
  const max = Math.max(1, ...items.map((b) => (counted ? b.messages ?? 0 : b.invalid)));
  const bw = items.length ? (W - 2 * pad) / items.length : 0;
  const y = (v) => H - pad - ((H - 2 * pad) * v) / max;
  const total = items.reduce((a, b) => a + (b.messages ?? 0), 0);
  const invalid = items.reduce((a, b) => a + b.invalid, 0);
  const peak = items.reduce((a, b) => Math.max(a, b.invalid), 0);
  const per = r.bucket === 60 ? "minute" : r.bucket === 300 ? "5 minutes" : r.bucket === 3600 ? "hour" : r.bucket === 86400 ? "day" : `${r.bucket} s`;
  const sent = counted ? `${num(total)} ${provenance ? `messages sent by ${provenance}` : "messages"} and ` : "";
  const words = `${sent}${num(invalid)} invalid${provenance ? ` caused by ${provenance}` : ""} from ${time(r.from)} to ${time(r.to)}, per ${per}; most invalid in one ${per}: ${num(peak)}.${counted ? "" : " (Messages sent are counted per hour only.)"}`;
  const tip = (b) => `${time(b.start)}: ${b.messages !== null && b.messages !== undefined ? `${num(b.messages)} messages, ` : ""}${num(b.invalid)} invalid`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "rate-svg", role: "img", "aria-label": words, preserveAspectRatio: "none" },
    items.map((b, i) => [
      b.messages ? s("rect", { x: pad + i * bw, y: y(b.messages), width: Math.max(1, bw - 1), height: H - pad - y(b.messages), class: "bar-all" }, s("title", {}, tip(b))) : null,
      b.invalid ? s("rect", { x: pad + i * bw, y: y(Math.max(b.invalid, max / 40)), width: Math.max(2, bw - 1), height: H - pad - y(Math.max(b.invalid, max / 40)), class: "bar-bad" }, s("title", {}, tip(b))) : null,
    ]),
    s("line", { x1: 0, x2: W, y1: H - pad, y2: H - pad, class: "axis" }));
  fig.lastChild.replaceWith(h("div", {},
    svg,
    h("div", { class: "chart-axis muted" }, h("span", {}, time(r.from)), h("span", {}, `top of scale: ${num(max)} per ${per}`), h("span", {}, time(r.to))),
    h("p", { class: "chart-words" }, counted ? [h("span", { class: "key key-all", "aria-hidden": "true" }), " messages "] : null,
      h("span", { class: "key key-bad", "aria-hidden": "true" }), " invalid — ", words)));
}
