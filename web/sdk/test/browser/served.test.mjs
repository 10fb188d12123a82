// The server serves the SDK and its types from web/sdk (API.md §6), byte for byte.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { TandemServer } from "./harness.mjs";

let server;

before(async () => {
  server = await new TandemServer().start();
});

after(async () => {
  await server?.dispose();
});

for (const [file, type] of [["tandem.js", "text/javascript"], ["tandem.d.ts", "text/plain"]]) {
  test(`GET /sdk/${file} is web/sdk/${file}`, async () => {
    const response = await fetch(`${server.url}/sdk/${file}`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), new RegExp(`^${type}`));
    assert.equal(await response.text(), readFileSync(new URL(`../../${file}`, import.meta.url), "utf8"));
  });
}
