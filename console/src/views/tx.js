// The transaction page, `#tx/N` (issue 12 item 2): the whole causal tree of one transaction,
// loaded page by page (never truncated: the page counts what it has against the hub's total),
// drawn as a vertical layered tree with collapse, zoom, pan and fit, the path from the
// provenance device to every invalid message highlighted, and a timeline of the same nodes
// below. New messages of the transaction arrive from the live stream and join the tree.
// `#tx/N?focus=SEQ` opens with message SEQ revealed and focused. In a federation (SPEC §7) the
// transaction is `hub:N` of this hub, its home, which records every hop of it: the page says
// so per hop, and shows other members' devices as `name@hub`.
import { h, replace } from "../dom.js";
import { api, qs } from "../api.js";
import { num, plural, noticeWords } from "../format.js";
import * as live from "../live.js";
import { TxTree } from "../tx/model.js";
import { layout, draw } from "../tx/draw.js";
import { PanZoom } from "../tx/zoom.js";
import { drawTimeline, axis, range } from "../tx/timeline.js";
import { stamp, duration } from "../tx/timefmt.js";
import { isMessageKind } from "../entry.js";
import { membership } from "../federation.js";
import { deviceLink } from "./parts.js";

const PAGE = 1000;
/** Past this many nodes the tree opens collapsed to an overview (invalid paths stay open). */
const BUDGET = 60;
const STATES = { open: "open: it can still be continued", closed: "closed by a valid end", rejected: "rejected: its begin was invalid" };

