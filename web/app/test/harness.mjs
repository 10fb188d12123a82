// Test harness for the web app: the real Tandem server (TANDEM_BIN, a temp SQLite file,
// 127.0.0.1 on a port the OS picks), Chromium through playwright-core (STACK.md flags),
// browser contexts signed in through the app's own sign-up page, bounded waits only, and
// screenshots written under one artifacts directory that is printed.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { chromium } from "playwright-core";

export const TANDEM_BIN = process.env.TANDEM_BIN ?? `${process.env.HOME}/.cache/tandem-target/debug/tandem`;
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Where screenshots go: $TANDEM_ARTIFACTS, else `tandem-app-artifacts` in the temp directory
 * (one for every test file of a run; printed once per file). */
export const ARTIFACTS = process.env.TANDEM_ARTIFACTS ?? join(tmpdir(), "tandem-app-artifacts");
mkdirSync(ARTIFACTS, { recursive: true });
let announced = false;

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** A Tandem server with its own database; `restart()` keeps port and data. */
export class TandemServer {
  constructor(args = []) {
    this.args = args;
    this.dir = mkdtempSync(join(tmpdir(), "tandem-app-"));
    this.port = 0;
    this.logTail = [];
  }

  async start() {
    const child = spawn(TANDEM_BIN, [
      "serve",
      "--addr", `127.0.0.1:${this.port}`,
      "--database-url", `sqlite://${this.dir}/tandem.db`,
      "--presence-grace", "0s",
      ...this.args,
    ], { env: { ...process.env, NO_COLOR: "1", RUST_LOG: process.env.RUST_LOG ?? "info" }, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", resolve));
    const listening = new Promise((resolve) => {
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on("line", (raw) => {
          const line = raw.replace(/\x1b\[[0-9;]*m/g, "");
          this.logTail.push(line);
          if (this.logTail.length > 50) this.logTail.shift();
          const addr = /tandem listening.*addr=(\S+)/.exec(line)?.[1];
          if (addr) resolve(addr);
        });
      }
    });
    const failed = this.exited.then(() => {
      throw new Error(`tandem exited before listening:\n${this.logTail.join("\n")}`);
    });
    const addr = await within(60000, Promise.race([listening, failed]), "tandem listening");
    this.port = Number(addr.split(":").at(-1));
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** SIGTERM and wait for the exit. */
  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    await within(20000, this.exited, "tandem to exit");
    children.delete(this.child);
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A JSON request; throws on a non-2xx answer. */
  async api(method, path, { token, body } = {}) {
    const response = await fetch(this.url + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
}

/** Resolves with `promise` or rejects after `ms`. */
export function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Chromium with the flags of STACK.md. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/** A new context (its own storage: one person) whose page errors fail loudly in the log. */
export async function newPerson(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => {
    page.errors.push(error);
    console.error("page error:", error);
  });
  return { context, page };
}

/** Signs up through the app's first-visit form at `url` (default: the app's root). */
export async function signUpInApp(page, server, username, url = server.url) {
  await page.goto(url);
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("button", { name: `Account @${username}`, exact: true }).waitFor({ timeout: 10000 });
}

/** Waits until the connection badge says `text` ("Live", "Syncing", "Offline"). */
export function badge(page) {
  return page.getByRole("status");
}

/** Saves a screenshot `name.png` in ARTIFACTS and returns its path. */
export async function screenshot(page, name, options = {}) {
  if (!announced) {
    announced = true;
    console.log(`# screenshots: ${ARTIFACTS}`);
  }
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, ...options });
  return path;
}
