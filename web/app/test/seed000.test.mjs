// Seed 000's test scenarios in Chromium, with two people (two browser contexts) at once:
// 1 username sync, 2 invitation by link, 3 online status, 4 disconnect and reconnect with data
// sync (the server is stopped and started again on the same port and data), plus an
// invitation by username with the search and accept/decline.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { TandemServer, badge, launchBrowser, newPerson, screenshot, signUpInApp } from "./harness.mjs";

const WAIT = { timeout: 10000 };
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

/** A signed-in person on the home page. */
async function person(name) {
  const who = await newPerson(browser);
  await signUpInApp(who.page, server, name);
  await badge(who.page).getByText("Live").waitFor(WAIT);
  return who;
}

/** Creates a thread in `page` and returns its id. */
async function createThread(page, name) {
  await page.getByRole("textbox", { name: "Thread name" }).fill(name);
  await page.getByRole("button", { name: "Create thread" }).click();
  await page.waitForURL(/\/threads\/[0-9a-f]+$/, WAIT);
  return page.url().split("/").at(-1);
}

/** The share link made in the thread open in `page`. */
async function shareLink(page) {
  await page.getByText("Invite people").click();
  await page.getByRole("button", { name: "Create share link" }).click();
  const link = page.getByRole("textbox", { name: "Share link" });
  await link.waitFor(WAIT);
  return link.inputValue();
}

/** The participant item of `username` in `page`. */
function participant(page, username) {
  return page.getByRole("list", { name: "Participants" }).getByRole("listitem").filter({ hasText: username });
}

test("seed 000 test 2: a visitor opens an invite link, picks a username, joins; the creator sees them at once", async () => {
  const alice = await person("alice2");
  await createThread(alice.page, "Invite by link");
  const url = await shareLink(alice.page);
  assert.match(url, new RegExp(`^${server.url}/join/[0-9a-f]+\\?code=[0-9a-f]+$`));

  const bob = await newPerson(browser);
  await bob.page.goto(url);
  await bob.page.getByRole("heading", { name: "Pick a username to join" }).waitFor(WAIT);
  await bob.page.getByRole("textbox", { name: "Username" }).fill("bob2");
  await bob.page.getByRole("button", { name: "Sign up" }).click();
  await bob.page.waitForURL(/\/threads\/[0-9a-f]+$/, WAIT);
  await participant(bob.page, "alice2").waitFor(WAIT);

  await participant(alice.page, "bob2").waitFor(WAIT); // no reload
  await participant(alice.page, "bob2").getByRole("img", { name: "online" }).waitFor(WAIT);
  await screenshot(alice.page, "seed000-invite-link-alice");
  await alice.context.close();
  await bob.context.close();
});

test("seed 000 test 1: a username change shows up live for the other participant", async () => {
  const alice = await person("alice1");
  await createThread(alice.page, "Names");
  const url = await shareLink(alice.page);
  const bob = await person("bob1");
  await bob.page.goto(url);
  await participant(bob.page, "alice1").waitFor(WAIT);

  await alice.page.getByRole("button", { name: "Account @alice1", exact: true }).click();
  await alice.page.getByRole("textbox", { name: "New username" }).fill("alice1_new");
  await alice.page.getByRole("button", { name: "Save username" }).click();
  await alice.page.getByRole("button", { name: "Account @alice1_new", exact: true }).waitFor(WAIT);

  await participant(bob.page, "alice1_new").waitFor(WAIT); // live, no reload
  assert.equal(await participant(bob.page, "alice1").count(), 1, "the old name is replaced, not added");
  await alice.page.reload();
  await alice.page.getByRole("button", { name: "Account @alice1_new", exact: true }).waitFor(WAIT); // the session survives
  await alice.context.close();
  await bob.context.close();
});

