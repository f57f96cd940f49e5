// The hub key this browser trusts and the one checkpoint the page holds (issue 12 item 7),
// shared by the ledger page and the message detail.
//
// The key is pinned on first use, per hub (the page's origin), in localStorage: a later visit
// that is served a different key gets a loud warning and the pinned key stays in force until
// the operator unpins it. The held checkpoint changes only when the user refreshes it, and a
// refresh is accepted only if the hub proves the old tree is a prefix of the new one. Block
// events from the live stream count how many blocks are newer, without any request.
import { apiText, api } from "./api.js";
import { num } from "./format.js";
import * as live from "./live.js";
import { parseKeyLine, openCheckpoint, verifyConsistency, fromHex, toHex, sha256, keyLabel, VerifyError } from "./verify.js";

const PIN = "m2mhub-pinned-key";
const HELD = "m2mhub-held-checkpoint";
const here = () => location.origin;

function store(name) {
  try { return JSON.parse(localStorage.getItem(name) ?? "{}") ?? {}; } catch { return {}; }
}
function save(name, v) { localStorage.setItem(name, JSON.stringify(v)); }

const listeners = new Set();
/** Calls `f()` whenever the pin, the held checkpoint or the count of newer blocks changes. */
export function onChange(f) { listeners.add(f); return () => listeners.delete(f); }
const changed = () => { for (const f of listeners) { try { f(); } catch (e) { console.error(e); } } };

/** The pinned key for this hub: `{key, line, pinnedAt, fingerprint}` or null. */
export function pinned() {
  const p = store(PIN)[here()];
  if (!p) return null;
  try {
    const key = parseKeyLine(p.line);
    return { key, line: p.line, pinnedAt: p.pinnedAt, fingerprint: toHex(sha256(key.publicKey)) };
  } catch { return null; }
}

/** The key line the hub served last time we asked, when it differs from the pinned one. */
let served = null;
export const mismatch = () => (served && pinned() && served !== pinned().line ? served : null);

/** Forgets the pinned key (and the checkpoint held under it). */
export function unpin() {
  const all = store(PIN); delete all[here()]; save(PIN, all);
  const held = store(HELD); delete held[here()]; save(HELD, held);
  served = null;
  changed();
}

/** The key to verify with: the pinned one; pins the hub's key on first use. Returns
 * `{key, firstUse}`; the hub's key is compared with the pin on every call. */
export async function trustedKey() {
  const line = (await apiText("/v1/key")).trim();
  const p = pinned();
  if (p) {
    served = line;
    changed();
    return { key: p.key, firstUse: false };
  }
  const key = parseKeyLine(line);
  const all = store(PIN);
  all[here()] = { line: key.line, pinnedAt: new Date().toISOString() };
  save(PIN, all);
  served = line;
  changed();
  return { key, firstUse: true };
}

/** The held checkpoint, opened again with the pinned key: `{…checkpoint, heldAt}` or null
 * (also null when it no longer opens, e.g. after an unpin). */
let cache = { note: null, line: null, value: null };
export function held() {
  const h = store(HELD)[here()];
  const p = pinned();
  if (!h || !p) return null;
  // Opening costs a signature check: once per note and key, not on every block event.
  if (cache.note !== h.note || cache.line !== p.line) {
    let value = null;
    try { value = { ...openCheckpoint(h.note, p.key), heldAt: h.heldAt }; } catch { value = null; }
    cache = { note: h.note, line: p.line, value };
  }
  return cache.value;
}

function hold(note) {
  const all = store(HELD);
  all[here()] = { note, heldAt: new Date().toISOString() };
  save(HELD, all);
  newest = null;
  newer = 0;
  changed();
}

/** Fetches the hub's latest checkpoint and opens it with `key` (throws VerifyError when its
 * signature or body is wrong). */
export async function latest(key) {
  return openCheckpoint(await apiText("/v1/checkpoint"), key);
}

/** The held checkpoint, fetching (and verifying) the hub's latest one when none is held yet.
 * Returns `{cp, fetched}`. */
export async function ensureHeld(key) {
  const h = held();
  if (h) return { cp: h, fetched: false };
  const cp = await latest(key);
  hold(cp.note);
  return { cp: held(), fetched: true };
}

/** Refresh: fetches the latest checkpoint, checks its signature, then the consistency proof
 * from the held one; holds the new one only if all of that verifies. Returns `{old, cp,
 * steps}` (steps: sentences of what was proved); throws VerifyError (with `.steps` done so far)
 * when something does not verify, keeping the old checkpoint. */
export async function refresh() {
  const { key } = await trustedKey();
  const old = held();
  const steps = [];
  let cp;
  try {
    cp = await latest(key);
    steps.push(`the new checkpoint (tree size ${num(Number(cp.size))}) is signed by ${keyLabel(key)}`);
    if (old) {
      if (cp.size < old.size) throw new VerifyError(`the hub's checkpoint (size ${cp.size}) is older than the held one (size ${old.size}): the log went backwards`);
      const proof = await api(`/v1/proof/consistency?from=${old.size}&to=${cp.size}`);
      if (BigInt(proof.from) !== old.size || BigInt(proof.to) !== cp.size) throw new VerifyError(`the hub answered a proof from ${proof.from} to ${proof.to}, not from ${old.size} to ${cp.size}`);
      verifyConsistency(old.size, cp.size, old.root, cp.root, proof.path);
      steps.push(cp.size === old.size
        ? `it is the same tree as the held one (size ${num(Number(old.size))}, same root)`
        : `the tree of size ${num(Number(old.size))} (root ${toHex(old.root).slice(0, 12)}…) is a prefix of the tree of size ${num(Number(cp.size))} (root ${toHex(cp.root).slice(0, 12)}…): nothing recorded before was changed (consistency proof of ${proof.path.length} hashes)`);
    } else {
      steps.push("no checkpoint was held before, so there was nothing to check it against");
    }
  } catch (e) {
    if (e instanceof VerifyError) e.steps = steps;
    throw e;
  }
  hold(cp.note);
  return { old, cp: held(), steps };
}

// Counting newer blocks from the live stream: no request per block.
let newer = 0;
let newest = null;
live.on("block", (b) => {
  const h = held();
  if (!h || !b || typeof b.tree_size !== "number") return;
  if (BigInt(b.tree_size) > h.size) {
    newer += 1;
    newest = b.tree_size;
    changed();
  }
});
/** Blocks sealed since the held checkpoint, as seen on the live stream, and the newest tree
 * size seen (or null). */
export const newerBlocks = () => ({ count: newer, newestSize: newest });

/** The verifier key's hash as shown to people: SHA-256 of the public key, hex. */
export const fingerprint = (key) => toHex(sha256(key.publicKey));
export { keyLabel, fromHex };
