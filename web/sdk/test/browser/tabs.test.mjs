// Real browser, real server: two tabs with `shareAcrossTabs` hold one WebSocket between them
// (the server's ws_connections_active gauge says 1), both tabs get every event, and closing the
// leader tab hands the socket to the other, which loses nothing and repeats nothing. A follower
// tab that reloads mid-stream is caught up by the leader: nothing lost, nothing repeated.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import {
  TandemServer, launchBrowser, openClient, recorded, seqs, startClient, waitForEvents, waitForStatus,
} from "./harness.mjs";

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

/** Polls the server's gauge until it reads `value` (bounded). */
async function connectionsBecome(value, timeout = 10000) {
  const deadline = Date.now() + timeout;
  let seen;
  while (Date.now() < deadline) {
    seen = await server.metric("ws_connections_active");
    if (seen === value) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`ws_connections_active stayed ${seen}, expected ${value}`);
}

test("two tabs share one WebSocket; both get every event; closing the leader loses nothing", async () => {
  const alice = await server.signUp("alice");
  const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "tabs" } });
  const room = `thread:${thread.id}`;
  const context = await browser.newContext(); // one browser profile: shared locks and channels
  const options = { shareAcrossTabs: true };
  const first = await openClient(context, server.url, alice.token, options);
  await waitForStatus(first, "live");
  const second = await context.newPage();
  const resumes = []; // the auth frames the second tab's own sockets send
  second.on("websocket", (ws) => ws.on("framesent", ({ payload }) => {
    const frame = JSON.parse(String(payload));
    if (frame.type === "auth") resumes.push(frame.resume ?? {});
  }));
  await openClient(context, server.url, alice.token, options, second);
  await waitForStatus(second, "live");
  const leaders = await Promise.all([first, second].map((p) => p.evaluate(() => window.client.isLeader)));
  assert.deepEqual(leaders, [true, false]);
  await connectionsBecome(1);

  for (let i = 1; i <= 10; i++) await server.post(alice.token, thread.id, { i });
  await waitForEvents(first, 10);
  await waitForEvents(second, 10);
  const ack = await second.evaluate(() => window.client.send({ type: "list_users" }).then((a) => a.type));
  assert.equal(ack, "ack", "the follower sends through the leader");

  // The leader tab goes while messages keep coming.
  let posted = 10;
  const stream = (async () => {
    while (posted < 40) await server.post(alice.token, thread.id, { i: ++posted });
  })();
  await first.close();
  await waitForStatus(second, "live");
  await stream;
  await waitForEvents(second, 40);
  assert.equal(await second.evaluate(() => window.client.isLeader), true, "the other tab took over");
  assert.equal(resumes.length, 1, "the follower opened no socket of its own before");
  assert.ok(resumes[0][room] >= 10, `it resumed from its own cursor: ${JSON.stringify(resumes[0])}`);
  console.log(`hand-over: the new leader resumed after seq ${resumes[0][room]} of 40`);
  await connectionsBecome(1);

  const { events } = await recorded(second);
  assert.deepEqual(events, seqs(room, 1, 40), "nothing lost or repeated across the hand-over");
  await context.close();
});

test("a follower tab reloading mid-stream is caught up by the leader: nothing lost or repeated", async () => {
  const bob = await server.signUp("bob");
  const thread = await server.api("POST", "/api/v1/threads", { token: bob.token, body: { name: "follower reload" } });
  const room = `thread:${thread.id}`;
  const context = await browser.newContext();
  const options = { shareAcrossTabs: true };
  const leader = await openClient(context, server.url, bob.token, options);
  await waitForStatus(leader, "live");
  const follower = await openClient(context, server.url, bob.token, options);
  await waitForStatus(follower, "live");
  assert.equal(await follower.evaluate(() => window.client.isLeader), false);
  let sockets = 0; // WebSockets the follower opens itself: none, before or after its reloads
  follower.on("websocket", () => sockets++);
  await connectionsBecome(1);

  const TOTAL = 150;
  let posted = 0;
  const stream = (async () => {
    while (posted < TOTAL) await server.post(bob.token, thread.id, { i: ++posted });
  })();
  for (const at of [30, 80]) {
    await waitForEvents(follower, at);
    await follower.reload(); // its handlers stop mid-stream; the SDK is imported again below
    await startClient(follower, bob.token, options);
    await waitForStatus(follower, "live");
    assert.equal(await follower.evaluate(() => window.client.isLeader), false, "still a follower");
  }
  await stream;
  await waitForEvents(follower, TOTAL, 30000);
  await waitForEvents(leader, TOTAL, 30000);
  const { events } = await recorded(follower);
  assert.equal(events.length, TOTAL, "no event repeated across the reloads");
  assert.deepEqual(events, seqs(room, 1, TOTAL), "none lost, in order");
  assert.deepEqual((await recorded(leader)).events, seqs(room, 1, TOTAL));
  assert.equal(sockets, 0, "the follower never opened a WebSocket");
  await connectionsBecome(1);
  await context.close();
});
