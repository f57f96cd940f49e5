// The transaction page, the message detail with in-browser proofs, and the ledger page, against
// the shared demo (harness.mjs): the TV incident's tree opens in view with its invalid path
// red; the 30-hop chain and the 1,000-message transaction fit, collapse, expand and are walked
// by keyboard; "verify" says exactly what it proved, does not call a stale proof a failure and
// does call a tampered proof, entry or checkpoint one; the ledger page holds its checkpoint
// while blocks arrive and proves consistency on refresh. axe-core at 1440 and 390 px.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ctx, api, newPage, shot, axe } from "../harness.mjs";
import { parseKeyLine, openCheckpoint, fromBase64, leafHash, verifyInclusion, verifyConsistency, VerifyError } from "../../../console/src/verify.js";

const num = (n) => new Intl.NumberFormat("en-US").format(n);

/** A page that fails the test on any console error or uncaught exception. */
async function page(opts) {
  const p = await newPage(opts);
  p.errors = [];
  p.on("console", (m) => { if (m.type() === "error") p.errors.push(m.text()); });
  p.on("pageerror", (e) => p.errors.push(e.message));
  return p;
}
async function done(p) {
  assert.deepEqual(p.errors, [], "no console errors");
  await p.context().close();
}

/** Bounding boxes of the drawn message nodes and of the tree's frame, in one round trip. */
const boxes = (p) => p.evaluate(() => {
  const frame = document.querySelector("svg.tx-tree").getBoundingClientRect();
  const nodes = [...document.querySelectorAll("svg.tx-tree a.node.msg")].map((a) => {
    const r = a.getBoundingClientRect();
    return { seq: Number(a.dataset.seq), top: r.top, left: r.left, bottom: r.bottom, right: r.right };
  });
  return { frame: { top: frame.top, left: frame.left, bottom: frame.bottom, right: frame.right }, nodes };
});
const inside = (b, f) => b.top >= f.top - 0.5 && b.left >= f.left - 0.5 && b.bottom <= f.bottom + 0.5 && b.right <= f.right + 0.5;
const focusedSeq = (p) => p.evaluate(() => document.activeElement?.dataset?.seq ?? null);

async function openTx(p, tx, count) {
  await p.goto(`${ctx.url}/#tx/${tx}`);
  await p.locator(".tx-progress", { hasText: `All ${num(count)} message` }).waitFor();
}

test("the TV incident's transaction opens in view with the path to its invalid messages highlighted", async () => {
  const tx = await api(`/v1/transactions/${ctx.tx.tv}?limit=1000`);
  const p = await page();
  await openTx(p, ctx.tx.tv, tx.message_count);
  assert.equal(await p.evaluate(() => window.scrollY), 0, "the page starts at the top");
  const { frame, nodes } = await boxes(p);
  assert.ok(frame.top < 900 / 2, `the tree starts in the first half of the viewport (top ${frame.top})`);
  assert.equal(nodes.length, tx.message_count);
  for (const n of nodes) assert.ok(inside(n, frame) && n.bottom <= 900, `message ${n.seq} is on the first screen`);
  const invalid = tx.messages.filter((m) => !m.valid).map((m) => m.seq).sort();
  assert.ok(invalid.length > 0, "the TV's transaction holds invalid messages");
  const red = await p.$$eval("svg.tx-tree a.node.invalid", (as) => as.map((a) => Number(a.dataset.seq)).sort());
  assert.deepEqual(red, invalid);
  // The path from the provenance (root) to each invalid message: every edge into an invalid
  // node or one of its ancestors is drawn as a bad edge.
  assert.ok(await p.locator("svg.tx-tree .edge.bad").count() >= invalid.length);
  assert.match(await p.locator("svg.tx-tree a.node.root").getAttribute("aria-label"), /smart_tv/);
  assert.equal(await p.locator(".tx-summary a[href='#device/smart_tv']").first().textContent(), "smart_tv");
  const label = await p.locator(`svg.tx-tree a.node[data-seq='${invalid[0]}']`).getAttribute("aria-label");
  assert.match(label, /invalid: .*clearance/);
  assert.match(label, /at \d\d:\d\d:\d\d\.\d{3}/);
  // The timeline: one row per message, in tree order, each with its time.
  const rows = await p.$$eval(".tl-row", (rs) => rs.map((r) => ({ seq: Number(r.dataset.seq), time: r.querySelector(".tl-time").textContent })));
  assert.equal(rows.length, tx.message_count);
  for (const r of rows) assert.match(r.time, /^\d\d:\d\d:\d\d\.\d{3}$/);
  // Keyboard: the root is the tab stop; down goes to the begin; Enter opens its detail.
  await p.locator("svg.tx-tree a.node[tabindex='0']").focus();
  await p.keyboard.press("ArrowDown");
  const begin = tx.messages.find((m) => m.action === "begin").seq;
  assert.equal(await focusedSeq(p), String(begin));
  await shot(p, "tx-incident");
  await axe(p, "the transaction page at 1440 px");
  await p.keyboard.press("Enter");
  await p.waitForURL(new RegExp(`#msg/${begin}$`));
  await p.locator("h1", { hasText: `Message ${begin}` }).waitFor();
  await done(p);
});

