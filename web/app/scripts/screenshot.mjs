// Takes the README's screenshot: two people in two browser windows on one thread (one of them
// typing), composed side by side into docs/web-app.png (or the path given as argument).
// Usage: TANDEM_BIN=... node scripts/screenshot.mjs [out.png]
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { TandemServer, badge, launchBrowser, newPerson, signUpInApp } from "../test/harness.mjs";

const out = process.argv[2] ?? fileURLToPath(new URL("../../../docs/web-app.png", import.meta.url));
const WAIT = { timeout: 15000 };
const size = { viewport: { width: 1000, height: 640 }, colorScheme: "light" };

const server = await new TandemServer().start();
const browser = await launchBrowser();
try {
  const alice = await newPerson(browser, size);
  await signUpInApp(alice.page, server, "alice");
  await alice.page.getByRole("textbox", { name: "Thread name" }).fill("Weekend plans");
  await alice.page.getByRole("button", { name: "Create thread" }).click();
  await alice.page.getByText("Invite people").click();
  await alice.page.getByRole("button", { name: "Create share link" }).click();
  const link = await alice.page.getByRole("textbox", { name: "Share link" }).inputValue();
  await alice.page.getByText("Invite people").click();

  const bob = await newPerson(browser, { ...size, colorScheme: "dark" });
  await bob.page.goto(link);
  await bob.page.getByRole("textbox", { name: "Username" }).fill("bob");
  await bob.page.getByRole("button", { name: "Sign up" }).click();
  await bob.page.getByRole("list", { name: "Participants" }).getByText("alice").waitFor(WAIT);

  const say = async (who, text) => {
    await who.page.getByRole("textbox", { name: "Message" }).fill(text);
    await who.page.getByRole("button", { name: "Send" }).click();
  };
  await say(alice, "Hike on Saturday?");
  await bob.page.getByText("Hike on Saturday?").waitFor(WAIT);
  await say(bob, "Yes! Leaving at 9 from the station.");
  await alice.page.getByText("Leaving at 9").waitFor(WAIT);
  await bob.page.getByRole("textbox", { name: "Message" }).pressSequentially("I'll bring");
  await alice.page.getByText("bob is typing…").waitFor(WAIT);
  await badge(alice.page).getByText("Live").waitFor(WAIT);
  await badge(bob.page).getByText("Live").waitFor(WAIT);

  const shots = [await alice.page.screenshot(), await bob.page.screenshot()].map((png) => `data:image/png;base64,${png.toString("base64")}`);
  const frame = await browser.newPage({ viewport: { width: 1600, height: 700 } });
  await frame.setContent(`<!doctype html><style>
    body { margin: 0; background: #e8ebef; display: inline-flex; gap: 24px; padding: 24px; font: 13px system-ui, sans-serif; }
    figure { margin: 0; border-radius: 10px; overflow: hidden; box-shadow: 0 8px 24px rgb(0 0 0 / 0.25); background: #fff; }
    figcaption { background: #d5d9df; padding: 8px 12px; color: #333; }
    figcaption::before { content: "● ● ●  "; color: #888; letter-spacing: 2px; }
    img { display: block; width: 740px; }
  </style><figure><figcaption>alice — ${server.url}/threads/…</figcaption><img src="${shots[0]}"></figure>
  <figure><figcaption>bob — ${server.url}/threads/… (dark mode)</figcaption><img src="${shots[1]}"></figure>`);
  await frame.waitForFunction(() => [...document.images].every((img) => img.complete));
  const composed = await frame.locator("body").screenshot();
  writeFileSync(out, composed);
  console.log(`wrote ${out} (${composed.length} bytes)`);
} finally {
  await browser.close();
  await server.dispose();
}
