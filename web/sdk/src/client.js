/**
 * The client of one tab: handlers and statuses, the tab's own cursors (dedupe and storage), the
 * page's events (online, visibility, pagehide), and either its own Engine or, with
 * `shareAcrossTabs`, a TabLink to the leader tab's.
 *
 * @module tandem/client
 */

import { TandemError } from "./errors.js";
import { Engine } from "./engine.js";
import { Rest } from "./rest.js";
import { CursorStore } from "./storage.js";
import { Recent, TabLink } from "./tabs.js";
import { PresenceState, presenceHelper } from "./presence.js";
import { typingHelper } from "./typing.js";
import { cursorHelper } from "./cursors.js";
import { isDurable, isViewedKind, listen, noop, report, subjectOf } from "./util.js";

/** Statuses at which queued REST creates are retried. */
const REACHABLE = ["live", "polling"];

/**
 * A connection to a Tandem server, as returned by `connect`. See `connect` and tandem.d.ts for
 * the API; the guarantees are in the module comment.
 */
export class Client {
  constructor(o) {
    this.o = o;
    this.status = "connecting";
    this.userId = undefined;
    this.connectionId = undefined;
    this.isLeader = !o.shareAcrossTabs;
    this.closed = false;
    this.handlers = new Map();
    this.statusListeners = new Set();
    this.mine = new Set();
    this.presences = new Map();
    this.cursors = new CursorStore();
    this.recent = new Recent();
    this.link = null;
    this.rest = new Rest(o.base, o.tokens, o.fetch, o.reconnectDelays, o.jitter, (room, seq) => this.learn(room, seq));
    o.rest = this.rest;
    this.listenToPage();
    this.ready = this.start();
  }

  /** Picks the storage key (per server and user), loads the cursors, connects or joins the tabs. */
  async start() {
    let key = this.o.storageKey;
    if (!key) {
      const token = this.o.tokens.current ?? (await this.o.tokens.fresh().catch(noop));
      key = `tandem:${this.o.base}:${subjectOf(token) ?? ""}`;
    }
    if (this.closed) return;
    this.cursors.attach(this.o.storage, key);
    const { locks, BroadcastChannel: Channel } = this.o;
    this.link = this.o.shareAcrossTabs && locks && Channel ? new TabLink(this, key, locks, Channel) : this.startEngine();
  }

  /** The Engine of this tab, starting from its cursors and rooms. */
  startEngine() {
    const engine = new Engine(
      this.o,
      {
        frame: (frame) => {
          if (this.o.shareAcrossTabs) this.link?.post?.({ t: "frame", frame });
          this.receive(frame);
        },
        status: (status) => {
          this.setStatus(status);
          if (this.o.shareAcrossTabs) this.link?.post?.({ t: "status", ...this.statusMessage() });
        },
        learn: (room, seq) => this.noteCursor(room, seq),
      },
      this.cursors.toJSON(),
    );
    for (const room of this.mine) engine.join(room, this.cursors.get(room));
    engine.start();
    return engine;
  }

  statusMessage() {
    return { status: this.status, userId: this.userId, connectionId: this.connectionId };
  }

  /** A follower's status from the leader. */
  relayed({ status, userId, connectionId }) {
    this.userId = userId;
    this.connectionId = connectionId;
    this.setStatus(status);
  }

  listenToPage() {
    const { window: win, document: doc } = this.o;
    const nudge = () => this.link?.nudge();
    const visible = () => {
      if (doc.visibilityState !== "visible") return this.cursors.flush(); // may be killed hidden
      this.link?.checkWatchdog();
      nudge();
    };
    const online = () => (nudge(), this.rest.outbox.wake());
    const hide = (event) => event.persisted || this.close();
    win?.addEventListener?.("online", online);
    win?.addEventListener?.("pagehide", hide);
    doc?.addEventListener?.("visibilitychange", visible);
    this.unlisten = () => {
      win?.removeEventListener?.("online", online);
      win?.removeEventListener?.("pagehide", hide);
      doc?.removeEventListener?.("visibilitychange", visible);
    };
  }

  setStatus(status) {
    if (status === this.status) return;
    const was = this.status;
    this.status = status;
    if (REACHABLE.includes(status)) this.rest.outbox.wake();
    if (status === "live" && was !== "live") for (const presence of this.presences.values()) presence.refresh?.();
    for (const fn of this.statusListeners) {
      try {
        fn(status);
      } catch (error) {
        report(error);
      }
    }
  }

