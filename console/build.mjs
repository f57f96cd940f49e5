// Builds the console: bundles src/main.js and src/style.css with esbuild and inlines both in
// src/index.html, giving the one self-contained page the hub embeds and serves at `/`
// (crates/m2mhub-server/ui/index.html, committed so that building the hub needs no node).
// `--check` builds in memory and fails when the committed page differs (`make test` runs it).
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "crates", "m2mhub-server", "ui", "index.html");

async function bundle(entry, loader) {
  const r = await build({
    entryPoints: [join(here, "src", entry)],
    bundle: true,
    write: false,
    minify: true,
    format: loader === "js" ? "iife" : undefined,
    target: ["es2022", "chrome110", "firefox110", "safari16"],
    legalComments: "inline",
    charset: "utf8",
    logLevel: "error",
  });
  return r.outputFiles[0].text;
}

const js = (await bundle("main.js", "js")).replace(/<\/(script)/gi, "<\\/$1");
const css = (await bundle("style.css", "css")).replace(/<\/(style)/gi, "<\\/$1");
const template = readFileSync(join(here, "src", "index.html"), "utf8");
const page = template
  .replace("/*STYLE*/", () => css.trim())
  .replace("/*SCRIPT*/", () => js.trim());

if (process.argv.includes("--check")) {
  let committed = "";
  try { committed = readFileSync(out, "utf8"); } catch { /* missing: differs */ }
  if (committed !== page) {
    console.error(`${out} differs from a fresh build of console/src: run \`make console\` and commit the result`);
    process.exit(1);
  }
  console.log(`console: ${out} matches console/src (${page.length} bytes)`);
} else {
  writeFileSync(out, page);
  console.log(`console: wrote ${out} (${page.length} bytes)`);
}
