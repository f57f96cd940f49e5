// The landing view: invalid messages grouped by transaction and provenance device (newest
// first, paged on the server by `/v1/incidents`), so the incident stays on the first screen
// whatever the valid traffic; messages naming a tx not issued yet grouped per sender; the
// "misbehaving" ranking; a small chart of message and invalid rates. New invalid entries
// arriving live patch the first page.
import { h, replace } from "../dom.js";
import { api, qs } from "../api.js";
import { on } from "../live.js";
import { num, plural, noticeWords } from "../format.js";
import { pager, errorBox, note, when, deviceLink, missingRoute, messagesNewestFirst, rateChart } from "./parts.js";

const PAGE = 25;

export function render(el) {
  const summary = h("p", { class: "summary-line", "aria-live": "polite" }, "Loading incidents…");
  const list = h("ol", { class: "incident-list", "aria-label": "Incidents, newest first" });
  const fallback = h("div");
  let groups = []; // the groups on screen, in order
  let totals = null; // {groups, invalid} when the hub counts them
  let serverGrouped = true;

  const p = pager({
    what: "incidents",
    limit: PAGE,
    fetch: async (cursor) => {
      if (serverGrouped) {
        try {
          const r = await api(`/v1/incidents${qs({ after: cursor, limit: PAGE })}`);
          totals = { groups: r.total_groups, invalid: r.total_invalid };
          return { items: r.items, next: r.next, total: r.total_groups ?? null };
        } catch (e) {
          if (!missingRoute(e)) throw e;
          serverGrouped = false;
          replace(fallback, note("This hub does not group incidents yet (no /v1/incidents): the list below is grouped in the browser from pages of the newest 1,000 invalid messages (GET /v1/messages?valid=false), so a transaction can appear on two pages and counts cover one page only."));
        }
      }
      const r = await messagesNewestFirst({ valid: false }, cursor, 1000);
      return { items: groupInBrowser(r.items), next: r.next, total: null };
    },
    show: (items) => {
      groups = items ?? [];
      draw();
    },
  });

  function draw() {
    replace(list, groups.length ? groups.map(incident) : h("li", { class: "muted" }, "No invalid message has been recorded: no incident."));
    if (!serverGrouped) summary.textContent = `${plural(groups.length, "group")} of invalid messages on this page.`;
    else if (totals) summary.textContent = `${plural(totals.invalid ?? 0, "invalid message")} in ${plural(totals.groups ?? 0, "incident")}, newest first.`;
  }

  // Live: a new invalid message joins (or starts) its group at the top of the first page; a
  // valid one of a listed transaction counts in its total.
  const off = on("entry", (ev) => {
    const r = ev?.kind === "message" ? ev.record : null;
    if (!r || !p.onFirstPage()) return;
    const key = r.provenance === null && r.action !== "begin" ? `s:${r.sender}` : `t:${r.tx}`;
    let g = groups.find((x) => keyOf(x) === key);
    if (g && g.message_count !== null && g.message_count !== undefined) g.message_count += 1;
    if (r.valid) {
      if (g) draw();
      return;
    }
    if (g) groups.splice(groups.indexOf(g), 1);
    else {
      g = key.startsWith("s:")
        ? { kind: "no_transaction", sender: r.sender, invalid_count: 0, first_invalid_seq: r.seq, notices: [] }
        : { kind: "transaction", tx: r.tx, provenance: r.provenance, state: r.action === "begin" ? "rejected" : null, invalid_count: 0, message_count: r.action === "begin" ? 1 : null, first_invalid_seq: r.seq, notices: [] };
      if (totals) totals.groups = (totals.groups ?? 0) + 1;
    }
    g.invalid_count += 1;
    g.last_invalid_seq = r.seq;
    g.last_time = r.time;
    g.notices = [...new Set([...g.notices, ...r.notices])].slice(0, 8);
    if (totals) totals.invalid = (totals.invalid ?? 0) + 1;
    groups.unshift(g);
    draw();
    p.state.items = groups;
    if (totals && serverGrouped) p.state.total = totals.groups;
    p.words();
  });

  const ranking = h("section", { class: "ranking card", "aria-labelledby": "rank-h" }, h("h2", { id: "rank-h" }, "Misbehaving devices"), h("p", { class: "muted" }, "Loading…"));
  const chart = h("div");
  replace(el,
    h("h1", {}, "Incidents"),
    summary,
    h("div", { class: "landing" },
      h("section", { "aria-label": "Incidents" }, fallback, list, p.el),
      h("aside", { "aria-label": "Ranking and rates" }, ranking, chart)));
  p.reload();
  loadRanking(ranking);
  rateChart(chart);
  // The hub could not replay what the page missed while disconnected: read it again.
  const offReset = on("reset", () => {
    if (p.onFirstPage()) p.reload();
    loadRanking(ranking);
  });
  return () => { off(); offReset(); };
}