  /** A frame for this tab: filters other tabs' rooms, dedupes, delivers, saves the cursor. */
  receive(frame) {
    if (frame.type === "connected") {
      this.userId = frame.user_id;
      this.connectionId = frame.connection_id;
    }
    const room = frame.room;
    const durable = isDurable(frame);
    const resync = frame.type === "resync_required" && typeof room === "string";
    if (durable && this.o.shareAcrossTabs) this.recent.push(frame);
    if (isViewedKind(room) && !this.mine.has(room)) return;
    if (durable && !this.cursors.accept(room, frame.seq)) return;
    if (resync) this.cursors.set(room, frame.last_seq ?? this.cursors.get(room) ?? 0);
    for (const presence of this.presences.values()) presence.apply(frame);
    this.emit(frame);
    // Saved after the handlers ran, in the same task: a reload cannot fall in between.
    if (durable || resync) this.cursors.persist();
  }

  emit(frame) {
    for (const type of [frame.type, "*"]) {
      for (const fn of this.handlers.get(type) ?? []) {
        try {
          fn(frame);
        } catch (error) {
          report(error);
        }
      }
    }
  }

  /** A cursor learnt by the connection (REST discovery, polling) is saved for reloads. */
  noteCursor(room, seq) {
    if (this.cursors.get(room) !== undefined) return;
    this.cursors.set(room, seq);
    this.cursors.persist();
  }

  /** A room created by REST starts at the creation's seq (nothing in it is missed). */
  learn(room, seq) {
    if (!Number.isInteger(seq)) return;
    this.noteCursor(room, seq);
    this.ready.then(() => this.link?.learn(room, seq));
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    return listen(this.handlers.get(type), fn);
  }

  onStatus(fn) {
    return listen(this.statusListeners, fn);
  }

  /** The link once started; rejects `closed` after `close()`. */
  async linked() {
    await this.ready;
    if (this.closed || !this.link) throw new TandemError("closed", "the client is closed");
    return this.link;
  }

  async send(frame, options) {
    return (await this.linked()).send(frame, options);
  }

  async subscribe(room, options = {}) {
    this.mine.add(room);
    if (room.startsWith("canvas:")) this.presenceState(room);
    if (options.after !== undefined) this.cursors.set(room, options.after);
    return (await this.linked()).join(room, this.cursors.get(room));
  }

  async unsubscribe(room) {
    this.mine.delete(room);
    if (isViewedKind(room)) {
      this.cursors.remove(room);
      this.cursors.persist();
    }
    await this.ready;
    return this.link?.leave(room);
  }

  track(room, seq) {
    this.cursors.set(room, seq);
    this.cursors.persist();
    this.ready.then(() => this.link?.track(room, seq));
  }

  cursor(room) {
    return this.cursors.get(room);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.cursors.flush();
    this.unlisten();
    this.link?.close();
    this.setStatus("offline");
  }

  /** The presence state of `room`, created on first use. */
  presenceState(room) {
    let state = this.presences.get(room);
    if (!state) {
      state = new PresenceState(room);
      this.presences.set(room, state);
      if (!room.startsWith("canvas:")) {
        state.refresh = () => this.loadMembers(room).then((list) => state.replace(list), report);
        state.refresh();
      }
    }
    return state;
  }

  /** A thread's members (with `is_online`), or a draft's collaborators (online among them). */
  async loadMembers(room) {
    const [kind, id] = room.split(/:(.*)/);
    if (kind === "thread") {
      const thread = await this.rest.threads.get(id);
      return thread.users.map((u) => ({ id: u.id, username: u.username, name: u.name, online: u.is_online }));
    }
    if (kind === "draft") {
      const [draft, online] = await Promise.all([this.rest.drafts.get(id), this.rest.users.list({ online: true })]);
      const ids = new Set(online.map?.((u) => u.id) ?? online.users?.map((u) => u.id) ?? []);
      return draft.collaborators.map((u) => ({ id: u.id, username: u.username, name: u.name, online: ids.has(u.id) || u.id === this.userId }));
    }
    return [];
  }

  presence(room) {
    return presenceHelper(this.presenceState(room));
  }

  typing(room, options) {
    return typingHelper(this, room, options);
  }

  cursorHelper(room, options) {
    return cursorHelper(this, room, options);
  }
}
