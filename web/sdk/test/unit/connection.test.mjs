// The connection: auth and resume, tokens, the watchdog, exactly-once delivery, send/ack,
// subscriptions across reconnects (the reconnect schedule: reconnect.test.mjs). Fake socket,
// fake timers.
import { test } from "node:test";
import assert from "node:assert/strict";

import { connect } from "../../tandem.js";
import { FakeServer, MemoryStorage, fakeFetch, fakeOptions, fakeTimers, flush, record } from "./fakes.mjs";

test("connects with first-frame auth, goes live after the sync ping's ack", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const client = connect(fakeOptions(server));
  assert.equal(client.status, "connecting");
  await flush();
  const socket = server.last;
  assert.equal(socket.url, "ws://tandem.test/ws");
  assert.deepEqual(socket.sent[0], { type: "auth", token: "tok" });
  assert.deepEqual(socket.sent[1], { type: "ping", ref: "tandem-sync" });
  assert.equal(client.status, "live");
  assert.equal(client.userId, "u1");
  client.close();
  assert.equal(client.status, "offline");
  assert.equal(socket.closedByClient, 1000);
});

test("getToken is asked before every attempt; a 4401 asks for a new token", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  server.badTokens.add("t1");
  const calls = [];
  let n = 0;
  const getToken = async ({ rejected }) => (calls.push(rejected ?? null), `t${++n}`);
  const client = connect(fakeOptions(server, { token: undefined, getToken, storageKey: "k" }));
  await flush();
  assert.equal(client.status, "offline", "t1 refused with 4401");
  assert.deepEqual(calls, [null]);
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(client.status, "live");
  assert.deepEqual(calls, [null, "t1"], "told which token was refused");
  assert.equal(server.last.sent[0].token, "t2");
  server.last.drop(1006);
  t.mock.timers.tick(2000); // the second delay of the schedule
  await flush();
  assert.deepEqual(calls, [null, "t1", null], "asked again before the reconnect");
  assert.equal(server.last.sent[0].token, "t3");
  client.close();
});

test("getToken returning the refused token again does not reconnect with it", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  server.badTokens.add("same");
  const client = connect(fakeOptions(server, { token: undefined, getToken: async () => "same", storageKey: "k" }));
  await flush();
  const sockets = server.sockets.length;
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(server.sockets.length, sockets, "no socket opened with a refused token");
  assert.equal(client.status, "offline");
  client.close();
});

test("a static token refused with 4401 stops the client", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  server.badTokens.add("tok");
  const client = connect(fakeOptions(server));
  const errors = [];
  client.on("error", (f) => errors.push(f.code));
  await flush();
  t.mock.timers.tick(120000);
  await flush();
  assert.equal(server.sockets.length, 1);
  assert.equal(client.status, "offline");
  assert.deepEqual(errors, ["unauthorized"]);
  await assert.rejects(client.send({ type: "list_users" }), { code: "closed" });
});

test("watchdog: a socket silent for heartbeat interval + timeout is replaced", async (t) => {
  fakeTimers(t);
  const server = new FakeServer({ heartbeat: 1000 });
  const client = connect(fakeOptions(server, { heartbeatTimeout: 500 }));
  await flush();
  const first = server.last;
  for (let i = 0; i < 5; i++) {
    t.mock.timers.tick(1000);
    first.push({ type: "ping" }); // the server's heartbeat keeps it alive
  }
  assert.equal(client.status, "live");
  assert.ok(first.sent.some((f) => f.type === "pong"), "pings are answered");
  t.mock.timers.tick(1499);
  assert.equal(client.status, "live");
  t.mock.timers.tick(1);
  assert.equal(client.status, "offline", "noticed 1.5 s after the last frame");
  assert.equal(first.closedByClient, 1000);
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(client.status, "live");
  assert.notEqual(server.last, first);
  client.close();
});

test("watchdog: checked again when the page becomes visible (throttled timers)", async (t) => {
  fakeTimers(t);
  const server = new FakeServer({ heartbeat: 1000 });
  const options = fakeOptions(server, { heartbeatTimeout: 500 });
  const client = connect(options);
  await flush();
  // A background tab's timers did not run, but the clock moved on.
  const first = server.last;
  t.mock.timers.setTime(Date.now() + 60000);
  assert.equal(client.status, "live");
  options.document.fire("visibilitychange");
  assert.equal(first.closedByClient, 1000, "the silent socket is dropped");
  await flush();
  assert.notEqual(server.last, first, "and replaced at once (the page is visible)");
  assert.equal(client.status, "live");
  client.close();
});

