/**
 * The connection of one tab: connect attempts with backoff, the session (first-frame auth with
 * resume cursors, rejoins, the sync ping, acks, the dead-socket watchdog), and the switch to the
 * long-poll fallback when no WebSocket can be opened.
 *
 * @module tandem/engine
 */

import { TandemError, errorOf } from "./errors.js";
import { Backoff } from "./backoff.js";
import { Rooms } from "./rooms.js";
import { LongPoll } from "./polling.js";
import { isDurable, isViewedKind, noop } from "./util.js";

/** `ref` of the ping sent after connecting: its `ack` comes after the connect-time replay. */
const SYNC_REF = "tandem-sync";
/**
 * Close codes of a server that is going away on purpose (1001 going away: Tandem's graceful
 * shutdown; 1012 service restart): retries stay at the first delay for `restartWindow`.
 */
const RESTARTING = [1001, 1012];

/** Detaches a socket's handlers so a replaced socket can no longer call back. */
function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}

/**
 * Owns the connection of one tab (the leader's, with `shareAcrossTabs`): connect attempts with
 * backoff, the session (watchdog, rejoins, sync, acks), and the long-poll fallback. Durable
 * frames are deduped per connection before `onFrame`; statuses go to `onStatus`.
 */
export class Engine {
  /**
   * @param {object} o resolved options (see `connect`)
   * @param {{frame: (f: object) => void, status: (s: string) => void, learn: (room: string, seq: number) => void}} out
   * @param {Record<string, number>} cursors initial cursors
   */
  constructor(o, out, cursors) {
    this.o = o;
    this.out = out;
    this.rooms = new Rooms(cursors);
    this.backoff = new Backoff(o.reconnectDelays, o.jitter, o.random);
    this.status = undefined; // the first `connecting` is reported (a tab taking over was live)
    this.pending = new Map();
    this.queue = [];
    this.gen = 0;
    this.refs = 0;
    this.failures = 0;
    this.ws = null;
    this.session = null;
    this.sent = {};
    this.connecting = false;
    this.poll = new LongPoll(this);
    this.stopped = false;
    this.discovered = !o.discoverThreads;
    this.userId = undefined;
    this.lastFrameAt = 0;
  }

  /** Whether events come through the long poll (no WebSocket). */
  get polling() {
    return this.poll.active;
  }

  /** Starts connecting. */
  start() {
    this.attempt();
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.out.status(status);
  }

  /** One connect attempt: a fresh token, first-frame auth carrying the resume cursors. */
  async attempt() {
    if (this.stopped) return;
    const gen = ++this.gen;
    clearTimeout(this.retryTimer);
    this.connecting = true;
    if (!this.polling) this.setStatus("connecting");
    let token;
    try {
      token = await this.o.tokens.fresh();
      if (token === this.o.tokens.rejected) throw new TandemError("unauthorized", "the token was refused");
      if (!this.discovered && gen === this.gen) await this.discover();
    } catch {
      if (gen === this.gen) this.ended(null, 0);
      return;
    }
    if (gen !== this.gen) return;
    let ws;
    try {
      ws = new this.o.WebSocket(this.o.wsUrl);
    } catch {
      return this.ended(null, 0); // e.g. blocked by a Content-Security-Policy: poll instead
    }
    this.ws = ws;
    this.token = token;
    this.openTimer = setTimeout(() => this.ended(ws, 0), this.o.connectTimeout);
    ws.onopen = () => {
      this.sent = this.rooms.resumeMap();
      const auth = { type: "auth", token };
      if (Object.keys(this.sent).length) auth.resume = this.sent;
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (event) => this.message(ws, event.data);
    ws.onclose = (event) => this.ended(ws, event.code);
  }

  /**
   * Learns the cursors of the user's threads by REST before the first connect, so that a thread
   * room in which nothing has arrived yet is resumed too. Fails silently (tried again next time).
   */
  async discover() {
    try {
      const { threads } = await this.o.rest.get("/api/v1/threads");
      for (const thread of threads) this.learn(`thread:${thread.id}`, thread.seq);
      this.discovered = true;
    } catch { /* the next attempt tries again */ }
  }

  /** Sets a cursor the room does not have yet (REST, polling), and tells the tab. */
  learn(room, seq) {
    if (this.rooms.learn(room, seq)) this.out.learn(room, seq);
  }

  message(ws, data) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    this.lastFrameAt = Date.now();
    if (!this.session) {
      if (frame.type === "connected") this.established(ws, frame);
      else this.out.frame(frame); // the `error` before a 4401
      return;
    }
    this.route(frame);
  }

