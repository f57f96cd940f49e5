// The federation view, `#federation` and `#federation/NAME@HUB` (SPEC §7, issue 13 item 4):
// which transactions reached a device across the federation's hubs, asked through this hub
// (`/v1/federation/devices/{name@hub}/transactions`, which asks every member). Each item is
// named `hub:tx` with its provenance as `name@hub`; the per-member cursor pages the list; the
// members that did not answer are named, since their transactions are then missing. Only a
// transaction recorded by this hub opens here (`#tx/N`): the API lists no member URLs, so the
// console never invents a link to another hub and says how to trace it instead.
import { h, replace } from "../dom.js";
import { api, qs } from "../api.js";
import { num, plural } from "../format.js";
import { go } from "../router.js";
import { membership, party, isQualified } from "../federation.js";
import { pager, errorBox, note, deviceLink, seqLink, hubBadge } from "./parts.js";

const STATES = { open: "open", closed: "closed", rejected: "rejected" };

export async function render(el, m, params) {
  const name = m[1] ?? null;
  // `?limit=N`: transactions per member and page (the hub's default 100).
  const limit = /^\d+$/.test(params?.get("limit") ?? "") ? Math.min(1000, Math.max(1, Number(params.get("limit")))) : 100;
  let fed = null, fedError = null;
  try { fed = await membership(); } catch (e) { fedError = e; }
  const own = fed?.hub ?? null;

  const input = h("input", { id: "fed-device", type: "text", size: 28, value: name ?? "", placeholder: own ? `name@${own}` : "name@hub", autocomplete: "off", "aria-describedby": "fed-device-msg" });
  const inputMsg = h("span", { id: "fed-device-msg", class: "error", role: "status" });
  const form = h("form", { class: "actions", role: "search", "aria-label": "A device across the federation", onsubmit: (e) => {
    e.preventDefault();
    let v = input.value.trim();
    // A bare name is one of this hub's devices.
    if (own && /^[A-Za-z0-9_.-]{1,64}$/.test(v)) v = `${v}@${own}`;
    if (!isQualified(v)) { inputMsg.textContent = "Type a device as name@hub (for example substation@grid)."; return; }
    inputMsg.textContent = "";
    go(`#federation/${encodeURIComponent(v)}`);
  } }, h("label", { for: "fed-device", class: "inline" }, "Device (name@hub)"), input, h("button", { type: "submit" }, "Ask the federation"), inputMsg);

  el.append(h("h1", {}, name ? ["Across the federation: ", deviceName(name, own)] : "Across the federation"),
    h("p", { class: "muted" }, "Which transactions reached a device, asked of every hub of the federation through this hub. A transaction lives in the ledger of its home hub, which records every hop of it."),
    membershipBox(fed, fedError), form);
  if (!name) return;
  if (!isQualified(name)) {
    el.append(errorBox(`"${name}" is not a device as name@hub.`));
    return;
  }

  const unreachable = h("div", { id: "fed-unreachable", role: "status" });
  const tbody = h("tbody");
  const wrap = h("div");
  const p = pager({
    what: "transactions",
    limit,
    totals: false,
    fetch: async (cursor) => {
      let r;
      try {
        r = await api(`/v1/federation/devices/${encodeURIComponent(name)}/transactions${qs({ after: cursor, limit })}`);
      } catch (e) {
        if (e.status === 404) {
          replace(wrap, note("This hub is in no federation: it has no other hubs to ask. (Start it with --federation FILE --hub-name NAME to join one.)"));
          replace(unreachable);
          return { items: [], next: null, total: null };
        }
        throw e;
      }
      showUnreachable(unreachable, r.unreachable ?? []);
      return { items: r.items, next: r.next, total: null };
    },
    show: (items) => replace(tbody, (items ?? []).map((t) => row(t, own))),
  });
  el.append(h("section", { "aria-labelledby": "fed-reached-h" },
    h("h2", { id: "fed-reached-h" }, "Transactions that reached it"),
    h("p", { class: "muted small" }, `Each page holds up to ${plural(limit, "transaction")} from each hub.`),
    wrap, unreachable, p.el,
    h("div", { class: "table-wrap" }, h("table", { id: "fed-txs" },
      h("thead", {}, h("tr", {}, ["transaction", "recorded by", "provenance", "state", "messages to it", "latest"].map((c) => h("th", { scope: "col" }, c)))),
      tbody))));
  await p.reload();
}

/** `name@hub` as shown here: this hub's devices link to their dossier. */
function deviceName(full, own) {
  const q = party(full);
  if (own && q.hub === own) return h("span", {}, h("a", { href: `#device/${encodeURIComponent(q.name)}` }, q.name), hubBadge(q.hub), " (a device of this hub)");
  return h("span", {}, q.name, q.hub ? hubBadge(q.hub) : null);
}

/** A name as this hub's API would say it: this hub's own devices bare, others as name@hub. */
const local = (full, own) => (own && party(full).hub === own ? party(full).name : full);

function row(t, own) {
  const here = own !== null && t.hub === own;
  return h("tr", { class: t.invalid_to_device ? "invalid" : null, "data-id": t.id },
    h("td", {}, here
      ? h("a", { href: `#tx/${t.tx}` }, t.id)
      : h("span", { title: `Recorded by hub ${t.hub}: this console opens only this hub's ledger. Trace it with: m2mhub trace ${t.id} --federation FILE` }, t.id)),
    h("td", {}, here ? `${t.hub} (this hub)` : t.hub),
    h("td", {}, t.provenance ? deviceLink(local(t.provenance, own)) : h("span", { class: "muted" }, "none")),
    h("td", {}, STATES[t.state] ?? t.state ?? "—"),
    h("td", {}, t.messages_to_device !== undefined ? `${plural(t.messages_to_device, "message")}${t.invalid_to_device ? `, ${num(t.invalid_to_device)} flagged` : ""}` : "—"),
    h("td", {}, t.last_seq === undefined || t.last_seq === null ? "—" : here ? seqLink(t.last_seq) : `${t.hub}:${t.last_seq}`));
}

function showUnreachable(el, hubs) {
  if (hubs.length) {
    replace(el, h("p", { class: "warn-box" }, `${hubs.length === 1 ? "One hub" : `${num(hubs.length)} hubs`} did not answer: `,
      hubs.map((x, i) => [i ? ", " : "", h("strong", {}, x)]), ". Transactions recorded by ", hubs.length === 1 ? "it" : "them", " are missing from this list; ask again later."));
  } else replace(el, h("p", { class: "muted small" }, "Every member hub answered."));
}

/** What the ledger says of the federation: this hub's name, the members, the policy. */
function membershipBox(fed, err) {
  if (err) return errorBox(err, "Could not read the federation this hub recorded: ");
  if (!fed) return h("p", { class: "muted", id: "fed-membership" }, "This hub's ledger records no federation membership.");
  return h("p", { id: "fed-membership" }, `This hub is `, h("strong", {}, fed.hub), `, one of ${plural(fed.members.length, "hub")} of a federation (`,
    fed.members.map((x, i) => [i ? ", " : "", x.name === fed.hub ? `${x.name} (this hub)` : x.name]),
    `), as recorded in its ledger at entry `, seqLink(fed.seq), `. A checkpoint is witnessed once ${plural(fed.cosignatures, "other member")} cosigned it.`,
    fed.complete ? null : " (Read from the first registry entries only: a later change of the federation may not be shown.)");
}
