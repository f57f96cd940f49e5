// The console in real headless Chromium against a live `m2mhub demo` (see harness.mjs): every
// flow in flows/ shares the harness's one demo warm-up. The flows are imported after the hooks
// are registered, so the warm-up runs before any of their tests.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { ctx, setUp, tearDown } from "./harness.mjs";

before(() => setUp(), { timeout: 10 * 60_000 });
after(async () => {
  await tearDown();
  assert.deepEqual(ctx.pageErrors, [], "uncaught errors in the console's pages");
});

await import("./flows/shell.mjs");
await import("./flows/tx.mjs");
await import("./flows/federation.mjs");
