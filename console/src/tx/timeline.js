// The Jaeger-like timeline of a transaction: one row per visible tree node, in tree order and
// indented by hop, with time across. A message is an instant (its block's seal time), so each
// row draws a bar from its cause's time to its own (how long the hop took) and a dot at its
// time; messages sealed in the same block share a time, and the row says so rather than
// inventing an order. In a federation each row names the hub that recorded it.
import { h } from "../dom.js";
import { noticeWords } from "../format.js";
import { clock, duration } from "./timefmt.js";

/** A party as text; another member's `name@hub` with its hub as a badge. */
function partyText(t) {
  const at = t.indexOf("@");
  return at < 0 ? t : h("span", {}, t.slice(0, at), h("span", { class: "hub-badge" }, t.slice(at)));
}

const ms = (iso) => (iso ? new Date(iso).getTime() : null);

/** The time range of the whole transaction: {t0, t1, blocks, timed}. */
export function range(model) {
  let t0 = Infinity, t1 = -Infinity, timed = 0;
  const blocks = new Set();
  for (const n of model.bySeq.values()) {
    blocks.add(n.rec.block);
    const t = ms(n.rec.time);
    if (t === null) continue;
    timed++;
    t0 = Math.min(t0, t);
    t1 = Math.max(t1, t);
  }
  return { t0, t1, blocks: blocks.size, timed };
}

/** Rows for `visible` (from TxTree.visible()) in `list` (an element); returns Map node → row. */
export function drawTimeline(list, model, visible) {
  const { t0, t1 } = range(model);
  const span = Math.max(1, t1 - t0);
  const pct = (t) => `${(((t - t0) / span) * 100).toFixed(3)}%`;
  const out = new Map();
  const rows = [];
  for (const n of visible) {
    const r = n.rec;
    if (!r) continue;
    const t = ms(r.time), pt = n.parent?.rec ? ms(n.parent.rec.time) : null;
    const same = n.parent?.rec && n.parent.rec.block === r.block;
    const bar = t === null ? null
      : h("span", { class: "tl-track", "aria-hidden": "true" },
        pt !== null && t > pt ? h("span", { class: "tl-bar", style: `left:${pct(pt)};width:${(((t - pt) / span) * 100).toFixed(3)}%` }) : null,
        h("span", { class: "tl-dot", style: `left:${pct(t)}` }));
    const when = t === null ? "time unknown"
      : `+${duration(t - t0)}${pt !== null ? (same ? " · same block as its cause" : ` · ${duration(Math.max(0, t - pt))} after its cause`) : ""}`;
    const a = h("a", {
      class: ["tl-row", r.valid ? "valid" : "invalid", n.bad && "bad"], href: `#msg/${r.seq}`, tabindex: "-1", "data-seq": r.seq,
      "aria-expanded": n.children.length ? String(!n.collapsed) : null,
    },
    h("span", { class: "tl-label", style: `padding-left:${Math.min(n.depth - 1, 16) * 10 + 4}px` },
      n.children.length ? h("span", { class: "tl-caret", "aria-hidden": "true" }, n.collapsed ? "▸" : "▾") : h("span", { class: "tl-caret", "aria-hidden": "true" }, ""),
      h("span", { class: "tl-seq" }, `#${r.seq}`), " ", partyText(r.sender), " → ", partyText(r.receiver), " ", h("span", { class: "muted" }, r.action),
      model.recorder ? h("span", { class: "tl-hub muted" }, ` · recorded by ${model.recorder}`) : null,
      n.depth > 17 ? h("span", { class: "muted" }, ` (hop ${n.depth})`) : null,
      n.collapsed ? h("span", { class: "tl-more" }, ` +${n.size - 1}`) : null),
    h("span", { class: "tl-time" }, r.time ? clock(r.time) : "?"),
    bar ?? h("span", { class: "tl-track none" }, "time unknown"),
    h("span", { class: "tl-when" }, when),
    // The row's name is its text (axe: the name must hold what is shown); the verdict and what
    // is collapsed are said in words for screen readers.
    h("span", { class: "sr-only" }, `, hop ${n.depth}, ${r.valid ? "valid" : `invalid: ${r.notices.map(noticeWords).join("; ")}`}${n.collapsed ? `, ${n.size - 1} messages collapsed under it` : ""}`));
    out.set(n, a);
    rows.push(a);
  }
  list.replaceChildren(...rows);
  return out;
}

/** The axis under the timeline's header: five ticks from the first to the last time. */
export function axis(model) {
  const { t0, t1, timed } = range(model);
  if (!timed) return h("div", { class: "tl-axis muted" }, "No message of this transaction has a time (blocks sealed before times were signed).");
  const span = t1 - t0;
  return h("div", { class: "tl-axis", "aria-hidden": "true" },
    h("span", { class: "tl-label" }, "message"), h("span", { class: "tl-time" }, "time"),
    h("span", { class: "tl-track ticks" }, [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { class: "tick", style: `left:${f * 100}%` }, `+${duration(span * f)}`))),
    h("span", { class: "tl-when" }, "since start"));
}
