// The console's shell and its views (incidents, messages, devices and forms, device dossier,
// security), walked in real Chromium against the harness's warmed-up demo. Flows that need the
// console read APIs (console-api: incidents, totals, history, rates, leaf-hash search) come
// last.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { ctx, api, newPage, shot, axe } from "../harness.mjs";

/** A fresh Ed25519 public key, hex (a real key: registration refuses small-order points). */
function newKey() {
  const { publicKey } = generateKeyPairSync("ed25519");
  return Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url").toString("hex");
}

/** A page whose uncaught errors fail the test that opened it (see `done`). */
async function open(hash, opts) {
  const page = await newPage(opts);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(`${ctx.url}/#${hash}`);
  return page;
}
async function done(page) {
  assert.deepEqual(page.errors, [], "no uncaught error in the page");
  await page.context().close();
}
const rows = (page, sel = "tr.msg") => page.$$eval(sel, (rs) => rs.map((r) => Number(r.dataset.seq)));

test("the smart TV incident is on the first screen at 1440×900 and 390×844, and one click opens its transaction", async () => {
  for (const [width, height] of [[1440, 900], [390, 844]]) {
    const page = await open("", { width, height });
    const link = page.locator(`li.incident[data-tx="${ctx.tx.tv}"] a.open`);
    await link.waitFor();
    assert.match(await link.innerText(), /smart_tv/);
    const box = await link.boundingBox();
    assert.ok(box.y >= 0 && box.y + box.height <= height, `the incident (y ${box.y}, height ${box.height}) is inside the ${width}×${height} screen`);
    assert.equal(await page.evaluate(() => window.scrollY), 0, "nothing scrolled");
    assert.match(await page.locator("#status").innerText(), /live/);
    await shot(page, `shell-incidents-${width}`);
    if (width === 390) {
      // By keyboard: the incident is a link, Enter opens it.
      await link.focus();
      await page.keyboard.press("Enter");
    } else await link.click();
    await page.waitForFunction((tx) => location.hash === `#tx/${tx}`, ctx.tx.tv);
    await page.waitForFunction(() => document.querySelector("#view").children.length > 0);
    assert.match(await page.title(), new RegExp(`Transaction ${ctx.tx.tv}`));
    await done(page);
  }
});

test("registering through the form: bad inputs explained, nothing sent, then success confirmed and old errors gone", async () => {
  const page = await open("devices");
  await page.locator('tr[data-device="home_gateway"]').waitFor();
  // Everything wrong at once.
  await page.fill("#reg-name", "bad name!");
  await page.fill("#reg-clearance", "");
  await page.fill("#reg-key", "abc");
  await page.click("#register-form-submit");
  assert.match(await page.textContent("#reg-name-err"), /1–64 characters/);
  assert.match(await page.textContent("#reg-clearance-err"), /empty is not 0/);
  assert.match(await page.textContent("#reg-key-err"), /64 hex digits/);
  assert.match(await page.textContent("#register-form-result"), /Nothing was sent/);
  assert.equal(await page.getAttribute("#reg-clearance", "aria-invalid"), "true");
  // A negative or fractional clearance and an exception naming no device.
  await page.fill("#reg-name", "shell_lamp");
  await page.fill("#reg-clearance", "-1");
  await page.check("#reg-simulated");
  await page.fill("#reg-exceptions", "smart_tv, no_such_device");
  await page.click("#register-form-submit");
  assert.match(await page.textContent("#reg-clearance-err"), /whole number/);
  assert.match(await page.textContent("#reg-exceptions-err"), /must name a registered device: no_such_device is not/);
  assert.equal(await page.textContent("#reg-name-err"), "", "the name is fine now: its old error is gone");
  await shot(page, "shell-register-errors");
  const none = await fetch(`${ctx.url}/v1/devices/shell_lamp`);
  assert.equal(none.status, 404, "nothing was registered");
  // Fixed: registered, confirmed, in the table, errors cleared.
  await page.fill("#reg-clearance", "2");
  await page.fill("#reg-exceptions", "smart_tv");
  await page.click("#register-form-submit");
  await page.locator("#register-form-result .ok-box", { hasText: "Registered shell_lamp" }).waitFor();
  assert.equal(await page.locator("#register-form .field-error:not(:empty)").count(), 0, "no old error left");
  await page.locator('tr[data-device="shell_lamp"]').waitFor();
  const d = await api("/v1/devices/shell_lamp");
  assert.equal(d.clearance, 2);
  assert.ok(d.simulated);
  assert.deepEqual(d.exceptions, ["smart_tv"]);
  // The same name again is refused before sending.
  await page.fill("#reg-name", "shell_lamp");
  await page.fill("#reg-clearance", "1");
  await page.click("#register-form-submit");
  assert.match(await page.textContent("#reg-name-err"), /already registered/);
  // A grant naming no device is refused too.
  await page.selectOption("#grant-device", "shell_lamp");
  await page.fill("#grant-sender", "nobody_here");
  await page.click("#grant-form-submit");
  assert.match(await page.textContent("#grant-sender-err"), /must name a registered device/);
  await shot(page, "shell-register-done");
  await done(page);
});

