/**
 * Live pointer cursors (`cursor` / `user_cursor` frames): the others' positions and our own,
 * throttled. Not to be confused with the resume cursors of storage.js.
 *
 * @module tandem/cursors
 */

import { listen, noop } from "./util.js";

/** Other users' cursors in one room, from `user_cursor` frames (`x`/`y` null hides one). */
export class CursorTracker {
  constructor() {
    this.positions = new Map();
    this.listeners = new Set();
  }

  /** Applies a `user_cursor` frame. */
  apply(frame) {
    if (frame.x === null || frame.y === null || frame.x === undefined) this.positions.delete(frame.user_id);
    else this.positions.set(frame.user_id, { user_id: frame.user_id, username: frame.username, x: frame.x, y: frame.y });
    this.changed();
  }

  /** Forgets every cursor (the connection is gone). */
  clear() {
    if (!this.positions.size) return;
    this.positions.clear();
    this.changed();
  }

  changed() {
    for (const fn of this.listeners) fn(this.positions);
  }
}

/**
 * Our own cursor: at most one `cursor` frame per `interval` ms (default 50: the server forwards
 * at most 20 a second); the latest position always goes out, the ones in between are dropped.
 */
export class CursorSender {
  constructor(send, interval = 50) {
    this.send = send;
    this.interval = interval;
    this.sentAt = -Infinity;
    this.latest = null;
    this.timer = undefined;
  }

  /** Moves to `(x, y)`; `null, null` hides. */
  move(x, y) {
    this.latest = { x, y };
    if (this.timer !== undefined) return;
    const wait = this.sentAt + this.interval - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    this.timer = undefined;
    if (!this.latest) return;
    this.sentAt = Date.now();
    const { x, y } = this.latest;
    this.latest = null;
    this.send(x, y);
  }

  /** Stops a pending send. */
  cancel() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.latest = null;
  }
}

/**
 * `client.cursors(room, options)`: the others' cursors in `room` (cleared when the status leaves
 * `live`) and `move` / `hide` for ours, sent without acks.
 * @param {import("./client.js").Client} client
 */
export function cursorHelper(client, room, options = {}) {
  const tracker = new CursorTracker();
  const sender = new CursorSender(
    (x, y) => client.send({ type: "cursor", room, x, y }, { ack: false }).catch(noop),
    options.interval,
  );
  const offFrame = client.on("user_cursor", (frame) => frame.room === room && frame.user_id !== client.userId && tracker.apply(frame));
  const offStatus = client.onStatus((status) => status !== "live" && tracker.clear());
  return {
    get positions() {
      return tracker.positions;
    },
    onChange: (fn) => listen(tracker.listeners, fn),
    move: (x, y) => sender.move(x, y),
    hide: () => (sender.cancel(), sender.move(null, null)),
    close: () => {
      sender.cancel();
      offFrame();
      offStatus();
      tracker.clear();
    },
  };
}
