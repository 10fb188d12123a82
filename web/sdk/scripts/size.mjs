// `npm run size`: tandem.js minified by esbuild, then gzipped at level 9 (zlib, the same DEFLATE
// level as `gzip -9`; `esbuild --minify tandem.js | gzip -9 | wc -c` agrees within a few bytes).
// Fails when over the budget: 12 KiB min+gzip, the target.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { transformSync } from "esbuild";

const BUDGET = 12 * 1024;
const source = readFileSync(new URL("../tandem.js", import.meta.url), "utf8");
const { code } = transformSync(source, { minify: true, format: "esm", target: "es2022" });
const gzipped = gzipSync(code, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB (${n} B)`;
console.log(`tandem.js: source ${kb(source.length)}, minified ${kb(code.length)}, min+gzip -9 ${kb(gzipped)}`);
if (gzipped > BUDGET) {
  console.error(`over the ${kb(BUDGET)} budget`);
  process.exit(1);
}
