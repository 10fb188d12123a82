// shareAcrossTabs: leader election over (fake) Web Locks, relaying over a real
// BroadcastChannel (node's), hand-over when the leader goes, catch-up of a tab that joins late.
import { test } from "node:test";
import assert from "node:assert/strict";

import { connect, __internal } from "../../tandem.js";
import { FakeLocks, FakeServer, MemoryStorage, fakeOptions, flush } from "./fakes.mjs";

let channels = 0;

/** Flushes until `condition()` holds (BroadcastChannel messages take event-loop turns). */
async function until(condition, what) {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await flush(2);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** A tab: a client sharing `locks` and the channel name with the other tabs of the test. */
function tab(server, locks, key, extra = {}) {
  const client = connect(
    fakeOptions(server, { shareAcrossTabs: true, locks, BroadcastChannel, storageKey: key, ...extra }),
  );
  const events = [];
  client.on("*", (f) => f.seq !== undefined && events.push(`${f.room}#${f.seq}`));
  return { client, events };
}

const seqs = (room, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${room}#${from + i}`);

test("electLeader: one holder at a time, the next waiting tab takes over on resign", async () => {
  const locks = new FakeLocks();
  const led = [];
  const resignA = __internal.electLeader(locks, "x", () => led.push("a"));
  const resignB = __internal.electLeader(locks, "x", () => led.push("b"));
  const resignC = __internal.electLeader(locks, "x", () => led.push("c"));
  await flush();
  assert.deepEqual(led, ["a"]);
  resignC(); // stops waiting
  resignA();
  await flush();
  assert.deepEqual(led, ["a", "b"]);
  resignB();
  await flush();
  assert.deepEqual(led, ["a", "b"]);
});

test("one socket for two tabs; both get every event; the follower sends through the leader", async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const key = `tabs-${++channels}`;
  const a = tab(server, locks, key);
  await until(() => a.client.status === "live", "the leader live");
  const b = tab(server, locks, key);
  await until(() => b.client.status === "live", "the follower told the status");
  assert.equal(a.client.isLeader, true);
  assert.equal(b.client.isLeader, false);
  assert.equal(server.sockets.length, 1, "one WebSocket");
  assert.equal(b.client.userId, "u1");

  for (let i = 0; i < 3; i++) server.publish("thread:a");
  await until(() => b.events.length === 3, "frames relayed");
  assert.deepEqual(a.events, seqs("thread:a", 1, 3));
  assert.deepEqual(b.events, seqs("thread:a", 1, 3));

  const ack = await b.client.send({ type: "list_users" });
  assert.equal(ack.type, "ack");
  assert.equal(await b.client.send({ type: "pong" }, { ack: false }), undefined);
  assert.deepEqual(server.last.sent.at(-1), { type: "pong" }, "written by the leader's socket");
  a.client.close();
  b.client.close();
});

test("the follower's rooms are joined by the leader and delivered to that tab only", async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const key = `tabs-${++channels}`;
  const a = tab(server, locks, key);
  await until(() => a.client.status === "live", "leader live");
  const b = tab(server, locks, key);
  await until(() => b.client.status === "live", "follower live");
  await b.client.subscribe("canvas:1");
  const socket = server.last;
  assert.ok(socket.rooms.has("canvas:1"), "the leader's socket joined the follower's room");
  server.publish("canvas:1", { type: "tile_created" });
  await until(() => b.events.length === 1, "the canvas event at the follower");
  assert.deepEqual(a.events, [], "the leader does not view it");
  await b.client.unsubscribe("canvas:1");
  assert.ok(!socket.rooms.has("canvas:1"), "left when no tab views it");
  a.client.close();
  b.client.close();
});

test("closing the leader: the other tab takes over, resumes from its cursors, nothing lost or repeated", async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const key = `tabs-${++channels}`;
  const a = tab(server, locks, key);
  await until(() => a.client.status === "live", "leader live");
  const b = tab(server, locks, key);
  await until(() => b.client.status === "live", "follower live");
  await b.client.subscribe("canvas:1");
  for (let i = 0; i < 5; i++) server.publish("thread:a");
  server.publish("canvas:1", { type: "tile_created" });
  await until(() => b.events.length === 6, "relayed");

  const statuses = [];
  b.client.onStatus((status) => statuses.push(status));
  a.client.close(); // the leader tab goes
  for (let i = 0; i < 3; i++) server.publish("thread:a"); // while nobody holds a socket
  server.publish("canvas:1", { type: "tile_created" });
  await until(() => b.client.isLeader && b.client.status === "live", "the follower leads");
  assert.equal(server.open.length, 1, "still one socket");
  assert.deepEqual(statuses, ["connecting", "live"], "the new leader reports its own connect");
  const resumed = server.last;
  assert.deepEqual(resumed.sent[0].resume, { "thread:a": 5 });
  assert.deepEqual(resumed.sent.find((f) => f.type === "subscribe"), { type: "subscribe", room: "canvas:1", ref: "tandem-1", after: 1 });
  server.publish("thread:a");
  await until(() => b.events.length === 11, "all events");
  assert.deepEqual(b.events.filter((e) => e.startsWith("thread:a")), seqs("thread:a", 1, 9));
  assert.deepEqual(b.events.filter((e) => e.startsWith("canvas:1")), seqs("canvas:1", 1, 2));
  b.client.close();
});

test("a tab that joins late (or reloads) is caught up from the leader's recent frames", async () => {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const key = `tabs-${++channels}`;
  const a = tab(server, locks, key);
  await until(() => a.client.status === "live", "leader live");
  for (let i = 0; i < 6; i++) server.publish("thread:a");
  await until(() => a.events.length === 6, "leader has 6");
  // This tab was here before (its storage says it had thread:a up to 2), then reloaded.
  const storage = new MemoryStorage();
  storage.setItem(key, JSON.stringify({ "thread:a": 2 }));
  const c = tab(server, locks, key, { storage });
  server.publish("thread:a"); // live while it says hello
  await until(() => c.events.length === 5, "caught up");
  assert.deepEqual(c.events, seqs("thread:a", 3, 7));
  a.client.close();
  c.client.close();
});
