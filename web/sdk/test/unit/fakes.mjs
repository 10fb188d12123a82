// Test doubles for the SDK's unit tests: a scriptable fake Tandem WebSocket server, fetch,
// storage, page events and Web Locks. Nothing here touches the network.

/** Lets pending promise callbacks and setImmediate work run (mocked timers stay put). */
export async function flush(rounds = 10) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A Storage-like object backed by a Map. */
export class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }
  setItem(key, value) {
    this.map.set(key, String(value));
  }
  removeItem(key) {
    this.map.delete(key);
  }
}

/** An EventTarget standing in for `window` / `document` (visibilityState settable). */
export class FakePage extends EventTarget {
  constructor() {
    super();
    this.visibilityState = "visible";
  }
  fire(type) {
    this.dispatchEvent(new Event(type));
  }
}

/**
 * A fake Tandem server for the WebSocket side. `accept` decides whether sockets open;
 * `badTokens` get an `error` + close 4401; durable events are kept per room so that resume
 * cursors (auth `resume`, `subscribe` `after`) replay exactly like the real server.
 */
export class FakeServer {
  constructor({ userId = "u1", heartbeat = 30000 } = {}) {
    this.sockets = [];
    this.accept = true;
    this.autoConnect = true;
    this.badTokens = new Set();
    this.userId = userId;
    this.heartbeat = heartbeat;
    this.log = new Map(); // room -> events
    const server = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url) {
        super(url, server);
      }
    };
  }

  get last() {
    return this.sockets.at(-1);
  }

  /** Sockets that completed auth and are still open. */
  get open() {
    return this.sockets.filter((s) => s.authed && !s.closed);
  }

  /** Appends a durable event to `room` and sends it live to the open sockets in that room. */
  publish(room, fields = {}) {
    const events = this.log.get(room) ?? [];
    this.log.set(room, events);
    const event = { type: "message_created", ...fields, room, seq: events.length + 1, timestamp: Date.now() };
    events.push(event);
    for (const socket of this.open) if (socket.inRoom(room)) socket.push(event);
    return event;
  }

  /** Events of `room` after `after`. */
  after(room, after) {
    return (this.log.get(room) ?? []).filter((e) => e.seq > after);
  }
}

export class FakeSocket {
  constructor(url, server) {
    this.url = url;
    this.server = server;
    this.sent = [];
    this.closed = false;
    this.authed = false;
    this.rooms = new Set();
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    server.sockets.push(this);
    setImmediate(() => {
      if (this.closed) return;
      if (server.accept) this.onopen?.({});
      else this.drop(1006);
    });
  }

  /** Membership rooms (user:, thread:) are always joined; viewed ones after subscribe. */
  inRoom(room) {
    return !/^(draft|canvas):/.test(room) || this.rooms.has(room);
  }

  send(data) {
    if (this.closed) throw new Error("send on a closed socket");
    const frame = JSON.parse(data);
    this.sent.push(frame);
    if (!this.server.autoConnect) return;
    if (!this.authed) return this.auth(frame);
    if (frame.type === "ping") {
      this.push({ type: "pong" });
      if (frame.ref !== undefined) this.push({ type: "ack", ref: frame.ref });
    } else if (frame.type === "subscribe") {
      this.rooms.add(frame.room);
      if (frame.after !== undefined) for (const e of this.server.after(frame.room, frame.after)) this.push(e);
      if (frame.ref !== undefined) this.push({ type: "ack", ref: frame.ref });
    } else if (frame.type === "unsubscribe") {
      this.rooms.delete(frame.room);
      if (frame.ref !== undefined) this.push({ type: "ack", ref: frame.ref });
    } else if (frame.ref !== undefined) {
      if (frame.type === "list_users") this.push({ type: "online_users", users: [] });
      this.push({ type: "ack", ref: frame.ref });
    }
  }

  auth(frame) {
    if (frame.type !== "auth" || this.server.badTokens.has(frame.token)) {
      this.push({ type: "error", code: "unauthorized", message: "invalid token" });
      return this.drop(4401);
    }
    this.authed = true;
    this.push({
      type: "connected",
      user_id: this.server.userId,
      connection_id: String(this.server.sockets.length),
      heartbeat_interval_ms: this.server.heartbeat,
    });
    for (const [room, after] of Object.entries(frame.resume ?? {})) {
      this.rooms.add(room);
      for (const e of this.server.after(room, after)) this.push(e);
    }
  }

  /** A frame from the server, delivered at once. */
  push(frame) {
    if (!this.closed) this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The server closes (or the network drops) with `code`. */
  drop(code = 1006) {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({ code });
  }

  close(code) {
    this.closedByClient = code ?? true;
    this.closed = true;
  }
}

/**
 * A fetch that answers from `routes`: `{ "GET /path": (url, init) => ({ status, body }) }`
 * (path without the query string). Unknown routes get 404; `fetch.down = true` fails them all
 * as a network error. Every call is recorded in `fetch.calls`.
 */
export function fakeFetch(routes = {}) {
  const fetch = async (url, init = {}) => {
    const { pathname, search } = new URL(url);
    const method = init.method ?? "GET";
    fetch.calls.push({ method, path: pathname, search, headers: init.headers ?? {}, body: init.body });
    if (fetch.down) throw new TypeError("fetch failed");
    const route = routes[`${method} ${pathname}`];
    const answer = route ? await route(new URL(url), init) : { status: 404, body: { error: { code: "not_found", message: "no route" } } };
    if (init.signal?.aborted) throw new DOMException("aborted", "AbortError");
    const { status = 200, body } = answer;
    return new Response(body === undefined ? null : JSON.stringify(body), { status });
  };
  fetch.calls = [];
  fetch.down = false;
  return fetch;
}

/** Web Locks with a FIFO queue per name, granting asynchronously like the browser. */
export class FakeLocks {
  constructor() {
    this.held = new Map();
    this.queues = new Map();
  }

  request(name, options, callback) {
    return new Promise((resolve, reject) => {
      const entry = { callback, resolve, reject };
      const queue = this.queue(name);
      options.signal?.addEventListener("abort", () => {
        const index = queue.indexOf(entry);
        if (index < 0) return;
        queue.splice(index, 1);
        reject(new DOMException("aborted", "AbortError"));
      });
      queue.push(entry);
      this.grant(name);
    });
  }

  queue(name) {
    if (!this.queues.has(name)) this.queues.set(name, []);
    return this.queues.get(name);
  }

  grant(name) {
    if (this.held.has(name)) return;
    const entry = this.queue(name).shift();
    if (!entry) return;
    this.held.set(name, entry);
    setImmediate(async () => {
      try {
        entry.resolve(await entry.callback({ name }));
      } catch (error) {
        entry.reject(error);
      } finally {
        this.held.delete(name);
        this.grant(name);
      }
    });
  }
}

/** connect() options wired to fakes; `extra` overrides. */
export function fakeOptions(server, extra = {}) {
  const page = new FakePage();
  return {
    url: "http://tandem.test",
    token: "tok",
    WebSocket: server.WebSocket,
    fetch: fakeFetch(),
    storage: new MemoryStorage(),
    window: page,
    document: page,
    discoverThreads: false,
    jitter: false,
    ...extra,
  };
}

/** Mocked setTimeout and Date for test `t`, starting at a fixed time. */
export const fakeTimers = (t) => t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });

/** Collects statuses and durable events (`room#seq`) of a client. */
export function record(client) {
  const statuses = [];
  const events = [];
  client.onStatus((s) => statuses.push(s));
  client.on("*", (f) => f.seq !== undefined && events.push(`${f.room}#${f.seq}`));
  return { statuses, events };
}
