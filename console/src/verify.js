// Checking the hub's proofs in the browser, with nothing but the pinned hub key (SPEC §4):
// RFC 6962/9162 leaf and node hashes, inclusion and consistency proofs (RFC 9162 §2.1.3.2 and
// §2.1.4.2, tree sizes as BigInt so every u64 size is exact), C2SP signed notes (Ed25519, ZIP 215
// rules as the hub applies them), verifier-key lines and tlog-checkpoint bodies with the hub's
// extension lines. Pure functions: no fetch, no DOM; `console/test/verify.test.mjs` runs them
// against the repository's independent vectors (testdata/) and against the hub's own answers.
//
// SHA-2 and Ed25519 come from @noble (audited, dependency-free) rather than crypto.subtle: the
// console may be served over plain http on a LAN, where browsers withhold crypto.subtle.
import { sha256 as nobleSha256, sha512 } from "@noble/hashes/sha2.js";
import * as ed from "@noble/ed25519";

ed.hashes.sha512 = sha512;

/** A verification that failed, with a sentence saying why. */
export class VerifyError extends Error {}

const fail = (why) => { throw new VerifyError(why); };
const enc = new TextEncoder();

export const sha256 = (bytes) => nobleSha256(bytes);

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Lower- or upper-case hex of even length → bytes; throws VerifyError otherwise. */
export function fromHex(s, what = "hex") {
  if (typeof s !== "string" || s.length % 2 || !/^[0-9a-fA-F]*$/.test(s)) fail(`${what} is not hex`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
export function toBase64(b) {
  let s = "";
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < b.length ? B64[(n >> 6) & 63] : "=") + (i + 2 < b.length ? B64[n & 63] : "=");
  }
  return s;
}

/** Strict standard base64 (padding required, no whitespace, canonical): bytes or VerifyError. */
export function fromBase64(s, what = "base64") {
  if (typeof s !== "string" || s.length % 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) fail(`${what} is not standard base64`);
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const bytes = [];
  for (let i = 0; i < s.length; i += 4) {
    const n = [0, 1, 2, 3].reduce((acc, k) => (acc << 6) | (s[i + k] === "=" ? 0 : B64.indexOf(s[i + k])), 0);
    bytes.push((n >> 16) & 255, (n >> 8) & 255, n & 255);
  }
  const out = Uint8Array.from(bytes.slice(0, bytes.length - pad));
  if (toBase64(out) !== s) fail(`${what} is not canonical base64`);
  return out;
}

export const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// --- RFC 6962 / RFC 9162 §2.1 Merkle tree -----------------------------------------------------

/** The leaf hash of an entry: SHA-256(0x00 ‖ entry bytes). */
export const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
/** An interior node: SHA-256(0x01 ‖ left ‖ right). */
export const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

const big = (n, what) => {
  try {
    const v = BigInt(n);
    if (v < 0n) fail(`${what} is negative`);
    return v;
  } catch (e) {
    if (e instanceof VerifyError) throw e;
    return fail(`${what} is not a whole number`);
  }
};
const path32 = (path) => path.map((p, i) => {
  const b = typeof p === "string" ? fromHex(p, `proof hash ${i + 1}`) : p;
  if (b.length !== 32) fail(`proof hash ${i + 1} is not 32 bytes`);
  return b;
});

/** RFC 9162 §2.1.3.2: the root that an inclusion `path` (hex or bytes, leaf end first) leads
 * to from leaf `index`'s hash in a tree of `size`; throws VerifyError when the path cannot be
 * a proof for that index and size. */
