// Real browser, real server: the live-activity helpers between two users, in a canvas
// (presence from viewers, typing) and in a thread (presence from REST and status frames, typing,
// cursors): throttled sends, the other side's lists, stop, idle and leave.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { TandemServer, launchBrowser, openClient, waitForStatus } from "./harness.mjs";

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

/**
 * A user's page viewing `room`, with presence and typing helpers on `window`; `sent` counts the
 * `typing` frames its WebSocket writes.
 */
async function viewer(token, room) {
  const context = await browser.newContext();
  const sent = { typing: 0 };
  const page = await context.newPage();
  page.on("websocket", (ws) => ws.on("framesent", ({ payload }) => {
    if (String(payload).includes('"type":"typing"')) sent.typing++;
  }));
  await openClient(context, server.url, token, {}, page);
  await waitForStatus(page, "live");
  await page.evaluate(async (room) => {
    window.presence = window.client.presence(room);
    window.typing = window.client.typing(room, { idle: 1500 });
    window.joins = [];
    window.leaves = [];
    window.presence.onJoin((m) => window.joins.push(m.username));
    window.presence.onLeave((m) => window.leaves.push(m.username));
    await window.client.subscribe(room);
  }, room);
  return { context, page, sent };
}

const members = (page) => page.evaluate(() => window.presence.members.map((m) => m.username).sort());
const typists = (page) => page.evaluate(() => window.typing.users.map((u) => u.username));

test("canvas presence and typing between two users", async () => {
  const alice = await server.signUp("alice");
  const bob = await server.signUp("bob");
  const canvas = await server.api("POST", "/api/v1/canvases", { token: alice.token, body: { name: "c", width: 8, height: 8 } });
  await server.api("POST", `/api/v1/canvases/${canvas.id}/members`, { token: alice.token, body: { user_id: bob.user.id } });
  const room = `canvas:${canvas.id}`;

  const a = await viewer(alice.token, room);
  await a.page.waitForFunction(() => window.presence.members.length === 1, null, { timeout: 10000 });
  const b = await viewer(bob.token, room);
  await b.page.waitForFunction(() => window.presence.members.length === 2, null, { timeout: 10000 });
  await a.page.waitForFunction(() => window.presence.members.length === 2, null, { timeout: 10000 });
  assert.deepEqual(await members(a.page), ["alice", "bob"]);
  assert.deepEqual(await a.page.evaluate(() => window.joins), ["alice", "bob"]);

  // Typing: many keystrokes, few frames; bob sees alice typing, then not after stop().
  await a.page.evaluate(() => {
    for (let i = 0; i < 50; i++) window.typing.keystroke();
  });
  await b.page.waitForFunction(() => window.typing.users.length === 1, null, { timeout: 10000 });
  assert.deepEqual(await typists(b.page), ["alice"]);
  assert.deepEqual(await typists(a.page), [], "no echo of one's own typing");
  assert.equal(a.sent.typing, 1, "50 keystrokes in a burst: one typing frame");
  await a.page.evaluate(() => window.typing.stop());
  await b.page.waitForFunction(() => window.typing.users.length === 0, null, { timeout: 10000 });

  // Without stop(): alice's idle timer (1.5 s here) sends false by itself.
  await a.page.evaluate(() => window.typing.keystroke());
  await b.page.waitForFunction(() => window.typing.users.length === 1, null, { timeout: 10000 });
  await b.page.waitForFunction(() => window.typing.users.length === 0, null, { timeout: 10000 });

  // Bob leaves: alice's presence says so.
  await b.context.close();
  await a.page.waitForFunction(() => window.leaves.includes("bob"), null, { timeout: 15000 });
  assert.deepEqual(await members(a.page), ["alice"]);
  await a.context.close();
});

test("thread presence, typing and cursors between two members", async () => {
  const alice = await server.signUp("alice2");
  const bob = await server.signUp("bob2");
  const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "live" } });
  const { code } = await server.api("POST", `/api/v1/threads/${thread.id}/invite-link`, { token: alice.token });
  await server.api("POST", `/api/v1/threads/${thread.id}/join`, { token: bob.token, body: { code } });
  const room = `thread:${thread.id}`;

  const a = await browser.newContext();
  const pageA = await openClient(a, server.url, alice.token);
  await waitForStatus(pageA, "live");
  await pageA.evaluate((room) => {
    window.presence = window.client.presence(room);
    window.cursors = window.client.cursors(room);
    window.typing = window.client.typing(room);
    window.leaves = [];
    window.presence.onLeave((m) => window.leaves.push(m.username));
  }, room);
  await pageA.waitForFunction(() => window.presence.members.length === 1, null, { timeout: 10000 });

  const b = await browser.newContext();
  const pageB = await openClient(b, server.url, bob.token);
  await waitForStatus(pageB, "live");
  await pageA.waitForFunction(() => window.presence.members.length === 2, null, { timeout: 10000 });

  await pageB.evaluate((room) => {
    const cursors = window.client.cursors(room);
    for (let i = 1; i <= 30; i++) cursors.move(i, i * 2); // one burst: throttled, the last wins
    window.client.typing(room).keystroke();
  }, room);
  const cursorsAt = (page) => page.evaluate(() => [...window.cursors.positions.values()].map((c) => [c.username, c.x, c.y]));
  await pageA.waitForFunction(() => [...window.cursors.positions.values()].some((c) => c.x === 30), null, { timeout: 10000 });
  assert.deepEqual(await cursorsAt(pageA), [["bob2", 30, 60]], "the latest position arrived");
  await pageA.waitForFunction(() => window.typing.users.some((u) => u.username === "bob2"), null, { timeout: 10000 });

  await b.close(); // bob's only connection closes cleanly: offline at once, and his activity ends
  await pageA.waitForFunction(() => window.leaves.includes("bob2"), null, { timeout: 10000 });
  await pageA.waitForFunction(() => window.cursors.positions.size === 0 && window.typing.users.length === 0, null, {
    timeout: 10000,
  });
  await a.close();
});
