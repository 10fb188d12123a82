// The long-poll fallback: entered when the upgrade is refused (HTTP works) or after K failed
// attempts, same dedupe and handlers, back to the WebSocket when it works.
import { test } from "node:test";
import assert from "node:assert/strict";

import { connect } from "../../tandem.js";
import { FakeServer, fakeOptions, flush } from "./fakes.mjs";

const fakeTimers = (t) => t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });

/** A fetch for the fake server's REST side: healthz, users/me, threads and the events long poll. */
function restOf(server, { threads = [] } = {}) {
  const waiting = new Set();
  const original = server.publish.bind(server);
  server.publish = (room, fields) => {
    const event = original(room, fields);
    for (const wake of waiting) wake();
    return event;
  };
  const answer = (status, body) => new Response(JSON.stringify(body), { status });
  const fetch = async (url, init = {}) => {
    const { pathname, searchParams } = new URL(url);
    fetch.calls.push(pathname + (searchParams.size ? `?${searchParams}` : ""));
    if (fetch.down) throw new TypeError("fetch failed");
    if (pathname === "/healthz") return answer(200, { status: "ok" });
    if (pathname === "/api/v1/users/me") return answer(200, { id: server.userId });
    if (pathname === "/api/v1/threads") return answer(200, { threads });
    const match = /^\/api\/v1\/rooms\/([^/]+)\/events$/.exec(pathname);
    if (!match) return answer(404, { error: { code: "not_found", message: "no route" } });
    const room = match[1];
    const after = Number(searchParams.get("after"));
    const wait = parseInt(searchParams.get("wait"), 10);
    if (!server.after(room, after).length && wait > 0) {
      await new Promise((resolve) => {
        const wake = () => (waiting.delete(wake), resolve());
        waiting.add(wake);
        init.signal?.addEventListener("abort", wake);
      });
    }
    if (init.signal?.aborted) throw new DOMException("aborted", "AbortError");
    const events = server.after(room, after);
    const last = server.log.get(room)?.length ?? 0;
    return answer(200, { room, events, last_seq: last, resync_required: false });
  };
  fetch.calls = [];
  fetch.down = false;
  return fetch;
}

test("upgrade refused: polling at once, events keep arriving, back to live when it works", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  server.accept = false;
  server.publish("thread:a"); // before the page loaded: not replayed
  const fetch = restOf(server, { threads: [{ id: "a", seq: 1 }] });
  const client = connect(fakeOptions(server, { fetch, discoverThreads: true }));
  const statuses = [];
  const events = [];
  client.onStatus((s) => statuses.push(s));
  client.on("message_created", (f) => events.push(`${f.room}#${f.seq}`));
  await flush(30);
  assert.equal(client.status, "polling", "the first failed upgrade with HTTP working");
  assert.ok(fetch.calls.some((c) => c.startsWith("/api/v1/rooms/thread:a/events?after=1&wait=25000ms")));
  server.publish("thread:a");
  server.publish("user:u1", { type: "thread_invitation" });
  server.publish("thread:a");
  await flush(30);
  assert.deepEqual(events, ["thread:a#2", "thread:a#3"]);

  server.accept = true;
  t.mock.timers.tick(1000); // the next WebSocket attempt
  await flush(30);
  assert.equal(client.status, "live");
  assert.deepEqual(server.last.sent[0].resume, { "thread:a": 3, "user:u1": 1 });
  const polls = fetch.calls.length;
  server.publish("thread:a");
  await flush(30);
  assert.equal(fetch.calls.length, polls, "the long polls stopped");
  assert.deepEqual(events, ["thread:a#2", "thread:a#3", "thread:a#4"]);
  assert.deepEqual(statuses, ["polling", "live"]);
  client.close();
});

test("after K failed attempts it polls even when the probe fails; unreachable means offline", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  server.accept = false;
  const fetch = restOf(server);
  fetch.down = true;
  const client = connect(fakeOptions(server, { fetch, pollingAfterFailures: 2 }));
  await flush(30);
  assert.equal(client.status, "offline");
  const before = fetch.calls.length;
  t.mock.timers.tick(1000); // second failure: polling starts, and fails
  await flush(30);
  assert.ok(fetch.calls.slice(before).includes("/api/v1/users/me"), "polling started");
  assert.equal(client.status, "offline");
  fetch.down = false;
  t.mock.timers.tick(3000); // the poller asks again
  await flush(30);
  assert.equal(client.status, "polling");
  client.close();
});

test("a resync_required page is surfaced like the frame", async (t) => {
  fakeTimers(t);
  const server = new FakeServer();
  server.accept = false;
  const resyncs = [];
  const fetch = async (url) => {
    const { pathname } = new URL(url);
    if (pathname === "/healthz") return new Response("{}");
    if (pathname === "/api/v1/users/me") return new Response(JSON.stringify({ id: "u1" }));
    if (pathname === "/api/v1/rooms/thread:a/events") {
      return new Response(JSON.stringify({ room: "thread:a", events: [], last_seq: 900, resync_required: true }));
    }
    return new Response(JSON.stringify({ room: "user:u1", events: [], last_seq: 0 }));
  };
  const client = connect(fakeOptions(server, { fetch, rooms: ["thread:a"] }));
  client.track("thread:a", 5);
  client.on("resync_required", (f) => resyncs.push([f.room, f.last_seq]));
  await flush(30);
  assert.deepEqual(resyncs[0], ["thread:a", 900]);
  assert.equal(client.cursor("thread:a"), 900);
  client.close();
});
