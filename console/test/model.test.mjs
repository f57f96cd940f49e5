// The transaction page's tree model (src/tx/model.js): causes make the tree, a cause outside the
// transaction or later than the message hangs it under the provenance (never a cycle), the
// path to every invalid message is marked, and the overview keeps those paths open.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TxTree } from "../src/tx/model.js";

const rec = (seq, cause, valid = true) => ({ seq, cause, valid, notices: valid ? [] : ["insufficient_clearance"] });

test("causes build the tree; foreign, missing and later causes hang under the root", () => {
  const t = new TxTree(7, "tv");
  for (const r of [rec(10, null), rec(11, 10), rec(12, 10), rec(13, 11), rec(14, 99), rec(15, 3), rec(16, 17), rec(17, 16)]) t.add(r);
  assert.equal(t.count, 8);
  assert.equal(t.add(rec(11, 10)), null, "a record already held is ignored");
  assert.deepEqual(t.root.children.map((n) => n.seq), [10, 14, 15, 16]);
  assert.equal(t.bySeq.get(17).parent.seq, 16, "an earlier cause is kept");
  assert.ok(t.bySeq.get(14).orphan && t.bySeq.get(16).orphan);
  assert.deepEqual(t.visible().map((n) => n.seq), [null, 10, 11, 13, 12, 14, 15, 16, 17], "depth first, children by seq");
  assert.equal(t.depth(), 3);
  assert.equal(t.root.size, 9);
});

test("an invalid message marks the path from the root and stays open in the overview", () => {
  const t = new TxTree(1, "hub");
  // A ternary tree of 121 messages; message 100 is invalid.
  t.add(rec(0, null));
  for (let i = 1; i < 121; i++) t.add(rec(i, Math.floor((i - 1) / 3), i !== 100));
  const path = [];
  for (let n = t.bySeq.get(100); n; n = n.parent) path.push(n.seq);
  assert.deepEqual(path, [100, 33, 10, 3, 0, null]);
  for (const n of t.all()) assert.equal(n.bad, path.includes(n.seq), `bad mark of ${n.seq}`);
  assert.ok(t.collapseToBudget(20));
  const shown = new Set(t.visible().map((n) => n.seq));
  assert.ok(shown.size < 40, `overview shows ${shown.size}`);
  for (const s of path) assert.ok(shown.has(s), `${s} on the invalid path is shown`);
  t.bySeq.get(3).collapsed = true;
  assert.ok(!new Set(t.visible().map((n) => n.seq)).has(100), "collapsing hides the subtree");
  t.reveal(t.bySeq.get(100));
  assert.ok(new Set(t.visible().map((n) => n.seq)).has(100), "reveal opens its ancestors");
  t.expandAll();
  assert.equal(t.visible().length, 122);
  assert.equal(t.collapseToBudget(500), false, "a small tree opens whole");
});
