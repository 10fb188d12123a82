/**
 * One socket per browser (`shareAcrossTabs`): the leader tab holds the connection and relays
 * over a BroadcastChannel; the other tabs send, subscribe and unsubscribe through it.
 *
 * @module tandem/tabs
 */

import { TandemError } from "./errors.js";
import { electLeader } from "./leader.js";
import { noop, randomId } from "./util.js";

/** Durable frames each tab keeps to catch up a tab that joins or reloads (shareAcrossTabs). */
const RECENT_FRAMES = 1000;

/** The last durable frames a tab received, to catch up another tab. */
export class Recent {
  constructor(capacity = RECENT_FRAMES) {
    this.capacity = capacity;
    this.frames = [];
  }

  push(frame) {
    this.frames.push(frame);
    if (this.frames.length > this.capacity) this.frames.shift();
  }

  /**
   * What a tab at `cursors` missed: the frames after its cursors, and the rooms it cannot get
   * from here (the frames right after its cursor are no longer kept) with the latest seq.
   * @param {Record<string, number>} cursors
   * @param {(room: string) => number | undefined} latest
   */
  catchUp(cursors, latest) {
    const frames = [];
    const resync = [];
    for (const [room, after] of Object.entries(cursors)) {
      const missed = this.frames.filter((frame) => frame.room === room && frame.seq > after);
      const newest = latest(room);
      const covered = missed.length ? missed[0].seq === after + 1 : newest === undefined || newest <= after;
      if (covered) frames.push(...missed);
      else resync.push({ room, last_seq: newest });
    }
    return { frames, resync };
  }
}

/**
 * The tab side of `shareAcrossTabs`. Every tab runs for the lock; the holder (leader) owns the
 * Engine and relays over a BroadcastChannel: frames and statuses to every tab, answers to the
 * tab that asked. Followers send, subscribe and unsubscribe through the leader. A tab that joins
 * (or a follower that reloads) says hello with its cursors and is caught up from the leader's
 * recent frames before live ones; when the leader goes, the next tab takes the lock and resumes
 * from its own cursors.
 */
export class TabLink {
  constructor(client, key, locks, Channel) {
    this.client = client;
    this.id = randomId();
    this.engine = null;
    this.requests = new Map();
    this.tabs = new Map();
    this.seq = 0;
    this.holding = null;
    this.channel = new Channel(`tandem:${key}`);
    this.channel.onmessage = (event) => this.onMessage(event.data);
    this.resign = electLeader(locks, `tandem:${key}`, () => this.lead());
    this.hello();
  }

  post(message) {
    try {
      this.channel.postMessage(message);
    } catch { /* closed */ }
  }

