// Seed 004's multi-user procedure in Chromium: two people on one canvas. Viewer count, chat both
// ways with the 2000-character counter, typing indicator, a tile created and liked live, the
// editing highlight, a tile mention flashing, and the count dropping when a tab closes.
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

/** The grid cell button at column x, row y (0-based). */
function cell(page, x, y) {
  return page.getByRole("grid", { name: "Canvas" }).locator(`button[data-x="${x}"][data-y="${y}"]`);
}

test("seed 004: two people on a canvas: viewers, chat, typing, tiles, likes, editing, mentions", async () => {
  const alice = await newPerson(browser);
  await signUpInApp(alice.page, server, "alice");
  const bob = await newPerson(browser);
  await signUpInApp(bob.page, server, "bob");

  await alice.page.getByRole("link", { name: "Canvases" }).click();
  await alice.page.getByRole("textbox", { name: "Canvas name" }).fill("Wall");
  await alice.page.getByRole("button", { name: "Create canvas" }).click();
  await alice.page.getByRole("grid", { name: "Canvas" }).waitFor(WAIT);
  await alice.page.getByText("1 viewing").waitFor(WAIT);
  // Keyboard: one tab stop in the grid, arrows move, Enter picks the cell.
  await cell(alice.page, 0, 0).focus();
  await alice.page.keyboard.press("ArrowRight");
  await alice.page.keyboard.press("ArrowDown");
  await alice.page.keyboard.press("Enter");
  await alice.page.getByText("Column 2, row 2").waitFor(WAIT);
  assert.equal(await cell(alice.page, 1, 1).getAttribute("tabindex"), "0");
  assert.equal(await cell(alice.page, 0, 0).getAttribute("tabindex"), "-1");
  await alice.page.getByText("Add a member").click();
  await alice.page.getByRole("searchbox", { name: "Add member by username" }).fill("bo");
  await alice.page.getByRole("button", { name: "Add bob" }).click();
  await alice.page.getByText("Add: bob, done.").waitFor(WAIT);

  await bob.page.goto(alice.page.url());
  await bob.page.getByRole("grid", { name: "Canvas" }).waitFor(WAIT);
  await badge(bob.page).getByText("Live").waitFor(WAIT);
  await alice.page.getByText("2 viewing").waitFor(WAIT); // join, live
  await bob.page.getByText("2 viewing").waitFor(WAIT);

  // Chat both ways, with the typing indicator and the counter.
  const aliceChat = alice.page.getByRole("textbox", { name: "Chat message" });
  await aliceChat.pressSequentially("hello bo");
  await bob.page.getByText("alice is typing…").waitFor(WAIT);
  await alice.page.getByText("8 / 2000").waitFor(WAIT);
  await aliceChat.press("b");
  await alice.page.getByRole("button", { name: "Send" }).click();
  await bob.page.getByRole("list", { name: "Chat" }).getByText("hello bob").waitFor(WAIT);
  await bob.page.getByRole("textbox", { name: "Chat message" }).fill("hi alice");
  await bob.page.getByRole("button", { name: "Send" }).click();
  await alice.page.getByRole("list", { name: "Chat" }).getByText("hi alice").waitFor(WAIT);
  assert.equal(await aliceChat.getAttribute("maxlength"), "2000");
  await aliceChat.fill("x".repeat(2000));
  await alice.page.getByText("2000 / 2000").waitFor(WAIT);
  await aliceChat.fill("");

  // Bob starts a tile: alice sees the cell being edited; he creates it: she sees it.
  await cell(bob.page, 2, 1).click();
  await bob.page.getByRole("textbox", { name: "Tile text" }).fill("Sun");
  await cell(alice.page, 2, 1).and(alice.page.locator(".editing")).waitFor(WAIT);
  assert.match(await cell(alice.page, 2, 1).getAttribute("aria-label"), /bob is editing/);
  await screenshot(alice.page, "seed004-canvas-editing");
  await bob.page.getByRole("button", { name: "Create tile" }).click();
  await alice.page.getByRole("grid", { name: "Canvas" }).getByRole("button", { name: /^Sun, 0 likes/ }).waitFor(WAIT);
  await cell(alice.page, 2, 1).and(alice.page.locator(":not(.editing)")).waitFor(WAIT);

  // Alice likes it: bob's count goes up live.
  await cell(alice.page, 2, 1).click();
  await alice.page.getByRole("button", { name: "Like (0)" }).click();
  await bob.page.getByRole("grid", { name: "Canvas" }).getByRole("button", { name: /^Sun, 1 likes/ }).waitFor(WAIT);

  // Alice mentions it: it flashes for bob.
  await alice.page.getByRole("button", { name: "Mention tile" }).click();
  await cell(bob.page, 2, 1).and(bob.page.locator(".mentioned")).waitFor(WAIT);
  await screenshot(bob.page, "seed004-canvas-bob");
  await cell(bob.page, 2, 1).and(bob.page.locator(":not(.mentioned)")).waitFor(WAIT); // for its duration only

  // Bob closes his tab: alice's count drops.
  await bob.context.close();
  await alice.page.getByText("1 viewing").waitFor(WAIT);
  assert.equal(alice.page.errors.length, 0);
  await alice.context.close();
});
