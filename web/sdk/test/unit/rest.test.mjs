// The REST helper (paths, bearer token, 401 refresh, errors) and the outbox, against a real
// node HTTP server on 127.0.0.1 that honours Idempotency-Key the way API.md §3 specifies (the
// Tandem server does not yet: see README.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";

import { connect, signUp, __internal } from "../../tandem.js";
import { FakeServer, fakeFetch, fakeOptions, flush } from "./fakes.mjs";

const { Rest, Tokens } = __internal;

/**
 * A message store that honours Idempotency-Key: a retry with the same key gets the first answer
 * and creates nothing. `loseAnswers` makes it drop the connection after storing (the answer is
 * lost on the way back, the case retries exist for).
 */
async function idempotentServer() {
  const state = { messages: [], answers: new Map(), requests: [], loseAnswers: 0 };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const key = req.headers["idempotency-key"];
      state.requests.push({ url: req.url, key });
      const send = (status, value) => {
        if (state.loseAnswers > 0) {
          state.loseAnswers--;
          return req.socket.destroy();
        }
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      };
      if (key && state.answers.has(key)) return send(...state.answers.get(key));
      const message = { id: String(state.messages.length + 1), snapshot: JSON.parse(body).snapshot };
      state.messages.push(message);
      const answer = [201, message];
      if (key) state.answers.set(key, answer);
      send(...answer);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = server.address().port;
  state.server = server;
  return state;
}

test("rest: resources map to the API's paths with the bearer token", async () => {
  const fetch = fakeFetch({
    "GET /api/v1/threads/t1": () => ({ body: { id: "t1" } }),
    "POST /api/v1/threads": () => ({ status: 201, body: { id: "t9", seq: 0 } }),
    "DELETE /api/v1/threads/t1/users/u2": () => ({ status: 204 }),
    "GET /api/v1/users": () => ({ body: [] }),
    "GET /api/v1/rooms/thread:t1/events": () => ({ body: { events: [] } }),
  });
  const learnt = [];
  const rest = new Rest("http://x", new Tokens({ token: "tk" }), fetch, [10], false, (...a) => learnt.push(a));
  assert.deepEqual(await rest.threads.get("t1"), { id: "t1" });
  await rest.threads.create("Friday");
  assert.equal(await rest.threads.removeUser("t1", "u2"), undefined);
  await rest.users.list({ online: true });
  await rest.rooms.events("thread:t1", { after: 4, wait: 25000 });
  const [get, post, del, list, events] = fetch.calls;
  assert.equal(get.headers.authorization, "Bearer tk");
  assert.deepEqual([post.method, post.path, JSON.parse(post.body)], ["POST", "/api/v1/threads", { name: "Friday" }]);
  assert.equal(del.method, "DELETE");
  assert.equal(list.search, "?online=true");
  assert.equal(events.search, "?after=4&wait=25000ms");
  assert.deepEqual(learnt, [["thread:t9", 0]], "a created room's cursor is its creation seq");
});

test("rest: errors carry the server's code and status; a 401 gets one retry with a new token", async () => {
  let calls = 0;
  const fetch = fakeFetch({
    "GET /api/v1/users/me": (url, init) =>
      init.headers.authorization === "Bearer new"
        ? { body: { id: "me" } }
        : { status: 401, body: { error: { code: "unauthorized", message: "expired" } } },
    "GET /api/v1/drafts/d": () => ({ status: 404, body: { error: { code: "not_found", message: "draft not found" } } }),
  });
  const tokens = new Tokens({ getToken: async ({ rejected }) => (calls++, rejected ? "new" : "old") });
  const rest = new Rest("http://x", tokens, fetch, [10], false, () => {});
  assert.deepEqual(await rest.users.me(), { id: "me" });
  assert.equal(calls, 2);
  await assert.rejects(rest.drafts.get("d"), { name: "TandemError", code: "not_found", status: 404 });
  const fixed = new Rest("http://x", new Tokens({ token: "old" }), fetch, [10], false, () => {});
  await assert.rejects(fixed.users.me(), { code: "unauthorized", status: 401 });
});