test("revoking through the form asks first; a revoked device is not offered; a sent invalid message shows red with why", async () => {
  await api("/v1/devices", { name: "shell_safe", clearance: 3, simulated: true });
  await api("/v1/devices", { name: "shell_gone", clearance: 1, simulated: true });
  const page = await open("devices");
  await page.locator('tr[data-device="shell_gone"]').waitFor();
  await page.selectOption("#revoke-device", "shell_gone");
  await page.click("#revoke-form-submit");
  await page.locator("#revoke-confirm").waitFor();
  assert.equal((await api("/v1/devices/shell_gone")).status, "active", "not revoked before confirming");
  await page.click("#revoke-confirm");
  await page.locator("#revoke-form-result .ok-box", { hasText: "shell_gone is revoked" }).waitFor();
  assert.equal((await api("/v1/devices/shell_gone")).status, "revoked");
  await page.locator('tr[data-device="shell_gone"] .status-revoked').waitFor();
  for (const sel of ["#send-from", "#send-to", "#revoke-device", "#rekey-device", "#grant-device"]) {
    const offered = await page.$$eval(`${sel} option`, (os) => os.map((o) => o.value));
    assert.ok(!offered.includes("shell_gone"), `${sel} does not offer the revoked device`);
  }
  // Contents over 16 KiB of UTF-8 are refused before sending (é is two bytes).
  await page.selectOption("#send-from", "shell_lamp");
  await page.selectOption("#send-to", "shell_safe");
  await page.fill("#send-contents", "é".repeat(8193));
  await page.click("#send-form-submit");
  assert.match(await page.textContent("#send-contents-err"), /16 KiB/);
  // shell_lamp (clearance 2) opening a conversation with shell_safe (3): recorded, invalid.
  await page.fill("#send-contents", "shell test: above my clearance");
  await page.click("#send-form-submit");
  await page.locator("#send-result").waitFor();
  assert.match(await page.textContent("#send-result"), /invalid: the transaction's provenance lacks the receiver's clearance/);
  assert.equal(await page.textContent("#send-contents-err"), "");
  await page.goto(`${ctx.url}/#messages?device=shell_lamp`);
  const row = page.locator("tr.msg.invalid").first();
  await row.waitFor();
  assert.match(await row.innerText(), /shell test: above my clearance/);
  assert.match(await row.innerText(), /clearance/);
  await done(page);
});