  /** `connected`: rejoin viewed rooms, send the sync ping, start the watchdog. */
  established(ws, frame) {
    clearTimeout(this.openTimer);
    this.connecting = false;
    this.failures = 0;
    this.backoff.release();
    this.poll.stop();
    const interval = frame.heartbeat_interval_ms > 0 ? frame.heartbeat_interval_ms : 30000;
    this.session = { ws, openedAt: Date.now(), synced: false, silence: interval + this.o.heartbeatTimeout };
    this.userId = frame.user_id;
    this.out.frame(frame);
    for (const [room, after] of this.rooms.toJoin(this.sent)) this.sendJoin(room, after);
    this.write({ type: "ping", ref: SYNC_REF });
    this.armWatchdog();
  }

  /** A frame of an established session. */
  route(frame) {
    const ref = frame.ref;
    if (ref !== undefined && (frame.type === "ack" || frame.type === "error")) {
      if (this.pending.has(ref)) return this.answer(ref, frame);
      if (ref === SYNC_REF && frame.type === "ack") return this.synced();
    }
    if (frame.type === "pong" && !this.session.synced) return; // the sync ping's answer
    if (frame.type === "ping") this.write({ type: "pong" });
    if (frame.type === "error" && ref === undefined) this.refusedResume(frame);
    this.deliver(frame);
  }

  /** Dedupes durable frames, records resyncs, hands the frame on. */
  deliver(frame) {
    if (isDurable(frame)) {
      // A viewed room left a moment ago: its last events are no one's (and leave no cursor).
      if (isViewedKind(frame.room) && !this.rooms.viewed.has(frame.room)) return;
      if (!this.rooms.accept(frame.room, frame.seq)) return;
    } else if (frame.type === "resync_required" && typeof frame.room === "string") {
      this.rooms.cursors.set(frame.room, frame.last_seq ?? this.rooms.cursor(frame.room) ?? 0);
    }
    this.out.frame(frame);
  }