test("the 30-hop chain fits on screen and every one of its 31 messages is reached by keyboard", async () => {
  const p = await page();
  await openTx(p, ctx.tx.chain, 31);
  let { frame, nodes } = await boxes(p);
  assert.equal(nodes.length, 31);
  for (const n of nodes) assert.ok(inside(n, frame), `message ${n.seq} is inside the frame after fit-on-open`);
  await p.getByRole("button", { name: "Zoom in" }).click();
  await p.getByRole("button", { name: "Zoom in" }).click();
  await p.locator("#tx-fit").click();
  ({ frame, nodes } = await boxes(p));
  for (const n of nodes) assert.ok(inside(n, frame), `message ${n.seq} is inside the frame after Fit`);
  await shot(p, "tx-chain");
  // Wheel zooms, a drag pans (even when it starts on a node, it does not open it).
  const zoom = async () => Number((await p.locator(".tx-zoom").textContent()).replace("%", ""));
  const transform = () => p.locator("svg.tx-tree > g").getAttribute("transform");
  const before = await zoom();
  await p.mouse.move((frame.left + frame.right) / 2, (frame.top + frame.bottom) / 2);
  await p.mouse.wheel(0, -400);
  await p.waitForFunction((z) => Number(document.querySelector(".tx-zoom").textContent.replace("%", "")) > z, before);
  const t0 = await transform();
  const shown = (await boxes(p)).nodes.find((n) => inside(n, frame));
  const [cx, cy] = [(shown.left + shown.right) / 2, (shown.top + shown.bottom) / 2];
  await p.mouse.move(cx, cy);
  await p.mouse.down();
  await p.mouse.move(cx + 120, cy + 60, { steps: 5 });
  await p.mouse.up();
  assert.notEqual(await transform(), t0, "the drag panned");
  assert.match(p.url(), new RegExp(`#tx/${ctx.tx.chain}$`), "the drag did not open the node");
  await p.locator("#tx-fit").click();
  // Walk down the chain from the root, one hop per key press.
  await p.locator("svg.tx-tree a.node.root").focus();
  const seen = [];
  for (let i = 0; i < 31; i++) {
    await p.keyboard.press("ArrowDown");
    seen.push(Number(await focusedSeq(p)));
  }
  assert.deepEqual(seen, nodes.map((n) => n.seq).sort((a, b) => a - b), "each hop focused in order");
  ({ frame, nodes } = await boxes(p));
  assert.ok(inside(nodes.find((n) => n.seq === seen[30]), frame), "the focused last hop is scrolled into the frame");
  await p.keyboard.press("Enter");
  await p.locator("h1", { hasText: `Message ${num(seen[30])}` }).waitFor();
  await done(p);
});

