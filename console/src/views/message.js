// The message detail, `#msg/SEQ` (issue 12 item 3): the record, the entry bytes decoded in
// the browser, and "Verify this message": the inclusion proof fetched for the size of the
// checkpoint the page holds (never for a newer tree), checked against that checkpoint's root,
// whose signature is checked against the pinned hub key. The result says exactly what was
// verified, or why it failed. A non-message entry (a registration, …) shows its decoded bytes
// and verifies the same way.
import { h, replace } from "../dom.js";
import { api, ApiError } from "../api.js";
import { num, noticeWords, verdict } from "../format.js";
import { stamp } from "../tx/timefmt.js";
import { decodeEntry, isMessageKind } from "../entry.js";
import { VerifyError, fromBase64, toHex, leafHash, sha256, verifyInclusion, keyLabel } from "../verify.js";
import * as checkpoint from "../checkpoint.js";
import { deviceLink } from "./parts.js";

const dev = (name) => (name ? deviceLink(name) : "none");
const row = (k, ...v) => [h("dt", {}, k), h("dd", {}, ...v)];

function recordCard(rec, signature) {
  return h("section", { class: "card", "aria-labelledby": "msg-record-h" },
    h("h2", { id: "msg-record-h" }, "Record"),
    h("dl", { class: "kv" },
      row("Seq", num(rec.seq)),
      row("Transaction", rec.provenance === null
        ? `${num(rec.tx)} (named by the sender, but not issued yet when it was sent: this message belongs to no transaction)`
        : h("a", { href: `#tx/${rec.tx}?focus=${rec.seq}` }, `tx ${num(rec.tx)}`)),
      row("Provenance", dev(rec.provenance)),
      row("Cause", rec.cause === null ? "none" : h("a", { href: `#msg/${rec.cause}` }, `message ${num(rec.cause)}`)),
      row("Sender", dev(rec.sender)),
      row("Receiver", dev(rec.receiver)),
      row("Action", rec.action),
      row("Counter", num(rec.counter)),
      row("Time", rec.time ? `${stamp(rec.time)} (its block's seal time)` : "unknown (sealed before block times were signed)"),
      row("Block", num(rec.block)),
      row("Verdict", rec.valid ? h("span", { class: "verdict-ok" }, "valid")
        : h("div", {}, h("span", { class: "verdict-bad" }, "invalid"), h("ul", {}, rec.notices.map((c) => h("li", {}, noticeWords(c)))))),
      row("Contents", rec.contents === null ? h("em", {}, "pruned (only their hash stays in the ledger)") : h("pre", { class: "bytes" }, rec.contents)),
      row("Signature", h("span", { class: "mono" }, signature ?? "?")),
      row("Leaf hash", h("span", { class: "mono" }, rec.leaf_hash))));
}

function entryCard(entry) {
  let decoded, err = null, bytes = null;
  try {
    bytes = fromBase64(entry.entry_bytes, "the entry bytes");
    decoded = decodeEntry(bytes);
  } catch (e) { err = e.message; }
  if (decoded?.notices) decoded.notices = decoded.notices.map((c) => `${c} (${noticeWords(c)})`);
  const fields = decoded ? Object.entries(decoded).map(([k, v]) => row(k.replaceAll("_", " "),
    Array.isArray(v) ? (v.length ? v.join(", ") : "none") : v === null ? "none" : h("span", { class: /hash|signature|key/.test(k) ? "mono" : null }, String(v)))) : [];
  const leaf = bytes ? toHex(leafHash(bytes)) : null;
  return h("section", { class: "card", "aria-labelledby": "msg-entry-h" },
    h("h2", { id: "msg-entry-h" }, "Entry bytes"),
    h("p", { class: "muted small" }, "The canonical bytes the Merkle tree commits to (encoding v1), decoded here in the browser."),
    err ? h("p", { class: "bad-box" }, `These bytes do not decode: ${err}`) : null,
    h("dl", { class: "kv" },
      ...fields,
      row("Leaf hash", leaf === null ? "?" : h("span", {}, h("span", { class: "mono" }, leaf), " ",
        leaf === entry.leaf_hash ? h("span", { class: "verdict-ok" }, "(recomputed: SHA-256(0x00 ‖ bytes) matches the hub's)") : h("span", { class: "verdict-bad" }, `(recomputed; the hub says ${entry.leaf_hash})`)))),
    h("details", {}, h("summary", {}, `Raw bytes (${bytes ? num(bytes.length) : "?"} bytes)`),
      h("h3", { class: "small" }, "Base64"), h("pre", { class: "bytes" }, entry.entry_bytes),
      h("h3", { class: "small" }, "Hex"), h("pre", { class: "bytes" }, bytes ? toHex(bytes).replace(/(.{64})/g, "$1\n").trim() : "")));
}

