// Browser-test harness: the real Tandem server (TANDEM_BIN, a temp SQLite file, 127.0.0.1:0),
// a TCP proxy that can refuse WebSocket upgrades or silently stop forwarding them, Chromium via
// playwright-core (STACK.md flags), and pages that load the SDK from the server itself.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { chromium } from "playwright-core";

export const TANDEM_BIN = process.env.TANDEM_BIN ?? "/root/.cache/tandem-target/debug/tandem";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const API_KEY = "sdk-test-key";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** Resolves with `what` or rejects after `ms`: every wait in these tests is bounded. */
export function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A Tandem server on 127.0.0.1 with its own temp SQLite file. `restart()` stops it (SIGTERM) and
 * starts it again on the same port and database; `acceptedAt` is when the log said it listens.
 */
export class TandemServer {
  constructor(args = []) {
    this.args = args;
    this.dir = mkdtempSync(join(tmpdir(), "tandem-sdk-"));
    this.port = 0;
    this.logTail = [];
  }

  async start() {
    const child = spawn(
      TANDEM_BIN,
      [
        "serve",
        "--addr", `127.0.0.1:${this.port}`,
        "--database-url", `sqlite://${this.dir}/tandem.db`,
        "--dev-insecure-auth",
        "--api-key", API_KEY,
        ...this.args,
      ],
      { env: { ...process.env, NO_COLOR: "1", RUST_LOG: process.env.RUST_LOG ?? "info" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(child);
    this.child = child;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    this.exited = exited;
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
    const addr = await within(60000, Promise.race([listening, exited.then(() => {
      throw new Error(`tandem exited before listening:\n${this.logTail.join("\n")}`);
    })]), "tandem listening");
    this.acceptedAt = Date.now();
    this.port = Number(addr.split(":").at(-1));
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** SIGTERM (graceful: clients get 1001) and wait for the exit. */
  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    await within(20000, this.exited, "tandem to exit");
    children.delete(this.child);
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A JSON request to the server. */
  async api(method, path, { token, body, headers = {} } = {}) {
    const response = await fetch(this.url + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** Signs a user up: `{ user, token }`. */
  signUp(username) {
    return this.api("POST", "/api/v1/users", { body: { username } });
  }

  /** Posts a thread message (a durable `message_created`). */
  post(token, threadId, snapshot) {
    return this.api("POST", `/api/v1/threads/${threadId}/messages`, { token, body: { snapshot } });
  }

  /** The value of a Prometheus gauge or counter without labels. */
  async metric(name) {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(" ")[1]) : 0;
  }
}

/**
 * A TCP proxy in front of the server. `refuseUpgrades` answers WebSocket upgrade requests with
 * 502 (plain HTTP passes); `freezeWebSockets()` silently stops forwarding on the open upgraded
 * connections (nothing closes: a dead network, as seen by the browser).
 */
export class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.refuseUpgrades = false;
    this.pairs = new Set();
    this.refused = 0;
  }

  async start() {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  accept(client) {
    client.on("error", () => {});
    client.once("data", (first) => {
      const upgrade = /\r\nupgrade:\s*websocket/i.test(first.toString("latin1"));
      if (upgrade && this.refuseUpgrades) {
        this.refused++;
        client.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
      }
      const upstream = net.connect(this.targetPort, "127.0.0.1");
      const pair = { client, upstream, upgrade, frozen: false };
      this.pairs.add(pair);
      // A frozen connection stays open towards the browser even when the server gives up on
      // it: only the browser's own watchdog can tell it is dead.
      upstream.on("error", () => pair.frozen || client.destroy());
      client.on("close", () => (upstream.destroy(), this.pairs.delete(pair)));
      upstream.on("close", () => pair.frozen || client.destroy());
      upstream.write(first);
      client.on("data", (data) => pair.frozen || upstream.write(data));
      upstream.on("data", (data) => pair.frozen || client.write(data));
    });
  }

  /** Stops forwarding on every open WebSocket connection (closes included); returns how many. */
  freezeWebSockets() {
    let frozen = 0;
    for (const pair of this.pairs) {
      if (pair.upgrade && !pair.frozen) {
        pair.frozen = true;
        frozen++;
      }
    }
    return frozen;
  }

  async close() {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Chromium with the flags of STACK.md. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/**
 * Opens `origin` in `context` (a WebSocket from about:blank to 127.0.0.1 fails, so the page must
 * come from the server or the proxy), imports the SDK from `/sdk/tandem.js` and connects with
 * `options` (functions cannot cross: `options` is JSON). The page records, in its tab's
 * sessionStorage so that reloads keep them, every durable event (`room#seq`) and every status
 * change with its time.
 */
export async function openClient(context, origin, token, options = {}, page) {
  page ??= await context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(`${origin}/healthz`);
  await startClient(page, token, options);
  return page;
}

/** Imports the SDK in an already loaded page and connects (again after a reload). */
export function startClient(page, token, options = {}) {
  return page.evaluate(
    async ({ token, options }) => {
      const sdk = await import("/sdk/tandem.js");
      const read = (key) => JSON.parse(sessionStorage.getItem(key) ?? "[]");
      const append = (key, value) => sessionStorage.setItem(key, JSON.stringify([...read(key), value]));
      const client = sdk.connect({ url: location.origin, token, ...options });
      window.sdk = sdk;
      window.client = client;
      window.read = read;
      client.onStatus((status) => append("test:statuses", [status, Date.now()]));
      client.on("*", (frame) => {
        if (typeof frame.seq === "number") append("test:events", `${frame.room}#${frame.seq}`);
      });
    },
    { token, options },
  );
}

/** The page's recorded events (`room#seq`) and statuses (`[status, ms]`). */
export function recorded(page) {
  return page.evaluate(() => ({ events: window.read("test:events"), statuses: window.read("test:statuses") }));
}

/** Waits (bounded) until the page's client has `status`. */
export function waitForStatus(page, status, timeout = 15000) {
  return page.waitForFunction((s) => window.client?.status === s, status, { timeout, polling: 20 });
}

/** Waits (bounded) until the page has recorded `count` events. */
export function waitForEvents(page, count, timeout = 15000) {
  return page.waitForFunction((n) => window.read("test:events").length >= n, count, { timeout, polling: 20 });
}

/** `room#1` ... `room#n`. */
export function seqs(room, from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => `${room}#${from + i}`);
}

/** Percentile of a sorted-on-demand list. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
