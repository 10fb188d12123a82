// Real browser, real server behind a proxy that refuses WebSocket upgrades: the page goes to
// `polling` and events keep arriving by long poll; when the proxy lets upgrades through, it is
// `live` again; every event once, in order.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import {
  Proxy, TandemServer, launchBrowser, openClient, recorded, seqs, waitForEvents, waitForStatus,
} from "./harness.mjs";

let server;
let proxy;
let browser;

before(async () => {
  server = await new TandemServer().start();
  proxy = await new Proxy(server.port).start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.dispose();
});

test("a proxy that refuses upgrades: polling, events keep arriving, back to live when it allows them", async () => {
  const alice = await server.signUp("alice");
  const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "poll" } });
  const room = `thread:${thread.id}`;
  proxy.refuseUpgrades = true;
  const context = await browser.newContext();
  // Short reconnect delays so that the return to WebSocket happens within the test's time.
  const page = await openClient(context, proxy.url, alice.token, { reconnectDelays: [500, 1000, 2000] });
  await waitForStatus(page, "polling");
  assert.ok(proxy.refused >= 1, "the upgrade was refused");

  const started = Date.now();
  await server.post(alice.token, thread.id, { i: 1 });
  await waitForEvents(page, 1);
  const latency = Date.now() - started;
  for (let i = 2; i <= 10; i++) await server.post(alice.token, thread.id, { i });
  await waitForEvents(page, 10);
  assert.equal(await page.evaluate(() => window.client.status), "polling");

  proxy.refuseUpgrades = false;
  await waitForStatus(page, "live", 20000);
  for (let i = 11; i <= 15; i++) await server.post(alice.token, thread.id, { i });
  await waitForEvents(page, 15);

  const { events, statuses } = await recorded(page);
  assert.deepEqual(events, seqs(room, 1, 15));
  const names = statuses.map(([s]) => s);
  assert.deepEqual(names.slice(names.indexOf("polling")), ["polling", "live"], `statuses: ${names}`);
  console.log(`FIGURE long-poll delivery (post answered to handler) ${latency} ms`);
  await context.close();
});