test("live entries patch the incidents and the device table without refetching the lists", async () => {
  const page = await open("");
  await page.locator(`li.incident[data-tx="${ctx.tx.tv}"]`).waitFor();
  await page.locator("#status[data-state=live]").waitFor();
  const lists = [];
  page.on("request", (r) => { if (/\/v1\/(incidents|messages|devices)(\?|$)/.test(r.url())) lists.push(r.url()); });
  await api("/v1/devices", { name: "shell_low", clearance: 1, simulated: true });
  await api("/v1/devices", { name: "shell_high", clearance: 3, simulated: true });
  const r = await api("/v1/devices/shell_low/send", { receiver: "shell_high", action: "begin", contents: "shell test: a live incident" });
  assert.equal(r.valid, false);
  const first = page.locator("li.incident").first();
  await page.waitForFunction((tx) => document.querySelector("li.incident")?.dataset.tx === String(tx), r.tx);
  assert.match(await first.innerText(), /begun by shell_low · rejected/);
  assert.match(await first.innerText(), /1 invalid of 1 message/);
  assert.match(await first.innerText(), /lacks the receiver's clearance/);
  await page.locator(`li.incident[data-tx="${ctx.tx.tv}"]`).waitFor();
  assert.deepEqual(lists, [], "the incident list was patched, not refetched");
  // The device table: a registration arriving live becomes a row.
  await page.goto(`${ctx.url}/#devices`);
  await page.locator('tr[data-device="home_gateway"]').waitFor();
  lists.length = 0;
  await api("/v1/devices", { name: "shell_live", clearance: 1, simulated: true });
  await page.locator('tr[data-device="shell_live"]').waitFor();
  assert.ok(await page.$$eval("#send-to option", (os) => os.some((o) => o.value === "shell_live")), "offered as a receiver at once");
  assert.deepEqual(lists, [], "patched, not refetched");
  await done(page);
});

test("the device dossier tells a re-keyed then revoked device's history", async () => {
  await api("/v1/devices", { name: "shell_rekeyed", clearance: 1, public_key: newKey() });
  const page = await open("devices");
  await page.locator('tr[data-device="shell_rekeyed"]').waitFor();
  await page.selectOption("#rekey-device", "shell_rekeyed");
  await page.fill("#rekey-key", "12");
  await page.click("#rekey-form-submit");
  assert.match(await page.textContent("#rekey-key-err"), /64 hex digits/);
  const key = newKey();
  await page.fill("#rekey-key", key);
  await page.click("#rekey-form-submit");
  await page.locator("#rekey-form-result .ok-box").waitFor();
  assert.equal((await api("/v1/devices/shell_rekeyed")).public_key, key);
  await api("/v1/devices/shell_rekeyed/revoke", {});
  await page.goto(`${ctx.url}/#device/shell_rekeyed`);
  for (const kind of ["register", "rekey", "revoke"]) await page.locator(`#sec-hist li.hist-${kind}`).waitFor();
  assert.match(await page.locator("#sec-hist").innerText(), /re-keyed/);
  assert.match(await page.locator(".facts").innerText(), /revoked/);
  await shot(page, "shell-dossier-rekeyed");
  await done(page);
});

test("messages: newest first, paged without gaps, invalid only, search by seq, tx and device", async () => {
  const page = await open("messages");
  await page.waitForFunction(() => document.querySelectorAll("tr.msg").length === 100);
  assert.match(await page.locator(".pager-status").innerText(), /^Messages 1–100/);
  let seqs = await rows(page);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), "newest first");
  // Older: read the last row and click in one task, so live rows cannot slip in between.
  const lowest = await page.evaluate(() => {
    const s = [...document.querySelectorAll("tr.msg")].map((r) => Number(r.dataset.seq));
    [...document.querySelectorAll(".pager-buttons button")].find((b) => b.textContent.startsWith("Older")).click();
    return Math.min(...s);
  });
  await page.locator(".pager-status", { hasText: /^Messages 101–/ }).waitFor();
  seqs = await rows(page);
  assert.ok(seqs.length > 0 && seqs.every((s) => s < lowest), "page 2 continues below page 1");
  for (let s = seqs[0] + 1; s < lowest; s++) {
    assert.notEqual((await api(`/v1/entries/${s}`)).kind, "message", `message #${s} between the pages is not skipped`);
  }
  await page.getByRole("button", { name: "← Newer" }).click();
  await page.locator(".pager-status", { hasText: /^Messages 1–100/ }).waitFor();
  // Invalid only.
  await page.check("#f-invalid");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForFunction(() => /valid=false/.test(location.hash));
  await page.waitForFunction(() => document.querySelectorAll("tr.msg").length > 0 && document.querySelectorAll("tr.msg:not(.invalid)").length === 0);
  assert.ok((await rows(page)).includes((await api(`/v1/messages?tx=${ctx.tx.tv}`)).items[0].seq), "the TV's invalid begin is listed");
  await shot(page, "shell-messages-invalid");
  // Search: a device name filters by it; an unknown one is explained.
  await page.fill("#search", "smart_tv");
  await page.press("#search", "Enter");
  await page.waitForFunction(() => /device=smart_tv/.test(location.hash));
  await page.waitForFunction(() => [...document.querySelectorAll("tr.msg")].length > 0
    && [...document.querySelectorAll("tr.msg")].every((r) => r.innerText.includes("smart_tv")));
  await page.fill("#search", "no_device_like_this");
  await page.press("#search", "Enter");
  await page.getByText('No device is named "no_device_like_this".').waitFor();
  await page.fill("#search", "tx tx");
  await page.press("#search", "Enter");
  await page.getByText(/is not a seq/).waitFor();
  // A seq opens the message, "tx N" the transaction.
  await page.fill("#search", "tx " + ctx.tx.chain);
  await page.press("#search", "Enter");
  await page.waitForFunction((tx) => location.hash === `#tx/${tx}`, ctx.tx.chain);
  await page.goto(`${ctx.url}/#messages`);
  await page.fill("#search", "41");
  await page.press("#search", "Enter");
  await page.waitForFunction(() => location.hash === "#msg/41");
  await done(page);
});

