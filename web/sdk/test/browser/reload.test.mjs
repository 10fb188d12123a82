// Real browser, real server: reloading the page while messages stream in. The cursors kept in
// sessionStorage make the new page resume exactly where the old one stopped: nothing repeated,
// nothing lost (the page records what its handlers saw in sessionStorage too, which survives reloads).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { TandemServer, launchBrowser, openClient, recorded, seqs, startClient, waitForEvents, waitForStatus } from "./harness.mjs";

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

test("reload mid-stream: nothing repeated, nothing lost", async () => {
  const alice = await server.signUp("alice");
  const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "reload" } });
  const room = `thread:${thread.id}`;
  const context = await browser.newContext();
  const page = await openClient(context, server.url, alice.token);
  await waitForStatus(page, "live");

  const TOTAL = 300;
  let posted = 0;
  const stream = (async () => {
    while (posted < TOTAL) await server.post(alice.token, thread.id, { i: ++posted });
  })();
  for (const at of [60, 140, 220]) {
    await waitForEvents(page, at - 40);
    await page.reload(); // handlers stop mid-stream; the SDK is imported again below
    await startClient(page, alice.token);
  }
  await stream;
  await waitForEvents(page, TOTAL, 30000);
  const { events, statuses } = await recorded(page);
  assert.equal(events.length, TOTAL, "no event repeated");
  assert.deepEqual(events, seqs(room, 1, TOTAL), "none lost, in order");
  assert.ok(statuses.filter(([s]) => s === "live").length >= 4, "four page loads went live");
  await context.close();
});
