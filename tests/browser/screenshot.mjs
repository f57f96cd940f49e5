// `make screenshot`: the README's pictures, taken from a live `m2mhub demo` after the same
// warm-up as the browser tests (its story, then a minute of background traffic), not staged:
// the landing view (incidents) as docs/console.png and the compromised smart TV's transaction
// as docs/console-tx.png.
import { join } from "node:path";
import { ctx, root, setUp, tearDown, newPage, api } from "./harness.mjs";

await setUp({ withFixtures: false });
try {
  const page = await newPage({ width: 1440, height: 900 });
  await page.goto(ctx.url);
  await page.getByText("begun by smart_tv").first().waitFor();
  await page.screenshot({ path: join(root, "docs", "console.png") });
  const tv = await api("/v1/messages?device=smart_tv&limit=100");
  const tx = tv.items.find((m) => m.sender === "smart_tv" && m.action === "begin").tx;
  await page.goto(`${ctx.url}/#tx/${tx}`);
  await page.getByText("All 3 messages loaded").waitFor();
  await page.screenshot({ path: join(root, "docs", "console-tx.png") });
  console.log("wrote docs/console.png and docs/console-tx.png");
} finally {
  await tearDown();
}