/** Where the decoded bytes and the record the hub showed disagree (names of fields). */
function differences(rec, d) {
  if (!rec || !isMessageKind(d.kind)) return [];
  const out = [];
  const same = (k, a, b) => { if (String(a) !== String(b)) out.push(k); };
  same("sender", rec.sender, d.sender); same("receiver", rec.receiver, d.receiver); same("action", rec.action, d.action);
  same("tx", rec.tx, d.tx); same("cause", rec.cause ?? "none", d.cause ?? "none"); same("counter", rec.counter, d.counter);
  same("provenance", rec.provenance ?? "none", d.provenance ?? "none"); same("notices", rec.notices.join(","), d.notices.join(","));
  return out;
}

export async function render(el, match, params) {
  const seq = Number(match[1]);
  const heading = h("h1", {}, `Message ${num(seq)}`);
  const status = h("p", { class: "muted" }, "Loading…");
  el.append(heading, status);
  let rec = null, entry;
  try {
    // The entry first: only a message entry has a record (asking for another would be a 404).
    entry = await api(`/v1/entries/${seq}`);
    if (isMessageKind(entry.kind)) rec = await api(`/v1/messages/${seq}`);
  } catch (e) {
    status.className = "error";
    status.textContent = e.code === "not_found" ? `The ledger has no entry ${num(seq)} (yet).` : `This entry could not be loaded: ${e.message}`;
    return;
  }
  if (!rec) heading.textContent = `Entry ${num(seq)} (${entry.kind.replaceAll("_", " ")})`;
  status.remove();
  if (rec) el.append(h("p", { class: rec.valid ? "ok-box" : "bad-box" }, `#${rec.seq} ${rec.sender} → ${rec.receiver}, ${rec.action}: ${verdict(rec)}.`));

  const result = h("div", { class: "verify-result", id: "verify-result", role: "status", "aria-live": "polite" });
  const heldLine = h("p", { class: "muted small", id: "verify-held" });
  const button = h("button", { type: "button", id: "verify-run", onclick: () => run() }, rec ? "Verify this message" : "Verify this entry");
  const verifyCard = h("section", { class: "card", "aria-labelledby": "msg-verify-h" },
    h("h2", { id: "msg-verify-h" }, "Verify"),
    h("p", { class: "small" }, "Checks, here in the browser, that these exact entry bytes are in the hub's Merkle tree as of the checkpoint this page holds, and that the checkpoint is signed by the hub key pinned in this browser. The checkpoint is held until you refresh it on the ", h("a", { href: "#ledger" }, "ledger page"), "."),
    heldLine, h("div", { class: "actions" }, button), result);

  const showHeld = () => {
    const cp = checkpoint.held();
    const { count } = checkpoint.newerBlocks();
    heldLine.textContent = cp ? `Held checkpoint: tree size ${num(Number(cp.size))}, block ${num(Number(cp.block))}${count ? `; ${num(count)} newer blocks since` : ""}.` : "No checkpoint held yet: verifying fetches the hub's latest and holds it.";
  };
  showHeld();
  const off = checkpoint.onChange(showHeld);

  el.append(h("div", { class: "detail-grid" }, rec ? recordCard(rec, entry.signature) : null, verifyCard, entryCard(entry)));

  async function run() {
    button.disabled = true;
    const steps = [];
    const say = (cls, head, extra) => replace(result, h("div", { class: cls }, h("strong", {}, head), steps.length ? h("ol", {}, steps.map((s) => h("li", {}, s))) : null, extra));
    say("muted", "Verifying…");
    try {
      const { key, firstUse } = await checkpoint.trustedKey();
      const label = keyLabel(key);
      steps.push(firstUse ? `Pinned the hub key ${label} in this browser (first use).` : `Using the hub key ${label} pinned in this browser.`);
      if (checkpoint.mismatch()) steps.push("WARNING: the hub now serves a different key than the pinned one (see the ledger page); this check uses the pinned key.");
      const { cp, fetched } = await checkpoint.ensureHeld(key);
      const size = Number(cp.size);
      steps.push(`The checkpoint of tree size ${num(size)} (block ${num(Number(cp.block))}) is signed by ${label}${fetched ? " (fetched now; the page holds it from now on)" : " (the one the page holds)"}.`);
      if (BigInt(seq) >= cp.size) {
        say("warn-box", `Not checked yet: entry ${num(seq)} is newer than the held checkpoint (tree size ${num(size)} holds entries 0 to ${num(size - 1)}). This is not a failure.`,
          h("div", { class: "actions" }, h("button", { type: "button", id: "verify-refresh", onclick: () => refreshThenRun() }, "Refresh the checkpoint and verify")));
        return;
      }
      const fresh = await api(`/v1/entries/${seq}`);
      const bytes = fromBase64(fresh.entry_bytes, "the entry bytes");
      const leaf = leafHash(bytes);
      steps.push(`Leaf hash SHA-256(0x00 ‖ entry bytes) = ${toHex(leaf).slice(0, 16)}… recomputed from the ${num(bytes.length)} entry bytes.`);
      const decoded = decodeEntry(bytes);
      const diff = differences(rec, decoded);
      if (diff.length) throw new VerifyError(`the record shown differs from the entry bytes in: ${diff.join(", ")}`);
      if (rec && isMessageKind(decoded.kind)) {
        if (rec.contents === null) steps.push("The contents are pruned: only their hash is in the entry.");
        else if (toHex(sha256(new TextEncoder().encode(rec.contents))) !== decoded.contents_hash) throw new VerifyError("the contents shown do not hash to the contents hash in the entry");
        else steps.push("The contents shown hash to the contents hash in the entry.");
      }
      const proof = await api(`/v1/proof/inclusion?seq=${seq}&tree_size=${size}`);
      if (Number(proof.seq) !== seq || Number(proof.tree_size) !== size) throw new VerifyError(`the hub answered a proof for entry ${proof.seq} in a tree of size ${proof.tree_size}, not for entry ${seq} at size ${size}`);
      verifyInclusion(seq, cp.size, leaf, proof.path, cp.root);
      steps.push(`The inclusion proof (${proof.path.length} hashes) leads from the leaf hash to the checkpoint's root ${toHex(cp.root).slice(0, 16)}…`);
      say("ok-box", `Verified: entry ${num(seq)} is in the tree of size ${num(size)} signed by ${label}.`);
    } catch (e) {
      if (e instanceof VerifyError) say("bad-box loud", `FAILED: ${e.message}.`, h("p", { class: "small" }, "Either the hub's answer was changed on the way, or the ledger was. Nothing above this line was trusted."));
      else if (e instanceof ApiError) say("warn-box", `Could not check: ${e.message}`);
      else { console.error(e); say("bad-box loud", `FAILED: ${e.message}`); }
    } finally {
      button.disabled = false;
    }
  }

  async function refreshThenRun() {
    try {
      await checkpoint.refresh();
    } catch (e) {
      replace(result, h("div", { class: e instanceof VerifyError ? "bad-box loud" : "warn-box" }, h("strong", {}, `${e instanceof VerifyError ? "FAILED" : "Could not refresh"}: ${e.message}.`)));
      return;
    }
    run();
  }

  if (params?.get("verify") !== null && params?.get("verify") !== undefined) run();
  return () => off();
}