test("the 1,000-message transaction: stated in full, fit, collapse and expand, a deep message opened", async () => {
  const p = await page();
  await openTx(p, ctx.tx.big, 1000);
  assert.match(await p.locator("#tx-count").textContent(), /^1,000 messages/);
  let { frame, nodes } = await boxes(p);
  assert.ok(nodes.length < 1000, "opens as an overview");
  for (const n of nodes) assert.ok(inside(n, frame), `overview: message ${n.seq} inside the frame`);
  await p.locator("#tx-expand-all").click();
  await p.locator("#tx-fit").click();
  ({ frame, nodes } = await boxes(p));
  assert.equal(nodes.length, 1000, "expand all draws every message");
  assert.ok(nodes.every((n) => inside(n, frame)), "fit shows all 1,000 inside the frame");
  assert.equal(await p.locator(".tl-row").count(), 1000, "one timeline row per message");
  await shot(p, "tx-big-all");
  // Collapse the first effect of the begin by keyboard (Space), then expand it again.
  await p.locator("svg.tx-tree a.node.root").focus();
  await p.keyboard.press("ArrowDown");
  await p.keyboard.press("ArrowDown");
  const sub = await focusedSeq(p);
  const node = p.locator(`svg.tx-tree a.node[data-seq='${sub}']`);
  assert.match(await node.getAttribute("aria-label"), /direct effects?\.$/);
  await p.keyboard.press(" ");
  assert.match(await node.getAttribute("aria-label"), /messages? collapsed under it\.$/);
  const collapsed = await p.locator("svg.tx-tree a.node.msg").count();
  assert.ok(collapsed < 1000 && collapsed > 1, `collapsing hides its subtree (${collapsed} drawn)`);
  assert.equal(await p.locator(".tl-row").count(), collapsed, "the timeline hides the same rows");
  await p.keyboard.press(" ");
  assert.equal(await p.locator("svg.tx-tree a.node.msg").count(), 1000, "expanding restores them");
  // And by mouse, with the toggle under the node.
  await p.locator(`svg.tx-tree .toggle[data-seq='${sub}']`).click();
  assert.equal(await p.locator("svg.tx-tree a.node.msg").count(), collapsed);
  await p.locator(`svg.tx-tree .toggle[data-seq='${sub}']`).click();
  assert.equal(await p.locator("svg.tx-tree a.node.msg").count(), 1000);
  // A deep message: back to the overview, then walk down from the root by keyboard (each
  // step opens a collapsed node) to the deepest hop, and open it.
  await p.locator("#tx-overview").click();
  await p.locator("svg.tx-tree a.node.root").focus();
  let last = null;
  for (let i = 0; i < 12; i++) {
    await p.keyboard.press("ArrowDown");
    const s = await focusedSeq(p);
    if (s === last) break;
    last = s;
  }
  const label = await p.locator(`svg.tx-tree a.node[data-seq='${last}']`).getAttribute("aria-label");
  assert.match(label, /^Message \d+/);
  const all = (await api(`/v1/transactions/${ctx.tx.big}?limit=1000`)).messages;
  const depth = new Map();
  for (const m of all) depth.set(m.seq, m.cause === null ? 0 : depth.get(m.cause) + 1);
  const deepest = Math.max(...depth.values());
  assert.equal(depth.get(Number(last)), deepest, "the walk reached the deepest hop");
  ({ frame, nodes } = await boxes(p));
  assert.ok(inside(nodes.find((n) => n.seq === Number(last)), frame), "the deep node is shown in the frame");
  await shot(p, "tx-big-deep");
  await axe(p, "the 1,000-message transaction");
  // "Message #" reveals any message too.
  const other = [...depth].filter(([, d]) => d === deepest).at(-1)[0];
  await p.fill("#tx-goto", String(other));
  await p.locator(".tx-goto button").click();
  assert.equal(await focusedSeq(p), String(other));
  await p.keyboard.press("Enter");
  await p.locator("h1", { hasText: `Message ${num(other)}` }).waitFor();
  await done(p);
});

test("a transaction longer than one page is loaded page by page, never cut short", async () => {
  const p = await page();
  const asked = [];
  // Pages of 300 instead of 1,000, so that the 1,000 messages take four requests.
  await p.route((url) => url.pathname === `/v1/transactions/${ctx.tx.big}`, (route) => {
    const u = new URL(route.request().url());
    u.searchParams.set("limit", "300");
    asked.push(u.searchParams.get("after"));
    return route.continue({ url: u.toString() });
  });
  await openTx(p, ctx.tx.big, 1000);
  assert.equal(asked.length, 4, `pages asked: ${asked.join(", ")}`);
  assert.equal(asked[0], null);
  await p.locator("#tx-expand-all").click();
  assert.equal(await p.locator("svg.tx-tree a.node.msg").count(), 1000);
  await done(p);
});

