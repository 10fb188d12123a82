// Real browser, real server: live-activity helpers between two users viewing one canvas:
// presence(room) (viewers with join/leave), typing(room) (throttled sends, the other side's
// "who is typing" list, stop and expiry).
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

/** A user's page viewing `room`, with presence and typing helpers on `window`. */
async function viewer(token, room) {
  const context = await browser.newContext();
  const page = await openClient(context, server.url, token);
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
  return { context, page };
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