test("seed 000 test 3: online dots follow the other person's connection", async () => {
  const alice = await person("alice3");
  const threadId = await createThread(alice.page, "Status");
  const url = await shareLink(alice.page);
  const bob = await person("bob3");
  await bob.page.goto(url);
  await participant(bob.page, "alice3").getByRole("img", { name: "online" }).waitFor(WAIT);
  await participant(alice.page, "bob3").getByRole("img", { name: "online" }).waitFor(WAIT);

  await alice.context.close(); // alice closes the app
  await participant(bob.page, "alice3").getByRole("img", { name: "offline" }).waitFor(WAIT);
  await participant(bob.page, "alice3").getByText("last seen").waitFor(WAIT);
  await screenshot(bob.page, "seed000-offline-dot");
  assert.match(bob.page.url(), new RegExp(`/threads/${threadId}$`));
  await bob.context.close();
});

test("invitation by username: search, invite, the invitee accepts from the pending list", async () => {
  const alice = await person("alice5");
  const bob = await person("bob5");
  await createThread(alice.page, "Invites");
  await alice.page.getByText("Invite people").click();
  await alice.page.getByRole("searchbox", { name: "Invite by username" }).fill("bob5");
  await alice.page.getByRole("button", { name: "Invite bob5" }).click();
  await alice.page.getByText("Invited: bob5").waitFor(WAIT);

  await bob.page.getByRole("list", { name: "Invitations" }).getByText("Invites").waitFor(WAIT); // live
  await screenshot(bob.page, "seed000-invitation");
  await bob.page.getByRole("button", { name: "Accept invitation to Invites" }).click();
  await bob.page.waitForURL(/\/threads\/[0-9a-f]+$/, WAIT);
  await participant(alice.page, "bob5").waitFor(WAIT);
  await alice.context.close();
  await bob.context.close();
});

test("seed 000 test 4: the server stops and comes back; both pages reconnect and catch up", async () => {
  const alice = await person("alice4");
  await createThread(alice.page, "Restart");
  const url = await shareLink(alice.page);
  const bob = await person("bob4");
  await bob.page.goto(url);
  await participant(alice.page, "bob4").waitFor(WAIT);
  await participant(bob.page, "alice4").waitFor(WAIT);
  const threadPath = new URL(bob.page.url()).pathname;

  await server.stop();
  await badge(alice.page).getByText(/Offline|Syncing/).waitFor(WAIT);
  await badge(bob.page).getByText(/Offline|Syncing/).waitFor(WAIT);
  await bob.context.setOffline(true); // bob's network stays down while the server comes back
  await screenshot(alice.page, "seed000-offline-badge");
  await server.start();

  // While bob is away, alice posts and renames herself: the rename is an ephemeral event bob
  // cannot replay, so only the refetch after his reconnect can show it.
  await badge(alice.page).getByText("Live").waitFor({ timeout: 40000 });
  await alice.page.getByRole("textbox", { name: "Message" }).fill("back online");
  await alice.page.getByRole("button", { name: "Send" }).click();
  await alice.page.getByRole("list", { name: "Messages" }).getByText("back online").waitFor(WAIT);
  await alice.page.getByRole("button", { name: "Account @alice4", exact: true }).click();
  await alice.page.getByRole("textbox", { name: "New username" }).fill("alice4_back");
  await alice.page.getByRole("button", { name: "Save username" }).click();
  await alice.page.getByRole("button", { name: "Account @alice4_back", exact: true }).waitFor(WAIT);

  await bob.context.setOffline(false); // the browser's `online` event: reconnect at once
  await badge(bob.page).getByText("Live").waitFor({ timeout: 40000 });
  await bob.page.getByRole("list", { name: "Messages" }).getByText("back online").waitFor(WAIT);
  await participant(bob.page, "alice4_back").getByRole("img", { name: "online" }).waitFor(WAIT);
  assert.equal(new URL(bob.page.url()).pathname, threadPath);
  await alice.context.close();
  await bob.context.close();
});