test("a transaction page gains live messages without refetching", async () => {
  const p = await page();
  await openTx(p, ctx.tx.chain, 31);
  let refetched = 0;
  p.on("request", (r) => { if (r.url().includes(`/v1/transactions/${ctx.tx.chain}`)) refetched++; });
  const tail = (await api(`/v1/transactions/${ctx.tx.chain}?limit=1000`)).messages.at(-1);
  const r = await api("/v1/devices/relay_2/send", { receiver: "relay_3", action: "continue", tx: ctx.tx.chain, cause: tail.seq, contents: "a late hop" });
  await p.locator(`svg.tx-tree a.node[data-seq='${r.seq}']`).waitFor();
  assert.match(await p.locator("#tx-count").textContent(), /^32 messages/);
  assert.equal(refetched, 0);
  await done(p);
});

test("the console's verifier accepts the live hub's checkpoints and proofs, and refuses changed ones", async () => {
  const key = parseKeyLine(await api("/v1/key"));
  const old = openCheckpoint(await api("/v1/checkpoint"), key);
  const seqs = [0, ...(await api(`/v1/transactions/${ctx.tx.tv}?limit=1000`)).messages.map((m) => m.seq), Number(old.size) - 1];
  for (const seq of seqs) {
    const leaf = leafHash(fromBase64((await api(`/v1/entries/${seq}`)).entry_bytes));
    const proof = await api(`/v1/proof/inclusion?seq=${seq}&tree_size=${old.size}`);
    verifyInclusion(seq, old.size, leaf, proof.path, old.root);
    assert.throws(() => verifyInclusion(seq, old.size, leaf, proof.path.slice(1), old.root), VerifyError);
  }
  let cp = old;
  while (cp.size === old.size) {
    await new Promise((r) => setTimeout(r, 50)); // the background traffic seals a block soon
    cp = openCheckpoint(await api("/v1/checkpoint"), key);
  }
  const proof = await api(`/v1/proof/consistency?from=${old.size}&to=${cp.size}`);
  verifyConsistency(old.size, cp.size, old.root, cp.root, proof.path);
  assert.throws(() => verifyConsistency(old.size, cp.size, cp.root, old.root, proof.path), VerifyError);
});

const VERIFIED = /^Verified: entry ([\d,]+) is in the tree of size ([\d,]+) signed by (\S+)\.$/;
const result = (p) => p.locator("#verify-result strong").first();
async function verify(p) {
  await p.locator("#verify-run").click();
  await p.waitForFunction(() => /^(Verified|FAILED|Not checked|Could not)/.test(document.querySelector("#verify-result strong")?.textContent ?? ""));
  return (await result(p).textContent()).trim();
}