test("security: asks for the token, tells a wrong token from none, and lists a refusal as it happens", async () => {
  const page = await open("devices", { token: false });
  // A form without the token: the hub's refusal is told as "no token", here and in the header.
  await page.locator('tr[data-device="home_gateway"]').waitFor();
  await page.fill("#reg-name", "shell_tokenless");
  await page.fill("#reg-clearance", "1");
  await page.check("#reg-simulated");
  await page.click("#register-form-submit");
  await page.locator("#register-form-result", { hasText: "needs the operator token" }).waitFor();
  assert.match(await page.locator("#token-slot summary").innerText(), /no token/);
  assert.ok(await page.locator("#token-slot details").evaluate((d) => d.open), "the token field opens itself");
  await page.goto(`${ctx.url}/#security`);
  await page.getByText("This view needs the operator token").waitFor();
  assert.match(await page.locator("#token-slot summary").innerText(), /no token/);
  // Still open since the refusal above; a click on its summary would close it.
  assert.ok(await page.locator("#token-slot details").evaluate((d) => d.open));
  await page.fill("#token", "not-the-token");
  await page.click("#token-slot button[type=submit]");
  await page.locator("#token-slot summary", { hasText: "wrong token" }).waitFor();
  assert.match(await page.textContent("#token-says"), /not this hub's operator token/);
  await page.fill("#token", ctx.token);
  await page.click("#token-slot button[type=submit]");
  await page.locator("#token-slot summary", { hasText: "token accepted" }).waitFor();
  await page.getByText("Live: new refusals appear here").waitFor();
  // A forged message: smart_tv's name with a signature of zeros.
  const r = await fetch(`${ctx.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sender: "smart_tv", receiver: "oven", action: "begin", counter: 999_999, contents: "forged", signature: "00".repeat(64) }),
  });
  assert.equal(r.status, 401);
  const row = page.locator('#sec-live tr[data-code="bad_signature"]').first();
  await row.waitFor();
  assert.match(await row.innerText(), /smart_tv/);
  assert.match(await row.innerText(), /signature does not verify/);
  await shot(page, "shell-security");
  await done(page);
});

/** A page whose live stream the test can cut (`page.cut()`; page.route cannot end a response
 * already flowing) and block (`page.events.blocked = true`: page.route aborts new ones);
 * `page.events.asked` lists the Last-Event-ID of each stream opened, and
 * `page.events.sendId`, when set, replaces the id the page sends. */
async function cuttablePage(hash) {
  const page = await newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.addInitScript(() => {
    const real = window.fetch;
    window.cutEvents = () => {};
    window.fetch = (input, init = {}) => {
      if (!String(input).includes("/v1/events")) return real(input, init);
      const ctl = new AbortController();
      init.signal?.addEventListener("abort", () => ctl.abort());
      window.cutEvents = () => ctl.abort();
      return real(input, { ...init, signal: ctl.signal });
    };
  });
  page.events = { blocked: false, asked: [], sendId: null };
  await page.route(`${ctx.url}/v1/events`, (r) => {
    if (page.events.blocked) return r.abort();
    const headers = r.request().headers();
    page.events.asked.push(headers["last-event-id"]);
    if (page.events.sendId !== null && headers["last-event-id"]) return r.continue({ headers: { ...headers, "last-event-id": page.events.sendId } });
    return r.continue();
  });
  page.cut = () => page.evaluate(() => window.cutEvents());
  await page.goto(`${ctx.url}/#${hash}`);
  await page.locator("#status[data-state=live]").waitFor();
  await page.waitForFunction(() => document.querySelectorAll("tr.msg").length > 0);
  await page.waitForFunction(() => /tree size/.test(document.querySelector("#status").textContent));
  return page;
}

test("reconnect: a cut stream says reconnecting, resumes from its last event id, and the missed rows appear", async () => {
  const page = await cuttablePage("messages?device=relay_3");
  page.events.blocked = true;
  await page.cut();
  await page.locator("#status", { hasText: /reconnecting in \d+ s/ }).waitFor();
  assert.match(await page.locator("#status").innerText(), /tree size [\d,]+ last seen/);
  // The browser itself offline: the header says so rather than "reconnecting".
  await page.context().setOffline(true);
  await page.locator("#status[data-state=offline]", { hasText: /offline since .*, retrying in \d+ s/ }).waitFor();
  await page.context().setOffline(false);
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push(await api("/v1/devices/relay_3/send", { receiver: "relay_4", action: "begin", contents: `caught up ${i}` }));
  // Still cut off: the rows are not there yet.
  assert.equal(await page.locator("tr.msg", { hasText: "caught up" }).count(), 0);
  page.events.blocked = false;
  await page.locator("#status[data-state=live]").waitFor({ timeout: 30_000 });
  for (const m of sent) await page.locator(`tr.msg[data-seq="${m.seq}"]`).waitFor();
  const id = Number(page.events.asked.at(-1));
  assert.ok(id > 0 && id <= sent[0].seq, `the reconnect asked to resume from event ${page.events.asked.at(-1)}, before the missed messages`);
  assert.deepEqual((await rows(page)).slice(0, 3), sent.map((m) => m.seq).reverse(), "the missed rows on top, newest first");
  await done(page);
});

test("reconnect: when the hub cannot replay (reset), the list is read again, not left with a gap", async () => {
  const page = await cuttablePage("messages?device=relay_2");
  page.events.blocked = true;
  await page.cut();
  await page.locator("#status", { hasText: /reconnecting in \d+ s/ }).waitFor();
  const m = await api("/v1/devices/relay_2/send", { receiver: "relay_3", action: "begin", contents: "after a reset" });
  // An id the hub cannot resume from: it answers `reset` and replays nothing.
  page.events.sendId = "not-a-number";
  const reads = [];
  page.on("request", (r) => { if (/\/v1\/messages\?/.test(r.url())) reads.push(r.url()); });
  page.events.blocked = false;
  await page.locator(`tr.msg[data-seq="${m.seq}"]`).waitFor({ timeout: 30_000 });
  assert.ok(reads.length > 0, "the first page was read again");
  await done(page);
});

test("every view passes axe-core at 1440 and at 390 px, with screenshots", async () => {
  // Messages of a fixture relay: 100 rows like any page, without the background traffic's live
  // rows arriving while axe-core measures (it reruns its colour checks on every change).
  const views = [["", "li.incident"], ["messages?device=relay_1", "tr.msg"], ["devices", "tr[data-device]"], ["device/smart_tv", "#sec-hist li"], ["security", "#sec-kept"]];
  for (const [width, height] of [[1440, 900], [390, 844]]) {
    const page = await open("", { width, height });
    for (const [hash, ready] of views) {
      await page.goto(`${ctx.url}/#${hash}`);
      await page.locator(ready).first().waitFor();
      await axe(page, `#${hash} at ${width} px`);
      await shot(page, `shell-${hash.replace(/[/?=]/g, "-") || "incidents"}-${width}`);
    }
    // No horizontal scroll on the page itself at phone width (wide tables scroll in their box).
    if (width === 390) assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), "no sideways scrolling at 390 px");
    await done(page);
  }
});

// ---- Flows that need the console read APIs (console-api branch) ----

test("incidents come grouped by the hub with counts, and the rate chart is drawn", async () => {
  const page = await open("");
  await page.locator(`li.incident[data-tx="${ctx.tx.tv}"]`).waitFor();
  assert.equal(await page.locator(".warn-box", { hasText: "/v1/incidents" }).count(), 0, "grouped by the hub");
  assert.match(await page.locator(".summary-line").innerText(), /invalid messages? in \d+ incidents?/);
  assert.match(await page.locator(`li.incident[data-tx="${ctx.tx.tv}"]`).innerText(), /3 invalid of 3 messages/);
  await page.locator(".chart svg.rate-svg rect.bar-all").first().waitFor();
  await done(page);
});

test("messages: totals, and search by leaf hash", async () => {
  const page = await open("messages");
  await page.locator(".pager-status", { hasText: /^Messages 1–100 of [\d,]+/ }).waitFor();
  const [tv] = (await api(`/v1/messages?tx=${ctx.tx.tv}`)).items;
  await page.fill("#search", tv.leaf_hash);
  await page.press("#search", "Enter");
  await page.waitForFunction((seq) => {
    const r = [...document.querySelectorAll("tr.msg")];
    return r.length === 1 && r[0].dataset.seq === String(seq);
  }, tv.seq);
  assert.match(await page.locator(".pager-status").innerText(), /1–1 of 1/);
  // A time range: the fixtures' messages of the last hour, total not guessed.
  const from = new Date(Date.now() - 3600_000).toISOString();
  await page.goto(`${ctx.url}/#messages?device=relay_1&from=${from}`);
  await page.waitForFunction(() => document.querySelectorAll("tr.msg").length === 100);
  assert.match(await page.locator(".pager-status").innerText(), /total not known/);
  await done(page);
});

test("the dossier shows counts, the history with entries and times, and the invalid messages caused", async () => {
  const page = await open("device/smart_tv");
  await page.locator(".facts", { hasText: "invalid caused" }).waitFor();
  await page.locator("#sec-hist li.hist-register", { hasText: /entry #\d+/ }).waitFor();
  assert.ok(await page.locator("#sec-hist li time").count() > 0, "history entries carry times");
  await page.locator("#sec-caused tr.msg.invalid").first().waitFor();
  await page.locator("#sec-begun a[href^='#tx/']").first().waitFor();
  await done(page);
});
