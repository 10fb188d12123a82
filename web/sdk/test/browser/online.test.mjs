// Real browser, real server: when the browser comes back online, the SDK reconnects at once
// instead of waiting for the next delay of its schedule.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { TandemServer, launchBrowser, openClient, recorded, seqs, waitForEvents, waitForStatus } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await new TandemServer().start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.dispose();
});

test("the browser's online event reconnects at once, not at the next scheduled attempt", async () => {
  const alice = await server.signUp("alice");
  const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "online" } });
  const context = await browser.newContext();
  // After one failed attempt the next one is a minute away (no jitter, to make that certain).
  const page = await openClient(context, server.url, alice.token, { reconnectDelays: [200, 60000], jitter: false });
  await waitForStatus(page, "live");
  await server.stop();
  await waitForStatus(page, "offline");
  // The first retry (200 ms) fails against the stopped server; then the schedule says 60 s.
  await page.waitForFunction(() => window.read("test:statuses").filter(([s]) => s === "connecting").length >= 1, null, {
    timeout: 10000,
  });
  await waitForStatus(page, "offline");
  await server.start(); // same port and database
  await server.post(alice.token, thread.id, { missed: true });
  const back = Date.now();
  await context.setOffline(true);
  await context.setOffline(false); // the page gets `offline`, then `online`
  await waitForStatus(page, "live", 10000);
  const elapsed = Date.now() - back;
  assert.ok(elapsed < 5000, `live ${elapsed} ms after online (the schedule said 60 s)`);
  await waitForEvents(page, 1);
  assert.deepEqual((await recorded(page)).events, seqs(`thread:${thread.id}`, 1, 1));
  await context.close();
});
