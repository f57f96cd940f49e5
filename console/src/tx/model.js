// A transaction's causal tree as the page holds it: one node per message, hung under the
// message named by its `cause`, and one root standing for the provenance device (so a
// transaction whose messages name no cause, or a cause outside it, is still one tree). Nodes
// can be collapsed; `visible()` lists the nodes a reader sees, in tree order (depth first,
// children by seq). A node is "on the bad path" when it or a descendant is invalid: the path
// from the provenance to every invalid effect.

export class TxTree {
  constructor(tx, provenance) {
    this.tx = tx;
    this.root = { seq: null, rec: null, provenance, parent: null, children: [], depth: 0, collapsed: false, size: 1, bad: false, invalid: false };
    this.bySeq = new Map();
  }

  get count() { return this.bySeq.size; }

  /** Adds a record (ignored when already held); returns the new node or null. A cause that is
   * not an earlier message of this transaction hangs the node under the root, never in a cycle. */
  add(rec) {
    if (this.bySeq.has(rec.seq)) return null;
    const cause = rec.cause !== null && rec.cause < rec.seq ? this.bySeq.get(rec.cause) : undefined;
    const parent = cause ?? this.root;
    const node = {
      seq: rec.seq, rec, parent, children: [], depth: parent.depth + 1, collapsed: false, size: 1,
      invalid: !rec.valid, bad: !rec.valid, orphan: rec.cause !== null && !cause,
    };
    this.bySeq.set(rec.seq, node);
    // Children stay in seq order; records usually arrive in order, so this is an append.
    const kids = parent.children;
    let at = kids.length;
    while (at > 0 && kids[at - 1].seq > rec.seq) at--;
    kids.splice(at, 0, node);
    for (let p = parent; p; p = p.parent) {
      p.size += 1;
      if (node.bad) p.bad = true;
    }
    return node;
  }

  /** Nodes a reader sees (the root first), depth first, skipping collapsed subtrees. */
  visible() {
    const out = [];
    const stack = [this.root];
    while (stack.length) {
      const n = stack.pop();
      out.push(n);
      if (!n.collapsed) for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
    return out;
  }

  /** Every node, depth first. */
  all() {
    const out = [];
    const stack = [this.root];
    while (stack.length) {
      const n = stack.pop();
      out.push(n);
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
    return out;
  }

  /** The deepest hop count. */
  depth() { return this.all().reduce((d, n) => Math.max(d, n.depth), 0); }

  /** Collapses subtrees so that at most about `budget` nodes show: whole layers from the top
   * while they fit, and below that only the paths to invalid messages stay open. */
  collapseToBudget(budget) {
    const nodes = this.all();
    for (const n of nodes) n.collapsed = false;
    if (nodes.length <= budget) return false;
    const perDepth = [];
    for (const n of nodes) perDepth[n.depth] = (perDepth[n.depth] ?? 0) + 1;
    let keep = 0, shown = 0;
    while (keep < perDepth.length && shown + perDepth[keep] <= budget) shown += perDepth[keep++];
    const cut = Math.max(1, keep - 1);
    for (const n of nodes) if (n.depth >= cut && n.children.length && !n.bad) n.collapsed = true;
    return true;
  }

  expandAll() { for (const n of this.all()) n.collapsed = false; }

  /** Opens every ancestor of `node` so it shows. */
  reveal(node) {
    for (let p = node.parent; p; p = p.parent) p.collapsed = false;
  }

  /** How many nodes a collapsed node hides. */
  hidden(node) { return node.size - 1; }
}