  /** A connect-time cursor the server refused ("cannot resume `room`: ..."): drop it for good. */
  refusedResume(frame) {
    const room = /^cannot resume `([^`]+)`/.exec(frame.message ?? "")?.[1];
    if (room) this.rooms.answered(room, undefined, frame.code);
  }

  synced() {
    this.session.synced = true;
    this.setStatus("live");
    for (const item of this.queue.splice(0)) this.transmit(item);
  }

  /** The answer to a frame we sent with a `ref`. */
  answer(ref, frame) {
    const item = this.pending.get(ref);
    this.pending.delete(ref);
    clearTimeout(item.timer);
    const refused = frame.type === "error";
    if (item.room) {
      this.rooms.answered(item.room, ref, refused ? frame.code : undefined);
      if (!item.resolve) return refused && this.out.frame(frame);
    }
    if (refused) item.reject(errorOf(frame));
    else item.resolve(item.room ? undefined : frame);
  }

  write(frame) {
    try {
      this.session?.ws.send(JSON.stringify(frame));
    } catch { /* the close event follows */ }
  }

  nextRef() {
    return `tandem-${++this.refs}`;
  }

  /** `subscribe` (after `after` when known); `reply` settles on the server's answer. */
  sendJoin(room, after, reply = {}) {
    const ref = this.nextRef();
    this.pending.set(ref, { room, ...reply });
    const frame = { type: "subscribe", room, ref };
    if (after !== undefined) {
      frame.after = after;
      this.rooms.beginReplay(room, ref);
    }
    this.write(frame);
  }

  /**
   * Sends an application frame; resolves with the `ack`, rejects with the `error` or a timeout.
   * With `ack: false`, sends without a `ref` if live (rejects `not_connected` otherwise).
   */
  send(frame, { timeout = this.o.sendTimeout, ack = true } = {}) {
    if (this.stopped) return Promise.reject(new TandemError("closed", "the client is closed"));
    if (!ack && !this.session?.synced) return Promise.reject(new TandemError("not_connected", "not live"));
    return new Promise((resolve, reject) => {
      const item = { frame, ack, resolve, reject };
      item.timer = setTimeout(() => {
        this.forget(item);
        reject(new TandemError("timeout", `no answer within ${timeout} ms`));
      }, timeout);
      if (this.session?.synced) this.transmit(item);
      else this.queue.push(item);
    });
  }

  transmit(item) {
    if (!item.ack) {
      clearTimeout(item.timer);
      this.write(item.frame);
      return item.resolve(undefined);
    }
    item.ref = this.nextRef();
    this.pending.set(item.ref, item);
    this.write({ ...item.frame, ref: item.ref });
  }

  forget(item) {
    this.pending.delete(item.ref);
    const index = this.queue.indexOf(item);
    if (index >= 0) this.queue.splice(index, 1);
  }

  /** Views `room` (after `after` if given); resolves on the server's answer, or at once if offline. */
  join(room, after) {
    if (after !== undefined) this.rooms.track(room, after);
    else this.rooms.view(room);
    if (!this.session) {
      this.poll.sync();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.sendJoin(room, this.rooms.cursor(room), { resolve, reject }));
  }

  /** Stops viewing `room`. */
  leave(room) {
    this.rooms.forget(room);
    this.poll.sync();
    if (!this.session) return Promise.resolve();
    return this.send({ type: "unsubscribe", room }).then(noop, (error) => {
      if (error.code !== "not_found" && error.code !== "disconnected") throw error;
    });
  }

  /** Sets a room's cursor (e.g. from a REST object's `seq`). */
  track(room, seq) {
    this.rooms.cursors.set(room, seq);
  }

  /** Reconnect now if waiting to (the browser is back online, the page is visible again). */
  nudge() {
    if (!this.stopped && !this.session && !this.connecting) this.attempt();
  }

  armWatchdog() {
    clearTimeout(this.dogTimer);
    const session = this.session;
    if (session) this.dogTimer = setTimeout(() => this.checkWatchdog(), this.lastFrameAt + session.silence - Date.now());
  }

  /** Replaces the connection if nothing arrived for heartbeat interval + timeout. */
  checkWatchdog() {
    const session = this.session;
    if (!session) return;
    if (Date.now() - this.lastFrameAt >= session.silence) this.ended(session.ws, 4000);
    else this.armWatchdog();
  }

  /**
   * A socket closed, failed to open in time, or went silent (`ws` null: the attempt failed
   * before a socket). Fails what waits for answers, then retries per the schedule.
   */
  ended(ws, code) {
    if (ws !== this.ws) return;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000);
      } catch { /* already closed */ }
    }
    clearTimeout(this.openTimer);
    clearTimeout(this.dogTimer);
    const session = this.session;
    this.ws = this.session = null;
    this.connecting = false;
    this.rooms.connectionEnded();
    this.failPending();
    if (this.stopped) return;
    if (code === 4401) {
      this.o.tokens.reject(this.token);
      if (!this.o.tokens.refreshable) return this.stop();
      if (!this.polling) this.setStatus("offline");
    } else if (session) {
      if (Date.now() - session.openedAt >= this.o.stableAfter) this.backoff.reset();
      if (RESTARTING.includes(code)) this.backoff.hold(this.o.restartWindow);
      if (!this.polling) this.setStatus("offline");
    } else {
      this.openFailed();
    }
    this.retryTimer = setTimeout(() => this.attempt(), this.backoff.next());
  }

  /**
   * A WebSocket could not be opened. Poll after `pollingAfterFailures` failures in a row, or at
   * once when plain HTTP to the server works (the upgrade itself is refused, e.g. by a proxy);
   * otherwise the server is unreachable: offline. While the server restarts (a hold after
   * 1001/1012), refused attempts are expected and do not count.
   */
  openFailed() {
    if (this.polling) return;
    if (!this.backoff.held && ++this.failures >= this.o.pollingAfterFailures) return this.poll.start();
    const fetchImpl = this.o.fetch;
    fetchImpl(`${this.o.base}/healthz`)
      .then((response) => response.ok, () => false)
      .then((reachable) => {
        if (reachable) this.poll.start();
        else if (!this.session && !this.connecting && !this.polling) this.setStatus("offline");
      });
  }

  failPending() {
    for (const item of this.pending.values()) {
      clearTimeout(item.timer);
      if (item.room) item.resolve?.(); // recorded: joined again on the next connect
      else item.reject(new TandemError("disconnected", "the connection closed before the answer"));
    }
    this.pending.clear();
  }

  /** A static token was refused (4401): stop; nothing else can succeed. */
  stop() {
    this.stopped = true;
    this.poll.stop();
    for (const item of this.queue.splice(0)) {
      clearTimeout(item.timer);
      item.reject(new TandemError("unauthorized", "the server refused the token"));
    }
    this.setStatus("offline");
  }

  /** Closes for good. */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.ended(this.ws, 1000);
    this.poll.stop();
    for (const item of this.queue.splice(0)) {
      clearTimeout(item.timer);
      item.reject(new TandemError("closed", "the client is closed"));
    }
    this.setStatus("offline");
  }
}
