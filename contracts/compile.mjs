// Compiles contracts/src/*.sol with the pinned solc-js (package.json) through the standard-JSON
// interface and writes Foundry-style artifacts to contracts/out/<Name>.json:
// {abi, bytecode: {object}, deployedBytecode: {object}, metadata: {compiler, settings}}.
// The output is deterministic (sorted sources, fixed settings, no timestamps), so the committed
// artifacts can be checked against the sources: `node compile.mjs --check` recompiles in memory
// and exits 1 when any artifact differs from what is on disk.
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, "src");
const outDir = join(here, "out");
const check = process.argv.includes("--check");

const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  // No metadata hash: the bytecode then depends only on the sources and settings.
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

const files = readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort();
const sources = Object.fromEntries(
  files.map((f) => [f, { content: readFileSync(join(srcDir, f), "utf8") }]),
);
const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings })));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

let differ = 0;
mkdirSync(outDir, { recursive: true });
for (const file of files) {
  for (const [name, c] of Object.entries(output.contracts[file] ?? {}).sort()) {
    const artifact = {
      abi: c.abi,
      bytecode: { object: "0x" + c.evm.bytecode.object },
      deployedBytecode: { object: "0x" + c.evm.deployedBytecode.object },
      metadata: { compiler: solc.version(), source: `src/${file}`, settings },
    };
    const text = JSON.stringify(artifact, null, 2) + "\n";
    const path = join(outDir, `${name}.json`);
    if (check) {
      let old = "";
      try {
        old = readFileSync(path, "utf8");
      } catch {}
      if (old !== text) {
        console.error(`out/${name}.json differs from what src/${file} compiles to`);
        differ++;
      }
    } else {
      writeFileSync(path, text);
      console.log(`out/${name}.json: ${c.evm.deployedBytecode.object.length / 2} bytes deployed`);
    }
  }
}
if (differ > 0) {
  console.error("run `npm run build` in contracts/ and commit contracts/out/");
  process.exit(1);
}
if (check) console.log("contracts/out matches the sources");
