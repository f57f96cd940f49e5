// The device dossier `#device/NAME`: its registration and history (exceptions granted and
// withdrawn, re-keys, revocation, each an entry with its seq and time), its counts and last
// seen, the transactions it began and those that reached it, the invalid messages it caused
// over time (chart and list) and all its messages, each list paged on the server; in a
// federation, a link to what reached it across the member hubs.
import { h, replace } from "../dom.js";
import { api, qs } from "../api.js";
import { num, plural } from "../format.js";
import { ownName } from "../federation.js";
import { pager, errorBox, note, when, deviceLink, seqLink, txLink, messageHead, messageRow, messagesNewestFirst, missingRoute, unknownParam, rateChart } from "./parts.js";

export async function render(el, m) {
  const name = m[1];
  let d;
  try {
    d = await api(`/v1/devices/${encodeURIComponent(name)}`);
  } catch (e) {
    replace(el, h("h1", {}, `Device ${name}`), errorBox(e.code === "unknown_device" ? `No device is named "${name}".` : e.message));
    return;
  }
  const fact = (label, value) => h("div", { class: "fact" }, h("b", {}, value), label);
  const counted = d.sent !== undefined;
  const facts = h("div", { class: "facts" },
    fact("clearance", num(d.clearance)),
    fact("status", h("span", { class: d.status === "revoked" ? "status-revoked" : null }, d.status)),
    counted ? [
      fact("messages sent", num(d.sent)),
      fact("messages received", num(d.received)),
      fact("invalid caused", num(d.invalid_caused)),
      fact("transactions begun", num(d.transactions_begun)),
      fact("last seen", d.last_seen ? h("span", {}, seqLink(d.last_seen.seq), " ", when(d.last_seen.time)) : "never"),
    ] : null);
  const chart = h("div");
  // In a federation, what reached it at every member hub (SPEC §7).
  const acrossLink = h("span");
  ownName().then((own) => { if (own) replace(acrossLink, " · ", h("a", { href: `#federation/${encodeURIComponent(`${d.name}@${own}`)}`, id: "device-federation" }, `What reached ${d.name}@${own} across the federation`)); });
  replace(el,
    h("h1", {}, `Device ${d.name}`),
    h("p", {}, d.simulated ? "Simulated (the hub holds its key). " : "Holds its own key. ",
      `Key fingerprint `, h("span", { class: "mono" }, d.key_fingerprint ?? ""), ". ",
      d.exceptions.length ? ["Accepts by exception: ", d.exceptions.map((x, i) => [i ? ", " : "", deviceLink(x)]), "."] : "No exceptions.",
      " ", h("a", { href: `#messages?device=${encodeURIComponent(d.name)}` }, "Investigate its messages"), acrossLink),
    facts,
    counted ? null : note("This hub does not count per device yet (sent, received, invalid caused, last seen)."),
    section("History", "hist", historyList(d)),
    section("Invalid messages it caused", "caused", chart, causedList(d.name)),
    section("Transactions it began", "begun", txList(d.name, true)),
    section("Transactions that reached it", "reached", txList(d.name, false)),
    section("Its messages", "msgs", messageList({ device: d.name })));
  rateChart(chart, { provenance: d.name, title: `Messages sent by ${d.name} and invalid messages it caused, last hour` });
}

const section = (title, id, ...body) => h("section", { "aria-labelledby": `${id}-h`, id: `sec-${id}` }, h("h2", { id: `${id}-h` }, title), body);

const KIND_WORDS = {
  register: (i) => `registered with clearance ${num(i.clearance)}${i.public_key ? `, key ${i.public_key.slice(0, 16)}…` : ""}${i.exceptions?.length ? `, accepting ${i.exceptions.join(", ")} by exception` : ""}`,
  grant: (i) => (i.by ? `now accepts ${i.by} by exception` : `accepted by ${i.of} by exception`),
  withdraw: (i) => (i.by ? `no longer accepts ${i.by} by exception` : `no longer accepted by ${i.of} by exception`),
  rekey: (i) => `re-keyed${i.public_key ? ` to ${i.public_key.slice(0, 16)}…` : ""}: later messages are checked with the new key`,
  revoke: () => "revoked: from here on its messages are invalid",
};

/** The device's registry history (`/v1/devices/{name}/history`); on an older hub, what the
 * device record alone tells (registration, key changes, status), said to be partial. */