  /** Announces this follower (its rooms and cursors); live frames wait until it is caught up. */
  hello() {
    if (this.engine) return;
    this.holding ??= [];
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => this.release(), this.client.o.sendTimeout);
    this.post({ t: "hello", tab: this.id, rooms: [...this.client.mine], cursors: this.client.cursors.toJSON() });
  }

  /** Delivers the frames held while waiting to be caught up. */
  release() {
    clearTimeout(this.holdTimer);
    const held = this.holding ?? [];
    this.holding = null;
    for (const frame of held) this.client.receive(frame);
  }

  /** This tab holds the lock: open the connection and relay. */
  lead() {
    this.release();
    this.failRequests();
    this.engine = this.client.startEngine();
    this.client.isLeader = true;
    this.post({ t: "leader", tab: this.id });
  }

  /** Leader: the tabs other than this one that view `room`. */
  viewedElsewhere(room) {
    return [...this.tabs.values()].some((rooms) => rooms.has(room));
  }

  onMessage(m) {
    if (this.engine) return this.onLeaderMessage(m);
    if (m.t === "frame") return this.holding ? this.holding.push(m.frame) : this.client.receive(m.frame);
    if (m.t === "status") return this.client.relayed(m);
    if (m.t === "leader") return this.failRequests(), this.hello();
    if (m.to !== this.id) return;
    if (m.t === "catchup") {
      this.client.relayed(m);
      for (const frame of m.frames) this.client.receive(frame);
      for (const { room, last_seq } of m.resync) this.client.receive({ type: "resync_required", room, last_seq });
      this.release();
    } else if (m.t === "res") {
      const request = this.requests.get(m.id);
      if (!request) return;
      this.requests.delete(m.id);
      clearTimeout(request.timer);
      if (m.ok) request.resolve(m.value);
      else request.reject(new TandemError(m.error.code, m.error.message, { frame: m.error.frame }));
    }
  }

  onLeaderMessage(m) {
    const engine = this.engine;
    if (m.t === "hello") {
      this.tabs.set(m.tab, new Set(m.rooms));
      for (const room of m.rooms) {
        if (!engine.rooms.viewed.has(room)) engine.join(room, engine.rooms.cursor(room) ?? m.cursors[room]).catch(noop);
      }
      const latest = (room) => engine.rooms.cursor(room);
      this.post({ t: "catchup", to: m.tab, ...this.client.statusMessage(), ...this.client.recent.catchUp(m.cursors, latest) });
    } else if (m.t === "bye") {
      const rooms = this.tabs.get(m.tab) ?? [];
      this.tabs.delete(m.tab);
      for (const room of rooms) this.leaveIfUnused(room);
    } else if (m.t === "req") {
      this.serve(m).then(
        (value) => this.post({ t: "res", to: m.tab, id: m.id, ok: true, value }),
        (error) => this.post({ t: "res", to: m.tab, id: m.id, ok: false, error: { code: error.code, message: error.message, frame: error.frame } }),
      );
    }
  }

  /** Leader: one follower request. */
  async serve(m) {
    const engine = this.engine;
    const rooms = this.tabs.get(m.tab) ?? new Set();
    this.tabs.set(m.tab, rooms);
    switch (m.op) {
      case "send":
        return engine.send(m.frame, m.options);
      case "join":
        rooms.add(m.room);
        return engine.join(m.room, engine.rooms.cursor(m.room) ?? m.after);
      case "leave":
        rooms.delete(m.room);
        return this.leaveIfUnused(m.room);
      case "learn":
        return void engine.learn(m.room, m.seq);
    }
  }

  /** Leader: leaves `room` when no tab views it any more. */
  leaveIfUnused(room) {
    if (this.client.mine.has(room) || this.viewedElsewhere(room)) return Promise.resolve();
    return this.engine.leave(room);
  }

  /** Follower: asks the leader; rejects after the send timeout. */
  request(message, timeout = this.client.o.sendTimeout) {
    return new Promise((resolve, reject) => {
      const id = ++this.seq;
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new TandemError("timeout", `no answer within ${timeout} ms`));
      }, timeout);
      this.requests.set(id, { resolve, reject, timer });
      this.post({ t: "req", tab: this.id, id, ...message });
    });
  }

  /** The leader changed: what was asked of the old one is lost. */
  failRequests() {
    for (const request of this.requests.values()) {
      clearTimeout(request.timer);
      request.reject(new TandemError("disconnected", "the leader tab went away before answering"));
    }
    this.requests.clear();
  }

  send(frame, options = {}) {
    if (this.engine) return this.engine.send(frame, options);
    return this.request({ op: "send", frame, options }, options.timeout);
  }

  join(room, after) {
    return this.engine ? this.engine.join(room, after) : this.request({ op: "join", room, after });
  }

  leave(room) {
    return this.engine ? this.leaveIfUnused(room) : this.request({ op: "leave", room });
  }

  track(room, seq) {
    this.engine?.track(room, seq);
  }

  learn(room, seq) {
    if (this.engine) this.engine.learn(room, seq);
    else this.request({ op: "learn", room, seq }).catch(noop);
  }

  nudge() {
    this.engine?.nudge();
  }

  checkWatchdog() {
    this.engine?.checkWatchdog();
  }

  /**
   * This tab goes away: a follower says so; the leader goes quiet first (the other tabs do not
   * see it go offline), closes its connection and hands the lock over.
   */
  close() {
    if (!this.engine) this.post({ t: "bye", tab: this.id });
    this.failRequests();
    this.channel.close();
    this.engine?.close();
    this.resign();
  }
}