test("outbox: a create whose answer is lost is retried with the same key and happens once", async () => {
  const store = await idempotentServer();
  try {
    const rest = new Rest(`http://127.0.0.1:${store.port}`, new Tokens({ token: "t" }), fetch, [20, 40], false, () => {});
    store.loseAnswers = 2;
    const message = await rest.threads.postMessage("t1", { text: "hi" });
    assert.deepEqual(message, { id: "1", snapshot: { text: "hi" } });
    assert.equal(store.messages.length, 1, "created once");
    assert.equal(store.requests.length, 3);
    assert.equal(new Set(store.requests.map((r) => r.key)).size, 1, "one key for every retry");
    assert.match(store.requests[0].key, /^[0-9a-f-]{36}$/);
  } finally {
    store.server.close();
  }
});

test("outbox: creates made while the server is down go out in order once it is back", async () => {
  const store = await idempotentServer();
  const port = store.port;
  await new Promise((resolve) => store.server.close(resolve)); // down
  let failed = 0;
  let twoFailures;
  const failedTwice = new Promise((resolve) => (twoFailures = resolve));
  const counting = (...args) =>
    fetch(...args).catch((error) => {
      if (++failed === 2) twoFailures();
      throw error;
    });
  const rest = new Rest(`http://127.0.0.1:${port}`, new Tokens({ token: "t" }), counting, [30, 60, 120], false, () => {});
  const posted = [1, 2, 3].map((i) => rest.threads.postMessage("t1", { i }));
  await failedTwice; // tried twice while down
  assert.equal(rest.outbox.size, 3);
  await new Promise((resolve) => store.server.listen(port, "127.0.0.1", resolve)); // back up
  const answers = await Promise.all(posted);
  assert.deepEqual(answers.map((m) => m.snapshot.i), [1, 2, 3]);
  assert.deepEqual(store.messages.map((m) => m.snapshot.i), [1, 2, 3], "once each, in order");
  assert.equal(rest.outbox.size, 0);
  store.server.close();
});

test("outbox: a refusal (4xx) settles the create without retrying; the next one goes on", async () => {
  const fetch = fakeFetch({
    "POST /api/v1/drafts/d/segments": (url, init) =>
      JSON.parse(init.body).content === "bad"
        ? { status: 409, body: { error: { code: "not_ring_holder", message: "only the ring holder can do this" } } }
        : { status: 201, body: { id: "s" } },
  });
  const rest = new Rest("http://x", new Tokens({ token: "t" }), fetch, [10], false, () => {});
  const bad = rest.drafts.addSegment("d", "bad");
  const good = rest.drafts.addSegment("d", "good");
  await assert.rejects(bad, { code: "not_ring_holder", status: 409 });
  assert.deepEqual(await good, { id: "s" });
  assert.equal(fetch.calls.length, 2);
  assert.ok(fetch.calls.every((c) => c.headers["idempotency-key"]), "both carried a key");
});

test("outbox: the client retries queued creates when it is live again and on `online`", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const server = new FakeServer();
  let down = true;
  const fetch = fakeFetch({
    "POST /api/v1/canvases/c/tiles": () => ({ status: 201, body: { id: "tile" } }),
  });
  const guarded = async (...args) => {
    if (down && new URL(args[0]).pathname.includes("/tiles")) throw new TypeError("offline");
    return fetch(...args);
  };
  const options = fakeOptions(server, { fetch: guarded });
  const client = connect(options);
  await flush();
  const created = client.rest.canvases.createTile("c", { x: 1, y: 2, data: {} });
  await flush();
  assert.equal(client.pendingCreates, 1);
  down = false;
  options.window.fire("online");
  assert.deepEqual(await created, { id: "tile" });
  assert.equal(client.pendingCreates, 0);
  client.close();
});

test("signUp posts the username and returns user and token", async () => {
  const fetch = fakeFetch({ "POST /api/v1/users": (url, init) => ({ status: 201, body: { user: JSON.parse(init.body), token: "jwt" } }) });
  assert.deepEqual(await signUp("http://x/", "alice", { fetch }), { user: { username: "alice" }, token: "jwt" });
});
