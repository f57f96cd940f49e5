// verify.js and entry.js against known answers: the repository's independent vectors
// (testdata/merkle-vectors.json and note-vectors.json, written by Python from the RFCs and the
// C2SP specs) and answers captured from a real hub (hub-vectors.json). Each check also makes
// sure that a changed input is refused, so none of them can pass by accepting everything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  VerifyError, fromHex, toHex, fromBase64, toBase64, leafHash, rootFromInclusion, verifyInclusion,
  verifyConsistency, parseKeyLine, openNote, openCheckpoint, parseCheckpoint, keyLabel,
  noteParts, verifyCosignature, checkCosignatures, cosignatureKeyId,
} from "../src/verify.js";
import { decodeEntry, isMessageKind } from "../src/entry.js";

const load = (p) => JSON.parse(readFileSync(new URL(p, import.meta.url), "utf8"));
const merkle = load("../../testdata/merkle-vectors.json");
const notes = load("../../testdata/note-vectors.json");
const hub = load("./hub-vectors.json");

const flip = (hex, at = 0) => hex.slice(0, at) + (hex[at] === "0" ? "1" : "0") + hex.slice(at + 1);
const rejects = (f, re) => assert.throws(f, (e) => e instanceof VerifyError && (!re || re.test(e.message)));

test("base64 is strict and round-trips", () => {
  for (const s of ["", "AA==", "AAE=", "AAEC", "/v7+"]) assert.equal(toBase64(fromBase64(s)), s);
  for (const bad of ["A", "AA=", "AB==", "A=A=", " AAA", "AA\n=="]) rejects(() => fromBase64(bad));
});

test("leaf hashes and roots of the RFC 9162 vectors", () => {
  merkle.leaves.forEach((leaf, i) => assert.equal(toHex(leafHash(fromHex(leaf))), merkle.leaf_hashes[i]));
});

test("every inclusion proof of the RFC 9162 vectors verifies, and a changed one fails", () => {
  const roots = Object.fromEntries(merkle.roots.map((r) => [r.tree_size, fromHex(r.root)]));
  for (const v of merkle.inclusion) {
    const leaf = fromHex(merkle.leaf_hashes[v.index]);
    verifyInclusion(v.index, v.tree_size, leaf, v.path, roots[v.tree_size]);
    if (v.path.length) {
      rejects(() => verifyInclusion(v.index, v.tree_size, leaf, [flip(v.path[0]), ...v.path.slice(1)], roots[v.tree_size]), /root/);
      rejects(() => verifyInclusion(v.index, v.tree_size, leaf, v.path.slice(1), roots[v.tree_size]));
    }
    if (v.tree_size > 1) rejects(() => verifyInclusion(v.index, v.tree_size, fromHex(flip(merkle.leaf_hashes[v.index])), v.path, roots[v.tree_size]));
    rejects(() => rootFromInclusion(v.tree_size, v.tree_size, leaf, v.path), /not in a tree/);
  }
});

test("every consistency proof of the RFC 9162 vectors verifies, and a changed one fails", () => {
  const roots = Object.fromEntries(merkle.roots.map((r) => [r.tree_size, fromHex(r.root)]));
  for (const v of merkle.consistency) {
    const a = roots[v.old_size], b = roots[v.new_size];
    verifyConsistency(v.old_size, v.new_size, a, b, v.path);
    if (v.path.length) {
      rejects(() => verifyConsistency(v.old_size, v.new_size, a, b, [...v.path.slice(0, -1), flip(v.path.at(-1))]));
      rejects(() => verifyConsistency(v.old_size, v.new_size, a, b, v.path.slice(0, -1)));
    }
    if (v.old_size !== v.new_size) rejects(() => verifyConsistency(v.old_size, v.new_size, fromHex(flip(toHex(a))), b, v.path));
    rejects(() => verifyConsistency(v.new_size + 1, v.new_size, a, b, v.path), /larger/);
  }
});

test("verifier key lines: ids recomputed, malformed lines refused", () => {
  for (const k of [...notes.keys, notes.reference.key]) {
    const key = parseKeyLine(k.verifier_key);
    assert.equal(key.name, k.name);
    assert.equal(toHex(key.keyId), k.key_id);
    assert.equal(toHex(key.publicKey), k.public_key);
  }
  const line = notes.log_key.verifier_key;
  rejects(() => parseKeyLine(line.replace(notes.log_key.key_id, flip(notes.log_key.key_id))), /does not match/);
  rejects(() => parseKeyLine(line.replace("+", "++")));
  rejects(() => parseKeyLine(line.replace("+AR", "+Ah")), /Ed25519/);
  rejects(() => parseKeyLine(`other/name+${line.split("+").slice(1).join("+")}`), /does not match/);
});