export function rootFromInclusion(index, size, leaf, path) {
  let fn = big(index, "the leaf index"), sn = big(size, "the tree size") - 1n;
  if (fn > sn) fail(`leaf ${fn} is not in a tree of size ${sn + 1n}`);
  let r = leaf;
  for (const p of path32(path)) {
    if (sn === 0n) fail("the proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) fail("the proof is shorter than the tree is deep");
  return r;
}

/** Checks that leaf `index` with hash `leaf` is in the tree of `size` whose root is `root`;
 * throws VerifyError with the reason when not. */
export function verifyInclusion(index, size, leaf, path, root) {
  const got = rootFromInclusion(index, size, leaf, path);
  if (!equal(got, root)) fail(`the proof leads to root ${toHex(got).slice(0, 16)}…, not to the checkpoint's root ${toHex(root).slice(0, 16)}…`);
}

/** RFC 9162 §2.1.4.2: checks that the tree of `oldSize` with `oldRoot` is a prefix of the tree
 * of `newSize` with `newRoot`, given the consistency `path`; throws VerifyError otherwise. */
export function verifyConsistency(oldSize, newSize, oldRoot, newRoot, path) {
  const m = big(oldSize, "the old size"), n = big(newSize, "the new size");
  const proof = path32(path);
  if (m > n) fail(`the old tree (${m}) is larger than the new one (${n})`);
  if (m === n) {
    if (proof.length) fail("a proof between equal sizes must be empty");
    if (!equal(oldRoot, newRoot)) fail("two trees of the same size have different roots");
    return;
  }
  if (m === 0n) {
    if (proof.length) fail("a proof from the empty tree must be empty");
    return;
  }
  if (!proof.length) fail("the consistency proof is empty");
  const p = (m & (m - 1n)) === 0n ? [oldRoot, ...proof] : proof;
  let fn = m - 1n, sn = n - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = p[0], sr = p[0];
  for (const c of p.slice(1)) {
    if (sn === 0n) fail("the proof is longer than the trees are deep");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) fail("the proof is shorter than the trees are deep");
  if (!equal(fr, oldRoot)) fail("the proof does not lead to the old checkpoint's root");
  if (!equal(sr, newRoot)) fail("the proof does not lead to the new checkpoint's root");
}

// --- C2SP signed-note and verifier keys ------------------------------------------------------

/** The key id of a key: the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key). */
export const keyId = (name, publicKey) => sha256(concat(enc.encode(name), Uint8Array.of(10, 1), publicKey)).slice(0, 4);

const NAME = /^[^\s+]+$/u;

/** A verifier key line `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>` →
 * `{name, keyId, publicKey, line}`; throws VerifyError when malformed or the id does not match. */
export function parseKeyLine(line) {
  const l = String(line).trim();
  const m = /^([^+]*)\+([^+]*)\+(.*)$/su.exec(l);
  if (!m) fail("a verifier key has three parts separated by '+'");
  const [, name, idHex, b64] = m;
  if (!NAME.test(name) || /[\u0000-\u001f\u007f]/u.test(name)) fail("the key name is empty or holds spaces");
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail("the key id is not 8 lower-case hex digits");
  const raw = fromBase64(b64, "the key");
  if (raw.length !== 33 || raw[0] !== 1) fail("the key is not an Ed25519 key (type 0x01, 32 bytes)");
  const publicKey = raw.slice(1);
  const id = keyId(name, publicKey);
  if (toHex(id) !== idHex) fail(`the key id ${idHex} does not match the key (it should be ${toHex(id)})`);
  return { name, keyId: id, publicKey, line: l };
}

/** Opens a signed note with `key` (from parseKeyLine): returns the signed text (final newline
 * included). Signatures by other keys are ignored; one valid signature by `key` is required
 * and a bad one by `key` fails. Throws VerifyError with the reason. */
export function openNote(note, key) {
  if (typeof note !== "string") fail("the note is not text");
  if (/[\u0000-\u0009\u000b-\u001f]/u.test(note)) fail("the note holds a control character");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("the note has no blank line before its signatures");
  const text = note.slice(0, split + 1), sigs = note.slice(split + 2);
  if (!sigs || !sigs.endsWith("\n")) fail("the note's signature block does not end with a newline");
  let ok = false;
  for (const line of sigs.slice(0, -1).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!m || !NAME.test(m[1])) fail(`not a signature line: ${JSON.stringify(line.slice(0, 60))}`);
    const blob = fromBase64(m[2], "a signature");
    if (blob.length < 5) fail("a signature is too short");
    if (m[1] !== key.name || !equal(blob.slice(0, 4), key.keyId)) continue;
    if (blob.length !== 68) fail("the signature by the pinned key is not 64 bytes");
    let good = false;
    try { good = ed.verify(blob.slice(4), enc.encode(text), key.publicKey, { zip215: true }); } catch { good = false; }
    if (!good) fail(`the signature by ${key.name} does not verify: the note was changed or not signed by this key`);
    ok = true;
  }
  if (!ok) fail(`the note is not signed by ${key.name}+${toHex(key.keyId)}`);
  return text;
}

const U64_MAX = (1n << 64n) - 1n;
const DEC = "(0|[1-9][0-9]*)";
const CHECKPOINT = new RegExp(`^([^\\n]+)\\n${DEC}\\n([A-Za-z0-9+/=]+)\\nblock ${DEC} prev ([A-Za-z0-9+/=]+)\\n(?:time ${DEC}\\n)?$`, "u");

/** A checkpoint body (the signed text) → `{origin, size, root, block, prevHash, timeMs}`; sizes
 * as BigInt, `timeMs` BigInt or null, hashes as bytes. Strict: throws VerifyError. */
export function parseCheckpoint(text) {
  const m = CHECKPOINT.exec(text);
  if (!m || /[\u0000-\u001f]/u.test(m[1])) fail("the signed text is not a checkpoint (origin, size, root, block line, optional time line)");
  const size = BigInt(m[2]), block = BigInt(m[4]), timeMs = m[6] === undefined ? null : BigInt(m[6]);
  if (size > U64_MAX || block > U64_MAX || (timeMs !== null && timeMs > U64_MAX)) fail("a number in the checkpoint is out of range");
  const root = fromBase64(m[3], "the root hash"), prevHash = fromBase64(m[5], "the previous block hash");
  if (root.length !== 32 || prevHash.length !== 32) fail("a hash in the checkpoint is not 32 bytes");
  return { origin: m[1], size, root, block, prevHash, timeMs };
}

/** Opens a checkpoint note with `key`: its signature, then its body, then origin = key name. */
export function openCheckpoint(note, key) {
  const cp = parseCheckpoint(openNote(note, key));
  if (cp.origin !== key.name) fail(`the checkpoint's origin ${cp.origin} is not the key's name ${key.name}`);
  return { ...cp, note };
}

/** "m2mhub/home+ab12cd34": how a key is named in sentences. */
export const keyLabel = (key) => `${key.name}+${toHex(key.keyId)}`;

// --- C2SP tlog-cosignature/v1 (SPEC §7) -----------------------------------------------------

/** The key id of a cosigner key: SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4]. */
export const cosignatureKeyId = (name, publicKey) => sha256(concat(enc.encode(name), Uint8Array.of(10, 4), publicKey)).slice(0, 4);

/** A signed note's text (final newline included) and its signature lines as
 * `{name, blob, line}` (blob: the decoded bytes, key id first), in order. Strict framing as in
 * openNote; throws VerifyError. */
export function noteParts(note) {
  if (typeof note !== "string") fail("the note is not text");
  if (/[\u0000-\u0009\u000b-\u001f]/u.test(note)) fail("the note holds a control character");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("the note has no blank line before its signatures");
  const text = note.slice(0, split + 1), sigs = note.slice(split + 2);
  if (!sigs || !sigs.endsWith("\n")) fail("the note's signature block does not end with a newline");
  return {
    text,
    sigs: sigs.slice(0, -1).split("\n").map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
      if (!m || !NAME.test(m[1])) fail(`not a signature line: ${JSON.stringify(line.slice(0, 60))}`);
      const blob = fromBase64(m[2], "a signature");
      if (blob.length < 5) fail("a signature is too short");
      return { name: m[1], blob, line };
    }),
  };
}

