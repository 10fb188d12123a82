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
 * This is the entry point of the sources in `web/sdk/src/`; `npm run build` bundles them into
 * the one module that ships, `web/sdk/tandem.js`.
 *
 * @module tandem
 */

import { TandemError } from "./errors.js";
import { Backoff, DEFAULT_DELAYS } from "./backoff.js";
import { CursorStore, defaultStorage } from "./storage.js";
import { Rooms } from "./rooms.js";
import { Tokens } from "./tokens.js";
import { Outbox } from "./outbox.js";
import { Rest, readBody } from "./rest.js";
import { Engine } from "./engine.js";
import { Client } from "./client.js";
import { PresenceState } from "./presence.js";
import { TypingSender, TypingTracker } from "./typing.js";
import { CursorSender, CursorTracker } from "./cursors.js";
import { Recent } from "./tabs.js";
import { electLeader } from "./leader.js";
import { httpBase, subjectOf } from "./util.js";

export { TandemError };

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
 * @param {import("../tandem.d.ts").ConnectOptions} options
 * @returns {import("../tandem.d.ts").TandemClient}
 */
export function connect(options = {}) {
  const base = httpBase(options.url);
  const o = {
    reconnectDelays: DEFAULT_DELAYS,
    jitter: true,
    random: Math.random,
    stableAfter: 10000,
    restartWindow: 10000,
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

