// Real browser, real server: a page that becomes visible again reconnects at once instead of
// waiting for the next delay of its schedule. Headless Chromium keeps every tab visible, so the
// page's visibility is emulated: `document.visibilityState` is overridden on the document and a
// `visibilitychange` event dispatched, which is exactly what the SDK listens to.
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

/** Makes the page report `state` ("hidden" / "visible") and fires `visibilitychange`. */
function setVisibility(page, state) {
  return page.evaluate((state) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => state === "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

test("a page becoming visible again reconnects at once, not at the next scheduled attempt", async () => {
  const alice = await server.signUp("alice");
  const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "visible" } });
  const room = `thread:${thread.id}`;
  const context = await browser.newContext();
  // After one failed attempt the next one is a minute away (no jitter, to make that certain);
  // restartWindow 0: the stop's 1001 must not shorten the schedule here.
  const options = { reconnectDelays: [200, 60000], jitter: false, restartWindow: 0 };
  const page = await openClient(context, server.url, alice.token, options);
  await waitForStatus(page, "live");
  await server.post(alice.token, thread.id, { before: true });
  await waitForEvents(page, 1);

  await setVisibility(page, "hidden"); // the user switches tabs; the SDK flushes its cursors
  const saved = await page.evaluate(() => Object.entries(sessionStorage).find(([k]) => k.startsWith("tandem:"))?.[1]);
  assert.deepEqual(JSON.parse(saved ?? "{}")[room], 1, "cursors saved when hidden");
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
  await setVisibility(page, "visible");
  await waitForStatus(page, "live", 10000);
  const elapsed = Date.now() - back;
  assert.ok(elapsed < 5000, `live ${elapsed} ms after becoming visible (the schedule said 60 s)`);
  await waitForEvents(page, 2);
  assert.deepEqual((await recorded(page)).events, seqs(room, 1, 2), "the missed message once");
  console.log(`visible → live in ${elapsed} ms`);
  await context.close();
});