test("signed notes: the Go sumdb reference, our vectors, cosigned, and changed notes refused", () => {
  const ref = parseKeyLine(notes.reference.key.verifier_key);
  assert.equal(openNote(notes.reference.note, ref), notes.reference.text);
  const log = parseKeyLine(notes.log_key.verifier_key), witness = parseKeyLine(notes.witness_key.verifier_key);
  for (const n of notes.notes) {
    assert.equal(openNote(n.note, log), n.text);
    rejects(() => openNote(n.note, witness), /not signed by/);
    rejects(() => openNote(n.note.replace(n.text, `${n.text}x\n`), log), /does not verify/);
  }
  assert.equal(openNote(notes.cosigned.note, log), notes.cosigned.body);
  assert.equal(openNote(notes.cosigned.note, witness), notes.cosigned.body);
});

test("checkpoints: every good one opens with its fields, every bad one is refused at its stage", () => {
  for (const c of notes.checkpoints) {
    const key = parseKeyLine(c.verifier_key);
    const cp = openCheckpoint(c.note, key);
    assert.equal(cp.origin, c.origin);
    // JSON numbers past 2^53 arrive rounded: compare as numbers, and exactly against the text.
    assert.equal(Number(cp.size), c.tree_size);
    assert.equal(cp.size.toString(), c.body.split("\n")[1]);
    assert.equal(toHex(cp.root), c.root);
    assert.equal(Number(cp.block), c.block);
    assert.equal(toHex(cp.prevHash), c.prev_block_hash);
    assert.equal(cp.timeMs === null ? null : Number(cp.timeMs), c.time_ms);
  }
  const log = parseKeyLine(notes.log_key.verifier_key);
  for (const bad of notes.bad_checkpoints) {
    rejects(() => openCheckpoint(bad.note, log), undefined);
    if (bad.refused_by === "body") {
      const text = openNote(bad.note, log);
      rejects(() => parseCheckpoint(text), undefined);
    } else {
      rejects(() => openNote(bad.note, log), undefined);
    }
  }
});

test("the hub's own answers: checkpoints, entries, inclusion and consistency proofs", () => {
  const key = parseKeyLine(hub.key);
  const older = openCheckpoint(hub.older, key), newer = openCheckpoint(hub.newer, key);
  assert.ok(older.size < newer.size);
  assert.match(keyLabel(key), /^m2mhub\/.+\+[0-9a-f]{8}$/);
  for (const e of hub.entries) {
    const bytes = fromBase64(e.entry_bytes);
    const leaf = leafHash(bytes);
    assert.equal(toHex(leaf), e.leaf_hash, `leaf hash of entry ${e.seq}`);
    assert.equal(decodeEntry(bytes).kind, e.kind);
    assert.equal(e.proof.tree_size, Number(older.size));
    verifyInclusion(e.seq, older.size, leaf, e.proof.path, older.root);
    rejects(() => verifyInclusion(e.seq, newer.size, leaf, e.proof.path, newer.root));
    const tampered = Uint8Array.from(bytes);
    tampered[tampered.length - 1] ^= 1;
    rejects(() => verifyInclusion(e.seq, older.size, leafHash(tampered), e.proof.path, older.root), /root/);
  }
  verifyConsistency(older.size, newer.size, older.root, newer.root, hub.consistency.path);
  rejects(() => verifyConsistency(older.size, newer.size, newer.root, older.root, hub.consistency.path));
  const sig = hub.older.lastIndexOf(" ") + 10;
  const forged = hub.older.slice(0, sig) + (hub.older[sig] === "A" ? "B" : "A") + hub.older.slice(sig + 1);
  rejects(() => openCheckpoint(forged, key), /does not verify/);
  rejects(() => openCheckpoint(hub.older.replace("\n45\n", "\n46\n"), key), /does not verify/);
});

test("entry bytes decode strictly", () => {
  const msg = hub.entries.find((e) => e.kind === "message");
  const bytes = fromBase64(msg.entry_bytes);
  const e = decodeEntry(bytes);
  assert.ok(["begin", "continue", "end"].includes(e.action));
  assert.equal(e.signature.length, 128);
  assert.throws(() => decodeEntry(bytes.slice(0, -1)), /ends inside/);
  assert.throws(() => decodeEntry(Uint8Array.from([...bytes, 0])), /follow the entry/);
  assert.throws(() => decodeEntry(Uint8Array.from([2, ...bytes.slice(1)])), /version/);
});