function historyList(d) {
  const out = h("div");
  const p = pager({
    what: "history entries",
    totals: false,
    asc: true,
    fetch: async (cursor) => {
      try {
        const r = await api(`/v1/devices/${encodeURIComponent(d.name)}/history${qs({ after: cursor })}`);
        return { items: r.items, next: r.next, total: null };
      } catch (e) {
        if (!missingRoute(e)) throw e;
        replace(out, note("This hub keeps no per-device history route yet (/v1/devices/{name}/history): below is what the device record tells, without exceptions' history or times."));
        const items = (d.keys ?? []).map((k, i) => ({ seq: k.from_seq, time: null, kind: i === 0 ? "register" : "rekey", clearance: i === 0 ? d.clearance : undefined, public_key: k.public_key }));
        if (d.status === "revoked") items.push({ seq: null, time: null, kind: "revoke" });
        return { items, next: null, total: items.length };
      }
    },
    show: (items) => replace(list, (items ?? []).map((i) => h("li", { class: `hist-${i.kind}` },
      h("span", { class: "kind" }, i.kind), " — ", (KIND_WORDS[i.kind] ?? (() => ""))(i), " · ",
      i.seq !== null && i.seq !== undefined ? h("span", {}, `entry #${i.seq}`) : h("span", { class: "muted" }, "entry not known"), " ", when(i.time)))),
  });
  const list = h("ol", { class: "history" });
  p.reload();
  return h("div", {}, out, list, p.el);
}

/** The invalid messages of transactions the device began (`provenance=NAME&valid=false`). */
function causedList(name) {
  return messageList({ provenance: name, valid: false }, "invalid messages", "This hub cannot list the invalid messages a device caused yet (no provenance filter on /v1/messages); see the ranking on the Incidents page.");
}

/** Newest-first messages matching `filters`, paged. */
function messageList(filters, what = "messages", missing) {
  const tbody = h("tbody");
  const wrap = h("div");
  const p = pager({
    what,
    fetch: async (cursor) => {
      try {
        return await messagesNewestFirst(filters, cursor);
      } catch (e) {
        if (missing && unknownParam(e)) {
          replace(wrap, note(missing));
          return { items: [], next: null, total: null };
        }
        throw e;
      }
    },
    show: (items) => replace(tbody, (items ?? []).map(messageRow)),
  });
  p.reload();
  return h("div", {}, wrap, p.el, h("div", { class: "table-wrap" }, h("table", { class: "messages" }, messageHead(), tbody)));
}

/** Transactions that reached the device, or (`begun`) that it began, newest first. */
function txList(name, begun) {
  const tbody = h("tbody");
  const wrap = h("div");
  const p = pager({
    what: "transactions",
    totals: false,
    fetch: async (cursor) => {
      try {
        const r = await api(`/v1/devices/${encodeURIComponent(name)}/transactions${qs({ after: cursor, begun: begun ? "true" : null })}`);
        return { items: r.items, next: r.next, total: r.total ?? null };
      } catch (e) {
        if (begun && unknownParam(e)) {
          replace(wrap, note("This hub cannot list the transactions a device began yet (no ?begun=true)."));
          return { items: [], next: null, total: null };
        }
        throw e;
      }
    },
    show: (items) => replace(tbody, (items ?? []).map((t) => h("tr", { class: (begun ? t.invalid_count : t.invalid_to_device) ? "invalid" : null },
      h("td", {}, t.tx === null || t.tx === undefined ? "none (tx not issued)" : txLink(t.tx)),
      h("td", {}, deviceLink(t.provenance)),
      h("td", {}, t.state ?? "—"),
      h("td", {}, begun && t.message_count !== undefined
        ? `${plural(t.message_count, "message")}${t.invalid_count ? `, ${num(t.invalid_count)} invalid` : ""}`
        : t.messages_to_device !== undefined ? `${plural(t.messages_to_device, "message")}${t.invalid_to_device ? `, ${num(t.invalid_to_device)} invalid` : ""}` : "—"),
      h("td", {}, t.last_seq !== undefined ? seqLink(t.last_seq) : "—")))),
  });
  p.reload();
  return h("div", {}, wrap, p.el, h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["tx", "provenance", "state", begun ? "messages in it" : "messages to it (on this page)", "latest"].map((c) => h("th", { scope: "col" }, c)))),
    tbody)));
}
