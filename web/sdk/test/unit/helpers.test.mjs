// Presence reducer, typing (throttled sends, expiry) and cursors (throttle, latest wins), alone
// and through a client on a fake socket.
import { test, mock } from "node:test";
import assert from "node:assert/strict";

import { connect, __internal } from "../../tandem.js";
import { FakeServer, fakeFetch, fakeOptions, flush } from "./fakes.mjs";

const { PresenceState, TypingTracker, TypingSender, CursorTracker, CursorSender } = __internal;

test("presence: canvas viewers, joins and leaves give online members and diffs", () => {
  const state = new PresenceState("canvas:1");
  const joins = [];
  const leaves = [];
  state.listeners.join.add((m) => joins.push(m.id));
  state.listeners.leave.add((m) => leaves.push(m.id));
  state.apply({ type: "canvas_viewers", room: "canvas:1", users: [{ id: "a", username: "alice", name: "" }] });
  state.apply({ type: "user_joined", room: "canvas:1", user_id: "b", username: "bob", display_name: "" });
  state.apply({ type: "user_joined", room: "canvas:2", user_id: "c", username: "carol" });
  assert.deepEqual(state.online().map((m) => m.id), ["a", "b"]);
  state.apply({ type: "user_left", room: "canvas:1", user_id: "a" });
  assert.deepEqual(state.online().map((m) => m.id), ["b"]);
  const diff = state.apply({ type: "canvas_viewers", room: "canvas:1", users: [{ id: "c", username: "carol" }] });
  assert.deepEqual(diff.joined.map((m) => m.id), ["c"]);
  assert.deepEqual(diff.left.map((m) => m.id), ["b"]);
  assert.deepEqual(joins, ["a", "b", "c"]);
  assert.deepEqual(leaves, ["a", "b"]);
});

test("presence: thread members go online and offline with user_status_changed", () => {
  const state = new PresenceState("thread:t");
  state.replace([
    { id: "a", username: "alice", online: true },
    { id: "b", username: "bob", online: false },
  ]);
  assert.equal(state.apply({ type: "user_status_changed", user_id: "x", is_online: true }), false, "not a member");
  const diff = state.apply({ type: "user_status_changed", user_id: "b", is_online: true });
  assert.deepEqual(diff.joined.map((m) => m.id), ["b"]);
  state.apply({ type: "invitation_accepted", room: "thread:t", user_id: "c", user_name: "carol", is_online: true });
  state.apply({ type: "participant_left", room: "thread:t", user_id: "a" });
  state.apply({ type: "user_profile_updated", user_id: "b", username: "bobby" });
  assert.deepEqual(
    state.online().map((m) => [m.id, m.username]),
    [["b", "bobby"], ["c", "carol"]],
  );
});

test("typing: others expire locally when no false arrives; false removes at once", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const tracker = new TypingTracker(6000);
  const seen = [];
  tracker.listeners.add((list) => seen.push(list.map((u) => u.username)));
  tracker.apply({ type: "user_typing", user_id: "a", username: "alice", is_typing: true });
  tracker.apply({ type: "user_typing", user_id: "b", username: "bob", is_typing: true });
  t.mock.timers.tick(4000);
  tracker.apply({ type: "user_typing", user_id: "a", username: "alice", is_typing: true }); // refresh
  t.mock.timers.tick(2000);
  assert.deepEqual(tracker.list().map((u) => u.username), ["alice"], "bob expired after 6 s");
  tracker.apply({ type: "user_typing", user_id: "a", username: "alice", is_typing: false });
  assert.deepEqual(tracker.list(), []);
  assert.deepEqual(seen, [["alice"], ["alice", "bob"], ["alice"], []]);
});

