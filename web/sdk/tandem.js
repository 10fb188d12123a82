/**
 * Tandem browser SDK: one ES module, no dependencies, no build step.
 *
 *   import { connect } from "/sdk/tandem.js";
 *   const client = connect({ url: location.origin, getToken: async () => token });
 *   client.on("message_created", (event) => render(event));
 *
 * What it guarantees (API.md §6): each durable event reaches the handlers exactly once per
 * `(room, seq)` and in seq order, across reconnects, server restarts and page reloads; it
 * reconnects for ever (1, 2, 4, 8, 16, then every 30 s, full jitter); a silent socket is replaced
 * within heartbeat interval + `heartbeatTimeout`; when no WebSocket can be opened, events arrive
 * through the long poll (`status` "polling"). See README.md for every option.
 *
 * @module tandem
 */

const DEFAULT_DELAYS = [1000, 2000, 4000, 8000, 16000, 30000];
/** `ref` of the ping sent after connecting: its `ack` comes after the connect-time replay. */
const SYNC_REF = "tandem-sync";
/** Rooms long-polled with `wait`; the others are polled briefly (browsers allow ~6 requests). */
const MAX_LONG_POLLS = 4;
/** Pause between short polls (rooms beyond MAX_LONG_POLLS, or when nothing came). */
const SHORT_POLL_MS = 3000;
/** Durable frames each tab keeps to catch up a tab that joins or reloads (shareAcrossTabs). */
const RECENT_FRAMES = 1000;
/** Error codes that refuse a room for good (others, e.g. `unavailable`, are retried). */
const REFUSED_FOR_GOOD = ["not_found", "forbidden", "validation_failed"];
/** Cursor saves closer together than this are coalesced (flushed on pagehide and when hidden). */
const SAVE_EVERY_MS = 16;
/** Statuses at which queued REST creates are retried. */
const REACHABLE = ["live", "polling"];
/** HTTP statuses after which an idempotent create is retried. */
const RETRY_STATUSES = [408, 425, 429, 502, 503, 504];

const noop = () => {};
const isViewedKind = (room) => typeof room === "string" && /^(draft|canvas):/.test(room);
const isDurable = (frame) => typeof frame.room === "string" && typeof frame.seq === "number";
const report = (error) => (globalThis.reportError ?? console.error)(error);
const randomId = () => Math.random().toString(36).slice(2) + Date.now().toString(36);

/**
 * An error the SDK rejects with. `code` is the server's error code (`not_found`,
 * `unauthorized`, ...) or one of the SDK's own: `timeout` (no answer in time), `disconnected`
 * (the connection closed before the answer: the frame may or may not have been applied),
 * `not_connected`, `closed` (the client was closed), `network` (a REST request got no answer).
 * REST errors also carry the HTTP `status`.
 */
export class TandemError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {object} [extra] copied onto the error (`status`, `frame`)
   */
  constructor(code, message, extra) {
    super(message);
    this.name = "TandemError";
    this.code = code;
    Object.assign(this, extra);
  }
}

const errorOf = (frame) => new TandemError(frame.code ?? "error", frame.message ?? "refused", { frame });

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/** Who a JWT is about (`sub`), or undefined for anything that is not a readable JWT. */
function subjectOf(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    return undefined;
  }
}

/** `http(s)://host[:port]` for a base URL given as http(s) or ws(s), without a trailing slash. */
function httpBase(url) {
  return String(url ?? globalThis.location?.origin ?? "").replace(/\/+$/, "").replace(/^ws(s?):/, "http$1:");
}

/** Storage that never throws (sandboxed frames, private mode, quota) or a stand-in for none. */
function safeStorage(storage) {
  return {
    get: (key) => { try { return storage?.getItem(key) ?? null; } catch { return null; } },
    set: (key, value) => { try { storage?.setItem(key, value); } catch { /* full or denied */ } },
  };
}

