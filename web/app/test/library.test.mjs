// My library (seed 000 pattern 1): playlist and follows change at once (optimistic) and are
// rolled back when the server refuses; what was saved survives a reload.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { TandemServer, launchBrowser, newPerson, screenshot, signUpInApp } from "./harness.mjs";

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

test("playlist and follows: optimistic, saved, rolled back on a server error", async () => {
  await server.api("POST", "/api/v1/users", { body: { username: "carol" } });
  const { page } = await newPerson(browser);
  await signUpInApp(page, server, "dave");
  await page.getByRole("link", { name: "Library" }).click();
  const playlist = page.getByRole("list", { name: "Playlist" });

  await page.getByRole("textbox", { name: "Playlist item" }).fill("First song");
  await page.getByRole("button", { name: "Add to playlist" }).click();
  await playlist.getByText("First song").waitFor(WAIT);

  // The server fails the next add, but only after the page has shown the item.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route("**/api/v1/users/*/playlist", async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    await held;
    await route.fulfill({ status: 500, contentType: "application/json", body: '{"error":{"code":"internal","message":"boom"}}' });
  });
  await page.getByRole("textbox", { name: "Playlist item" }).fill("Doomed song");
  await page.getByRole("button", { name: "Add to playlist" }).click();
  await playlist.getByText("Doomed song").waitFor(WAIT); // optimistic: before any answer
  release();
  await page.getByText(/Not added, undone/).waitFor(WAIT);
  await playlist.getByText("Doomed song").waitFor({ state: "detached", ...WAIT });
  assert.equal(await page.getByRole("textbox", { name: "Playlist item" }).inputValue(), "Doomed song", "the text is kept to retry");
  await page.unroute("**/api/v1/users/*/playlist");

  await page.getByRole("searchbox", { name: "Follow by username" }).fill("car");
  await page.getByRole("button", { name: "Follow carol" }).click();
  await page.getByRole("list", { name: "Following" }).getByText("@carol").waitFor(WAIT);
  await page.route("**/api/v1/users/*/followed/*", (route) =>
    route.fulfill({ status: 503, contentType: "application/json", body: '{"error":{"code":"unavailable","message":"down"}}' }));
  await page.getByRole("button", { name: "Unfollow carol" }).click();
  await page.getByText(/Still following, undone/).waitFor(WAIT);
  await page.getByRole("list", { name: "Following" }).getByText("@carol").waitFor(WAIT);
  await page.unroute("**/api/v1/users/*/followed/*");
  await screenshot(page, "library");

  await page.reload();
  await playlist.getByText("First song").waitFor(WAIT);
  assert.equal(await playlist.getByText("Doomed song").count(), 0);
  await page.getByRole("list", { name: "Following" }).getByText("@carol").waitFor(WAIT);
  await page.context().close();
});
