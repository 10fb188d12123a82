// The SDK's internal units on their own: backoff schedule, cursor store (dedupe, persistence),
// rooms (replay rule, resume map), the catch-up buffer, token helpers.
import { test } from "node:test";
import assert from "node:assert/strict";

import { __internal } from "../../tandem.js";
import { MemoryStorage } from "./fakes.mjs";

const { Backoff, CursorStore, Rooms, Recent, Tokens, subjectOf, httpBase } = __internal;

test("backoff: 1, 2, 4, 8, 16, then 30 s for ever; reset starts over", () => {
  const backoff = new Backoff(undefined, false);
  const delays = Array.from({ length: 9 }, () => backoff.next());
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  backoff.reset();
  assert.equal(backoff.next(), 1000);
});

test("backoff: a hold keeps the first delay until it expires or is released, then starts over", (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
  const backoff = new Backoff(undefined, false);
  backoff.next();
  backoff.next(); // at 4 s now
  backoff.hold(3000);
  assert.equal(backoff.held, true);
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [1000, 1000, 1000]);
  t.mock.timers.tick(3000);
  assert.equal(backoff.held, false);
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [1000, 2000, 4000]);
  backoff.hold(60000);
  backoff.release();
  assert.deepEqual([backoff.next(), backoff.next()], [1000, 2000]);
  const jittered = new Backoff(undefined, true, () => 0.999999);
  jittered.hold(60000);
  assert.deepEqual([jittered.next(), jittered.next()], [1000, 1000], "jittered within [0, first delay]");
});

test("backoff: full jitter is uniform in [0, base]", () => {
  const low = new Backoff(undefined, true, () => 0);
  const high = new Backoff(undefined, true, () => 0.999999);
  assert.deepEqual([low.next(), low.next()], [0, 0]);
  assert.deepEqual([high.next(), high.next(), high.next()], [1000, 2000, 4000]);
  const real = new Backoff();
  const reference = new Backoff(undefined, false);
  for (let i = 0; i < 1000; i++) {
    const delay = real.next();
    const base = reference.next();
    assert.ok(delay >= 0 && delay <= base, `${delay} outside [0, ${base}]`);
  }
});

test("cursor store: duplicates and older events are refused, rooms are independent", () => {
  const cursors = new CursorStore();
  assert.equal(cursors.accept("thread:a", 1), true);
  assert.equal(cursors.accept("thread:a", 2), true);
  assert.equal(cursors.accept("thread:a", 2), false);
  assert.equal(cursors.accept("thread:a", 1), false);
  assert.equal(cursors.accept("thread:b", 1), true);
  assert.deepEqual(cursors.toJSON(), { "thread:a": 2, "thread:b": 1 });
});

test("cursor store: persisted cursors survive a reload; cursors set before loading win", () => {
  const storage = new MemoryStorage();
  const first = new CursorStore();
  first.attach(storage, "k");
  first.accept("thread:a", 7);
  first.accept("user:u", 3);
  first.flush(); // what the client does on pagehide

  const reloaded = new CursorStore({ "user:u": 5 });
  reloaded.attach(storage, "k");
  assert.equal(reloaded.get("thread:a"), 7);
  assert.equal(reloaded.get("user:u"), 5);
  assert.equal(reloaded.accept("thread:a", 7), false, "delivered before the reload");
  assert.equal(reloaded.accept("thread:a", 8), true);
});

test("cursor store: saves closer than 16 ms apart are coalesced into one write", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1000 });
  const storage = new MemoryStorage();
  let writes = 0;
  const counting = { getItem: (k) => storage.getItem(k), setItem: (k, v) => (writes++, storage.setItem(k, v)) };
  const cursors = new CursorStore();
  cursors.attach(counting, "k"); // write 1
  for (let seq = 1; seq <= 100; seq++) {
    cursors.accept("thread:a", seq);
    cursors.persist();
  }
  assert.equal(writes, 1);
  t.mock.timers.tick(16);
  assert.equal(writes, 2, "one write at the end of the window");
  assert.equal(JSON.parse(storage.getItem("k"))["thread:a"], 100);
  t.mock.timers.tick(100);
  cursors.accept("thread:a", 101);
  cursors.persist();
  assert.equal(writes, 3, "a save after a quiet spell is written at once");
  assert.equal(JSON.parse(storage.getItem("k"))["thread:a"], 101);
});

test("cursor store: unreadable or failing storage never throws", () => {
  const broken = {
    getItem: () => "{not json",
    setItem: () => {
      throw new Error("quota");
    },
  };
  const cursors = new CursorStore();
  cursors.attach(broken, "k");
  cursors.accept("thread:a", 1);
  cursors.persist();
  assert.equal(cursors.get("thread:a"), 1);
});

