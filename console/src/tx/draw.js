// Drawing a TxTree as a vertical layered tree: the provenance device on top, each hop one
// layer down, laid out by d3-hierarchy's tidy tree (Reingold–Tilford as improved by Buchheim,
// Jünger and Leipert: linear time, no overlaps, parents centred over their children, which
// keeps 1,000 nodes compact). Each node is a link to its message (`#msg/SEQ`) with a full
// sentence as its accessible name; a round toggle under a node with children collapses or
// expands its subtree. In a federation (SPEC §7) another member's devices show as `name@hub`
// and each node's sentence names the hub that recorded it (`model.recorder`).
import { hierarchy, tree as tidyTree } from "d3-hierarchy";
import { s } from "../dom.js";
import { plural, noticeWords } from "../format.js";
import { clock } from "./timefmt.js";

export const W = 200, H = 74, GAP = 18, VGAP = 46;

const cut = (t, n) => (t.length > n ? `${t.slice(0, n - 1)}…` : t);

/** A party in at most `n` characters, for the eye: another member's `name@hub` keeps its
 * `@hub` whole (set apart as a tspan) and gives up characters of the name. */
function shortParty(t, n) {
  const at = t.indexOf("@");
  if (at < 0) return [cut(t, n)];
  const hub = t.slice(at);
  return [cut(t.slice(0, at), Math.max(3, n - hub.length - 1)), s("tspan", { class: "hub" }, hub)];
}

/** Positions of the visible nodes: Map node → {x, y} (x the box's centre, y its top) and the
 * drawing's bounds. */
export function layout(model) {
  const root = hierarchy(model.root, (n) => (n.collapsed ? null : n.children));
  tidyTree().nodeSize([W + GAP, H + VGAP]).separation((a, b) => (a.parent === b.parent ? 1 : 1.2))(root);
  const pos = new Map();
  let x0 = Infinity, x1 = -Infinity, y1 = 0;
  root.each((d) => {
    pos.set(d.data, { x: d.x, y: d.y });
    x0 = Math.min(x0, d.x - W / 2);
    x1 = Math.max(x1, d.x + W / 2);
    y1 = Math.max(y1, d.y + H + 20);
  });
  return { pos, bounds: { x0, y0: 0, x1, y1 } };
}

/** The words a screen reader says for a node (and the tooltip). */
export function nodeLabel(model, n) {
  if (!n.rec) return `Provenance device ${n.provenance ?? "unknown"}, root of transaction ${model.tx}`;
  const r = n.rec;
  const parts = [`Message ${r.seq}`, `${r.sender} to ${r.receiver}`, r.action,
    r.contents === null ? "contents pruned" : `contents ${JSON.stringify(cut(r.contents, 80))}`,
    r.time ? `at ${clock(r.time)}` : "time unknown",
    r.valid ? "valid" : `invalid: ${r.notices.map(noticeWords).join("; ")}`];
  if (model.recorder) parts.push(`recorded by ${model.recorder}`);
  if (n.orphan) parts.push(`its cause ${r.cause} is not a message of this transaction`);
  if (n.children.length) parts.push(n.collapsed ? `${plural(n.size - 1, "message")} collapsed under it` : `${plural(n.children.length, "direct effect")}`);
  return `${parts.join(", ")}.`;
}

// The link's accessible name is the full sentence of nodeLabel(); the short, truncated lines
// drawn inside the box are for the eye only.
function text(x, y, cls, t) {
  return s("text", { x, y, class: cls, "aria-hidden": "true" }, t);
}

/** Replaces `g`'s drawing with the visible tree; returns Map node → {el, box}. */
export function draw(g, model, { pos }) {
  g.replaceChildren();
  const edges = s("g", { class: "edges" });
  const nodes = s("g", { class: "nodes" });
  g.append(edges, nodes);
  const out = new Map();
  for (const [n, p] of pos) {
    if (n.parent && pos.has(n.parent)) {
      const q = pos.get(n.parent);
      const y0 = q.y + H, y1 = p.y, my = (y0 + y1) / 2;
      edges.append(s("path", { class: ["edge", n.bad && "bad"], d: `M${q.x},${y0 + 10}C${q.x},${my} ${p.x},${my} ${p.x},${y1}` }));
    }
  }
  for (const [n, p] of pos) {
    const x = p.x - W / 2, y = p.y;
    const r = n.rec;
    const cls = ["node", r ? "msg" : "root", r && (r.valid ? "valid" : "invalid"), n.bad && "bad", n.collapsed && "collapsed"];
    // The drawn box and its short lines are for the eye (aria-hidden); on top of them lies the
    // link, an invisible box whose accessible name is the full sentence of nodeLabel().
    const vis = s("g", { class: ["vis", ...cls.slice(1)], "aria-hidden": "true", transform: `translate(${x},${y})` },
      s("rect", { class: "box", width: W, height: H, rx: 6 }));
    if (r) {
      vis.append(
        text(8, 16, "t1", `#${r.seq} · ${r.action}`),
        text(W - 8, 16, "end", r.time ? clock(r.time) : "time ?"),
        text(8, 32, "t2", [...shortParty(r.sender, 13), " → ", ...shortParty(r.receiver, 13)]),
        text(8, 48, ["t3", r.contents === null && "pruned"], r.contents === null ? "pruned" : cut(JSON.stringify(r.contents).slice(1, -1), 28)),
        text(8, 65, "t4", r.valid ? "valid" : cut(`invalid: ${r.notices.map(noticeWords).join("; ")}`, 31)),
      );
    } else {
      vis.append(
        text(8, 20, "t1", cut(n.provenance ?? "unknown provenance", 22)),
        text(8, 40, "t2", `provenance of tx ${model.tx}`),
        text(8, 60, "t4", `${plural(model.count, "message")}`),
      );
    }
    // Shown instead of the small lines when zoomed far out (class "far" on the svg).
    vis.append(text(W / 2, H / 2 + 15, "big", r ? `#${r.seq}` : cut(n.provenance ?? "?", 8)));
    const a = s("a", {
      class: cls, href: r ? `#msg/${r.seq}` : `#device/${encodeURIComponent(n.provenance ?? "")}`, tabindex: "-1",
      "aria-label": nodeLabel(model, n), "data-collapsed": n.children.length ? String(n.collapsed) : null,
      "data-seq": r ? r.seq : "root", transform: `translate(${x},${y})`,
    }, s("rect", { class: "hit", width: W, height: H, rx: 6 }), s("title", {}, nodeLabel(model, n)));
    nodes.append(vis, a);
    if (n.children.length) {
      const tg = s("g", { class: ["toggle", n.bad && "bad"], "aria-hidden": "true", "data-seq": r ? r.seq : "root", transform: `translate(${p.x},${y + H + 10})` },
        s("circle", { r: 9 }),
        s("path", { d: n.collapsed ? "M-4.5,0H4.5M0,-4.5V4.5" : "M-4.5,0H4.5" }),
        n.collapsed ? text(13, 4, "more", `${n.size - 1} more`) : null);
      nodes.append(tg);
    }
    out.set(n, { el: a, box: { x, y, w: W, h: H + (n.children.length ? 22 : 0) } });
  }
  return out;
}
