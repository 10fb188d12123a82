// Reconnecting: seed 000's schedule and its reset, the hold after a server's 1001/1012, the
// online event and a page becoming visible, failed attempts. Fake socket, fake timers.
import { test } from "node:test";
import assert from "node:assert/strict";

import { connect } from "../../tandem.js";
import { FakeServer, fakeOptions, fakeTimers, flush, record } from "./fakes.mjs";

test("reconnects on 1, 2, 4, 8, 16, 30, 30 s and resets after a stable connection", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const options = fakeOptions(server);
  options.fetch.down = true; // the server is down: no polling either
  const client = connect(options);
  const { statuses } = record(client);
  await flush();
  assert.equal(client.status, "live");
  server.accept = false;
  server.last.drop(1006);
  assert.equal(client.status, "offline");
  const gaps = [];
  for (let attempt = 0; attempt < 7; attempt++) {
    const before = server.sockets.length;
    let waited = 0;
    while (server.sockets.length === before) {
      t.mock.timers.tick(500);
      waited += 500;
      await flush(3);
    }
    gaps.push(waited);
  }
  assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.ok(statuses.includes("offline") && statuses.at(-1) === "offline");

  // Back up: stays up 10 s (stableAfter), then drops: the schedule starts over at 1 s.
  server.accept = true;
  options.fetch.down = false;
  t.mock.timers.tick(30000);
  await flush();
  assert.equal(client.status, "live");
  t.mock.timers.tick(10000);
  const before = server.sockets.length;
  server.last.drop(1006);
  t.mock.timers.tick(999);
  await flush();
  assert.equal(server.sockets.length, before);
  t.mock.timers.tick(1);
  await flush();
  assert.equal(server.sockets.length, before + 1);
  assert.equal(client.status, "live");
  client.close();
});

/** Ticks 100 ms at a time until the client opens another socket; returns the ms waited. */
async function untilNextAttempt(t, server, limit = 60000) {
  const before = server.sockets.length;
  let waited = 0;
  while (server.sockets.length === before && waited < limit) {
    t.mock.timers.tick(100);
    waited += 100;
    await flush(3);
  }
  return waited;
}

for (const code of [1001, 1012]) {
  test(`a server closing with ${code} (restarting): retries stay at the first delay for restartWindow`, async (t) => {
    fakeTimers(t);
    const server = new FakeServer();
    const options = fakeOptions(server, { restartWindow: 5000 });
    options.fetch.down = true; // the server is down: no polling either
    const client = connect(options);
    const { statuses } = record(client);
    await flush();
    server.accept = false;
    server.last.drop(code);
    const gaps = [];
    for (let attempt = 0; attempt < 8; attempt++) gaps.push(await untilNextAttempt(t, server));
    // 1 s apart for the 5 s window, then the schedule from its start.
    assert.deepEqual(gaps, [1000, 1000, 1000, 1000, 1000, 1000, 2000, 4000]);
    // The refusals while restarting do not count towards the polling fallback.
    assert.ok(!statuses.includes("polling"), `statuses: ${statuses}`);
    server.accept = true;
    options.fetch.down = false;
    await untilNextAttempt(t, server);
    assert.equal(client.status, "live");
    client.close();
  });
}

test("a hold ends when a connection gets through: a later ordinary drop escalates again", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const options = fakeOptions(server, { restartWindow: 60000 });
  options.fetch.down = true;
  const client = connect(options);
  await flush();
  server.last.drop(1001);
  assert.equal(await untilNextAttempt(t, server), 1000);
  assert.equal(client.status, "live");
  server.accept = false;
  server.last.drop(1006); // ordinary: the schedule escalates again (held, it would stay at 1 s)
  const gaps = [];
  for (let attempt = 0; attempt < 3; attempt++) gaps.push(await untilNextAttempt(t, server));
  assert.deepEqual(gaps, [1000, 2000, 4000]);
  client.close();
});

test("restartWindow 0: a 1001 follows the plain schedule", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const options = fakeOptions(server, { restartWindow: 0 });
  options.fetch.down = true;
  const client = connect(options);
  await flush();
  server.accept = false;
  server.last.drop(1001);
  const gaps = [];
  for (let attempt = 0; attempt < 3; attempt++) gaps.push(await untilNextAttempt(t, server));
  assert.deepEqual(gaps, [1000, 2000, 4000]);
  client.close();
});

test("a short-lived connection does not reset the schedule", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const options = fakeOptions(server);
  options.fetch.down = true;
  const client = connect(options);
  await flush();
  server.last.drop(1006); // next delay 1 s
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(client.status, "live");
  server.last.drop(1006); // lived 0 s: next delay 2 s
  t.mock.timers.tick(1999);
  await flush();
  assert.equal(client.status, "offline");
  t.mock.timers.tick(1);
  await flush();
  assert.equal(client.status, "live");
  client.close();
});

test("the online event and a page becoming visible reconnect at once", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const options = fakeOptions(server);
  options.fetch.down = true;
  const client = connect(options);
  await flush();
  server.accept = false;
  server.last.drop(1006);
  for (let i = 0; i < 4; i++) {
    t.mock.timers.tick(30000); // the schedule is now at 16 s
    await flush();
  }
  server.accept = true;
  const count = server.sockets.length;
  options.window.fire("online");
  await flush();
  assert.equal(server.sockets.length, count + 1);
  assert.equal(client.status, "live");

  server.accept = false;
  server.last.drop(1006);
  await flush();
  server.accept = true;
  options.document.visibilityState = "hidden";
  options.document.fire("visibilitychange");
  await flush();
  assert.equal(client.status, "offline", "hidden: nothing happens");
  options.document.visibilityState = "visible";
  options.document.fire("visibilitychange");
  await flush();
  assert.equal(client.status, "live");
  client.close();
});

test("a WebSocket constructor that throws counts as a failed attempt", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  let throws = true;
  class Blocked extends server.WebSocket {
    constructor(url) {
      if (throws) throw new DOMException("refused by CSP", "SecurityError");
      super(url);
    }
  }
  const options = fakeOptions(server, { WebSocket: Blocked });
  options.fetch.down = true;
  const client = connect(options);
  await flush();
  assert.equal(client.status, "offline");
  throws = false;
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(client.status, "live");
  client.close();
});
