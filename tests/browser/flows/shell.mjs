// The console's shell: it loads, navigates, and shows its connection state. (The incidents,
// investigation, device, forms and security flows join this file.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { ctx, newPage, shot, axe } from "../harness.mjs";

test("the console loads with its views in the navigation and a live connection", async () => {
  const page = await newPage();
  await page.goto(ctx.url);
  for (const name of ["Incidents", "Messages", "Devices", "Security", "Ledger"]) {
    await page.getByRole("link", { name, exact: true }).waitFor();
  }
  await page.locator("#status", { hasText: "live" }).waitFor();
  await shot(page, "shell");
  await axe(page, "the landing view");
  await page.context().close();
});