export function render(el, match, params) {
  const txId = Number(match[1]);
  const ctl = new AbortController();
  const focusSeq = params.get("focus") === null ? null : Number(params.get("focus"));
  let model = null, meta = null, loaded = false, current = null, fed = null;
  // Asked alongside the first page: which hub this is, when its ledger records a federation.
  const fedAsked = membership().catch(() => null);
  let drawn = new Map(), rows = new Map(), lay = null, frame = 0;

  const title = h("h1", {}, `Transaction ${num(txId)}`);
  const summary = h("dl", { class: "tx-summary" });
  const progress = h("p", { class: "tx-progress", role: "status", "aria-live": "polite" }, "Loading the transaction…");
  const invalidList = h("div", { class: "tx-invalid" });
  const zoomOut = h("output", { class: "tx-zoom", "aria-label": "Zoom level" }, "100%");
  const gotoInput = h("input", { id: "tx-goto", type: "text", inputmode: "numeric", size: 7, placeholder: "seq", "aria-describedby": "tx-goto-msg" });
  const gotoMsg = h("span", { id: "tx-goto-msg", class: "muted", role: "status" });
  const tools = h("div", { class: "tx-tools", role: "toolbar", "aria-label": "Tree view" },
    h("button", { type: "button", class: "secondary", "aria-label": "Zoom in", onclick: () => pz.zoom(1.3) }, "+"),
    h("button", { type: "button", class: "secondary", "aria-label": "Zoom out", onclick: () => pz.zoom(1 / 1.3) }, "−"),
    h("button", { type: "button", class: "secondary", id: "tx-fit", onclick: () => fit() }, "Fit"),
    zoomOut,
    h("button", { type: "button", class: "secondary", id: "tx-expand-all", onclick: () => { model.expandAll(); redraw(); fit(); progress.textContent = `All ${plural(model.count, "message")} shown.`; } }, "Expand all"),
    h("button", { type: "button", class: "secondary", id: "tx-overview", onclick: () => { overviewNote(model.collapseToBudget(BUDGET)); redraw(); fit(); } }, "Overview"),
    h("form", { class: "tx-goto", onsubmit: (e) => { e.preventDefault(); goto(gotoInput.value.trim()); } },
      h("label", { for: "tx-goto", class: "inline" }, "Message #"), gotoInput,
      h("button", { type: "submit", class: "secondary" }, "Show"), gotoMsg));
  const g = h("svg:g", {});
  const svg = h("svg:svg", { class: "tx-tree", role: "group", "aria-label": `Causal tree of transaction ${txId}`, "aria-describedby": "tx-keys" }, g);
  const keys = h("p", { id: "tx-keys", class: "muted small" },
    "Tree keys: arrows move between messages (up: cause, down: first effect, left and right: same hop), Space collapses or expands, Enter opens the message. Drag to pan, wheel to zoom.");
  const tlNote = h("p", { class: "muted small" });
  const tlAxis = h("div", {});
  const tlList = h("div", { class: "tl-rows" });
  const timeline = h("div", { class: "tl", role: "region", tabindex: "0", "aria-label": "Timeline of the transaction's messages" }, tlAxis, tlList);

  el.append(h("section", { class: "tx-page" },
    h("div", { class: "tx-head" }, title, summary), progress, invalidList, tools,
    h("div", { class: "tx-canvas" }, svg), keys,
    h("h2", {}, "Timeline"), tlNote, timeline));

  const pz = new PanZoom(svg, g, (k) => { zoomOut.textContent = `${Math.round(k * 100)}%`; svg.classList.toggle("far", k < 0.55); });

  function fit() {
    if (lay) pz.fit(lay.bounds);
  }

  function summarize() {
    const r = range(model);
    const invalid = [...model.bySeq.values()].filter((n) => n.invalid);
    const parts = meta.participants ?? [];
    replace(summary,
      h("div", {}, h("dt", {}, "Provenance"), h("dd", {}, meta.provenance ? deviceLink(meta.provenance) : "none")),
      model.recorder ? h("div", {}, h("dt", {}, "Recorded by"), h("dd", { id: "tx-recorder" }, `${model.recorder}: ${fed ? `transaction ${fed.hub}:${txId} of the federation; ` : ""}its home hub records every hop of it, whichever hub the sender is attached to`)) : null,
      h("div", {}, h("dt", {}, "State"), h("dd", { class: `state-${meta.state}` }, STATES[meta.state] ?? meta.state)),
      h("div", {}, h("dt", {}, "Messages"), h("dd", { id: "tx-count" }, `${plural(meta.message_count, "message")}${invalid.length ? `, ${num(invalid.length)} invalid` : ""}, ${plural(Math.max(0, model.depth() - 1), "hop")} deep`)),
      h("div", {}, h("dt", {}, "Participants"), h("dd", {}, parts.length ? parts.slice(0, 12).flatMap((p, i) => [i ? ", " : "", deviceLink(p)]) : "none",
        parts.length > 12 ? ` and ${num(parts.length - 12)} more` : "")),
      h("div", {}, h("dt", {}, "First"), h("dd", {}, r.timed ? stamp(new Date(r.t0).toISOString()) : "unknown")),
      h("div", {}, h("dt", {}, "Last"), h("dd", {}, r.timed ? `${stamp(new Date(r.t1).toISOString())} (${duration(r.t1 - r.t0)} after the first)` : "unknown")));
    if (invalid.length) {
      replace(invalidList, h("p", { class: "bad-box" }, `${plural(invalid.length, "invalid message")}, highlighted in red with the path from ${meta.provenance ?? "the provenance"} to each: `,
        invalid.slice(0, 12).flatMap((n, i) => [i ? ", " : "", h("a", { href: `#msg/${n.seq}`, title: n.rec.notices.map(noticeWords).join("; ") }, `#${n.seq}`)]),
        invalid.length > 12 ? ` and ${num(invalid.length - 12)} more` : ""));
    } else replace(invalidList);
    tlNote.textContent = r.timed
      ? `Time runs left to right from the first message (${duration(r.t1 - r.t0)} in all). Each time is its block's seal time: the ${plural(model.count, "message")} were sealed in ${plural(r.blocks, "block")}, and messages of one block share one time. A bar spans from a message's cause to the message.`
      : "";
  }

  /** "grid (this hub)" in a federation, "this hub" when only a `name@hub` party tells it is
   * one, else null (a hub on its own: nothing to say). */
  function recorder() {
    if (fed) return `${fed.hub} (this hub)`;
    for (const n of model.bySeq.values()) if (n.rec.sender.includes("@") || n.rec.receiver.includes("@")) return "this hub";
    return null;
  }

  function redraw() {
    lay = layout(model);
    drawn = draw(g, model, lay);
    rows = drawTimeline(tlList, model, model.visible());
    replace(tlAxis, axis(model));
    if (!current || !drawn.has(current)) {
      let n = current ?? model.root;
      while (n && !drawn.has(n)) n = n.parent;
      current = n ?? model.root;
    }
    setCurrent(current, false);
  }

  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; redraw(); summarize(); });
  }

  /** Makes `n` the one node (and row) in the tab order; with `focus`, focuses it in `where`. */
  function setCurrent(n, focus, where = "tree") {
    for (const [, d] of drawn) d.el.setAttribute("tabindex", "-1");
    for (const [, r] of rows) r.setAttribute("tabindex", "-1");
    current = n;
    const d = drawn.get(n), r = rows.get(n) ?? rows.values().next().value;
    d?.el.setAttribute("tabindex", "0");
    r?.setAttribute("tabindex", "0");
    if (!focus) return;
    if (where === "tree" && d) {
      pz.reveal(d.box, 0.55);
      d.el.focus({ preventScroll: true });
    } else if (r) {
      r.focus();
      if (d) pz.reveal(d.box);
    }
  }

  function toggle(n) {
    if (!n.children.length) return;
    n.collapsed = !n.collapsed;
    redraw();
    // The layout moved: keep the toggled node where the reader is looking.
    const d = drawn.get(n);
    if (d) pz.reveal(d.box);
  }

  function sameLayer(n, dir) {
    const layer = [...drawn.keys()].filter((m) => m.depth === n.depth).sort((a, b) => lay.pos.get(a).x - lay.pos.get(b).x);
    return layer[layer.indexOf(n) + dir];
  }

  function move(e, where) {
    const n = current;
    const vis = model.visible().filter((m) => where === "tree" || m.rec);
    let next;
    switch (e.key) {
      case "ArrowUp": next = where === "tree" ? n.parent : vis[vis.indexOf(n) - 1]; break;
      case "ArrowDown":
        if (where === "tree") {
          if (n.collapsed && n.children.length) { n.collapsed = false; redraw(); }
          next = n.children[0];
        } else next = vis[vis.indexOf(n) + 1];
        break;
      case "ArrowLeft": next = where === "tree" ? sameLayer(n, -1) : (n.children.length && !n.collapsed ? (toggle(n), n) : n.parent?.rec ? n.parent : undefined); break;
      case "ArrowRight": next = where === "tree" ? sameLayer(n, 1) : (n.collapsed ? (toggle(n), n) : n.children[0]); break;
      case "Home": next = vis[0]; break;
      case "End": next = vis[vis.length - 1]; break;
      case " ": toggle(n); next = n; break;
      case "+": case "=": pz.zoom(1.3); break;
      case "-": pz.zoom(1 / 1.3); break;
      default: return;
    }
    e.preventDefault();
    if (next) setCurrent(next, true, where);
  }

  const nodeOf = (el, sel) => {
    const t = el?.closest(sel);
    if (!t) return null;
    return t.dataset.seq === "root" ? model.root : model.bySeq.get(Number(t.dataset.seq)) ?? null;
  };
  svg.addEventListener("keydown", (e) => { const n = nodeOf(e.target, "a.node"); if (n) { current = n; move(e, "tree"); } });
  svg.addEventListener("focusin", (e) => { const n = nodeOf(e.target, "a.node"); if (n && n !== current) setCurrent(n, false); });
  svg.addEventListener("click", (e) => {
    const n = nodeOf(e.target, ".toggle");
    if (n) { e.preventDefault(); toggle(n); }
  });
  tlList.addEventListener("keydown", (e) => { const n = nodeOf(e.target, "a.tl-row"); if (n) { current = n; move(e, "timeline"); } });
  tlList.addEventListener("focusin", (e) => { const n = nodeOf(e.target, "a.tl-row"); if (n && n !== current) setCurrent(n, false, "timeline"); });

  function goto(v) {
    const n = /^\d+$/.test(v) ? model?.bySeq.get(Number(v)) : null;
    if (!n) { gotoMsg.textContent = v ? `Message #${v} is not in transaction ${txId}.` : "Type a message's seq."; return; }
    gotoMsg.textContent = "";
    model.reveal(n);
    redraw();
    setCurrent(n, true);
  }

  function overviewNote(collapsed) {
    progress.textContent = `All ${plural(model.count, "message")} loaded.${collapsed ? ` Shown as an overview: ${num(model.visible().length - 1)} of them, deeper subtrees collapsed (the paths to invalid messages stay open); "Expand all" shows every message.` : ""}`;
  }

  async function load() {
    let after = null, first = true;
    for (;;) {
      const page = await api(`/v1/transactions/${txId}${qs({ after, limit: PAGE })}`, { signal: ctl.signal });
      if (first) {
        meta = page;
        model = new TxTree(txId, page.provenance);
        first = false;
        // Which hub recorded the hops: this one, named when its ledger records a federation.
        fed = await fedAsked;
        if (fed) title.textContent = `Transaction ${fed.hub}:${num(txId)}`;
      }
      Object.assign(meta, { state: page.state, participants: page.participants, message_count: Math.max(page.message_count, meta.message_count) });
      for (const r of page.messages) model.add(r);
      progress.textContent = `Loading: ${num(model.count)} of ${plural(meta.message_count, "message")}…`;
      if (page.next === null || page.next === undefined) break;
      after = page.next;
    }
    loaded = true;
    model.recorder = recorder();
    meta.message_count = Math.max(meta.message_count, model.count);
    overviewNote(model.collapseToBudget(BUDGET));
    redraw();
    summarize();
    fit();
    if (focusSeq !== null) goto(String(focusSeq));
  }

  const off = [
    live.on("entry", (d) => {
      const r = d?.record;
      if (!model || !r || r.tx !== txId || r.provenance === null || !isMessageKind(d.kind)) return;
      if (model.add(r)) {
        model.recorder = recorder();
        meta.message_count = Math.max(meta.message_count, model.count);
        if (r.valid) for (const p of [r.sender, r.receiver]) if (!meta.participants.includes(p)) meta.participants.push(p);
        if (loaded) { progress.textContent = `${plural(model.count, "message")}; #${r.seq} just arrived.`; schedule(); }
      }
    }),
    live.on("reset", () => { if (loaded) catchUp(); }),
  ];

  async function catchUp() {
    let after = Math.max(...model.bySeq.keys());
    for (;;) {
      const page = await api(`/v1/transactions/${txId}${qs({ after, limit: PAGE })}`, { signal: ctl.signal });
      for (const r of page.messages) model.add(r);
      Object.assign(meta, { state: page.state, participants: page.participants, message_count: page.message_count });
      if (page.next === null || page.next === undefined) break;
      after = page.next;
    }
    schedule();
  }

  load().catch((e) => {
    if (e.name === "AbortError") return;
    progress.className = "tx-progress error";
    progress.textContent = e.code === "unknown_transaction" ? `There is no transaction ${txId} in this ledger.`
      : `The transaction could not be loaded: ${e.message}${model ? ` (${num(model.count)} messages had arrived)` : ""}`;
  });

  return () => {
    ctl.abort();
    if (frame) cancelAnimationFrame(frame);
    for (const f of off) f();
  };
}