test("typing: keystrokes send true at most once per refresh, false after idle or stop", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const sent = [];
  const sender = new TypingSender((typing) => sent.push([Date.now(), typing]), { refresh: 2000, idle: 3000 });
  for (let ms = 0; ms <= 5000; ms += 100) {
    sender.keystroke();
    t.mock.timers.tick(100);
  }
  assert.deepEqual(sent.map(([, v]) => v), [true, true, true], "true at 0, 2 and 4 s only");
  // The last keystroke was at 5000 ms and the clock is at 5100 ms.
  t.mock.timers.tick(2899);
  assert.equal(sent.length, 3);
  t.mock.timers.tick(1);
  assert.deepEqual(sent.at(-1)[1], false, "false 3 s after the last keystroke");
  sender.keystroke();
  sender.stop();
  sender.stop();
  assert.deepEqual(sent.slice(-2).map(([, v]) => v), [true, false]);
});

test("cursors: at most one send per interval, the latest position always goes out", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const sent = [];
  const sender = new CursorSender((x, y) => sent.push([Date.now(), x, y]), 50);
  for (let i = 1; i <= 100; i++) {
    sender.move(i, i);
    t.mock.timers.tick(5);
  }
  t.mock.timers.tick(100);
  assert.ok(sent.length <= 11, `${sent.length} sends in 500 ms`);
  for (let i = 1; i < sent.length; i++) assert.ok(sent[i][0] - sent[i - 1][0] >= 50);
  assert.deepEqual(sent.at(-1).slice(1), [100, 100], "the last position is never dropped");
  const tracker = new CursorTracker();
  tracker.apply({ type: "user_cursor", user_id: "a", username: "alice", x: 1, y: 2 });
  tracker.apply({ type: "user_cursor", user_id: "b", username: "bob", x: 3, y: 4 });
  tracker.apply({ type: "user_cursor", user_id: "a", username: "alice", x: null, y: null });
  assert.deepEqual([...tracker.positions.values()], [{ user_id: "b", username: "bob", x: 3, y: 4 }]);
});

test("client helpers: typing and cursors send frames and read the room's frames only", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const server = new FakeServer({ userId: "me" });
  const client = connect(fakeOptions(server));
  await flush();
  assert.equal(client.status, "live");
  const socket = server.last;

  const typing = client.typing("canvas:1");
  const cursors = client.cursors("canvas:1");
  await client.subscribe("canvas:1");
  typing.keystroke();
  cursors.move(10, 20);
  await flush();
  assert.deepEqual(socket.sent.filter((f) => f.type === "typing"), [{ type: "typing", room: "canvas:1", is_typing: true }]);
  assert.deepEqual(socket.sent.filter((f) => f.type === "cursor"), [{ type: "cursor", room: "canvas:1", x: 10, y: 20 }]);

  socket.push({ type: "user_typing", room: "canvas:1", user_id: "a", username: "alice", is_typing: true });
  socket.push({ type: "user_typing", room: "canvas:2", user_id: "b", username: "bob", is_typing: true });
  socket.push({ type: "user_cursor", room: "canvas:1", user_id: "a", username: "alice", x: 5, y: 6 });
  assert.deepEqual(typing.users, [{ user_id: "a", username: "alice" }]);
  assert.deepEqual([...cursors.positions.keys()], ["a"]);

  socket.drop(1006);
  assert.deepEqual(typing.users, [], "ephemeral state is cleared when the connection goes");
  assert.equal(cursors.positions.size, 0);
  typing.close();
  cursors.close();
  client.close();
});

test("client presence: a thread's members come from REST, then status frames", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const server = new FakeServer({ userId: "me" });
  const fetch = fakeFetch({
    "GET /api/v1/threads/t": () => ({
      body: {
        id: "t",
        seq: 0,
        users: [
          { id: "me", username: "me", name: "", is_online: true },
          { id: "b", username: "bob", name: "", is_online: false },
        ],
      },
    }),
  });
  const client = connect(fakeOptions(server, { fetch }));
  const presence = client.presence("thread:t");
  const joined = [];
  presence.onJoin((m) => joined.push(m.username));
  await flush();
  assert.deepEqual(presence.members.map((m) => m.username), ["me"]);
  server.last.push({ type: "user_status_changed", user_id: "b", is_online: true });
  assert.deepEqual(presence.members.map((m) => m.username), ["me", "bob"]);
  assert.deepEqual(joined, ["me", "bob"]);
  client.close();
});