test("exactly once and in order: duplicates dropped, resume after a reconnect", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const client = connect(fakeOptions(server));
  const { events } = record(client);
  await flush();
  server.publish("thread:a");
  server.publish("thread:a");
  server.last.push(server.log.get("thread:a")[1]); // a repeat
  server.last.drop(1006);
  server.publish("thread:a"); // while disconnected
  server.publish("thread:b");
  t.mock.timers.tick(1000);
  await flush();
  assert.deepEqual(server.last.sent[0].resume, { "thread:a": 2 });
  server.publish("thread:a");
  assert.deepEqual(events, ["thread:a#1", "thread:a#2", "thread:a#3", "thread:a#4"]);
  assert.equal(client.cursor("thread:a"), 4);
  client.close();
});

test("a reload resumes from the cursors in storage: nothing repeated, nothing lost", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const storage = new MemoryStorage();
  const first = connect(fakeOptions(server, { storage }));
  const before = record(first);
  await flush();
  for (let i = 0; i < 3; i++) server.publish("thread:a");
  first.close();
  for (let i = 0; i < 2; i++) server.publish("thread:a"); // during the reload
  const second = connect(fakeOptions(server, { storage }));
  const after = record(second);
  await flush();
  assert.deepEqual(server.last.sent[0].resume, { "thread:a": 3 });
  server.publish("thread:a");
  assert.deepEqual(before.events, ["thread:a#1", "thread:a#2", "thread:a#3"]);
  assert.deepEqual(after.events, ["thread:a#4", "thread:a#5", "thread:a#6"]);
  second.close();
});

test("resync_required reaches the app and moves the cursor", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const client = connect(fakeOptions(server));
  const resyncs = [];
  client.on("resync_required", (f) => resyncs.push(f.room));
  await flush();
  server.last.push({ type: "resync_required", room: "thread:a", last_seq: 120 });
  assert.deepEqual(resyncs, ["thread:a"]);
  assert.equal(client.cursor("thread:a"), 120);
  server.last.drop(1006);
  t.mock.timers.tick(1000);
  await flush();
  assert.deepEqual(server.last.sent[0].resume, { "thread:a": 120 });
  client.close();
});

test("send: ack resolves, error rejects with its code, silence times out, a drop rejects", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  server.autoConnect = true;
  const client = connect(fakeOptions(server, { sendTimeout: 2000 }));
  await flush();
  const socket = server.last;
  server.autoConnect = false; // answer by hand from here
  const acked = client.send({ type: "list_users" });
  const refused = client.send({ type: "subscribe", room: "lobby:1" });
  const silent = client.send({ type: "ping" });
  await flush();
  const [a, b] = socket.sent.slice(-3);
  socket.push({ type: "online_users", users: [] });
  socket.push({ type: "ack", ref: a.ref });
  socket.push({ type: "error", code: "validation_failed", message: "unknown room kind", ref: b.ref });
  assert.deepEqual(await acked, { type: "ack", ref: a.ref });
  await assert.rejects(refused, { name: "TandemError", code: "validation_failed" });
  t.mock.timers.tick(2000);
  await assert.rejects(silent, { code: "timeout" });
  const inflight = client.send({ type: "list_users" });
  await flush();
  socket.drop(1006);
  await assert.rejects(inflight, { code: "disconnected" });
  client.close();
});

test("send while connecting waits for live; ack:false frames are not queued", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const client = connect(fakeOptions(server));
  const queued = client.send({ type: "list_users" });
  await assert.rejects(client.send({ type: "typing", room: "canvas:1", is_typing: true }, { ack: false }), {
    code: "not_connected",
  });
  await flush();
  assert.equal((await queued).type, "ack");
  client.close();
});

