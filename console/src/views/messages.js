// Investigation: every message, newest first, paged on the server with totals ("1–100 of
// 12,345"), filtered by tx, device, invalid only and a time range; a search box that takes a
// seq, "tx N", a device name or a leaf hash. It never silently truncates: "Older" stays while
// the hub says there is more, even after a short page. On the first page, new matching
// messages arriving live are prepended.
import { h, replace } from "../dom.js";
import { api } from "../api.js";
import { on } from "../live.js";
import { go, setParams } from "../router.js";
import { pager, messageHead, messageRow, messagesNewestFirst, errorBox, note, deviceLink } from "./parts.js";

const LIMIT = 100;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** What the search box understands, or an error sentence. */
export function parseSearch(text) {
  const t = text.trim();
  let m;
  if (!t) return { error: "Type a seq (40), a transaction (tx 12), a device name or a 64-digit leaf hash." };
  if ((m = /^(?:#|seq\s*)?(\d+)$/i.exec(t))) return { hash: `msg/${m[1]}` };
  if ((m = /^tx\s*#?\s*(\d+)$/i.exec(t))) return { hash: `tx/${m[1]}` };
  if (/^[0-9a-f]{64}$/i.test(t)) return { filters: { leaf_hash: t.toLowerCase() } };
  if (NAME.test(t)) return { device: t };
  return { error: `"${t}" is not a seq, "tx N", a device name (1–64 of A–Z a–z 0–9 _ . -) or a 64-digit hex leaf hash.` };
}

/** A `datetime-local` value as the API's ISO time (or "" when empty). */
const iso = (local) => (local ? new Date(local).toISOString() : "");
/** The API's ISO time as a `datetime-local` value in this browser's zone. */
function local(isoTime) {
  if (!isoTime) return "";
  const d = new Date(isoTime);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function render(el, _m, params) {
  const f = {
    tx: params.get("tx") ?? "",
    device: params.get("device") ?? "",
    valid: params.get("valid") === "false" ? "false" : "",
    from: params.get("from") ?? "",
    to: params.get("to") ?? "",
    leaf_hash: params.get("leaf_hash") ?? "",
  };
  const say = h("div", { "aria-live": "polite" });
  const search = h("input", { id: "search", type: "search", placeholder: "40 · tx 12 · oven · leaf hash", autocomplete: "off" });
  const searchForm = h("form", { class: "toolbar", role: "search", onsubmit: async (e) => {
    e.preventDefault();
    const r = parseSearch(search.value);
    if (r.error) return replace(say, errorBox(r.error));
    if (r.hash) return go(r.hash);
    if (r.filters) return apply({ tx: "", device: "", valid: "", from: "", to: "", ...r.filters });
    try {
      await api(`/v1/devices/${encodeURIComponent(r.device)}`);
      apply({ ...f, device: r.device, leaf_hash: "" });
    } catch (err) {
      replace(say, errorBox(err.code === "unknown_device" ? `No device is named "${r.device}".` : err.message));
    }
  } },
  h("label", { for: "search" }, "Search by seq, tx, device or leaf hash"), search, h("button", { type: "submit" }, "Search"));

  const txIn = h("input", { id: "f-tx", inputmode: "numeric", size: 7, value: f.tx });
  const devIn = h("input", { id: "f-device", size: 14, value: f.device });
  const invIn = h("input", { id: "f-invalid", type: "checkbox", checked: f.valid === "false" });
  const fromIn = h("input", { id: "f-from", type: "datetime-local", value: local(f.from) });
  const toIn = h("input", { id: "f-to", type: "datetime-local", value: local(f.to) });
  const filterForm = h("form", { class: "toolbar", "aria-label": "Filters", onsubmit: (e) => {
    e.preventDefault();
    const tx = txIn.value.trim(), dev = devIn.value.trim();
    if (tx && !/^\d+$/.test(tx)) return replace(say, errorBox("A transaction is a whole number, like 12."));
    if (dev && !NAME.test(dev)) return replace(say, errorBox("A device name is 1–64 characters of A–Z a–z 0–9 _ . -"));
    if (fromIn.value && toIn.value && iso(fromIn.value) > iso(toIn.value)) return replace(say, errorBox("The time range ends before it starts."));
    apply({ tx, device: dev, valid: invIn.checked ? "false" : "", from: iso(fromIn.value), to: iso(toIn.value), leaf_hash: "" });
  } },
  h("label", { for: "f-tx" }, "Transaction", txIn),
  h("label", { for: "f-device" }, "Device", devIn),
  h("label", { class: "check", for: "f-invalid" }, invIn, "Invalid only"),
  h("label", { for: "f-from" }, "From", fromIn),
  h("label", { for: "f-to" }, "To", toIn),
  h("button", { type: "submit" }, "Apply"),
  h("button", { type: "button", class: "secondary", onclick: () => apply({ tx: "", device: "", valid: "", from: "", to: "", leaf_hash: "" }) }, "Clear"));

  const tbody = h("tbody");
  const filtersNow = () => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== ""));
  const p = pager({
    what: "messages",
    limit: LIMIT,
    fetch: (cursor) => messagesNewestFirst(filtersNow(), cursor, LIMIT),
    show: (items) => replace(tbody, (items ?? []).map(messageRow)),
  });
  function apply(next) {
    Object.assign(f, next);
    setParams(f);
    replace(say);
    txIn.value = f.tx; devIn.value = f.device; invIn.checked = f.valid === "false";
    fromIn.value = local(f.from); toIn.value = local(f.to);
    describe();
    p.reload();
  }
  const what = h("p", { class: "muted" });
  function describe() {
    const parts = [];
    if (f.leaf_hash) parts.push(`the message whose leaf hash is ${f.leaf_hash}`);
    if (f.tx) parts.push(`in tx ${f.tx}`);
    if (f.device) parts.push(h("span", {}, "sent or received by ", deviceLink(f.device)));
    if (f.valid === "false") parts.push("invalid only");
    if (f.from || f.to) parts.push(`in blocks sealed ${[f.from && `from ${new Date(f.from).toLocaleString()}`, f.to && `to ${new Date(f.to).toLocaleString()}`].filter(Boolean).join(" ")}`);
    replace(what, parts.length ? ["Showing messages ", parts.flatMap((x, i) => (i ? ["; ", x] : [x])), ", newest first."] : "Showing every message, newest first.");
  }
  describe();

  // Live: a new message that matches the filters is prepended while on the first page; the
  // page keeps its size and "Older" continues from the last row still shown, so nothing
  // pushed off the page is skipped.
  let queue = [];
  let frame = 0;
  const matches = (r) =>
    (!f.tx || String(r.tx) === f.tx && r.provenance !== null) &&
    (!f.device || r.sender === f.device || r.receiver === f.device) &&
    (f.valid !== "false" || !r.valid) && !f.to && !f.leaf_hash;
  const off = on("entry", (ev) => {
    const r = ev?.kind === "message" ? ev.record : null;
    if (!r || !p.onFirstPage() || !matches(r)) return;
    queue.push(r);
    if (!frame) frame = requestAnimationFrame(flush);
  });
  function flush() {
    frame = 0;
    const st = p.state;
    // Left the first page since these arrived: that page reloads when the user comes back.
    if (!p.onFirstPage() || st.failed) { queue = []; return; }
    const have = new Set(st.items.map((x) => x.seq));
    const fresh = queue.filter((r) => !have.has(r.seq)).sort((a, b) => b.seq - a.seq);
    queue = [];
    if (!fresh.length) return;
    st.items = [...fresh, ...st.items];
    for (const r of fresh.reverse()) {
      const row = messageRow(r);
      row.classList.add("fresh");
      tbody.prepend(row);
    }
    if (st.total !== null) st.total += fresh.length;
    if (st.items.length > LIMIT) {
      st.items.length = LIMIT;
      while (tbody.children.length > LIMIT) tbody.lastChild.remove();
      st.next = st.items[LIMIT - 1].seq;
    }
    p.words();
  }

  replace(el,
    h("h1", {}, "Messages"),
    searchForm, filterForm, say, what,
    f.from || f.to ? note("With a time range the hub cannot count the total without a scan: the pager says so rather than guess.") : null,
    p.el,
    h("div", { class: "table-wrap" }, h("table", { class: "messages" }, h("caption", { class: "muted" }, "Messages, newest first; invalid rows in red with why."), messageHead(), tbody)));
  p.reload();
  // The hub could not replay what the page missed while disconnected: the first page is read
  // again rather than left with a gap.
  const offReset = on("reset", () => { if (p.onFirstPage()) p.reload(); });
  return () => { off(); offReset(); cancelAnimationFrame(frame); };
}
