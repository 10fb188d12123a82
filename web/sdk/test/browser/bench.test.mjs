// Throughput into one page: 1,000 durable events a second for 10 s through the SDK's whole path
// (parse, dedupe, handlers, the cursor saved to sessionStorage after each event). Every event
// must reach the handler once, in order; the figure is the lag from send to handler. Run against
// a protocol stand-in that can push at an exact rate, and against the real server (TANDEM_BIN):
// by default as fast as it can publish (the debug build sustains only ~150 durable events/s
// here); with SDK_BENCH_SERVER_RATE at that rate, for the release build:
//
//   TANDEM_BIN=$CARGO_TARGET_DIR/release/tandem SDK_BENCH_SERVER_RATE=1000 \
//     node --test --test-name-pattern="real server" test/browser/bench.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { fileURLToPath } from "node:url";

import { API_KEY, TANDEM_BIN, TandemServer, launchBrowser, percentile } from "./harness.mjs";
import { FakeTandem } from "./fake-tandem.mjs";

const RATE = Number(process.env.SDK_BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.SDK_BENCH_SECONDS ?? 10);
/** Events/s published into the real server (0: as fast as 16 publishers go, for 5 s). */
const SERVER_RATE = Number(process.env.SDK_BENCH_SERVER_RATE ?? 0);
const SERVER_SECONDS = Number(process.env.SDK_BENCH_SERVER_SECONDS ?? (SERVER_RATE ? 10 : 5));
const SDK_FILE = fileURLToPath(new URL("../../tandem.js", import.meta.url));
let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/**
 * A page on `origin` whose client counts the events of `type` and their lag. The page gets this
 * folder's tandem.js for `/sdk/tandem.js` whatever the server embeds (a release binary embeds
 * the SDK it was built with, which may be older than the one under test).
 */
async function benchPage(origin, token, type) {
  const page = await (await browser.newContext()).newPage();
  await page.route("**/sdk/tandem.js", (route) => route.fulfill({ path: SDK_FILE, contentType: "text/javascript" }));
  await page.goto(`${origin}/healthz`);
  await page.evaluate(async ({ token, type }) => {
    const { connect } = await import("/sdk/tandem.js");
    const bench = { count: 0, last: 0, gaps: 0, repeats: 0, lags: [], busy: 0 };
    window.bench = bench;
    window.client = connect({ url: location.origin, token });
    window.client.on(type, (event) => {
      const started = performance.now();
      if (event.seq <= bench.last) bench.repeats++;
      else if (event.seq !== bench.last + 1) bench.gaps++;
      bench.last = Math.max(bench.last, event.seq);
      bench.count++;
      bench.lags.push(Date.now() - event.timestamp);
      bench.busy += performance.now() - started;
    });
  }, { token, type });
  await page.waitForFunction(() => window.client.status === "live", null, { timeout: 15000 });
  return page;
}

async function results(page, total, timeout) {
  await page.waitForFunction((n) => window.bench.count >= n, total, { timeout, polling: 100 });
  return page.evaluate(() => ({ ...window.bench, lags: window.bench.lags }));
}

function describe(label, r, seconds) {
  const p = (q) => percentile(r.lags, q);
  return `FIGURE ${label}: ${r.count} events in ${seconds} s, ${r.gaps} gaps, ${r.repeats} repeats, ` +
    `lag send→handler p50 ${p(50)} ms, p99 ${p(99)} ms, max ${Math.max(...r.lags)} ms`;
}

test(`${RATE} events/s for ${SECONDS} s into one page (protocol stand-in): none dropped, none repeated`, async () => {
  const fake = await new FakeTandem().start();
  try {
    const page = await benchPage(fake.url, "bench-token", "message_created");
    const sent = await fake.stream("thread:bench", RATE, SECONDS);
    const r = await results(page, sent, 30000);
    console.log(describe(`${RATE}/s stand-in`, r, SECONDS));
    assert.equal(r.count, sent);
    assert.equal(r.gaps + r.repeats, 0);
    // Falling behind shows as a lag growing through the run (seconds); a loaded CI machine
    // adds tens of ms of scheduling noise, hence the loose bound.
    assert.ok(percentile(r.lags, 99) < 1000, `p99 lag ${percentile(r.lags, 99)} ms: the handlers fell behind`);
  } finally {
    await fake.close();
  }
});

/**
 * `POST url` of one 64-byte `bench.tick` event with the API key, over keep-alive node:http: at
 * 1,000 requests/s, fetch (undici) costs the publisher a whole core here, node:http half that,
 * and the publisher shares the two cores with the server and Chromium.
 */
function publisherOf(url) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const body = JSON.stringify({ type: "bench.tick", snapshot: { text: "x".repeat(64) } });
  const headers = { authorization: `Bearer ${API_KEY}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  return () => new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", agent, headers }, (response) => {
      response.resume();
      response.on("end", () => (response.statusCode < 300 ? resolve() : reject(new Error(`publish: HTTP ${response.statusCode}`))));
    });
    request.on("error", reject);
    request.end(body);
  });
}

const build = /release/.test(TANDEM_BIN) ? "release" : /debug/.test(TANDEM_BIN) ? "debug" : TANDEM_BIN;
const serverLabel = SERVER_RATE ? `${SERVER_RATE} events/s for ${SERVER_SECONDS} s` : "as fast as it publishes";
test(`the real server (${build} build, SQLite) into one page, ${serverLabel}`, async () => {
  const server = await new TandemServer().start();
  try {
    const alice = await server.signUp("alice");
    const thread = await server.api("POST", "/api/v1/threads", { token: alice.token, body: { name: "bench" } });
    const page = await benchPage(server.url, alice.token, "bench.tick");
    const room = `thread:${thread.id}`;
    const publish = publisherOf(`${server.url}/api/v1/rooms/${room}/publish`);
    const started = Date.now();
    const end = started + SERVER_SECONDS * 1000;
    let issued = 0;
    let published = 0;
    // Paced: publish number i is due at start + i / rate; 64 publishers so that a slow answer
    // does not hold the rate up. Unpaced: 16 publishers back to back.
    const publisher = async () => {
      for (;;) {
        const due = SERVER_RATE ? started + (issued * 1000) / SERVER_RATE : Date.now();
        if (due >= end) return;
        issued++;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now())); // pacing
        await publish();
        published++;
      }
    };
    await Promise.all(Array.from({ length: SERVER_RATE ? 64 : 16 }, publisher));
    const took = (Date.now() - started) / 1000;
    const r = await results(page, published, 30000);
    const rate = Math.round(published / took);
    console.log(describe(`real server ${build} build, ${rate}/s published`, r, took.toFixed(1)));
    assert.equal(r.count, published, "every event reached the handler");
    assert.equal(r.gaps + r.repeats, 0, "none dropped, none repeated");
    if (SERVER_RATE) {
      assert.ok(rate >= SERVER_RATE * 0.95, `the server took only ${rate} events/s of ${SERVER_RATE}`);
      assert.ok(percentile(r.lags, 99) < 1000, `p99 lag ${percentile(r.lags, 99)} ms: the handlers fell behind`);
    }
  } finally {
    await server.dispose();
  }
});
