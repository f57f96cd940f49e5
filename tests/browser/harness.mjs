// The browser suite's one shared set-up: a real `m2mhub demo` (the story, then background
// traffic for WARMUP_SECONDS, 60 by default, as an investigator meets it), the fixtures every
// flow needs (a 30-hop chain and a 1,000-message transaction sent through the hub's simulated
// devices), and one headless Chromium (Debian's). Flows in flows/ import `ctx` and register
// their tests; console.test.mjs imports them all so they share this one warm-up.
//
// M2MHUB_BIN: the hub binary (default $CARGO_TARGET_DIR/debug/m2mhub, else target/debug).
// M2MHUB_CONSOLE_FILE: serve this file at `/` instead of the binary's embedded console (for
// working on console/ without rebuilding the hub; never set in `make test`).
// Screenshots go to target/browser-artifacts/.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");
const bin = process.env.M2MHUB_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug", "m2mhub");
export const artifacts = join(root, "target", "browser-artifacts");
const WARMUP = Number(process.env.WARMUP_SECONDS ?? 60);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** What every flow shares; filled in by the `before` hook below. */
export const ctx = {
  /** Uncaught errors of every page, `url: message`. */
  pageErrors: [],
  url: "",
  token: "browser-test-token",
  hub: null,
  browser: null,
  /** tx ids of the fixtures: `chain` (30 hops, 31 messages), `big` (1,000 messages), and
   * `tv`, the compromised smart TV's transaction from the demo's story. */
  tx: {},
};

/** Calls the hub's API as the operator; fails the test on any error status. */
export async function api(path, body, method) {
  const r = await fetch(ctx.url + path, {
    method: method ?? (body ? "POST" : "GET"),
    headers: { "content-type": "application/json", authorization: `Bearer ${ctx.token}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(r.ok, `${path}: ${r.status} ${await r.clone().text()}`);
  return r.headers.get("content-type")?.includes("json") ? r.json() : r.text();
}

function startDemo() {
  const data = mkdtempSync(join(tmpdir(), "m2mhub-browser-"));
  const hub = spawn(bin, ["demo", "--data", join(data, "hub"), "--listen", "127.0.0.1:0", "--rate", "20"], {
    env: { ...process.env, M2MHUB_OPERATOR_TOKEN: ctx.token, RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  ctx.hub = hub;
  const lines = createInterface({ input: hub.stdout });
  let listening;
  const url = new Promise((resolve, reject) => {
    hub.on("exit", (code) => reject(new Error(`demo exited with ${code}`)));
    lines.on("line", (l) => {
      if (l.startsWith("listening on ")) listening = l.slice("listening on ".length);
      if (l.startsWith("background traffic")) resolve(listening);
    });
  });
  return url;
}

/** Sends as a simulated device; returns the record. */
const send = (from, body) => api(`/v1/devices/${from}/send`, body);

async function fixtures() {
  for (let i = 1; i <= 4; i++) await api("/v1/devices", { name: `relay_${i}`, clearance: 2, simulated: true });
  // A 30-hop chain: relay_1 → relay_2 → … round the four relays, each hop caused by the last.
  let r = await send("relay_1", { receiver: "relay_2", action: "begin", contents: "hop 0: start of a long chain" });
  ctx.tx.chain = r.tx;
  for (let hop = 1; hop <= 30; hop++) {
    const from = `relay_${(hop % 4) + 1}`, to = `relay_${((hop + 1) % 4) + 1}`;
    r = await send(from, { receiver: to, action: "continue", tx: ctx.tx.chain, cause: r.seq, contents: `hop ${hop}` });
  }
  // A 1,000-message transaction: a tree where message i is caused by message (i-1)/3.
  const first = await send("relay_1", { receiver: "relay_2", action: "begin", contents: "fan-out 0" });
  ctx.tx.big = first.tx;
  const seqs = [first.seq];
  for (let i = 1; i < 1000; i++) {
    const from = `relay_${(i % 4) + 1}`, to = `relay_${((i + 1) % 4) + 1}`;
    const m = await send(from, { receiver: to, action: "continue", tx: ctx.tx.big, cause: seqs[Math.floor((i - 1) / 3)], contents: `fan-out ${i}` });
    seqs.push(m.seq);
  }
  // The demo's incident: the transaction the smart TV began.
  const tv = await api(`/v1/messages?device=smart_tv&limit=100`);
  ctx.tx.tv = tv.items.find((m) => m.sender === "smart_tv" && m.action === "begin")?.tx;
  assert.ok(ctx.tx.tv, "the demo's story has a transaction begun by smart_tv");
}

/** A new page (own context) at `width`×`height`, serving M2MHUB_CONSOLE_FILE at `/` if set
 * (at `base`'s `/`: the shared demo's by default, another hub's for the federation flow). */
export async function newPage({ width = 1440, height = 900, token = true, base = ctx.url } = {}) {
  const context = await ctx.browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  // Every uncaught error in any page fails the suite at teardown (flows may also check their
  // own pages as they go).
  page.on("pageerror", (e) => ctx.pageErrors.push(`${page.url()}: ${e.message}`));
  if (process.env.M2MHUB_CONSOLE_FILE) {
    await page.route(`${base}/`, (r) => r.fulfill({ contentType: "text/html; charset=utf-8", body: readFileSync(process.env.M2MHUB_CONSOLE_FILE) }));
  }
  if (token) await page.addInitScript((t) => sessionStorage.setItem("m2mhub-operator-token", t), token === true ? ctx.token : token);
  return page;
}

/** Saves a full-page screenshot as target/browser-artifacts/NAME.png. */
export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Runs axe-core on the page as it is; fails on any serious or critical violation. */
export async function axe(page, what) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`),
    [],
    `axe-core on ${what}`,
  );
}

/** Starts the demo (and, with `fixtures`, the flows' fixtures), launches Chromium, and waits
 * out the warm-up (`WARMUP_SECONDS`, default 60) so the background traffic is what an
 * investigator meets. */
export async function setUp({ withFixtures = true } = {}) {
  mkdirSync(artifacts, { recursive: true });
  ctx.url = await startDemo();
  const warm = new Promise((r) => setTimeout(r, WARMUP * 1000));
  if (withFixtures) await fixtures();
  ctx.browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  await warm;
}

/** Closes Chromium and stops the demo. */
export async function tearDown() {
  await ctx.browser?.close();
  ctx.hub?.kill("SIGTERM");
}
