// Decoding an entry's canonical bytes (encoding v1, crates/m2mhub-core/src/entry.rs) in the
// browser, so the message detail shows what the leaf hash actually commits to, read from the
// bytes rather than from the hub's JSON beside them. Strict like the hub: trailing bytes, an
// unknown version, kind, action or notice bit are errors. Kind 10 (federated_message, SPEC §7)
// is a message whose sender and receiver may be name@hub (another member's devices); its
// provenance stays a bare name, and kind 5 takes bare names only.
import { toHex, parseKeyLine } from "./verify.js";

export const NOTICE_BITS = [
  "sender_revoked", "unknown_receiver", "receiver_revoked", "unknown_transaction", "transaction_rejected",
  "transaction_closed", "not_a_participant", "insufficient_clearance", "bad_cause",
];
const KINDS = {
  1: "device_registered", 2: "exception_granted", 3: "exception_withdrawn", 4: "device_revoked",
  5: "message", 6: "simulated_device_registered", 7: "device_rekeyed", 8: "federation_membership", 9: "import",
  10: "federated_message",
};
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** True for the kinds that record a message (5, and 10 in a federation). */
export const isMessageKind = (kind) => kind === "message" || kind === "federated_message";
const ACTIONS = ["begin", "continue", "end"];

class Reader {
  constructor(bytes) { this.b = bytes; this.at = 0; this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength); }
  need(n, what) { if (this.at + n > this.b.length) throw new Error(`the entry ends inside ${what}`); }
  u8(what) { this.need(1, what); return this.b[this.at++]; }
  u16(what) { this.need(2, what); const v = this.view.getUint16(this.at); this.at += 2; return v; }
  u32(what) { this.need(4, what); const v = this.view.getUint32(this.at); this.at += 4; return v; }
  u64(what) { this.need(8, what); const v = this.view.getBigUint64(this.at); this.at += 8; return v; }
  bytes(n, what) { this.need(n, what); const v = this.b.slice(this.at, this.at + n); this.at += n; return v; }
  // A device name; the empty string only where `optional` (a provenance: unknown).
  name(what, optional = false) {
    const n = this.u16(what);
    const s = String.fromCharCode(...this.bytes(n, what));
    if ((n || !optional) && !NAME.test(s)) throw new Error(`${what} is not a device name`);
    return s;
  }
  // A device name, or name@hub with both parts names (SPEC §7).
  party(what) {
    const s = String.fromCharCode(...this.bytes(this.u16(what), what));
    const parts = s.split("@");
    if (parts.length > 2 || !parts.every((p) => NAME.test(p))) throw new Error(`${what} is not a device name or name@hub`);
    return s;
  }
  text(what) {
    const raw = this.bytes(this.u16(what), what);
    try { return new TextDecoder("utf-8", { fatal: true }).decode(raw); } catch { throw new Error(`${what} is not UTF-8`); }
  }
}

// Kind 8 (SPEC §7): the federation as the hub recorded it, checked as the hub checks it.
function membership(r, e) {
  e.hub = r.name("the hub name");
  e.cosignatures = r.u16("the cosignatures");
  const n = r.u16("the member count");
  e.members = Array.from({ length: n }, () => ({
    name: r.name("a member name"), origin: r.text("a member origin"), key: r.text("a member key"),
  }));
  for (let i = 1; i < n; i++) {
    if (!(e.members[i - 1].name < e.members[i].name)) throw new Error("the members are not sorted and unique");
  }
  if (!e.members.some((m) => m.name === e.hub)) throw new Error("the hub is not a member");
  if (e.cosignatures >= n) throw new Error("the policy asks more cosignatures than the other members can give");
  for (const m of e.members) {
    let k;
    try { k = parseKeyLine(m.key); } catch (err) { throw new Error(`member ${m.name}: ${err.message}`); }
    if (k.name !== m.origin || k.line !== m.key) throw new Error(`member ${m.name}: the key is not named by its origin`);
  }
}

/** Decodes entry bytes into `{version, kind, …fields}` (u64 fields as decimal strings, hashes
 * and keys as hex); throws an Error saying where the bytes are wrong. */
export function decodeEntry(bytes) {
  const r = new Reader(bytes);
  const version = r.u8("the version");
  if (version !== 1) throw new Error(`unknown entry encoding version ${version}`);
  const code = r.u8("the kind");
  const kind = KINDS[code];
  if (!kind) throw new Error(`unknown entry kind ${code}`);
  const e = { version, kind };
  if (code === 1 || code === 6) {
    e.name = r.name("the device name");
    e.clearance = r.u32("the clearance");
    e.public_key = toHex(r.bytes(32, "the public key"));
    const n = r.u16("the exception count");
    e.exceptions = Array.from({ length: n }, () => r.name("an exception"));
  } else if (code === 2 || code === 3) {
    e.device = r.name("the device name");
    e.sender = r.name("the sender name");
  } else if (code === 4) {
    e.device = r.name("the device name");
  } else if (code === 7) {
    e.device = r.name("the device name");
    e.public_key = toHex(r.bytes(32, "the public key"));
  } else if (code === 8) {
    membership(r, e);
  } else if (code === 9) {
    // SPEC §7: another member's registry change with its proof; the hub checked the proof.
    e.origin = r.text("the import origin");
    if (!e.origin || /[\s+\u0000-\u001f]/u.test(e.origin)) throw new Error("the import origin is not a key name");
    e.source_seq = r.u64("the source seq").toString();
    const inner = r.bytes(r.u32("the imported entry's length"), "the imported entry");
    if (![1, 2, 3, 4, 6, 7].includes(inner[1])) throw new Error("an import holds no registry change");
    e.entry = decodeEntry(inner);
    const n = r.u8("the proof length");
    if (n > 64) throw new Error("the import proof is longer than 64 hashes");
    e.proof = Array.from({ length: n }, () => toHex(r.bytes(32, "a proof hash")));
    const len = r.u32("the checkpoint's length");
    if (len > 65536) throw new Error("the import checkpoint is longer than 64 KiB");
    const raw = r.bytes(len, "the checkpoint");
    try { e.checkpoint = new TextDecoder("utf-8", { fatal: true }).decode(raw); } catch { throw new Error("the import checkpoint is not UTF-8"); }
  } else {
    const party = code === 10 ? (w) => r.party(w) : (w) => r.name(w);
    e.sender = party("the sender");
    e.receiver = party("the receiver");
    const a = r.u8("the action");
    if (!(a in ACTIONS)) throw new Error(`unknown action ${a}`);
    e.action = ACTIONS[a];
    e.tx = r.u64("the tx").toString();
    const cause = r.u64("the cause");
    e.cause = cause === 0n ? null : (cause - 1n).toString();
    e.counter = r.u64("the counter").toString();
    e.contents_hash = toHex(r.bytes(32, "the contents hash"));
    e.signature = toHex(r.bytes(64, "the signature"));
    const p = r.name("the provenance", true);
    e.provenance = p === "" ? null : p;
    const bits = r.u16("the notices");
    if (bits >> NOTICE_BITS.length) throw new Error(`unknown notice bits ${bits.toString(2)}`);
    e.notices = NOTICE_BITS.filter((_, i) => bits & (1 << i));
  }
  if (r.at !== bytes.length) throw new Error(`${bytes.length - r.at} bytes follow the entry`);
  return e;
}