const keyOf = (g) => (g.kind === "no_transaction" ? `s:${g.sender}` : `t:${g.tx}`);

/** One incident: a link to its transaction (or, for messages of no transaction, to the
 * sender's invalid messages), with what, who, how many, when and why in words. */
function incident(g) {
  const why = (g.notices ?? []).map(noticeWords).join("; ");
  if (g.kind === "no_transaction") {
    return h("li", { class: "incident", "data-sender": g.sender },
      h("a", { class: "open", href: `#messages?device=${encodeURIComponent(g.sender)}&valid=false` },
        h("span", { class: "what" }, `No transaction · sent by ${g.sender}`),
        h("span", { class: "counts" }, plural(g.invalid_count, "invalid message")),
        when(g.last_time),
        h("span", { class: "why" }, `named a transaction that did not exist yet${why ? ` (${why})` : ""}`)));
  }
  const state = g.state ? ` · ${g.state}` : "";
  const counts = g.message_count !== null && g.message_count !== undefined
    ? `${num(g.invalid_count)} invalid of ${plural(g.message_count, "message")}`
    : plural(g.invalid_count, "invalid message");
  return h("li", { class: "incident", "data-tx": g.tx },
    h("a", { class: "open", href: `#tx/${g.tx}` },
      h("span", { class: "what" }, `tx ${g.tx} · begun by ${g.provenance ?? "?"}${state}`),
      h("span", { class: "counts" }, counts),
      when(g.last_time),
      h("span", { class: "why" }, why ? `Why: ${why}.` : "")));
}

/** Groups one page of invalid records (newest first) as `/v1/incidents` would. */
function groupInBrowser(records) {
  const byKey = new Map();
  for (const r of records) {
    const noTx = r.provenance === null && r.action !== "begin";
    const key = noTx ? `s:${r.sender}` : `t:${r.tx}`;
    let g = byKey.get(key);
    if (!g) {
      g = noTx
        ? { kind: "no_transaction", sender: r.sender, invalid_count: 0, notices: [] }
        : { kind: "transaction", tx: r.tx, provenance: r.provenance, state: null, invalid_count: 0, message_count: null, notices: [] };
      g.last_invalid_seq = r.seq;
      g.last_time = r.time;
      byKey.set(key, g);
    }
    g.invalid_count += 1;
    g.first_invalid_seq = r.seq;
    for (const n of r.notices) if (!g.notices.includes(n) && g.notices.length < 8) g.notices.push(n);
  }
  return [...byKey.values()];
}

async function loadRanking(section) {
  const body = h("div", { class: "ranking-body" });
  section.querySelector(".ranking-body, p")?.remove();
  section.append(body);
  try {
    const r = await api("/v1/provenance/ranking?limit=10");
    replace(body, r.items.length
      ? h("ol", {}, r.items.map((x) => h("li", {}, deviceLink(x.provenance), ` — ${plural(x.invalid_messages, "invalid message")} in transactions it began`)))
      : h("p", { class: "muted" }, "No device's transactions hold an invalid message."),
    r.next !== null ? h("p", { class: "muted" }, "Showing the 10 worst.") : null);
  } catch (e) {
    replace(body, errorBox(e));
  }
}
