// The console in real headless Chromium: register a device through the form, send an
// invalid message and see its row turn red with the notice, open the transaction and find
// the tree, verify an inclusion proof in the browser, tamper with it and see it fail.
// Starts the real hub binary (target/debug/m2mhub unless M2MHUB_BIN says otherwise).
// Screenshots go to target/browser-artifacts/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = process.env.M2MHUB_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug", "m2mhub");
const artifacts = join(root, "target", "browser-artifacts");
const TOKEN = "browser-test-token";
let hub, url, browser, page;

async function startHub() {
  const data = mkdtempSync(join(tmpdir(), "m2mhub-browser-"));
  hub = spawn(bin, ["serve", "--simulated", "--data", data, "--listen", "127.0.0.1:0", "--origin", "m2mhub/browser-test"], {
    env: { ...process.env, M2MHUB_OPERATOR_TOKEN: TOKEN },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: hub.stdout });
  url = await new Promise((resolve, reject) => {
    hub.on("exit", (code) => reject(new Error(`hub exited with ${code} before listening`)));
    lines.on("line", (l) => l.startsWith("listening on ") && resolve(l.slice("listening on ".length)));
  });
}

async function api(path, body) {
  const r = await fetch(url + path, {
    method: body ? "POST" : "GET",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(r.ok, `${path}: ${r.status} ${await r.clone().text()}`);
  return r.json();
}

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  await startHub();
  // Simulated devices the hub signs for, so the console can send as them.
  await api("/v1/devices", { name: "smart_tv", clearance: 1, simulated: true });
  await api("/v1/devices", { name: "oven", clearance: 3, simulated: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => { throw e; });
  await page.goto(url);
  await page.fill("#token", TOKEN);
});

after(async () => {
  await browser?.close();
  hub?.kill("SIGTERM");
});

test("registers a device through the form", async () => {
  await page.fill("#reg-name", "door_lock");
  await page.fill("#reg-clearance", "3");
  await page.check("#reg-simulated");
  await page.click("#reg-submit");
  await page.waitForFunction(() => document.body.innerText.includes("door_lock"));
  const devices = (await api("/v1/devices")).items;
  assert.ok(devices.some((d) => d.name === "door_lock" && d.simulated));
  await shot("01-devices");
});

test("an invalid message turns its row red with the notice", async () => {
  await page.selectOption("#send-from", "smart_tv");
  await page.selectOption("#send-to", "oven");
  await page.selectOption("#send-action", "begin");
  await page.fill("#send-contents", "switch the oven on");
  await page.click("#send-submit");
  await page.waitForSelector("#send-result");
  const row = page.locator("tr.msg.invalid").first();
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /clearance/);
  await shot("02-messages");
});

test("the transaction view draws the causal tree", async () => {
  const [rec] = (await api("/v1/messages?valid=false&limit=1")).items;
  await page.goto(`${url}/#tx/${rec.tx}`);
  await page.fill("#token", TOKEN);
  const node = page.locator("#tx-view svg .node.invalid").first();
  await node.waitFor();
  assert.match(await page.locator("#tx-view").innerText(), /smart_tv/);
  await shot("03-transaction");
});

test("an inclusion proof verifies in the browser, and a tampered one fails", async () => {
  await page.goto(`${url}/#ledger`);
  await page.fill("#verify-seq", "1");
  await page.click("#verify-run");
  await page.waitForFunction(() => /verified|FAILED/.test(document.querySelector("#verify-result")?.textContent ?? ""));
  assert.equal((await page.textContent("#verify-result")).trim().startsWith("verified"), true, await page.textContent("#verify-result"));
  await shot("04-verified");
  // Flip one hex digit of the first path element, in the page.
  const proof = await page.inputValue("#verify-proof");
  const tampered = proof.replace(/[0-9a-f]/, (c) => (c === "0" ? "1" : "0"));
  assert.notEqual(tampered, proof);
  await page.fill("#verify-proof", tampered);
  await page.click("#verify-tamper-run");
  await page.waitForFunction(() => /FAILED/.test(document.querySelector("#verify-result")?.textContent ?? ""));
  await shot("05-tampered");
});

test("the message list pages back through history", async () => {
  for (let i = 0; i < 110; i++) {
    await api("/v1/devices/oven/send", { receiver: "smart_tv", action: "begin", contents: `tick ${i}` });
  }
  await page.goto(url);
  await page.fill("#token", TOKEN);
  await page.waitForFunction(() => document.querySelectorAll("tr.msg").length === 100);
  const newest = Number(await page.getAttribute("tr.msg >> nth=0", "data-seq"));
  await page.click("#older");
  await page.waitForFunction(() => document.querySelectorAll("tr.msg").length > 100);
  const seqs = await page.$$eval("tr.msg", (rows) => rows.map((r) => Number(r.dataset.seq)));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), "newest first, no gaps in order");
  assert.equal(seqs[0], newest);
  assert.equal(new Set(seqs).size, seqs.length, "no row twice");
  await shot("06-paged");
});
