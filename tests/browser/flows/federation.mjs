// The console across a federation (SPEC §7, issue 13): a real `m2mhub demo --federation`
// (home, street and grid as three `serve` processes on free loopback ports, left running) and
// the grid operator's console. The federation view of substation@grid shows home:1 begun by
// smart_tv@home with its one flagged message and no unreachable member; home's console shows
// that transaction's hops recorded by home with the grid's device badged; the grid's ledger
// page verifies the members' cosignatures in the browser; the shared plain demo (in no
// federation) says so. axe-core on the new view. The demo is stopped with SIGTERM.
import { describe, before, after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ctx, root, newPage, shot, axe } from "../harness.mjs";

const bin = process.env.M2MHUB_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug", "m2mhub");

/** True when 127.0.0.1:`port` can be listened on now. */
const free = (port) => new Promise((resolve) => {
  const srv = createServer().once("error", () => resolve(false));
  srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
});

/** A base port with it and the next two free (the demo takes PORT, PORT+1, PORT+2). */
async function threeFreePorts() {
  for (let i = 0; i < 50; i++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    if ((await free(base)) && (await free(base + 1)) && (await free(base + 2))) return base;
  }
  throw new Error("no three consecutive free ports");
}

const fed = { proc: null, data: "", hubs: {}, token: "", exited: null };