test("federation membership and import entries: the independent vectors decode, and every bad one is refused", () => {
  const v = JSON.parse(readFileSync(new URL("../../testdata/entry-federation-vectors.json", import.meta.url), "utf8"));
  const hex = (s) => Uint8Array.from(s.match(/../g), (b) => parseInt(b, 16));
  for (const c of v.good) {
    const e = decodeEntry(hex(c.bytes));
    assert.equal(e.kind, "federation_membership", c.name);
    assert.deepEqual({ hub: e.hub, cosignatures: e.cosignatures, members: e.members },
      { hub: c.hub, cosignatures: c.cosignatures, members: c.members }, c.name);
  }
  for (const c of v.imports) {
    const e = decodeEntry(hex(c.bytes));
    assert.equal(e.kind, "import", c.name);
    assert.deepEqual([e.origin, e.source_seq, e.proof, e.checkpoint], [c.origin, String(c.seq), c.proof, c.checkpoint]);
    assert.ok(["device_registered", "device_revoked", "device_rekeyed"].includes(e.entry.kind), c.name);
  }
  for (const c of v.bad) assert.throws(() => decodeEntry(hex(c.bytes)), undefined, c.name);
});

test("federated messages (kind 10): the independent vectors decode to their fields, and malformed names are refused", () => {
  // Integers of 16 digits or more are read as decimal strings: a JS number would round them.
  const text = readFileSync(new URL("../../testdata/entry-federation-vectors.json", import.meta.url), "utf8");
  const v = JSON.parse(text.replace(/(":\s*)(\d{16,})\b/g, '$1"$2"')).federated_messages;
  const hex = (s) => Uint8Array.from(s.match(/../g), (b) => parseInt(b, 16));
  assert.ok(v.good.length >= 5 && v.bad.length >= 8);
  for (const c of v.good) {
    const bytes = hex(c.bytes);
    const e = decodeEntry(bytes);
    assert.ok(isMessageKind(e.kind), c.name);
    assert.deepEqual(e, {
      version: 1, kind: c.kind, sender: c.sender, receiver: c.receiver, action: c.action, tx: String(c.tx),
      cause: c.cause === null ? null : String(c.cause), counter: String(c.counter), contents_hash: c.contents_sha256,
      signature: c.signature, provenance: c.provenance, notices: c.notices,
    }, c.name);
    assert.equal(toHex(leafHash(bytes)), c.leaf_hash, c.name);
  }
  // The vectors' integers beyond 2^53 survive as decimal strings.
  assert.ok(v.good.some((c) => c.counter === "18446744073709551615" && c.tx === "9223372036854775808"));
  for (const c of v.bad) assert.throws(() => decodeEntry(hex(c.bytes)), /not a device name|action|notice|ends inside|follow the entry/, c.name);
});

test("tlog-cosignature/v1: the independent vectors verify, every bad line is refused, other keys' lines are not checked", () => {
  const v = load("../../testdata/cosignature-vectors.json");
  const pub = fromHex(v.cosigner.public_key);
  const key = { name: v.cosigner.name, publicKey: pub };
  assert.equal(toHex(cosignatureKeyId(key.name, pub)), v.cosigner.key_id);
  // The member's key line as a federation file holds it: type 0x01 (its note key id).
  const line = `${key.name}+${v.cosigner.note_key_id}+${toBase64(Uint8Array.of(1, ...pub))}`;
  const members = [{ name: "street", origin: key.name, key: line }];
  for (const c of v.vectors) {
    const { text, sigs } = noteParts(c.note);
    assert.equal(text, c.body);
    const sig = sigs.find((s) => `${s.line}\n` === c.line);
    // JSON numbers lose 2^63 - 1: the exact timestamp is the one in the signed message.
    const t = BigInt(c.message.split("\n")[1].slice("time ".length));
    assert.equal(c.message, `cosignature/v1\ntime ${t}\n${c.body}`);
    assert.equal(verifyCosignature(text, sig, key), t);
    const logName = c.body.split("\n")[0];
    assert.deepEqual(checkCosignatures(c.note, logName, members).map((r) => [r.origin, r.member, r.ok, r.time]),
      [[key.name, "street", true, t]]);
    // The same line under a changed body does not verify.
    rejects(() => verifyCosignature(text.replace("\n", "x\n"), sig, key), /does not verify/);
  }
  const body = v.vectors[1].body;
  for (const b of v.bad) {
    const note = `${body}\n${b.line}`;
    const [sig] = noteParts(note).sigs;
    rejects(() => verifyCosignature(body, sig, key), undefined);
    const [row] = checkCosignatures(note, "m2mhub/home", members);
    assert.equal(row.ok, false, b.why);
    assert.ok(row.why, b.why);
  }
  for (const i of v.ignored) {
    const note = `${body}\n${i.line}`;
    const [row] = checkCosignatures(note, "m2mhub/home", members);
    assert.equal(row.ok, null, i.why);
  }
  // A cosigner the membership does not name is listed, not verified.
  const [row] = checkCosignatures(v.vectors[1].note, "m2mhub/home", []);
  assert.deepEqual([row.origin, row.member, row.ok, row.time], [key.name, null, null, 1700000000n]);
});