const MAX_TIMESTAMP = (1n << 63n) - 1n;

/** Checks one signature line `sig` (from noteParts) as a tlog-cosignature/v1 of the note text
 * `text` by `key` (parseKeyLine of the cosigner's verifier key: a hub cosigns with its own hub
 * key, under its own key name). The signed message is `cosignature/v1\ntime <T>\n` followed by
 * the text. Returns the timestamp T (seconds, BigInt); throws VerifyError with the reason. */
export function verifyCosignature(text, sig, key) {
  const id = cosignatureKeyId(key.name, key.publicKey);
  if (sig.name !== key.name || !equal(sig.blob.slice(0, 4), id)) fail(`the line is not a cosignature by ${key.name}+${toHex(id)}`);
  if (sig.blob.length !== 4 + 8 + 64) fail(`the cosignature by ${key.name} is not a timestamp and a 64-byte signature`);
  const t = new DataView(sig.blob.buffer, sig.blob.byteOffset + 4, 8).getBigUint64(0);
  if (t > MAX_TIMESTAMP) fail(`the cosignature by ${key.name} has a timestamp past 2^63 - 1`);
  let good = false;
  try { good = ed.verify(sig.blob.slice(12), enc.encode(`cosignature/v1\ntime ${t}\n${text}`), key.publicKey, { zip215: true }); } catch { good = false; }
  if (!good) fail(`the cosignature by ${key.name} does not verify: the checkpoint or its time was changed, or another key signed it`);
  return t;
}

/** The cosignatures a checkpoint note carries besides the log's own signature (`ownName`),
 * each checked against the federation's `members` ([{name, origin, key}], the membership
 * entry's; may be empty): `[{origin, member, keyId, time, ok, why}]` where `ok` is true
 * (verified; `time` its timestamp in seconds), false (`why` says what failed) or null (no
 * member has that origin, or the line's key id is not the member's cosignature key). */
export function checkCosignatures(note, ownName, members = []) {
  const { text, sigs } = noteParts(note);
  const out = [];
  for (const sig of sigs) {
    if (sig.name === ownName) continue;
    const keyIdHex = toHex(sig.blob.slice(0, 4));
    const member = members.find((m) => m.origin === sig.name) ?? null;
    const time = sig.blob.length === 76 ? new DataView(sig.blob.buffer, sig.blob.byteOffset + 4, 8).getBigUint64(0) : null;
    const row = { origin: sig.name, member: member?.name ?? null, keyId: keyIdHex, time, ok: null, why: null };
    const key = member ? parseKeyLine(member.key) : null;
    if (key && !equal(sig.blob.slice(0, 4), cosignatureKeyId(key.name, key.publicKey))) {
      row.why = "its key id is not the member's cosignature key id: a signature of another kind or key, not checked";
    } else if (key) {
      try {
        row.time = verifyCosignature(text, sig, key);
        row.ok = true;
      } catch (e) {
        if (!(e instanceof VerifyError)) throw e;
        row.ok = false;
        row.why = e.message;
      }
    } else row.why = "no federation member has this origin in the membership this hub recorded";
    out.push(row);
  }
  return out;
}