/** Starts the demo and resolves when its three consoles are listed (the story has run). */
async function startFederation() {
  fed.data = mkdtempSync(join(tmpdir(), "m2mhub-browser-fed-"));
  const port = await threeFreePorts();
  fed.proc = spawn(bin, ["demo", "--federation", "--listen", `127.0.0.1:${port}`, "--data", fed.data], {
    env: { ...process.env, RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  fed.exited = new Promise((resolve) => fed.proc.on("exit", (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: fed.proc.stdout });
  await new Promise((resolve, reject) => {
    fed.proc.on("exit", (code) => reject(new Error(`demo --federation exited with ${code}`)));
    lines.on("line", (l) => {
      const m = /^console of (\w+)\s+(http:\/\/\S+?)\/?$/.exec(l);
      if (m) fed.hubs[m[1]] = m[2];
      if (l.startsWith("Ctrl-C to stop")) resolve();
    });
  });
  assert.deepEqual(Object.keys(fed.hubs).sort(), ["grid", "home", "street"]);
  fed.token = readFileSync(join(fed.data, "grid", "operator-token"), "utf8").trim();
}

async function page(hub) {
  const p = await newPage({ base: fed.hubs[hub], token: fed.token });
  p.errors = [];
  p.on("console", (m) => { if (m.type() === "error") p.errors.push(m.text()); });
  p.on("pageerror", (e) => p.errors.push(e.message));
  return p;
}
async function done(p) {
  assert.deepEqual(p.errors, [], "no console errors");
  await p.context().close();
}

describe("a federation of three hubs", () => {
  before(() => startFederation(), { timeout: 120_000 });
  after(async () => {
    if (!fed.proc) return;
    fed.proc.kill("SIGTERM");
    const { code, signal } = await fed.exited;
    assert.ok(code === 0 || signal === "SIGTERM", `demo --federation stopped on SIGTERM (code ${code}, signal ${signal})`);
  });

  test("the grid's console traces what reached substation@grid back to smart_tv@home", async () => {
    const p = await page("grid");
    await p.goto(`${fed.hubs.grid}/#federation/${encodeURIComponent("substation@grid")}`);
    const tv = p.locator('#fed-txs tr[data-id="home:1"]');
    await tv.waitFor();
    const cells = await tv.locator("td").allInnerTexts();
    assert.equal(cells[0], "home:1");
    assert.equal(cells[1], "home");
    assert.equal(cells[2].replace(/\s+/g, ""), "smart_tv@home");
    assert.equal(cells[4], "1 message, 1 flagged");
    // home:1 is in home's ledger, which this console does not open: no link, no invented URL.
    assert.equal(await tv.locator("td").first().locator("a").count(), 0);
    assert.match(await tv.locator("td").first().locator("span").getAttribute("title"), /m2mhub trace home:1 --federation/);
    // The provenance is another member's device: badged with its hub, linking to this view.
    const prov = tv.locator("td").nth(2).locator("a");
    assert.equal(await prov.getAttribute("href"), `#federation/${encodeURIComponent("smart_tv@home")}`);
    assert.equal(await prov.locator(".hub-badge").innerText(), "@home");
    assert.equal(await p.locator("#fed-unreachable").innerText(), "Every member hub answered.");
    assert.match(await p.locator("#fed-membership").innerText(), /This hub is grid, one of 3 hubs/);
    await axe(p, "#federation/substation@grid");
    await shot(p, "federation-grid");
    // And on a phone.
    const narrow = await newPage({ base: fed.hubs.grid, token: fed.token, width: 390, height: 844 });
    await narrow.goto(`${fed.hubs.grid}/#federation/${encodeURIComponent("substation@grid")}`);
    await narrow.locator('#fed-txs tr[data-id="home:1"]').waitFor();
    await axe(narrow, "#federation/substation@grid at 390 px");
    await narrow.context().close();
    // Paged with one transaction per member: the cursor keeps one position per member.
    await p.goto(`${fed.hubs.grid}/#federation/${encodeURIComponent("substation@grid")}?limit=1`);
    await tv.waitFor();
    assert.equal(await p.locator("#fed-txs tbody tr").count(), 2);
    await p.click("button:has-text('Older')");
    await p.locator(".pager-status", { hasText: "no older transactions" }).waitFor();
    assert.equal(await p.locator("#fed-txs tbody tr").count(), 0);
    await p.click("button:has-text('Newer')");
    await tv.waitFor();
    // The search box: a bare name is one of this hub's devices.
    await p.goto(`${fed.hubs.grid}/#federation`);
    await p.fill("#fed-device", "substation");
    await p.click("button:has-text('Ask the federation')");
    await p.locator('#fed-txs tr[data-id="street:1"]').waitFor();
    assert.equal(decodeURIComponent(new URL(p.url()).hash), "#federation/substation@grid");
    // The device page links to the same view.
    await p.goto(`${fed.hubs.grid}/#device/substation`);
    await p.locator("#device-federation").click();
    await p.locator('#fed-txs tr[data-id="home:1"]').waitFor();
    await done(p);
  });

  test("home's console shows which hub recorded each hop of home:1 and the grid's device badged", async () => {
    const p = await page("home");
    await p.goto(`${fed.hubs.home}/#tx/1`);
    await p.locator(".tx-progress", { hasText: "All 2 messages" }).waitFor();
    assert.equal(await p.locator("h1").innerText(), "Transaction home:1");
    assert.match(await p.locator("#tx-recorder").innerText(), /^home \(this hub\): transaction home:1/);
    const labels = await p.$$eval("svg.tx-tree a.node.msg", (as) => as.map((a) => a.getAttribute("aria-label")));
    assert.equal(labels.length, 2);
    for (const l of labels) assert.match(l, /, recorded by home \(this hub\)[,.]/);
    assert.ok(labels.some((l) => l.includes("smart_meter to substation@grid")));
    // Timeline rows off screen are not rendered (content-visibility): read their text.
    const row = p.locator(".tl-row", { hasText: "#9" });
    assert.equal(await row.locator(".hub-badge").textContent(), "@grid");
    assert.match(await row.textContent(), /#9 smart_meter → substation@grid continue · recorded by home \(this hub\)/);
    await axe(p, "#tx/1 on home");
    await done(p);
  });

  test("the grid's ledger page verifies which members cosigned its checkpoint", async () => {
    const p = await page("grid");
    await p.goto(`${fed.hubs.grid}/#ledger`);
    await p.locator("#ledger-size").waitFor();
    // The held checkpoint is the newest when the page opened; cosignatures may still be on
    // their way, so refresh until the witnessed policy (1 cosignature) is met.
    for (let i = 0; i < 20 && !(await p.locator("#ledger-cosignatures li.verdict-ok").count()); i++) {
      await p.waitForTimeout(500);
      await p.click("#ledger-refresh");
      await p.locator("#ledger-refresh-result .ok-box").waitFor();
    }
    const items = await p.locator("#ledger-cosignatures li").allInnerTexts();
    assert.ok(items.length >= 1, "the checkpoint carries cosignatures");
    for (const t of items) assert.match(t, /^(home|street) \(m2mhub\/(home|street), key id [0-9a-f]{8}\): verified here/);
    assert.match(await p.locator("#ledger-cosignatures").innerText(), /this checkpoint is witnessed/);
    await axe(p, "#ledger on grid");
    await done(p);
  });

  test("a hub in no federation says so", async () => {
    const p = await newPage();
    await p.goto(`${ctx.url}/#federation/${encodeURIComponent("substation@grid")}`);
    await p.locator(".warn-box", { hasText: "This hub is in no federation" }).waitFor();
    assert.match(await p.locator("#fed-membership").innerText(), /records no federation membership/);
    await axe(p, "#federation on a hub in no federation");
    await p.context().close();
  });
});
