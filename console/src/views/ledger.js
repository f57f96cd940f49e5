// The ledger page, `#ledger` (issue 12 item 7): the hub key pinned in this browser, the one
// checkpoint the page holds (kept until the user refreshes it; blocks sealed since are counted
// from the live stream without a request), the consistency check on refresh, a way to verify
// any entry, and the blocks up to the held checkpoint, paged. In a federation (SPEC §7) the
// held checkpoint's cosignatures are listed and each is verified in the browser with the
// member's key from the membership this hub recorded.
import { h, replace } from "../dom.js";
import { api, qs } from "../api.js";
import { num, plural, ago } from "../format.js";
import { go } from "../router.js";
import { stamp } from "../tx/timefmt.js";
import { toHex, keyLabel, VerifyError, checkCosignatures } from "../verify.js";
import { membership } from "../federation.js";
import * as checkpoint from "../checkpoint.js";

const PAGE = 20;

/** A cosignature's timestamp (seconds, BigInt) in words; the raw number past what a Date holds. */
const cosignedAt = (t) => (t <= 8_640_000_000_000n ? stamp(new Date(Number(t) * 1000).toISOString()) : `time ${t} (seconds since 1970)`);

export function render(el) {
  let top = null; // the highest block height shown in the blocks table
  const keyBox = h("div", { id: "ledger-key" }, h("p", { class: "muted" }, "Fetching the hub key…"));
  const cpBox = h("div", { id: "ledger-checkpoint" });
  const newer = h("p", { id: "ledger-newer", role: "status", "aria-live": "polite" });
  const refreshResult = h("div", { id: "ledger-refresh-result", role: "status", "aria-live": "polite" });
  const refreshBtn = h("button", { type: "button", id: "ledger-refresh", onclick: () => doRefresh() }, "Refresh the checkpoint");
  const seqInput = h("input", { id: "ledger-seq", type: "text", inputmode: "numeric", size: 8, "aria-describedby": "ledger-seq-msg" });
  const seqMsg = h("span", { id: "ledger-seq-msg", class: "error", role: "status" });
  const blocksBody = h("tbody", {});
  const blocksNote = h("p", { class: "muted small", role: "status" });
  const older = h("button", { type: "button", class: "secondary", id: "blocks-older", onclick: () => showBlocks(top - PAGE) }, "Older blocks");
  const newerBtn = h("button", { type: "button", class: "secondary", id: "blocks-newer", onclick: () => showBlocks(top + PAGE) }, "Newer blocks");

  el.append(
    h("h1", {}, "Ledger"),
    h("p", { class: "muted" }, "What this browser has checked about the hub's ledger itself: the hub key it trusts, the checkpoint it holds, and whether the hub's newer checkpoints extend it without changing history."),
    h("div", { class: "detail-grid" },
      h("section", { class: "card", "aria-labelledby": "ledger-key-h" }, h("h2", { id: "ledger-key-h" }, "Hub key"), keyBox),
      h("section", { class: "card", "aria-labelledby": "ledger-cp-h" }, h("h2", { id: "ledger-cp-h" }, "Held checkpoint"), cpBox, newer,
        h("div", { class: "actions" }, refreshBtn), refreshResult),
      h("section", { class: "card", "aria-labelledby": "ledger-verify-h" }, h("h2", { id: "ledger-verify-h" }, "Verify an entry"),
        h("p", { class: "small" }, "Opens the entry with its decoded bytes and its in-browser inclusion proof against the held checkpoint."),
        h("form", { class: "actions", onsubmit: (e) => {
          e.preventDefault();
          const v = seqInput.value.trim();
          if (!/^\d+$/.test(v)) { seqMsg.textContent = "Type an entry's seq: a whole number (0, 1, 2, …)."; return; }
          go(`#msg/${Number(v)}?verify`);
        } }, h("label", { for: "ledger-seq", class: "inline" }, "Entry seq"), seqInput, h("button", { type: "submit" }, "Open and verify"), seqMsg))),
    h("h2", {}, "Blocks"),
    h("p", { class: "muted small" }, "Each block seals a batch of entries with a signed checkpoint and names the hash of the block before it. Shown up to the held checkpoint."),
    h("div", { class: "table-wrap" }, h("table", { class: "blocks" },
      h("caption", { class: "muted small", style: "text-align:left" }, "Blocks, newest first"),
      h("thead", {}, h("tr", {}, ["Block", "Sealed", "Entries", "Tree size", "Root", "Block hash"].map((t) => h("th", { scope: "col" }, t)))),
      blocksBody)),
    blocksNote, h("div", { class: "actions" }, newerBtn, older));

  function showKey() {
    const p = checkpoint.pinned();
    const served = checkpoint.mismatch();
    replace(keyBox,
      served ? h("div", { class: "bad-box loud", role: "alert" },
        h("strong", {}, "WARNING: the hub now serves a different key than the one pinned in this browser."),
        h("p", {}, "Served now: ", h("span", { class: "mono" }, served)),
        h("p", {}, "It was not re-pinned: checkpoints signed by the new key do not verify here. A hub's key never rotates (SPEC §3.2.2); a new key means a new log or another hub. Unpin only if you know why it changed.")) : null,
      p ? h("dl", { class: "kv" },
        h("dt", {}, "Pinned key"), h("dd", { class: "mono", id: "ledger-key-label" }, keyLabel(p.key)),
        h("dt", {}, "Origin"), h("dd", {}, p.key.name),
        h("dt", {}, "Key hash"), h("dd", { class: "mono" }, `SHA-256 of the public key: ${p.fingerprint}`),
        h("dt", {}, "Pinned"), h("dd", {}, `${stamp(p.pinnedAt)} (${ago(p.pinnedAt)}), on first use, for the hub at ${location.origin}`))
        : h("p", {}, "No key pinned yet."),
      p ? h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", id: "ledger-unpin", onclick: () => {
        if (confirm("Forget the pinned hub key and the held checkpoint? The next check pins whatever key the hub serves then.")) checkpoint.unpin();
      } }, "Unpin this key")) : null);
  }

  function showCheckpoint() {
    const cp = checkpoint.held();
    if (!cp) { replace(cpBox, h("p", { class: "muted" }, "No checkpoint held.")); newer.textContent = ""; return; }
    const t = cp.timeMs === null ? null : new Date(Number(cp.timeMs)).toISOString();
    replace(cpBox, h("dl", { class: "kv" },
      h("dt", {}, "Tree size"), h("dd", { id: "ledger-size" }, `${num(Number(cp.size))} entries (0 to ${num(Number(cp.size) - 1)})`),
      h("dt", {}, "Root"), h("dd", { class: "mono" }, toHex(cp.root)),
      h("dt", {}, "Block"), h("dd", {}, num(Number(cp.block))),
      h("dt", {}, "Sealed"), h("dd", {}, t ? stamp(t) : "no signed time"),
      h("dt", {}, "Signature"), h("dd", {}, `verified with the pinned key ${keyLabel(checkpoint.pinned().key)}`),
      h("dt", {}, "Held since"), h("dd", {}, `${stamp(cp.heldAt)} (${ago(cp.heldAt)})`)),
    cosigBox);
    showCosignatures(cp);
    const { count, newestSize } = checkpoint.newerBlocks();
    newer.textContent = count ? `${plural(count, "newer block")} since (seen on the live stream since this page opened, up to tree size ${num(newestSize)}; nothing fetched). Refresh to check and hold the latest.` : "No newer block seen on the live stream since this page opened.";
    if (top === null) showBlocks(Number(cp.block));
  }

  const cosigBox = h("div", { id: "ledger-cosignatures" });
  /** Which members cosigned the held checkpoint (tlog-cosignature/v1), each verified here. */
  async function showCosignatures(cp) {
    let fed = null;
    try { fed = await membership(); } catch { fed = null; }
    let rows;
    try {
      rows = checkCosignatures(cp.note, cp.origin, fed?.members ?? []);
    } catch (e) {
      replace(cosigBox, h("p", { class: "bad-box" }, `The checkpoint's signature lines could not be read: ${e.message}`));
      return;
    }
    if (!fed && !rows.length) { replace(cosigBox); return; }
    const good = rows.filter((r) => r.ok === true).length;
    const policy = fed ? ` The federation asks ${plural(fed.cosignatures, "member cosignature")}: ${good >= fed.cosignatures ? "this checkpoint is witnessed" : "this checkpoint is not witnessed (yet)"}.` : "";
    replace(cosigBox, h("h3", { class: "small-h" }, "Cosignatures"),
      rows.length ? h("ul", { class: "cosigs" }, rows.map((r) => h("li", { class: r.ok === true ? "verdict-ok" : r.ok === false ? "verdict-bad" : null, "data-origin": r.origin },
        h("strong", {}, r.member ? `${r.member}` : r.origin), r.member ? ` (${r.origin}, key id ${r.keyId})` : ` (key id ${r.keyId})`, ": ",
        r.ok === true ? `verified here with its key from the federation membership, cosigned at ${cosignedAt(r.time)}`
          : r.ok === false ? `FAILED: ${r.why}` : `not checked: ${r.why}`)))
        : h("p", { class: "muted small" }, "None: no other member has cosigned this checkpoint yet."),
      h("p", { class: "muted small" }, `${plural(good, "cosignature")} verified.${policy} Refresh to hold a newer checkpoint with the cosignatures gathered since.`));
  }

  async function doRefresh() {
    refreshBtn.disabled = true;
    replace(refreshResult, h("p", { class: "muted" }, "Checking…"));
    try {
      const { cp, steps } = await checkpoint.refresh();
      replace(refreshResult, h("div", { class: "ok-box" }, h("strong", {}, `Refreshed: now holding tree size ${num(Number(cp.size))}.`), h("ol", {}, steps.map((s) => h("li", {}, `${s[0].toUpperCase()}${s.slice(1)}.`)))));
      showBlocks(Number(cp.block));
    } catch (e) {
      replace(refreshResult, e instanceof VerifyError
        ? h("div", { class: "bad-box loud" }, h("strong", {}, `FAILED: ${e.message}. The old checkpoint is kept.`), e.steps?.length ? h("ol", {}, e.steps.map((s) => h("li", {}, s))) : null)
        : h("div", { class: "warn-box" }, `Could not refresh: ${e.message}`));
    } finally {
      refreshBtn.disabled = false;
    }
  }

  async function showBlocks(height) {
    const held = checkpoint.held();
    const max = held ? Number(held.block) : height;
    top = Math.max(0, Math.min(height, max));
    const after = top - PAGE;
    try {
      const page = await api(`/v1/blocks${qs({ after: after >= 0 ? after : null, limit: PAGE })}`);
      const items = page.items.filter((b) => b.height <= top).reverse();
      replace(blocksBody, items.map((b) => h("tr", {},
        h("td", {}, num(b.height)),
        h("td", {}, b.time_ms ? stamp(new Date(b.time_ms).toISOString()) : "no signed time"),
        h("td", {}, b.size ? h("span", {}, h("a", { href: `#msg/${b.first_seq}` }, `#${b.first_seq}`), b.size > 1 ? ` to #${b.first_seq + b.size - 1}` : "") : "none"),
        h("td", {}, num(b.tree_size)),
        h("td", { class: "mono" }, `${b.root.slice(0, 16)}…`),
        h("td", { class: "mono" }, `${b.hash.slice(0, 16)}…`))));
      blocksNote.textContent = items.length ? `Blocks ${num(items.at(-1).height)} to ${num(items[0].height)} of ${num(max + 1)}.` : "No blocks.";
      older.disabled = top - PAGE < 0;
      newerBtn.disabled = top >= max;
    } catch (e) {
      blocksNote.textContent = `The blocks could not be loaded: ${e.message}`;
    }
  }

  // Block events only change the count of newer blocks: redraw the cards only when the pin,
  // the served key or the held checkpoint changed.
  let drawnFor = null;
  const off = checkpoint.onChange(() => {
    const now = `${checkpoint.pinned()?.line}|${checkpoint.mismatch()}|${checkpoint.held()?.note}`;
    if (now !== drawnFor) { drawnFor = now; showKey(); showCheckpoint(); return; }
    const { count, newestSize } = checkpoint.newerBlocks();
    if (count) newer.textContent = `${plural(count, "newer block")} since (seen on the live stream since this page opened, up to tree size ${num(newestSize)}; nothing fetched). Refresh to check and hold the latest.`;
  });
  (async () => {
    try {
      const { key } = await checkpoint.trustedKey();
      await checkpoint.ensureHeld(key);
    } catch (e) {
      replace(cpBox, h("p", { class: "bad-box loud" }, e instanceof VerifyError ? `FAILED: the hub's checkpoint does not verify: ${e.message}.` : `Could not fetch the checkpoint: ${e.message}`));
      showKey();
      return;
    }
    drawnFor = `${checkpoint.pinned()?.line}|${checkpoint.mismatch()}|${checkpoint.held()?.note}`;
    showKey();
    showCheckpoint();
  })();
  return () => off();
}
