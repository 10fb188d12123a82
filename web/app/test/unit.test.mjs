// The app's pure helpers, without a browser: routes, snapshot text, relative times.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.location = new URL("http://127.0.0.1:8080/");
const { match } = await import("../src/js/router.js");
const { ago, snapshotText } = await import("../src/js/dom.js");

test("every deep link of API.md §7 opens its view, with the id and the query", () => {
  const id = "6b105e82f4088d05efe22624";
  assert.deepEqual(match("/"), { view: "home", params: { id: "" } });
  assert.equal(match(`/threads/${id}`).params.id, id);
  assert.equal(match(`/threads/${id}`).view, "thread");
  assert.equal(match(`/drafts/${id}`).view, "draft");
  assert.equal(match(`/canvases/${id}`).view, "canvas");
  assert.deepEqual(match(`/join/${id}?code=abc`), { view: "join", params: { id, code: "abc" } });
  assert.equal(match("http://127.0.0.1:8080/library").view, "library");
  assert.equal(match("/threads/not-an-id").view, "notfound");
  assert.equal(match("/api/v1/threads").view, "notfound");
});

test("a snapshot's text is its `text`, or the string itself; other JSON has none", () => {
  assert.equal(snapshotText({ text: "hi", extra: 1 }), "hi");
  assert.equal(snapshotText("plain"), "plain");
  assert.equal(snapshotText({ tempo: 120 }), null);
  assert.equal(snapshotText(null), null);
  assert.equal(snapshotText([1, 2]), null);
});

test("relative times", () => {
  assert.equal(ago(Date.now() - 5000), "just now");
  assert.equal(ago(null), "never");
  assert.match(ago(new Date(Date.now() - 5 * 60_000).toISOString()), /5 minutes ago/);
  assert.equal(ago("not a date"), "");
});
