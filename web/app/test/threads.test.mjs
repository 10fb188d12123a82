// Thread features beyond the seed scenarios, with two people: the thread list's unread marker
// and last activity, typing, editing and deleting one's own message (live for the other),
// JSON snapshots rendered as JSON, leaving a thread, and signing out.
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

test("unread markers, typing, edit and delete live, JSON snapshots, leave, sign out", async () => {
  const alice = await newPerson(browser);
  await signUpInApp(alice.page, server, "alice");
  await alice.page.getByRole("textbox", { name: "Thread name" }).fill("Band");
  await alice.page.getByRole("button", { name: "Create thread" }).click();
  await alice.page.getByText("Invite people").click();
  await alice.page.getByRole("button", { name: "Create share link" }).click();
  const link = await alice.page.getByRole("textbox", { name: "Share link" }).inputValue();
  const threadUrl = alice.page.url();

  const bob = await newPerson(browser);
  await signUpInApp(bob.page, server, "bob", link);
  await bob.page.waitForURL(threadUrl, WAIT);
  await badge(bob.page).getByText("Live").waitFor(WAIT);

  // Alice goes to her thread list; bob writes: the thread shows one unread message, live.
  await alice.page.getByRole("link", { name: "Threads" }).click();
  const row = alice.page.getByRole("list", { name: "Threads" }).getByRole("listitem").filter({ hasText: "Band" });
  await row.waitFor(WAIT);
  await bob.page.getByRole("textbox", { name: "Message" }).fill("first take");
  await bob.page.getByRole("button", { name: "Send" }).click();
  await row.getByLabel("1 unread").waitFor(WAIT);
  await row.getByText("first take").waitFor(WAIT);
  await row.getByText("just now").waitFor(WAIT);
  await screenshot(alice.page, "threads-unread");
  await row.getByRole("link").click();
  await alice.page.getByRole("list", { name: "Messages" }).getByText("first take").waitFor(WAIT);
  await alice.page.getByRole("link", { name: "Threads" }).click();
  await row.waitFor(WAIT);
  assert.equal(await row.getByLabel(/unread/).count(), 0, "read once opened");
  await alice.page.goto(threadUrl);
  await alice.page.getByRole("list", { name: "Messages" }).getByText("first take").waitFor(WAIT);
  await badge(alice.page).getByText("Live").waitFor(WAIT);

  // Typing, then an edit and a delete that alice sees without reloading.
  await bob.page.getByRole("textbox", { name: "Message" }).pressSequentially("second");
  await alice.page.getByText("bob is typing…").waitFor(WAIT);
  await bob.page.getByRole("button", { name: "Send" }).click();
  const aliceMessages = alice.page.getByRole("list", { name: "Messages" });
  await aliceMessages.getByText("second").waitFor(WAIT);
  const bobsFirst = bob.page.getByRole("list", { name: "Messages" }).getByRole("listitem").filter({ hasText: "first take" });
  await bobsFirst.getByRole("button", { name: "Edit message" }).click();
  await bob.page.getByRole("textbox", { name: "Edited text" }).fill("first take, fixed");
  await bob.page.getByRole("button", { name: "Save" }).click();
  await aliceMessages.getByText("first take, fixed").waitFor(WAIT);
  await aliceMessages.getByText("(edited)").waitFor(WAIT);
  assert.equal(await aliceMessages.getByRole("button", { name: "Edit message" }).count(), 0, "not alice's to edit");
  const bobsSecond = bob.page.getByRole("list", { name: "Messages" }).getByRole("listitem").filter({ hasText: "second" });
  await bobsSecond.getByRole("button", { name: "Delete message" }).click();
  await aliceMessages.getByText("second").waitFor({ state: "detached", ...WAIT });

  // A snapshot that is not text is shown as JSON.
  const { token } = await bob.page.evaluate(() => JSON.parse(localStorage.getItem("tandem.session")));
  await server.api("POST", `/api/v1/threads/${threadUrl.split("/").at(-1)}/messages`, { token, body: { snapshot: { tempo: 128, steps: [1, 0, 1] } } });
  await aliceMessages.locator("pre").getByText('"tempo": 128').waitFor(WAIT);

  // Bob leaves: alice sees him go; bob is back on his (empty) thread list.
  await bob.page.getByRole("button", { name: "Leave thread" }).click();
  await bob.page.waitForURL(`${server.url}/`, WAIT);
  await alice.page.getByRole("list", { name: "Participants" }).getByText("bob").waitFor({ state: "detached", ...WAIT });

  // Sign out: the next visit starts with the username form.
  await bob.page.getByRole("button", { name: "Account @bob", exact: true }).click();
  await bob.page.getByRole("button", { name: "Sign out" }).click();
  await bob.page.getByRole("button", { name: "Sign up" }).waitFor(WAIT);
  await bob.page.reload();
  await bob.page.getByRole("textbox", { name: "Username" }).waitFor(WAIT);
  assert.equal(alice.page.errors.length + bob.page.errors.length, 0);
  await alice.context.close();
  await bob.context.close();
});
