// Seed 003 in Chromium: two people with the same draft open. A segment added in one tab
// appears in the other; passing the ring disables the editor of the one who gave it and enables
// it for the one who got it ("Waiting for @holder" otherwise); the badge goes Syncing when no
// WebSocket can be opened (events still arrive, by long poll), Offline/Syncing while the server is
// down, and back to Live.
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

test("seed 003: two tabs on one draft, ring passing, badge through polling and a restart", async () => {
  const alice = await newPerson(browser);
  await signUpInApp(alice.page, server, "alice");
  const bob = await newPerson(browser);
  // Bob's WebSockets can be refused at will (a proxy that blocks upgrades).
  let refuseSockets = false;
  await bob.context.routeWebSocket(/\/ws/, (ws) => (refuseSockets ? ws.close({ code: 1011 }) : ws.connectToServer()));
  await signUpInApp(bob.page, server, "bob");

  await alice.page.getByRole("link", { name: "Drafts" }).click();
  await alice.page.getByRole("textbox", { name: "Draft title" }).fill("Our story");
  await alice.page.getByRole("button", { name: "Create draft" }).click();
  await alice.page.waitForURL(/\/drafts\/[0-9a-f]+$/, WAIT);
  await alice.page.getByText("Add a collaborator").click();
  await alice.page.getByRole("searchbox", { name: "Add collaborator by username" }).fill("bob");
  await alice.page.getByRole("button", { name: "Add bob" }).click();
  await alice.page.getByRole("list", { name: "Collaborators" }).getByText("bob").waitFor(WAIT);

  await bob.page.goto(alice.page.url());
  const bobAdd = bob.page.getByRole("button", { name: "Add segment" });
  const aliceAdd = alice.page.getByRole("button", { name: "Add segment" });
  await bob.page.getByText("Waiting for @alice").waitFor(WAIT);
  assert.equal(await bobAdd.isDisabled(), true);
  assert.equal(await bob.page.getByRole("textbox", { name: "Segment" }).isDisabled(), true);
  assert.equal(await aliceAdd.isEnabled(), true);
  await badge(bob.page).getByText("Live").waitFor(WAIT);

  await alice.page.getByRole("textbox", { name: "Segment" }).fill("It was a dark and stormy night.");
  await aliceAdd.click();
  await bob.page.getByRole("list", { name: "Segments" }).getByText("It was a dark and stormy night.").waitFor(WAIT);

  await alice.page.getByRole("combobox", { name: "Pass ring to" }).selectOption({ label: "bob" });
  await alice.page.getByRole("button", { name: "Pass ring" }).click();
  await alice.page.getByText("Waiting for @bob").waitFor(WAIT);
  assert.equal(await aliceAdd.isDisabled(), true);
  await bobAdd.and(bob.page.locator(":enabled")).waitFor(WAIT); // enabled live, no reload
  await bob.page.getByRole("textbox", { name: "Segment" }).fill("Suddenly, a shot rang out.");
  await bobAdd.click();
  await alice.page.getByRole("list", { name: "Segments" }).getByText("Suddenly, a shot rang out.").waitFor(WAIT);
  await screenshot(bob.page, "seed003-draft-bob-holds-ring");

  // No WebSocket for bob: Syncing, and changes still arrive (long poll).
  refuseSockets = true;
  await bob.page.evaluate(() => window.dispatchEvent(new Event("offline")));
  await server.stop();
  await badge(bob.page).getByText(/Offline|Syncing/).waitFor(WAIT);
  await badge(alice.page).getByText(/Offline|Syncing/).waitFor(WAIT);
  await screenshot(alice.page, "seed003-draft-server-down");
  await server.start();
  await badge(alice.page).getByText("Live").waitFor({ timeout: 40000 });
  await badge(bob.page).getByText("Syncing").waitFor({ timeout: 40000 });
  await bob.page.getByRole("combobox", { name: "Pass ring to" }).selectOption({ label: "alice" });
  await bob.page.getByRole("button", { name: "Pass ring" }).click(); // REST works while polling
  await alice.page.getByRole("button", { name: "Add segment" }).and(alice.page.locator(":enabled")).waitFor(WAIT);
  await alice.page.getByRole("textbox", { name: "Segment" }).fill("Polled, not pushed.");
  await aliceAdd.click();
  await bob.page.getByRole("list", { name: "Segments" }).getByText("Polled, not pushed.").waitFor({ timeout: 40000 });
  await bob.page.getByText("Waiting for @alice").waitFor(WAIT);
  await screenshot(bob.page, "seed003-draft-polling");

  refuseSockets = false;
  await bob.page.evaluate(() => window.dispatchEvent(new Event("online")));
  await badge(bob.page).getByText("Live").waitFor({ timeout: 40000 });
  assert.equal(alice.page.errors.length + bob.page.errors.length, 0);
});