/** The browser's per-tab storage if it can be used (it survives reloads, not tab closes). */
function defaultStorage() {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Backoff

/**
 * The reconnect schedule: `delays` (default 1, 2, 4, 8, 16, 30 s), the last one repeating for
 * ever. With `jitter`, each delay is uniform in `[0, base]` ("full jitter"), so a crowd of
 * clients does not come back in lockstep after a restart.
 */
class Backoff {
  /**
   * @param {number[]} [delays] base delays in ms
   * @param {boolean} [jitter]
   * @param {() => number} [random] uniform in [0, 1)
   */
  constructor(delays = DEFAULT_DELAYS, jitter = true, random = Math.random) {
    this.delays = delays;
    this.jitter = jitter;
    this.random = random;
    this.attempt = 0;
  }

  /** The next delay to wait, in ms. */
  next() {
    const base = this.delays[Math.min(this.attempt++, this.delays.length - 1)];
    return this.jitter ? Math.floor(this.random() * (base + 1)) : base;
  }

  /** Starts the schedule over (after a connection that stayed up long enough). */
  reset() {
    this.attempt = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Cursors and rooms

/**
 * Per room, the seq of the last durable event delivered: the dedupe ("is this new?") and the
 * resume cursors. Optionally persisted as JSON under one storage key, so a reload resumes. A save
 * is written at once unless the previous one is less than SAVE_EVERY_MS old; then it is written
 * at the end of that window (at 1,000 events/s: 60 writes, not 1,000), or by `flush()`, which the
 * client calls on `pagehide` and when the page is hidden.
 */
class CursorStore {
  /** @param {Record<string, number>} [initial] */
  constructor(initial = {}) {
    this.map = new Map(Object.entries(initial));
    this.storage = safeStorage(undefined);
    this.key = "";
    this.savedAt = -Infinity;
    this.timer = undefined;
  }

  /**
   * Loads the cursors saved under `key` (those set meanwhile win) and saves there from now on.
   * @param {Storage | null | undefined} storage
   * @param {string} key
   */
  attach(storage, key) {
    this.storage = safeStorage(storage);
    this.key = key;
    try {
      for (const [room, seq] of Object.entries(JSON.parse(this.storage.get(key) ?? "{}"))) {
        if (Number.isInteger(seq) && !this.map.has(room)) this.map.set(room, seq);
      }
    } catch { /* unreadable: start afresh */ }
    this.persist();
  }

  /** @returns {number | undefined} */
  get(room) {
    return this.map.get(room);
  }

  /** Sets a room's cursor (also lower than before). */
  set(room, seq) {
    this.map.set(room, seq);
  }

  /** Forgets a room's cursor. */
  remove(room) {
    this.map.delete(room);
  }

  /** Records `(room, seq)` and returns true if it is new; false for a duplicate or an old event. */
  accept(room, seq) {
    const last = this.map.get(room);
    if (last !== undefined && seq <= last) return false;
    this.map.set(room, seq);
    return true;
  }

  /** @returns {Record<string, number>} */
  toJSON() {
    return Object.fromEntries(this.map);
  }

  /** Saves the cursors (a no-op without storage): now, or at the end of the coalescing window. */
  persist() {
    if (!this.key || this.timer !== undefined) return;
    const wait = this.savedAt + SAVE_EVERY_MS - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Writes the cursors to storage now. */
  flush() {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.key) return;
    this.savedAt = Date.now();
    this.storage.set(this.key, JSON.stringify(this.toJSON()));
  }
}

/**
 * What one connection knows about rooms: cursors, the rooms it views (joined again on every
 * connect), and the replays in flight after a `subscribe` with `after`. While a room replays,
 * only the event right after its cursor is taken: a live event that overtakes the replay comes
 * again inside it, in order.
 */
class Rooms {
  /** @param {Record<string, number>} [cursors] */
  constructor(cursors) {
    this.cursors = new CursorStore(cursors);
    this.viewed = new Set();
    this.replaying = new Map();
  }

  cursor(room) {
    return this.cursors.get(room);
  }

  /** The room is viewed: it is joined on every connect. */
  view(room) {
    this.viewed.add(room);
  }

  /** Viewed, with everything up to `seq` already had. */
  track(room, seq) {
    this.cursors.set(room, seq);
    this.view(room);
  }

  /** Sets the cursor only if the room has none; returns whether it did. */
  learn(room, seq) {
    if (this.cursor(room) !== undefined || !Number.isInteger(seq)) return false;
    this.cursors.set(room, seq);
    return true;
  }

  /** No longer viewed; a viewed-kind room also loses its cursor (nothing arrives for it). */
  forget(room) {
    this.viewed.delete(room);
    this.replaying.delete(room);
    if (isViewedKind(room)) this.cursors.remove(room);
  }

  /** A `subscribe` with `after` went out as `ref`. */
  beginReplay(room, ref) {
    this.replaying.set(room, ref);
  }

  /** The server answered the join `ref` of `room`; `code` is its error code if it refused. */
  answered(room, ref, code) {
    if (this.replaying.get(room) === ref) this.replaying.delete(room);
    if (REFUSED_FOR_GOOD.includes(code)) {
      this.viewed.delete(room);
      this.cursors.remove(room);
    }
  }

  /** The connection ended: no replay is in flight. */
  connectionEnded() {
    this.replaying.clear();
  }

  /** Whether durable event `(room, seq)` is new (and records it). */
  accept(room, seq) {
    const cursor = this.cursors.get(room);
    if (this.replaying.has(room) && cursor !== undefined && seq !== cursor + 1) return false;
    return this.cursors.accept(room, seq);
  }

  /**
   * Cursors given at connect: membership rooms (`user:`, `thread:`). Viewed-kind rooms are
   * joined with `subscribe` and `after` instead, each answered on its own.
   * @returns {Record<string, number>}
   */
  resumeMap() {
    return Object.fromEntries([...this.cursors.map].filter(([room]) => !isViewedKind(room)));
  }

  /**
   * Viewed rooms the connect-time cursors `sent` did not cover, with the cursor to subscribe
   * after (undefined: join live).
   * @returns {Array<[string, number | undefined]>}
   */
  toJoin(sent) {
    return [...this.viewed]
      .map((room) => [room, this.cursor(room)])
      .filter(([room, cursor]) => cursor === undefined || sent[room] !== cursor);
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens and REST

/** Where bearer tokens come from: a fixed `token`, or `getToken` asked before each connect. */
class Tokens {
  constructor({ token, getToken }) {
    if (!token && !getToken) throw new TypeError("connect() needs `token` or `getToken`");
    this.provider = getToken;
    this.current = token;
    this.rejected = undefined;
  }

  /** Whether a refused token can be replaced. */
  get refreshable() {
    return Boolean(this.provider);
  }

  /** A token for a new connect: asks `getToken({ rejected })` when there is one. */
  async fresh() {
    if (!this.provider) return this.current;
    const token = await this.provider({ rejected: this.rejected });
    if (token !== this.rejected) this.rejected = undefined;
    return (this.current = token);
  }

  /** The token REST calls use: the latest one (asked for if none yet). */
  forRest() {
    return this.current ?? this.fresh();
  }

  /** The server refused `token` (401 or close 4401): the next `fresh()` says so. */
  reject(token) {
    this.rejected = token;
  }
}

/** Reads a fetch Response: the JSON body, or a TandemError for a non-2xx answer. */
async function readBody(response) {
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = text;
  }
  if (response.ok) return data;
  const error = data?.error ?? {};
  throw new TandemError(error.code ?? `http_${response.status}`, error.message ?? `HTTP ${response.status}`, {
    status: response.status,
  });
}

/**
 * The outbox: idempotent creates sent in order, each with its `Idempotency-Key`, retried with the
 * same key (backoff, and at once when the client is reachable again) after a network failure or a
 * 408/425/429/502/503/504, until the server answers. Another answer settles the request. Queued
 * requests live in memory: a reload drops them (their promises are gone too).
 */
class Outbox {
  /**
   * @param {(item: {path: string, body: unknown, key: string}) => Promise<unknown>} post
   * @param {Backoff} backoff
   */
  constructor(post, backoff) {
    this.post = post;
    this.backoff = backoff;
    this.items = [];
    this.busy = false;
    this.timer = undefined;
  }

  /** Queues a create; resolves with the server's answer body. */
  add(path, body, key) {
    return new Promise((resolve, reject) => {
      this.items.push({ path, body, key, resolve, reject });
      this.pump();
    });
  }

  /** Retries now (the client is reachable again). */
  wake() {
    if (this.items.length && !this.busy) this.pump();
  }

  /** Number of creates not yet answered. */
  get size() {
    return this.items.length;
  }

  async pump() {
    if (this.busy) return;
    this.busy = true;
    clearTimeout(this.timer);
    while (this.items.length) {
      const item = this.items[0];
      try {
        const value = await this.post(item);
        this.items.shift();
        this.backoff.reset();
        item.resolve(value);
      } catch (error) {
        if (error.code === "network" || RETRY_STATUSES.includes(error.status)) {
          this.timer = setTimeout(() => this.pump(), this.backoff.next());
          break;
        }
        this.items.shift();
        item.reject(error);
      }
    }
    this.busy = false;
  }
}

/**
 * REST with the client's token: JSON in and out, `TandemError` for error answers, one retry with
 * a fresh token (from `getToken`) after a 401.
 */
class Rest {
  constructor(base, tokens, fetchImpl, delays, jitter, onCreated) {
    this.base = base;
    this.tokens = tokens;
    this.fetch = fetchImpl;
    this.onCreated = onCreated;
    this.outbox = new Outbox(
      (item) => this.request("POST", item.path, item.body, { idempotencyKey: item.key }),
      new Backoff(delays, jitter),
    );
    Object.assign(this, resources(this));
  }

  /**
   * One request. `options.idempotencyKey` sets the header; `options.signal` aborts it.
   * @returns {Promise<any>} the JSON body (undefined for 204)
   */
  async request(method, path, body, options = {}) {
    let token = await this.tokens.forRest();
    for (let retried = false; ; retried = true) {
      const headers = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
      const fetchImpl = this.fetch;
      let response;
      try {
        response = await fetchImpl(this.base + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: options.signal,
        });
      } catch (error) {
        if (options.signal?.aborted) throw error;
        throw new TandemError("network", String(error?.message ?? error));
      }
      if (response.status === 401 && !retried && this.tokens.refreshable) {
        this.tokens.reject(token);
        token = await this.tokens.fresh();
        continue;
      }
      return readBody(response);
    }
  }

  /** `GET path`. */
  get(path, options) {
    return this.request("GET", path, undefined, options);
  }

  /**
   * `POST path`. With `{ idempotent: true }` (or an `idempotencyKey`), the request goes through
   * the outbox: retried with the same `Idempotency-Key` until the server answers.
   */
  post(path, body, options = {}) {
    if (!options.idempotent && !options.idempotencyKey) return this.request("POST", path, body, options);
    return this.outbox.add(path, body, options.idempotencyKey ?? crypto.randomUUID());
  }

  /** `PUT path`. */
  put(path, body, options) {
    return this.request("PUT", path, body, options);
  }

  /** `PATCH path`. */
  patch(path, body, options) {
    return this.request("PATCH", path, body, options);
  }

  /** `DELETE path`. */
  delete(path, options) {
    return this.request("DELETE", path, undefined, options);
  }
}

/** Query string of the defined values of `params` (with its `?`), or "". */
function query(params = {}) {
  const defined = Object.entries(params).filter(([, value]) => value !== undefined && value !== null);
  return defined.length ? `?${new URLSearchParams(defined.map(([k, v]) => [k, String(v)]))}` : "";
}

/** The API's resources (API.md §3) over a Rest. Creates that accept Idempotency-Key use the outbox. */
function resources(rest) {
  const create = (path, body, options) => rest.post(path, body, { idempotent: true, ...options });
  const created = (kind) => (object) => (rest.onCreated(`${kind}:${object.id}`, object.seq), object);
  const u = (id) => `/api/v1/users/${id}`;
  const t = (id) => `/api/v1/threads/${id}`;
  const d = (id) => `/api/v1/drafts/${id}`;
  const c = (id) => `/api/v1/canvases/${id}`;
  return {
    users: {
      me: () => rest.get("/api/v1/users/me"),
      get: (id) => rest.get(u(id)),
      list: (options) => rest.get(`/api/v1/users${query({ online: options?.online })}`),
      setUsername: (id, username) => rest.put(`${u(id)}/username`, { username }),
      playlist: (id) => rest.get(`${u(id)}/playlist`),
      addToPlaylist: (id, item) => rest.post(`${u(id)}/playlist`, item),
      removeFromPlaylist: (id, itemId) => rest.delete(`${u(id)}/playlist/${itemId}`),
      followed: (id) => rest.get(`${u(id)}/followed`),
      follow: (id, otherId) => rest.put(`${u(id)}/followed/${otherId}`),
      unfollow: (id, otherId) => rest.delete(`${u(id)}/followed/${otherId}`),
    },
    threads: {
      create: (name) => rest.post("/api/v1/threads", { name }).then(created("thread")),
      list: () => rest.get("/api/v1/threads"),
      get: (id) => rest.get(t(id)),
      invite: (id, userId) => rest.post(`${t(id)}/invites`, { user_id: userId }),
      answerInvite: (id, userId, action) => rest.put(`${t(id)}/invites/${userId}`, { action }),
      inviteLink: (id) => rest.post(`${t(id)}/invite-link`),
      join: (id, code) => rest.post(`${t(id)}/join`, { code }),
      removeUser: (id, userId) => rest.delete(`${t(id)}/users/${userId}`),
      messages: (id, options) => rest.get(`${t(id)}/messages${query(options)}`),
      postMessage: (id, snapshot, options) => create(`${t(id)}/messages`, { snapshot }, options),
      updateMessage: (id, messageId, snapshot) => rest.patch(`${t(id)}/messages/${messageId}`, { snapshot }),
      deleteMessage: (id, messageId) => rest.delete(`${t(id)}/messages/${messageId}`),
    },
    drafts: {
      create: (title) => rest.post("/api/v1/drafts", { title }).then(created("draft")),
      get: (id) => rest.get(d(id)),
      addSegment: (id, content, options) => create(`${d(id)}/segments`, { content }, options),
      passRing: (id, toUserId) => rest.post(`${d(id)}/ring`, { to_user_id: toUserId }),
      addCollaborator: (id, userId) => rest.post(`${d(id)}/collaborators`, { user_id: userId }),
    },
    canvases: {
      create: (canvas) => rest.post("/api/v1/canvases", canvas).then(created("canvas")),
      get: (id) => rest.get(c(id)),
      addMember: (id, userId) => rest.post(`${c(id)}/members`, { user_id: userId }),
      createTile: (id, tile, options) => create(`${c(id)}/tiles`, tile, options),
      updateTile: (id, tileId, data) => rest.put(`${c(id)}/tiles/${tileId}`, { data }),
      likeTile: (id, tileId) => rest.post(`${c(id)}/tiles/${tileId}/like`),
      chat: (id, options) => rest.get(`${c(id)}/chat${query(options)}`),
    },
    rooms: {
      events: (room, options) =>
        rest.get(`/api/v1/rooms/${room}/events${query({ ...options, wait: options?.wait && `${options.wait}ms` })}`),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The connection

/** Detaches a socket's handlers so a replaced socket can no longer call back. */
function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
}

/**
 * Owns the connection of one tab (the leader's, with `shareAcrossTabs`): connect attempts with
 * backoff, the session (watchdog, rejoins, sync, acks), and the long-poll fallback. Durable
 * frames are deduped per connection before `onFrame`; statuses go to `onStatus`.
 */
class Engine {
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
    this.pollers = new Map();
    this.gen = 0;
    this.refs = 0;
    this.failures = 0;
    this.ws = null;
    this.session = null;
    this.sent = {};
    this.connecting = false;
    this.polling = false;
    this.stopped = false;
    this.discovered = !o.discoverThreads;
    this.userId = undefined;
    this.lastFrameAt = 0;
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
    this.stopPolling();
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
      this.syncPollers();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.sendJoin(room, this.rooms.cursor(room), { resolve, reject }));
  }

  /** Stops viewing `room`. */
  leave(room) {
    this.rooms.forget(room);
    this.syncPollers();
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
      if (!this.polling) this.setStatus("offline");
    } else {
      this.openFailed();
    }
    this.retryTimer = setTimeout(() => this.attempt(), this.backoff.next());
  }

  /**
   * A WebSocket could not be opened. Poll after `pollingAfterFailures` failures in a row, or at
   * once when plain HTTP to the server works (the upgrade itself is refused, e.g. by a proxy);
   * otherwise the server is unreachable: offline.
   */
  openFailed() {
    if (this.polling) return;
    if (++this.failures >= this.o.pollingAfterFailures) return this.startPolling();
    const fetchImpl = this.o.fetch;
    fetchImpl(`${this.o.base}/healthz`)
      .then((response) => response.ok, () => false)
      .then((reachable) => {
        if (reachable) this.startPolling();
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
    this.stopPolling();
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
    this.stopPolling();
    for (const item of this.queue.splice(0)) {
      clearTimeout(item.timer);
      item.reject(new TandemError("closed", "the client is closed"));
    }
    this.setStatus("offline");
  }

  // --- long-poll fallback

  startPolling() {
    if (this.polling || this.stopped || this.session) return;
    this.polling = true;
    this.syncPollers();
  }

  stopPolling() {
    this.polling = false;
    clearTimeout(this.pollSyncTimer);
    for (const controller of this.pollers.values()) controller.abort();
    this.pollers.clear();
  }

  /** Rooms to poll: viewed ones first (they get the long polls), the user's, then the rest. */
  pollRooms() {
    const rooms = new Set([...this.rooms.viewed, ...this.o.rooms]);
    if (this.userId) rooms.add(`user:${this.userId}`);
    for (const room of this.rooms.cursors.map.keys()) if (!isViewedKind(room)) rooms.add(room);
    return [...rooms];
  }

  /** Starts a poll loop per room to poll and stops those of rooms no longer wanted. */
  async syncPollers() {
    if (!this.polling) return;
    if (!this.userId) {
      try {
        this.userId = (await this.o.rest.get("/api/v1/users/me")).id;
      } catch {
        if (this.polling) this.setStatus("offline");
        clearTimeout(this.pollSyncTimer);
        this.pollSyncTimer = setTimeout(() => this.syncPollers(), SHORT_POLL_MS);
      }
    }
    if (!this.discovered) await this.discover();
    if (!this.polling) return;
    const wanted = this.pollRooms();
    for (const [room, controller] of this.pollers) {
      if (!wanted.includes(room)) {
        controller.abort();
        this.pollers.delete(room);
      }
    }
    wanted.forEach((room, index) => {
      if (this.pollers.has(room)) return;
      const controller = new AbortController();
      this.pollers.set(room, controller);
      this.pollLoop(room, controller.signal, index < MAX_LONG_POLLS);
    });
  }

  /** Polls one room until aborted: the same dedupe and handlers as the socket. */
  async pollLoop(room, signal, long) {
    const backoff = new Backoff(this.o.reconnectDelays, this.o.jitter, this.o.random);
    while (!signal.aborted) {
      const after = this.rooms.cursor(room);
      const wait = after !== undefined && long ? this.o.pollWait : 0;
      const started = Date.now();
      let page;
      try {
        page = await this.o.rest.get(`/api/v1/rooms/${room}/events?after=${after ?? 0}&wait=${wait}ms&limit=100`, {
          signal,
        });
      } catch (error) {
        if (signal.aborted) return;
        if (error.status === 403 || error.status === 404) return this.pollers.delete(room);
        if (this.polling && error.code === "network") this.setStatus("offline");
        await sleep(backoff.next(), signal);
        continue;
      }
      if (signal.aborted) return;
      backoff.reset();
      if (this.polling) this.setStatus("polling");
      if (after === undefined) {
        this.learn(room, page.last_seq ?? 0);
        continue;
      }
      if (page.resync_required) this.deliver({ type: "resync_required", room, last_seq: page.last_seq });
      else for (const event of page.events) this.deliver(event);
      // Nothing new: a short poll waits its turn; a long poll that came back early (a proxy
      // that cuts requests) waits a second rather than spin.
      const empty = page.resync_required || !page.events.length;
      if (empty && (!wait || Date.now() - started < 1000)) await sleep(wait ? 1000 : SHORT_POLL_MS, signal);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Presence, typing, cursors

/**
 * Members of a room and who is online among them. Each change returns the diff as
 * `{ joined, left }`: members who came online (or were added online) and who went offline (or
 * were removed while online), and notifies the listeners.
 */
class PresenceState {
  constructor(room) {
    this.room = room;
    this.members = new Map();
    this.listeners = { change: new Set(), join: new Set(), leave: new Set() };
  }

  /** The online members. */
  online() {
    return [...this.members.values()].filter((member) => member.online);
  }

  /** Replaces every member (a fresh list from the server). */
  replace(list) {
    const before = new Map(this.members);
    this.members = new Map(list.map((member) => [member.id, { ...member }]));
    return this.diff(before);
  }

  /** Adds or updates one member. */
  upsert(member) {
    const before = new Map(this.members);
    this.members.set(member.id, { ...this.members.get(member.id), ...member });
    return this.diff(before);
  }

  /** Removes one member. */
  remove(id) {
    const before = new Map(this.members);
    this.members.delete(id);
    return this.diff(before);
  }

  /**
   * Applies a server frame if it concerns this room (or a member of it): `canvas_viewers`,
   * `user_joined`, `user_left`, `user_status_changed`, `invitation_accepted`,
   * `participant_left`, `collab.collaborator_added`, `user_profile_updated`.
   */
  apply(frame) {
    const here = frame.room === this.room;
    switch (frame.type) {
      case "canvas_viewers":
        return here && this.replace(frame.users.map((user) => ({ ...user, online: true })));
      case "user_joined":
        return here && this.upsert({ id: frame.user_id, username: frame.username, name: frame.display_name, online: true });
      case "user_left":
      case "participant_left":
        return here && this.remove(frame.user_id);
      case "invitation_accepted":
        return here && this.upsert({ id: frame.user_id, username: frame.user_name, online: Boolean(frame.is_online) });
      case "collab.collaborator_added":
        return here && !this.members.has(frame.data?.user_id) && this.upsert({ id: frame.data.user_id, online: false });
      case "user_status_changed":
        return this.members.has(frame.user_id) && this.upsert({ id: frame.user_id, online: frame.is_online });
      case "user_profile_updated":
        return this.members.has(frame.user_id) && this.upsert({ id: frame.user_id, username: frame.username });
    }
    return false;
  }

  diff(before) {
    const wasOnline = (id) => Boolean(before.get(id)?.online);
    const isOnline = (id) => Boolean(this.members.get(id)?.online);
    const joined = [...this.members.values()].filter((m) => m.online && !wasOnline(m.id));
    const left = [...before.values()].filter((m) => m.online && !isOnline(m.id));
    const changed = joined.length || left.length || before.size !== this.members.size ||
      [...this.members].some(([id, m]) => JSON.stringify(before.get(id)) !== JSON.stringify(m));
    for (const member of joined) this.emit("join", member);
    for (const member of left) this.emit("leave", member);
    if (changed) this.emit("change", this.online());
    return { joined, left };
  }

  emit(kind, value) {
    for (const fn of this.listeners[kind]) {
      try {
        fn(value);
      } catch (error) {
        report(error);
      }
    }
  }
}

/** Adds `fn` to `set`; returns the function that removes it. */
function listen(set, fn) {
  set.add(fn);
  return () => set.delete(fn);
}

/**
 * Who is typing in one room, from `user_typing` frames. A `true` not refreshed within
 * `expireAfter` ms (default 6 s: the server sends `false` after 5 s) expires locally too.
 */
class TypingTracker {
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
class TypingSender {
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

/** Other users' cursors in one room, from `user_cursor` frames (`x`/`y` null hides one). */
class CursorTracker {
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
class CursorSender {
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

// ---------------------------------------------------------------------------------------------
// One socket per browser

/**
 * Leader election with the Web Locks API: `onLeader()` runs when this tab holds the lock `name`;
 * the lock is held until the returned function is called (or the tab goes away, which releases
 * it), and then the next waiting tab becomes leader.
 * @returns {() => void} resign (or stop waiting)
 */
function electLeader(locks, name, onLeader) {
  const abort = new AbortController();
  let resign = noop;
  locks
    .request(name, { signal: abort.signal }, () => new Promise((resolve) => {
      resign = resolve;
      if (abort.signal.aborted) resolve();
      else onLeader();
    }))
    .catch(noop);
  return () => {
    abort.abort();
    resign();
  };
}

/** The last durable frames a tab received, to catch up another tab. */
class Recent {
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
class TabLink {
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

// ---------------------------------------------------------------------------------------------
// The client

/**
 * A connection to a Tandem server, as returned by `connect`. See `connect` and tandem.d.ts for
 * the API; the guarantees are in the module comment.
 */
class Client {
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
    const state = this.presenceState(room);
    return {
      get members() {
        return state.online();
      },
      onChange: (fn) => listen(state.listeners.change, fn),
      onJoin: (fn) => listen(state.listeners.join, fn),
      onLeave: (fn) => listen(state.listeners.leave, fn),
    };
  }

  typing(room, options = {}) {
    const tracker = new TypingTracker(options.expireAfter);
    const sender = new TypingSender(
      (isTyping) => this.send({ type: "typing", room, is_typing: isTyping }, { ack: false }).catch(noop),
      options,
    );
    const offFrame = this.on("user_typing", (frame) => frame.room === room && frame.user_id !== this.userId && tracker.apply(frame));
    const offStatus = this.onStatus((status) => status !== "live" && tracker.clear());
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

  cursorHelper(room, options = {}) {
    const tracker = new CursorTracker();
    const sender = new CursorSender(
      (x, y) => this.send({ type: "cursor", room, x, y }, { ack: false }).catch(noop),
      options.interval,
    );
    const offFrame = this.on("user_cursor", (frame) => frame.room === room && frame.user_id !== this.userId && tracker.apply(frame));
    const offStatus = this.onStatus((status) => status !== "live" && tracker.clear());
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
}

/** The public face of a Client: only the documented members. */
function facade(client) {
  return {
    get status() { return client.status; },
    get userId() { return client.userId; },
    get connectionId() { return client.connectionId; },
    get isLeader() { return client.isLeader; },
    get pendingCreates() { return client.rest.outbox.size; },
    rest: client.rest,
    ready: client.ready,
    on: (type, fn) => client.on(type, fn),
    onStatus: (fn) => client.onStatus(fn),
    send: (frame, options) => client.send(frame, options),
    subscribe: (room, options) => client.subscribe(room, options),
    unsubscribe: (room) => client.unsubscribe(room),
    track: (room, seq) => client.track(room, seq),
    cursor: (room) => client.cursor(room),
    presence: (room) => client.presence(room),
    typing: (room, options) => client.typing(room, options),
    cursors: (room, options) => client.cursorHelper(room, options),
    close: () => client.close(),
  };
}

/**
 * Connects to a Tandem server and keeps the connection up until `close()`.
 *
 * Guarantees: every durable event reaches `on` handlers once per `(room, seq)`, in seq order,
 * across reconnects, restarts and reloads (cursors in `storage`, default `sessionStorage`);
 * reconnects follow `reconnectDelays` with full jitter for ever, at once on `online` and when
 * the page becomes visible; `getToken` is asked before each attempt, and after a 4401 close it
 * is told which token was refused (`getToken({ rejected })`); with a fixed `token`, a 4401 stops
 * the client (status `offline`).
 *
 * @param {import("./tandem.d.ts").ConnectOptions} options
 * @returns {import("./tandem.d.ts").TandemClient}
 */
export function connect(options = {}) {
  const base = httpBase(options.url);
  const o = {
    reconnectDelays: DEFAULT_DELAYS,
    jitter: true,
    random: Math.random,
    stableAfter: 10000,
    heartbeatTimeout: 10000,
    connectTimeout: 10000,
    sendTimeout: 10000,
    pollingAfterFailures: 3,
    pollWait: 25000,
    rooms: [],
    discoverThreads: true,
    shareAcrossTabs: false,
    storage: defaultStorage(),
    WebSocket: globalThis.WebSocket,
    fetch: (...args) => globalThis.fetch(...args),
    locks: globalThis.navigator?.locks,
    BroadcastChannel: globalThis.BroadcastChannel,
    window: globalThis.window,
    document: globalThis.document,
    ...options,
    base,
    wsUrl: `${base.replace(/^http/, "ws")}/ws`,
    tokens: new Tokens(options),
  };
  return facade(new Client(o));
}

/**
 * Signs a new user up (`POST /api/v1/users`, API.md §2) and returns `{ user, token }`.
 * @param {string} url the server's base URL
 * @param {string} [username]
 */
export async function signUp(url, username, { fetch: fetchImpl = globalThis.fetch } = {}) {
  const response = await fetchImpl(`${httpBase(url)}/api/v1/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(username ? { username } : {}),
  });
  return readBody(response);
}

/**
 * The SDK's building blocks, exported for its own unit tests. Not part of the API: they may
 * change in any release.
 */
export const __internal = {
  Backoff, CursorStore, Rooms, Tokens, Outbox, Rest, Engine, PresenceState, TypingTracker,
  TypingSender, CursorTracker, CursorSender, Recent, electLeader, subjectOf, httpBase,
};