test("rooms: a replaying room takes only the next event until answered", () => {
  const rooms = new Rooms();
  rooms.track("draft:a", 5);
  rooms.beginReplay("draft:a", "r1");
  assert.equal(rooms.accept("draft:a", 8), false, "a live event that overtook the replay");
  assert.equal(rooms.accept("draft:a", 6), true);
  assert.equal(rooms.accept("draft:a", 7), true);
  assert.equal(rooms.accept("draft:a", 8), true);
  assert.equal(rooms.accept("draft:a", 8), false);
  rooms.answered("draft:a", "r1");
  assert.equal(rooms.accept("draft:a", 10), true, "plain dedupe after the answer");
});

test("rooms: the resume map holds membership rooms; viewed rooms are joined with their cursor", () => {
  const rooms = new Rooms({ "thread:t": 4, "user:u": 1 });
  rooms.view("canvas:c");
  rooms.track("draft:d", 2);
  const sent = rooms.resumeMap();
  assert.deepEqual(sent, { "thread:t": 4, "user:u": 1 });
  assert.deepEqual(rooms.toJoin(sent), [["canvas:c", undefined], ["draft:d", 2]]);
  rooms.forget("draft:d");
  assert.equal(rooms.cursor("draft:d"), undefined, "a viewed room left loses its cursor");
  rooms.forget("thread:t");
  assert.equal(rooms.cursor("thread:t"), 4, "a membership room keeps its cursor");
});

test("rooms: a refusal for good forgets the room, a transient one does not", () => {
  const rooms = new Rooms();
  rooms.track("canvas:a", 3);
  rooms.answered("canvas:a", "r", "unavailable");
  assert.ok(rooms.viewed.has("canvas:a"));
  rooms.answered("canvas:a", "r", "not_found");
  assert.ok(!rooms.viewed.has("canvas:a"));
  assert.equal(rooms.cursor("canvas:a"), undefined);
});

test("rooms: learn sets only unknown cursors", () => {
  const rooms = new Rooms({ "thread:a": 9 });
  assert.equal(rooms.learn("thread:a", 3), false);
  assert.equal(rooms.learn("thread:b", 3), true);
  assert.equal(rooms.learn("thread:c", undefined), false);
  assert.deepEqual(rooms.resumeMap(), { "thread:a": 9, "thread:b": 3 });
});

test("recent: catches a tab up from its cursors, or says which rooms it must resync", () => {
  const recent = new Recent(4);
  for (let seq = 1; seq <= 6; seq++) recent.push({ room: "thread:a", seq });
  recent.push({ room: "thread:b", seq: 10 });
  const latest = (room) => ({ "thread:a": 6, "thread:b": 10, "thread:c": 2 })[room];
  const { frames, resync } = recent.catchUp({ "thread:a": 3, "thread:b": 9, "thread:c": 2 }, latest);
  assert.deepEqual(frames.map((f) => `${f.room}#${f.seq}`), ["thread:a#4", "thread:a#5", "thread:a#6", "thread:b#10"]);
  assert.deepEqual(resync, []);
  const behind = recent.catchUp({ "thread:a": 1, "thread:c": 1 }, latest);
  assert.deepEqual(behind.resync, [{ room: "thread:a", last_seq: 6 }, { room: "thread:c", last_seq: 2 }]);
  assert.deepEqual(behind.frames, []);
});

test("tokens: getToken is told which token was refused; a static token cannot refresh", async () => {
  const asked = [];
  let n = 0;
  const tokens = new Tokens({ getToken: async (info) => (asked.push(info.rejected), `t${++n}`) });
  assert.equal(await tokens.fresh(), "t1");
  tokens.reject("t1");
  assert.equal(await tokens.fresh(), "t2");
  assert.deepEqual(asked, [undefined, "t1"]);
  assert.equal(tokens.rejected, undefined, "a different token clears the refusal");
  const fixed = new Tokens({ token: "s" });
  assert.equal(fixed.refreshable, false);
  assert.equal(await fixed.fresh(), "s");
  assert.throws(() => new Tokens({}), /token/);
});

test("helpers: JWT subject and base URLs", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "6b10abc" })).toString("base64url");
  assert.equal(subjectOf(`h.${payload}.s`), "6b10abc");
  assert.equal(subjectOf("not a jwt"), undefined);
  assert.equal(httpBase("https://x.example/"), "https://x.example");
  assert.equal(httpBase("ws://127.0.0.1:8080"), "http://127.0.0.1:8080");
});
