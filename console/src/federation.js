// What the console knows of the hub's federation (SPEC §7), read from the hub's own ledger:
// the newest `federation_membership` entry (this hub's member name, the members' names,
// origins and keys, the cosignature policy), found among the registry changes
// (`/v1/entries?registry=true`) and decoded from its bytes in the browser. The API lists no
// member URLs, so the console never links to another hub: a `name@hub` links to the
// federation view of this hub, which asks every member through this hub.
import { api, qs } from "./api.js";
import { decodeEntry } from "./entry.js";
import { fromBase64 } from "./verify.js";

/** Registry pages read at most (1,000 entries each) when looking for the membership. */
const MAX_PAGES = 10;
const KIND_MEMBERSHIP = 8;

/** `"substation@grid"` → `{name: "substation", hub: "grid"}`; a bare name → `{name, hub: null}`. */
export function party(s) {
  const at = typeof s === "string" ? s.indexOf("@") : -1;
  return at < 0 ? { name: s, hub: null } : { name: s.slice(0, at), hub: s.slice(at + 1) };
}

/** True when `s` is `name@hub` with both parts non-empty. */
export const isQualified = (s) => /^[A-Za-z0-9_.-]{1,64}@[A-Za-z0-9_.-]{1,64}$/.test(s ?? "");

let pending = null;

/** The newest membership this hub recorded: `{seq, hub, cosignatures, members: [{name, origin,
 * key}], complete}` (`complete` false when more registry entries than MAX_PAGES pages were
 * left unread), or null when the ledger records none (a hub in no federation, or one too old
 * to list registry changes). Read once per page load. */
export function membership() {
  pending ??= scan().catch((e) => { pending = null; throw e; });
  return pending;
}

async function scan() {
  let after = null, last = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    let r;
    try {
      r = await api(`/v1/entries${qs({ registry: "true", after, limit: 1000 })}`);
    } catch (e) {
      // A hub before federations does not know `registry` (400): it records no membership.
      if (e.status === 400) return null;
      throw e;
    }
    for (const it of r.items ?? []) {
      const bytes = fromBase64(it.entry_bytes, "the entry bytes");
      if (bytes[1] !== KIND_MEMBERSHIP) continue;
      // The hub checked it when it recorded it; one that does not decode here is skipped
      // rather than trusted.
      try { last = { seq: it.seq, ...decodeEntry(bytes) }; } catch (e) { console.error(e); }
    }
    if (r.next === null || r.next === undefined) return last && { ...last, complete: true };
    after = r.next;
  }
  return last && { ...last, complete: false };
}

/** This hub's member name, or null when not known. Never throws. */
export async function ownName() {
  try { return (await membership())?.hub ?? null; } catch { return null; }
}
