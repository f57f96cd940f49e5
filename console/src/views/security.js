// The security view (operator only): submissions the hub refused before recording them (SPEC
// §3.2: malformed, unknown sender, bad signature, stale counter, throttled), kept apart from
// the ledger, explained in words, paged, and live from the operator's own SSE stream.
import { h, replace } from "../dom.js";
import { api, qs, token, onToken } from "../api.js";
import { readEvents } from "../live.js";
import { num, codeWords } from "../format.js";
import { pager, errorBox, when, deviceLink } from "./parts.js";

const WHY = {
  malformed: "the submission was malformed (schema, sizes or encodings)",
  unknown_sender: "it claimed a sender that is not registered",
  bad_signature: "its signature does not verify with the claimed sender's key: forged, corrupted or signed with another key",
  stale_counter: "its counter was already used: a replay",
  too_many_failures: "the source was throttled after too many failed submissions",
};

/** One refusal in words: who, claiming to be whom, was refused, why, and how often. */
function explain(e) {
  const why = WHY[e.code] ?? codeWords(e.code, e.message);
  return h("tr", { "data-id": e.id, "data-code": e.code },
    h("td", {}, when(e.time)),
    h("td", { class: "code" }, e.code),
    h("td", {}, e.sender ? deviceLink(e.sender) : h("span", { class: "muted" }, "none named")),
    h("td", {}, `${(e.transport ?? "").toUpperCase()} ${e.source ?? "unknown source"}`),
    h("td", {}, `Refused: ${why}.`, e.message ? h("span", { class: "muted" }, ` The hub answered “${e.message}”.`) : null,
      e.repeated ? h("strong", {}, ` And ${num(e.repeated)} more like it from the same source.`) : null));
}

const head = () => h("thead", {}, h("tr", {}, ["time", "code", "claimed sender", "from", "what happened"].map((c) => h("th", { scope: "col" }, c))));

export function render(el) {
  const body = h("div");
  replace(el, h("h1", {}, "Security events"),
    h("p", { class: "muted" }, "Submissions the hub refused without recording them (SPEC §3.2). They are kept apart from the ledger, for the operator only: newest 100,000 or 30 days."),
    body);
  let stop = () => {};
  const start = () => {
    stop();
    if (!token()) {
      replace(body, h("p", { class: "warn-box", role: "alert" }, "This view needs the operator token: open “Operator” at the top of the page and enter it."));
      return;
    }
    stop = show(body);
  };
  start();
  const offToken = onToken(start);
  return () => { offToken(); stop(); };
}

function show(body) {
  const liveBody = h("tbody", {}, h("tr", { class: "none-yet" }, h("td", { colspan: 5, class: "muted" }, "None since this page opened.")));
  const liveState = h("p", { class: "muted", "aria-live": "polite" }, "Connecting to the operator's live stream…");
  const tbody = h("tbody");
  const p = pager({
    what: "refusals",
    totals: false,
    asc: true,
    fetch: async (cursor) => {
      const r = await api(`/v1/security-events${qs({ after: cursor })}`);
      return { items: r.items, next: r.next, total: null };
    },
    show: (items, err) => {
      if (!items && err?.status === 401) replace(body, errorBox(err));
      replace(tbody, (items ?? []).map(explain));
    },
  });
  replace(body,
    h("section", { "aria-labelledby": "sec-live-h" }, h("h2", { id: "sec-live-h" }, "As they happen"), liveState,
      h("div", { class: "table-wrap" }, h("table", { class: "sec-list", id: "sec-live" }, head(), liveBody))),
    h("section", { "aria-labelledby": "sec-kept-h" }, h("h2", { id: "sec-kept-h" }, "Kept refusals, oldest first"), p.el,
      h("div", { class: "table-wrap" }, h("table", { class: "sec-list", id: "sec-kept" }, head(), tbody))));
  p.reload();

  // The operator stream needs the token in a header, so it is read with fetch (as /v1/events).
  const ctl = new AbortController();
  (async () => {
    let delay = 1000;
    while (!ctl.signal.aborted) {
      try {
        const r = await fetch("/v1/security-events/stream", { headers: { authorization: `Bearer ${token()}`, accept: "text/event-stream" }, signal: ctl.signal, cache: "no-store" });
        if (r.status === 401) { liveState.textContent = "The hub refused the operator token for the live stream: it is not this hub's token."; return; }
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        liveState.textContent = "Live: new refusals appear here, newest first.";
        delay = 1000;
        await readEvents(r.body, (type, data) => {
          if (type !== "security") return;
          try {
            liveBody.querySelector(".none-yet")?.remove();
            liveBody.prepend(explain(JSON.parse(data)));
          } catch (e) { console.warn(e); }
        });
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      liveState.textContent = `The live stream dropped: reconnecting in ${delay / 1000} s (the kept list below has anything missed).`;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  })();
  return () => ctl.abort();
}
