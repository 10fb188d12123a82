/**
 * Typing indicators: who else is typing (with local expiry) and our own throttled
 * `is_typing` sends.
 *
 * @module tandem/typing
 */

import { listen, noop } from "./util.js";

/**
 * Who is typing in one room, from `user_typing` frames. A `true` not refreshed within
 * `expireAfter` ms (default 6 s: the server sends `false` after 5 s) expires locally too.
 */
export class TypingTracker {
  constructor(expireAfter = 6000) {
    this.expireAfter = expireAfter;
    this.users = new Map();
    this.listeners = new Set();
  }

  /** The users typing now: `{ user_id, username }`. */
  list() {
    return [...this.users.values()].map(({ user_id, username }) => ({ user_id, username }));
  }

  /** Applies a `user_typing` frame. */
  apply(frame) {
    const known = this.users.get(frame.user_id);
    clearTimeout(known?.timer);
    if (frame.is_typing) {
      const timer = setTimeout(() => this.expire(frame.user_id), this.expireAfter);
      this.users.set(frame.user_id, { user_id: frame.user_id, username: frame.username, timer });
      if (!known) this.changed();
    } else if (known) {
      this.users.delete(frame.user_id);
      this.changed();
    }
  }

  expire(userId) {
    this.users.delete(userId);
    this.changed();
  }

  /** Forgets everyone (the connection is gone: typing is ephemeral). */
  clear() {
    if (!this.users.size) return;
    for (const { timer } of this.users.values()) clearTimeout(timer);
    this.users.clear();
    this.changed();
  }

  changed() {
    const list = this.list();
    for (const fn of this.listeners) fn(list);
  }
}

/**
 * Our own typing: `keystroke()` sends `is_typing: true` at most once per `refresh` ms (default
 * 2 s, inside the server's 5 s expiry) and `false` after `idle` ms without keystrokes (default
 * 3 s); `stop()` sends `false` at once.
 */
export class TypingSender {
  constructor(send, { refresh = 2000, idle = 3000 } = {}) {
    this.send = send;
    this.refresh = refresh;
    this.idle = idle;
    this.typing = false;
    this.sentAt = -Infinity;
  }

  keystroke() {
    const now = Date.now();
    if (!this.typing || now - this.sentAt >= this.refresh) {
      this.typing = true;
      this.sentAt = now;
      this.send(true);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), this.idle);
  }

  stop() {
    clearTimeout(this.idleTimer);
    if (!this.typing) return;
    this.typing = false;
    this.send(false);
  }
}

/**
 * `client.typing(room, options)`: the others typing in `room` (cleared when the status leaves
 * `live`, typing being ephemeral) and our keystrokes, sent without acks.
 * @param {import("./client.js").Client} client
 */
export function typingHelper(client, room, options = {}) {
  const tracker = new TypingTracker(options.expireAfter);
  const sender = new TypingSender(
    (isTyping) => client.send({ type: "typing", room, is_typing: isTyping }, { ack: false }).catch(noop),
    options,
  );
  const offFrame = client.on("user_typing", (frame) => frame.room === room && frame.user_id !== client.userId && tracker.apply(frame));
  const offStatus = client.onStatus((status) => status !== "live" && tracker.clear());
  return {
    get users() {
      return tracker.list();
    },
    onChange: (fn) => listen(tracker.listeners, fn),
    keystroke: () => sender.keystroke(),
    stop: () => sender.stop(),
    close: () => {
      sender.stop();
      offFrame();
      offStatus();
      tracker.clear();
    },
  };
}
