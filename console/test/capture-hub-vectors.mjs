// Writes hub-vectors.json: answers of a real running hub (key line, two signed checkpoints from
// its blocks, entry bytes, inclusion proofs at the older checkpoint's size and the consistency
// proof between the two), so verify.test.mjs checks verify.js against what the hub serves.
// Usage: node test/capture-hub-vectors.mjs http://127.0.0.1:PORT   (a running `m2mhub demo`)
import { writeFileSync } from "node:fs";

const url = process.argv[2];
if (!url) throw new Error("usage: node test/capture-hub-vectors.mjs URL");
const get = async (p, text) => {
  const r = await fetch(url + p);
  if (!r.ok) throw new Error(`${p}: ${r.status}`);
  return text ? r.text() : r.json();
};
const key = (await get("/v1/key", true)).trim();
const blocks = (await get("/v1/blocks?after=40&limit=100")).items;
const older = blocks.find((b) => b.tree_size >= 45);
const newer = blocks[blocks.length - 1];
const seqs = [0, 1, 2, 17, 40, 41, 42, older.tree_size - 1];
const entries = [];
for (const seq of seqs) {
  const e = await get(`/v1/entries/${seq}`);
  const proof = await get(`/v1/proof/inclusion?seq=${seq}&tree_size=${older.tree_size}`);
  entries.push({ seq, kind: e.kind, entry_bytes: e.entry_bytes, leaf_hash: e.leaf_hash, proof });
}
const consistency = await get(`/v1/proof/consistency?from=${older.tree_size}&to=${newer.tree_size}`);
writeFileSync(new URL("./hub-vectors.json", import.meta.url), `${JSON.stringify({
  description: "Captured from a running `m2mhub demo` by test/capture-hub-vectors.mjs: its verifier key, two checkpoints of its blocks, entry bytes with inclusion proofs at the older checkpoint's size, and the consistency proof between the two checkpoints.",
  key, older: older.checkpoint, newer: newer.checkpoint, entries, consistency,
}, null, 1)}\n`);
console.log(`captured ${entries.length} entries, checkpoints ${older.tree_size} and ${newer.tree_size}`);
