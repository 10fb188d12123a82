// Real browser, real server: a network that silently stops delivering (a proxy that keeps the
// TCP connection open but forwards nothing). The SDK notices within the server's heartbeat
// interval + heartbeatTimeout (+1 s target), reconnects, and delivers what it missed once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import {
  Proxy, TandemServer, launchBrowser, openClient, recorded, seqs, waitForEvents, waitForStatus,
} from "./harness.mjs";

const INTERVAL = 1000;
const TIMEOUT = 1000;
let server;
let proxy;
let browser;

before(async () => {
  server = await new TandemServer(["--heartbeat-interval", `${INTERVAL}ms`, "--heartbeat-timeout", `${TIMEOUT}ms`]).start();
  proxy = await new Proxy(server.port).start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.dispose();
});

test("a dead socket is noticed within heartbeat interval + timeout + 1 s, and nothing is lost", async () => {
  const alice = await server.signUp("alice");
  const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "dead" } });
  const context = await browser.newContext();
  const page = await openClient(context, proxy.url, alice.token, { heartbeatTimeout: TIMEOUT });
  await waitForStatus(page, "live");
  await server.post(alice.token, thread.id, { i: 1 });
  await waitForEvents(page, 1);

  const detections = [];
  for (let run = 0; run < 3; run++) {
    const frozenAt = Date.now();
    assert.equal(proxy.freezeWebSockets(), 1);
    await server.post(alice.token, thread.id, { run }); // lost on the frozen socket
    // Waits on the recorded history, not the current status: with full jitter the offline
    // spell before the next attempt can be shorter than any polling interval.
    const since = (status) =>
      page.waitForFunction(
        ([wanted, after]) => window.read("test:statuses").some(([s, at]) => s === wanted && at >= after),
        [status, frozenAt],
        { timeout: 10000, polling: 20 },
      );
    await since("offline");
    const noticedAt = await page.evaluate(
      (after) => window.read("test:statuses").find(([s, at]) => s === "offline" && at >= after)[1],
      frozenAt,
    );
    detections.push(noticedAt - frozenAt);
    await since("live");
  }
  await waitForEvents(page, 4);
  const { events } = await recorded(page);
  assert.deepEqual(events, seqs(`thread:${thread.id}`, 1, 4));
  const bound = INTERVAL + TIMEOUT + 1000;
  for (const ms of detections) assert.ok(ms <= bound, `noticed after ${ms} ms, bound ${bound} ms`);
  console.log(
    `FIGURE dead socket noticed after ${detections.join(", ")} ms ` +
      `(server --heartbeat-interval ${INTERVAL}ms --heartbeat-timeout ${TIMEOUT}ms, SDK heartbeatTimeout ${TIMEOUT}; bound ${bound} ms)`,
  );
  await context.close();
});
