/**
 * The long-poll fallback: when no WebSocket can be opened, durable events come through
 * `GET /api/v1/rooms/{room}/events?after&wait`, one loop per room, with the same dedupe and
 * handlers as the socket.
 *
 * @module tandem/polling
 */

import { Backoff } from "./backoff.js";
import { isViewedKind, sleep } from "./util.js";

/** Rooms long-polled with `wait`; the others are polled briefly (browsers allow ~6 requests). */
const MAX_LONG_POLLS = 4;
/** Pause between short polls (rooms beyond MAX_LONG_POLLS, or when nothing came). */
const SHORT_POLL_MS = 3000;

/**
 * The poll loops of one Engine. One loop per room so that a busy room is not held up by a quiet
 * one: the viewed rooms first, then the user's room, its threads and the `rooms` option; the
 * first MAX_LONG_POLLS long-poll, the rest poll every SHORT_POLL_MS. Statuses and events go
 * through the engine (`setStatus`, `deliver`, `learn`).
 */
export class LongPoll {
  /** @param {import("./engine.js").Engine} engine */
  constructor(engine) {
    this.engine = engine;
    this.active = false;
    this.loops = new Map(); // room -> AbortController
    this.retryTimer = undefined;
  }

  /** Starts polling (unless the engine is stopped or has a session). */
  start() {
    const engine = this.engine;
    if (this.active || engine.stopped || engine.session) return;
    this.active = true;
    this.sync();
  }

  /** Stops every loop (a WebSocket works again, or the client closes). */
  stop() {
    this.active = false;
    clearTimeout(this.retryTimer);
    for (const controller of this.loops.values()) controller.abort();
    this.loops.clear();
  }

  /** Rooms to poll: viewed ones first (they get the long polls), the user's, then the rest. */
  rooms() {
    const engine = this.engine;
    const rooms = new Set([...engine.rooms.viewed, ...engine.o.rooms]);
    if (engine.userId) rooms.add(`user:${engine.userId}`);
    for (const room of engine.rooms.cursors.map.keys()) if (!isViewedKind(room)) rooms.add(room);
    return [...rooms];
  }

  /** Starts a poll loop per room to poll and stops those of rooms no longer wanted. */
  async sync() {
    const engine = this.engine;
    if (!this.active) return;
    if (!engine.userId) {
      try {
        engine.userId = (await engine.o.rest.get("/api/v1/users/me")).id;
      } catch {
        if (this.active) engine.setStatus("offline");
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.sync(), SHORT_POLL_MS);
      }
    }
    if (!engine.discovered) await engine.discover();
    if (!this.active) return;
    const wanted = this.rooms();
    for (const [room, controller] of this.loops) {
      if (!wanted.includes(room)) {
        controller.abort();
        this.loops.delete(room);
      }
    }
    wanted.forEach((room, index) => {
      if (this.loops.has(room)) return;
      const controller = new AbortController();
      this.loops.set(room, controller);
      this.loop(room, controller.signal, index < MAX_LONG_POLLS);
    });
  }

  /** Polls one room until aborted: the same dedupe and handlers as the socket. */
  async loop(room, signal, long) {
    const engine = this.engine;
    const o = engine.o;
    const backoff = new Backoff(o.reconnectDelays, o.jitter, o.random);
    while (!signal.aborted) {
      const after = engine.rooms.cursor(room);
      const wait = after !== undefined && long ? o.pollWait : 0;
      const started = Date.now();
      let page;
      try {
        page = await o.rest.get(`/api/v1/rooms/${room}/events?after=${after ?? 0}&wait=${wait}ms&limit=100`, {
          signal,
        });
      } catch (error) {
        if (signal.aborted) return;
        if (error.status === 403 || error.status === 404) return this.loops.delete(room);
        if (this.active && error.code === "network") engine.setStatus("offline");
        await sleep(backoff.next(), signal);
        continue;
      }
      if (signal.aborted) return;
      backoff.reset();
      if (this.active) engine.setStatus("polling");
      if (after === undefined) {
        engine.learn(room, page.last_seq ?? 0);
        continue;
      }
      if (page.resync_required) engine.deliver({ type: "resync_required", room, last_seq: page.last_seq });
      else for (const event of page.events) engine.deliver(event);
      // Nothing new: a short poll waits its turn; a long poll that came back early (a proxy
      // that cuts requests) waits a second rather than spin.
      const empty = page.resync_required || !page.events.length;
      if (empty && (!wait || Date.now() - started < 1000)) await sleep(wait ? 1000 : SHORT_POLL_MS, signal);
    }
  }
}