test("subscribe: joined with its cursor, rejoined after each reconnect, replay exactly once", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const client = connect(fakeOptions(server));
  const { events } = record(client);
  await flush();
  server.publish("canvas:1", { type: "tile_created" }); // before we view it: not ours
  await client.subscribe("canvas:1", { after: 1 });
  assert.deepEqual(server.last.sent.at(-1), { type: "subscribe", room: "canvas:1", ref: "tandem-1", after: 1 });
  server.publish("canvas:1", { type: "tile_created" });
  server.last.drop(1006);
  server.publish("canvas:1", { type: "tile_created" });
  t.mock.timers.tick(1000);
  await flush();
  const rejoin = server.last.sent.find((f) => f.type === "subscribe");
  assert.equal(rejoin.after, 2);
  assert.deepEqual(server.last.sent[0].resume, undefined, "viewed rooms are not in the auth resume");
  await client.unsubscribe("canvas:1");
  server.publish("canvas:1", { type: "tile_created" });
  assert.deepEqual(events, ["canvas:1#2", "canvas:1#3"]);
  client.close();
});

test("rooms refused at resume are dropped from the next resume", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const storage = new MemoryStorage();
  storage.setItem("tandem:http://tandem.test:", JSON.stringify({ "thread:gone": 4, "thread:ok": 1 }));
  const client = connect(fakeOptions(server, { storage }));
  await flush();
  assert.deepEqual(server.last.sent[0].resume, { "thread:gone": 4, "thread:ok": 1 });
  server.last.push({ type: "error", code: "not_found", message: "cannot resume `thread:gone`: room not found" });
  server.last.drop(1006);
  t.mock.timers.tick(1000);
  await flush();
  assert.deepEqual(server.last.sent[0].resume, { "thread:ok": 1 });
  client.close();
});

test("thread cursors are discovered by REST before the first connect", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const fetch = fakeFetch({
    "GET /api/v1/threads": () => ({ body: { threads: [{ id: "a", seq: 7 }, { id: "b", seq: 0 }] } }),
  });
  const storage = new MemoryStorage();
  const client = connect(fakeOptions(server, { fetch, storage, discoverThreads: true }));
  await flush();
  assert.deepEqual(server.last.sent[0].resume, { "thread:a": 7, "thread:b": 0 });
  client.close(); // pagehide: the cursors are flushed
  assert.deepEqual(JSON.parse(storage.getItem("tandem:http://tandem.test:")), { "thread:a": 7, "thread:b": 0 });
});

test("a viewed room left: its late events are ignored and a later live subscribe replays nothing", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const client = connect(fakeOptions(server));
  const { events } = record(client);
  await flush();
  await client.subscribe("canvas:1");
  server.publish("canvas:1", { type: "tile_created" });
  await client.unsubscribe("canvas:1");
  server.last.push({ type: "tile_created", room: "canvas:1", seq: 2, timestamp: 0 }); // in flight
  server.publish("canvas:1", { type: "tile_created" }); // seq 2, not sent: not subscribed
  await client.subscribe("canvas:1");
  assert.equal(server.last.sent.at(-1).after, undefined, "joined live: no cursor was kept");
  server.publish("canvas:1", { type: "tile_created" });
  assert.deepEqual(events, ["canvas:1#1", "canvas:1#3"]);
  client.close();
});

test("cursors are flushed when the page is hidden (a hidden tab may be killed)", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const options = fakeOptions(server);
  const client = connect(options);
  await flush();
  server.publish("thread:a");
  server.publish("thread:a");
  const key = "tandem:http://tandem.test:";
  assert.notEqual(JSON.parse(options.storage.getItem(key))["thread:a"], 2, "the second save waits");
  options.document.visibilityState = "hidden";
  options.document.fire("visibilitychange");
  assert.equal(JSON.parse(options.storage.getItem(key))["thread:a"], 2);
  client.close();
});

test("a 4401 on a live connection (token expired) reconnects with a new token and resumes", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  const tokens = ["t1", "t2"];
  const asked = [];
  const getToken = async ({ rejected }) => (asked.push(rejected ?? null), tokens.shift());
  const client = connect(fakeOptions(server, { token: undefined, getToken, storageKey: "k" }));
  const { events } = record(client);
  await flush();
  server.publish("thread:a");
  server.badTokens.add("t1");
  server.last.drop(4401);
  server.publish("thread:a");
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(client.status, "live");
  assert.equal(server.last.sent[0].token, "t2");
  assert.deepEqual(server.last.sent[0].resume, { "thread:a": 1 });
  assert.equal(asked.at(-1), "t1", "told which token the server refused");
  assert.deepEqual(events, ["thread:a#1", "thread:a#2"]);
  client.close();
});
