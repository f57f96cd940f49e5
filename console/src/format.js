// How values read on screen: numbers with separators, times in the viewer's zone, notices
// and error codes in words.

const nf = new Intl.NumberFormat("en-US");
/** 1203 → "1,203". */
export const num = (n) => (n === null || n === undefined ? "?" : nf.format(n));

/** "4 messages", "1 message". */
export const plural = (n, one, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;

/** A record's `time` (ISO, UTC) as local "HH:MM:SS", with the date when not today; "" for null. */
export function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const hms = d.toLocaleTimeString("en-GB", { hour12: false });
  const today = new Date().toDateString() === d.toDateString();
  return today ? hms : `${d.toLocaleDateString("en-CA")} ${hms}`;
}

/** "12 s ago", "3 min ago", … for an ISO time. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** First 8 hex digits and an ellipsis. */
export const short = (hex) => (hex && hex.length > 12 ? `${hex.slice(0, 8)}…` : hex ?? "");

/** SPEC §3.3's notices in words. */
export const NOTICES = {
  sender_revoked: "the sender is revoked",
  unknown_receiver: "the receiver is not registered",
  receiver_revoked: "the receiver is revoked",
  unknown_transaction: "it names a transaction that does not exist",
  transaction_rejected: "its transaction was rejected at its start",
  transaction_closed: "its transaction was already closed",
  not_a_participant: "the sender is not part of the transaction",
  insufficient_clearance: "the transaction's provenance lacks the receiver's clearance",
  bad_cause: "its cause is not a valid message of the same transaction",
};

export const noticeWords = (code) => NOTICES[code] ?? code.replaceAll("_", " ");

/** "valid", or "invalid: the sender is revoked; …". */
export function verdict(record) {
  if (record.valid) return "valid";
  return `invalid: ${(record.notices ?? []).map(noticeWords).join("; ")}`;
}

const CODES = {
  name_taken: "A device with this name is already registered.",
  key_taken: "This public key is already registered to another device.",
  unknown_device: "No device has this name.",
  unknown_sender: "The sender is not a registered device.",
  device_revoked: "This device is revoked.",
  not_found: "The hub has no such item.",
  bad_signature: "The signature does not match the message and the sender's key.",
  stale_counter: "The counter was already used: a replayed message.",
  exception_exists: "This exception is already granted.",
  no_such_exception: "There is no such exception to withdraw.",
  simulated_device: "The hub does not hold this device's key: only simulated devices can be sent as from the console.",
  busy: "The hub is busy: retry in a moment.",
  too_many_failures: "The hub is refusing this client after too many failed requests: wait and retry.",
  unavailable: "The hub cannot serve this right now (it may be stopping).",
};

/** The sentence for an API error: ours for codes a person meets in the console, else the
 * hub's own message. */
export function codeWords(code, message) {
  return CODES[code] ?? (message ? `${message[0].toUpperCase()}${message.slice(1)}` : code);
}