test("message detail: verified in the browser; stale is not a failure; a tampered proof or entry is", async () => {
  const [name, id] = (await api("/v1/key")).trim().split("+");
  const seq = (await api(`/v1/transactions/${ctx.tx.tv}?limit=1000`)).messages.find((m) => !m.valid).seq;
  const p = await page();
  const proofs = [];
  p.on("request", (r) => { if (r.url().includes("/v1/proof/inclusion")) proofs.push(new URL(r.url()).searchParams.get("tree_size")); });
  await p.goto(`${ctx.url}/#msg/${seq}`);
  for (const field of ["Seq", "Transaction", "Cause", "Counter", "Time", "Signature", "Leaf hash", "Block"]) {
    await p.locator("dt", { hasText: field }).first().waitFor();
  }
  let text = await verify(p);
  let m = VERIFIED.exec(text);
  assert.ok(m, text);
  assert.equal(m[1], num(seq));
  assert.equal(m[3], `${name}+${id}`);
  const size = Number(m[2].replaceAll(",", ""));
  assert.deepEqual(proofs, [String(size)], "the proof was asked for the held checkpoint's size");
  await shot(p, "message-verified");
  await axe(p, "the message detail at 1440 px");
  // Stale: the hub seals newer blocks; the page still checks against the checkpoint it holds.
  for (;;) {
    const cp = await api("/v1/checkpoint");
    if (Number(cp.split("\n")[1]) > size + 5) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  text = await verify(p);
  assert.match(text, VERIFIED, "a proof checked after newer blocks is still verified, not FAILED");
  assert.equal(proofs.at(-1), String(size));
  // An entry newer than the held checkpoint: said so, not failed; refreshing then verifies it.
  const late = await api("/v1/devices/relay_1/send", { receiver: "relay_2", action: "begin", contents: "after the checkpoint" });
  await p.goto(`${ctx.url}/#msg/${late.seq}`);
  text = await verify(p);
  assert.match(text, new RegExp(`^Not checked yet: entry ${num(late.seq)} is newer than the held checkpoint .*This is not a failure\\.$`));
  await p.locator("#verify-refresh").click();
  await p.waitForFunction(() => /^(Verified|FAILED)/.test(document.querySelector("#verify-result strong")?.textContent ?? ""));
  m = VERIFIED.exec((await result(p).textContent()).trim());
  assert.ok(m && Number(m[2].replaceAll(",", "")) > late.seq, "verified after the refresh");
  // A tampered proof: one hash of the path flipped on the way.
  await p.route("**/v1/proof/inclusion**", async (route) => {
    const r = await route.fetch();
    const proof = await r.json();
    proof.path[0] = proof.path[0].replace(/^./, (c) => (c === "0" ? "1" : "0"));
    await route.fulfill({ response: r, json: proof });
  });
  text = await verify(p);
  assert.match(text, /^FAILED: the proof leads to root .*, not to the checkpoint's root/);
  await shot(p, "message-tampered-proof");
  await p.unroute("**/v1/proof/inclusion**");
  // Tampered entry bytes: their leaf hash no longer leads to the root.
  await p.route("**/v1/entries/**", async (route) => {
    const r = await route.fetch();
    const e = await r.json();
    const bytes = Buffer.from(e.entry_bytes, "base64");
    bytes[bytes.length - 1] ^= 1;
    e.entry_bytes = bytes.toString("base64");
    await route.fulfill({ response: r, json: e });
  });
  text = await verify(p);
  assert.match(text, /^FAILED: /);
  await p.unroute("**/v1/entries/**");
  assert.match(await verify(p), VERIFIED, "untampered again, verified again");
  await done(p);
});

test("message detail: a checkpoint whose signature was tampered with is a failure", async () => {
  const p = await page();
  await p.route("**/v1/checkpoint", async (route) => {
    const r = await route.fetch();
    const note = await r.text();
    const at = note.lastIndexOf(" ") + 12;
    await route.fulfill({ response: r, body: note.slice(0, at) + (note[at] === "A" ? "B" : "A") + note.slice(at + 1) });
  });
  const seq = (await api(`/v1/transactions/${ctx.tx.tv}?limit=1`)).messages[0].seq;
  await p.goto(`${ctx.url}/#msg/${seq}`);
  assert.match(await verify(p), /^FAILED: the signature by .* does not verify/);
  await done(p);
});

test("ledger: holds its checkpoint while blocks arrive, pins the key, proves consistency on refresh", async () => {
  const [name, id] = (await api("/v1/key")).trim().split("+");
  const p = await page();
  let fetched = 0;
  p.on("request", (r) => { if (r.url().endsWith("/v1/checkpoint")) fetched++; });
  await p.goto(`${ctx.url}/#ledger`);
  const size = p.locator("#ledger-size");
  await size.waitFor();
  const held = await size.textContent();
  assert.equal(await p.locator("#ledger-key-label").textContent(), `${name}+${id}`);
  assert.match(await p.evaluate(() => localStorage.getItem("m2mhub-pinned-key")), new RegExp(id));
  await p.locator("#ledger-newer", { hasText: /^([5-9]|\d\d+) newer blocks since/ }).waitFor();
  assert.equal(await size.textContent(), held, "the held checkpoint did not move");
  assert.equal(fetched, 1, "no checkpoint fetched per block");
  await p.locator("table.blocks tbody tr").first().waitFor();
  await shot(p, "ledger");
  await axe(p, "the ledger page at 1440 px");
  await p.locator("#ledger-refresh").click();
  await p.locator("#ledger-refresh-result", { hasText: "Refreshed" }).waitFor();
  assert.match(await p.locator("#ledger-refresh-result").textContent(), /the tree of size [\d,]+ \(root [0-9a-f]+…\) is a prefix of the tree of size [\d,]+/i);
  assert.notEqual(await size.textContent(), held);
  // A consistency proof changed on the way: FAILED, and the held checkpoint stays.
  const refreshed = await size.textContent();
  await p.locator("#ledger-newer", { hasText: /^\d[\d,]* newer blocks? since/ }).waitFor();
  await p.route("**/v1/proof/consistency**", async (route) => {
    const r = await route.fetch();
    const proof = await r.json();
    proof.path[0] = proof.path[0].replace(/^./, (c) => (c === "0" ? "1" : "0"));
    await route.fulfill({ response: r, json: proof });
  });
  await p.locator("#ledger-refresh").click();
  await p.locator("#ledger-refresh-result", { hasText: /^FAILED: .*The old checkpoint is kept\./ }).waitFor();
  assert.equal(await size.textContent(), refreshed);
  await p.unroute("**/v1/proof/consistency**");
  // Older blocks, paged.
  const firstHeight = async () => Number((await p.locator("table.blocks tbody tr td").first().textContent()).replaceAll(",", ""));
  const newest = await firstHeight();
  await p.locator("#blocks-older").click();
  await p.waitForFunction((h) => Number(document.querySelector("table.blocks tbody tr td")?.textContent.replaceAll(",", "")) < h, newest);
  assert.equal(await firstHeight(), newest - 20);
  // "Verify an entry": a registration (entry 0) opens decoded and verifies at once.
  await p.fill("#ledger-seq", "0");
  await p.getByRole("button", { name: "Open and verify" }).click();
  await p.locator("h1", { hasText: /^Entry 0 \(.*registered\)$/ }).waitFor();
  await p.waitForFunction(() => /^(Verified|FAILED)/.test(document.querySelector("#verify-result strong")?.textContent ?? ""));
  assert.match((await result(p).textContent()).trim(), /^Verified: entry 0 is in the tree of size/);
  // The hub serving another key: a loud warning, the pin kept.
  await p.route("**/v1/key", (route) => route.fulfill({ contentType: "text/plain", body: "m2mhub.example/ledger+8cd610d2+ARVsZXJGGha8jvybAGiv/p3xAfBrYH/88aAFR+Vo7+nc\n" }));
  await p.goto(`${ctx.url}/#ledger`);
  await p.locator("#ledger-key [role='alert']", { hasText: "WARNING: the hub now serves a different key" }).waitFor();
  assert.equal(await p.locator("#ledger-key-label").textContent(), `${name}+${id}`, "not silently re-pinned");
  await shot(p, "ledger-key-changed");
  p.on("dialog", (d) => d.accept());
  await p.locator("#ledger-unpin").click();
  await p.locator("#ledger-key", { hasText: "No key pinned yet." }).waitFor();
  await done(p);
});

test("the transaction page, message detail and ledger at 390 px", async () => {
  const p = await page({ width: 390, height: 844 });
  await openTx(p, ctx.tx.tv, (await api(`/v1/transactions/${ctx.tx.tv}?limit=1`)).message_count);
  const { frame, nodes } = await boxes(p);
  assert.ok(frame.top < 844 && frame.bottom > frame.top, "the tree starts on the first screen");
  for (const n of nodes) assert.ok(inside(n, frame), `message ${n.seq} inside the frame`);
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= 390), "no sideways scroll");
  await shot(p, "tx-incident-390");
  await axe(p, "the transaction page at 390 px");
  await p.goto(`${ctx.url}/#msg/${nodes[0].seq}`);
  assert.match(await verify(p), VERIFIED);
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= 390), "no sideways scroll");
  await shot(p, "message-390");
  await axe(p, "the message detail at 390 px");
  await p.goto(`${ctx.url}/#ledger`);
  await p.locator("#ledger-size").waitFor();
  await shot(p, "ledger-390");
  await axe(p, "the ledger page at 390 px");
  await done(p);
});
