// Types for tandem.js, the Tandem browser SDK (API.md §6). Served at /sdk/tandem.d.ts.

/** `connecting`: opening a socket or replaying what was missed; `live`: socket up and caught up;
 * `polling`: no WebSocket, events arrive by long poll; `offline`: the server cannot be reached. */
export type Status = "connecting" | "live" | "polling" | "offline";

/** A room: `user:{id}`, `thread:{id}`, `draft:{id}` or `canvas:{id}`. */
export type Room = string;

/** Any server frame. Durable events carry `room`, `seq` and `timestamp`. */
export interface Frame {
  type: string;
  room?: Room;
  seq?: number;
  timestamp?: number;
  ref?: unknown;
  [field: string]: unknown;
}

/** A durable room event: delivered exactly once per `(room, seq)`, in seq order. */
export interface DurableEvent extends Frame {
  room: Room;
  seq: number;
  timestamp: number;
}

export interface OnlineUser {
  id: string;
  username: string;
  name: string;
}

/** Server frames by type (API.md §4, docs/PROTOCOL.md). Other types are `Frame`. */
export interface FrameMap {
  connected: Frame & { user_id: string; connection_id: string; heartbeat_interval_ms: number };
  ping: Frame;
  pong: Frame;
  ack: Frame & { ref: unknown };
  error: Frame & { code: string; message: string; ref?: unknown };
  resync_required: Frame & { room: Room; last_seq?: number };
  message_created: DurableEvent & { id: string; parent_thread: string; user_id: string; snapshot: unknown };
  message_updated: DurableEvent & { id: string; parent_thread: string; user_id: string; snapshot: unknown };
  message_deleted: DurableEvent & { id: string; parent_thread: string };
  thread_invitation: DurableEvent & {
    thread_id: string;
    thread_name: string;
    invited_by: string;
    invited_by_username: string;
  };
  invitation_accepted: DurableEvent & { thread_id: string; user_id: string; user_name: string; is_online: boolean };
  participant_left: DurableEvent & { thread_id: string; user_id: string };
  user_profile_updated: Frame & { user_id: string; username: string };
  user_status_changed: Frame & { user_id: string; is_online: boolean };
  online_users: Frame & { users: OnlineUser[] };
  canvas_viewers: Frame & { room: Room; users: OnlineUser[]; active_users: number };
  user_joined: Frame & { room: Room; user_id: string; username: string; display_name: string; active_users: number };
  user_left: Frame & { room: Room; user_id: string; username: string; display_name: string; active_users: number };
  user_typing: Frame & { room: Room; user_id: string; username: string; is_typing: boolean };
  user_cursor: Frame & { room: Room; user_id: string; username: string; x: number | null; y: number | null };
  user_presence_update: Frame & { room: Room; user_id: string; username: string; [field: string]: unknown };
  canvas_chat_message: DurableEvent & {
    message_id: string;
    canvas_id: string;
    sender_id: string;
    sender_username: string;
    message_text: string;
    created_at: string;
  };
  tile_created: DurableEvent & TileFields;
  tile_updated: DurableEvent & TileFields;
  tile_liked: DurableEvent & TileFields;
  tile_mention: Frame & { room: Room; user_id: string; tile_x: number; tile_y: number; message: string; duration: number };
  "collab.draft_created": DraftEvent;
  "collab.segment_added": DraftEvent;
  "collab.ring_passed": DraftEvent;
  "collab.collaborator_added": DraftEvent;
}

export interface TileFields {
  tile_id: string;
  canvas_id: string;
  creator_id: string;
  user_id: string;
  x: number;
  y: number;
  data: unknown;
  like_count: number;
}

export interface DraftEvent extends DurableEvent {
  draft_id: string;
  ts: string;
  user_id: string;
  data: Record<string, unknown>;
}

/** A Storage-like store for cursors (`sessionStorage`, `localStorage`, or your own). */
export interface CursorStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Web Locks (`navigator.locks`), the part the SDK uses. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown>;
}

export interface ConnectOptions {
  /** The server's base URL, `https://collab.example` (default: the page's origin). */
  url?: string;
  /** A bearer token (a 4401 with it stops the client: use `getToken` for sessions that outlive it). */
  token?: string;
  /** Asked for a token before every connect attempt; `rejected` is the token the server just refused. */
  getToken?: (info: { rejected?: string }) => Promise<string> | string;
  /** One WebSocket per browser for this server and user: tabs elect a leader (Web Locks) and share
   * its frames over BroadcastChannel (default false). */
  shareAcrossTabs?: boolean;
  /** Where cursors are kept so a reload resumes (default `sessionStorage`; `null`: not kept). */
  storage?: CursorStorage | null;
  /** Storage key and tab-channel name (default `tandem:{url}:{token subject}`). */
  storageKey?: string;
  /** Base reconnect delays in ms; the last repeats for ever (default [1000, 2000, 4000, 8000, 16000, 30000]). */
  reconnectDelays?: number[];
  /** Full jitter: each delay uniform in [0, base] (default true). */
  jitter?: boolean;
  /** A connection up this long (ms) resets the schedule (default 10000). */
  stableAfter?: number;
  /** After the server closes with 1001 (going away: its graceful shutdown) or 1012 (service restart),
   * retries stay at the first delay for this long (ms) instead of escalating, so a restarted server is
   * found within one first delay of accepting (default 10000; 0: the plain schedule). */
  restartWindow?: number;
  /** Silence (ms) allowed on top of the server's heartbeat interval before the socket counts as dead
   * (default 10000, the server's default `--heartbeat-timeout`, which `connected` does not announce). */
  heartbeatTimeout?: number;
  /** How long (ms) the upgrade plus the `connected` frame may take (default 10000). */
  connectTimeout?: number;
  /** How long (ms) `send` waits for the answer (default 10000). */
  sendTimeout?: number;
  /** Failed WebSocket attempts in a row after which events are long-polled (default 3; polling starts
   * at the first failure when plain HTTP to the server works, i.e. the upgrade itself is refused). */
  pollingAfterFailures?: number;
  /** How long (ms) one long poll waits on the server (default 25000, at most 60000). */
  pollWait?: number;
  /** Rooms to long-poll besides the user's own, its threads, and the subscribed rooms. */
  rooms?: Room[];
  /** Learn the user's thread cursors by REST before the first connect (default true). */
  discoverThreads?: boolean;
  /** For tests and non-browser runtimes: replacements for the browser's globals. */
  WebSocket?: { new (url: string): WebSocket };
  fetch?: typeof fetch;
  locks?: LockManagerLike;
  BroadcastChannel?: { new (name: string): BroadcastChannel };
  window?: EventTarget;
  document?: EventTarget & { visibilityState: string };
  random?: () => number;
}

export interface SendOptions {
  /** ms to wait for the `ack` (default `sendTimeout`). */
  timeout?: number;
  /** false: no `ref`, resolves once written; rejects `not_connected` unless live. */
  ack?: boolean;
}

export interface SubscribeOptions {
  /** The seq you already have (e.g. a REST object's `seq`): events after it are replayed. */
  after?: number;
}

export interface PresenceMember {
  id: string;
  username?: string;
  name?: string;
  online: boolean;
}

/** Who is online in a room: canvas viewers (frames), or thread members / draft collaborators (REST, then
 * `user_status_changed`), refetched after each reconnect. */
export interface Presence {
  readonly members: PresenceMember[];
  onChange(fn: (members: PresenceMember[]) => void): () => void;
  onJoin(fn: (member: PresenceMember) => void): () => void;
  onLeave(fn: (member: PresenceMember) => void): () => void;
}

export interface TypingOptions {
  /** ms between `is_typing: true` refreshes while typing (default 2000). */
  refresh?: number;
  /** ms without keystrokes after which `is_typing: false` is sent (default 3000). */
  idle?: number;
  /** ms after which another user's `true` expires without news (default 6000). */
  expireAfter?: number;
}

export interface Typing {
  /** The other users typing now. */
  readonly users: Array<{ user_id: string; username: string }>;
  onChange(fn: (users: Array<{ user_id: string; username: string }>) => void): () => void;
  /** Call on each keystroke: throttled `typing` frames. */
  keystroke(): void;
  /** Stopped typing (sent at once). */
  stop(): void;
  close(): void;
}

export interface CursorPosition {
  user_id: string;
  username: string;
  x: number;
  y: number;
}

export interface Cursors {
  /** Other users' cursors by user id. */
  readonly positions: Map<string, CursorPosition>;
  onChange(fn: (positions: Map<string, CursorPosition>) => void): () => void;
  /** Throttled to one `cursor` frame per `interval` (default 50 ms); the latest always goes out. */
  move(x: number, y: number): void;
  hide(): void;
  close(): void;
}

export interface User {
  id: string;
  username: string;
  name: string;
  created_at: string;
  last_online: string | null;
  is_online: boolean;
}

export interface ThreadUser {
  id: string;
  username: string;
  name: string;
  joined_at: string;
  is_online: boolean;
  last_online?: string | null;
}

export interface Invite {
  thread_id: string;
  user_id: string;
  username: string;
  invited_by: string;
  created_at: string;
}

export interface Thread {
  id: string;
  name: string;
  created_by: string;
  created_at: string;
  users: ThreadUser[];
  invites: Invite[];
  /** The room's last durable seq consistent with this object (`track` or `subscribe({ after })`). */
  seq: number;
}

export interface Message {
  id: string;
  parent_thread: string;
  user_id: string;
  snapshot: unknown;
  created_at: string;
  seq?: number;
}

export interface Draft {
  id: string;
  title: string;
  owner_id: string;
  ring_holder_id: string;
  created_at: string;
  collaborators: Array<{ id: string; username: string; name: string; joined_at: string }>;
  segments: Array<{ id: string; content: string; author_user_id: string; position: number; created_at: string }>;
  seq: number;
}

export interface Tile {
  id: string;
  x: number;
  y: number;
  data: unknown;
  creator_id: string;
  like_count: number;
  seq?: number;
  [field: string]: unknown;
}

export interface Canvas {
  id: string;
  name: string;
  width: number;
  height: number;
  tiles?: Tile[];
  seq: number;
  [field: string]: unknown;
}

export interface EventsPage {
  room: Room;
  events: DurableEvent[];
  last_seq: number;
  resync_required: boolean;
}

export interface RequestOptions {
  signal?: AbortSignal;
  idempotencyKey?: string;
}

export interface CreateOptions {
  /** Sent as `Idempotency-Key` on every retry (default: a random UUID). */
  idempotencyKey?: string;
}

/** REST with the client's token (API.md §3). Errors reject with `TandemError` (`code`, `status`). */
export interface Rest {
  request<T = unknown>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  get<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
  /** With `idempotent: true`: through the outbox, retried with one Idempotency-Key until answered. */
  post<T = unknown>(path: string, body?: unknown, options?: RequestOptions & { idempotent?: boolean }): Promise<T>;
  put<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  patch<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<T>;
  users: {
    me(): Promise<User>;
    get(id: string): Promise<User>;
    list(options?: { online?: boolean }): Promise<User[]>;
    setUsername(id: string, username: string): Promise<User>;
    playlist(id: string): Promise<unknown>;
    addToPlaylist(id: string, item: unknown): Promise<unknown>;
    removeFromPlaylist(id: string, itemId: string): Promise<void>;
    followed(id: string): Promise<unknown>;
    follow(id: string, otherId: string): Promise<unknown>;
    unfollow(id: string, otherId: string): Promise<void>;
  };
  threads: {
    create(name: string): Promise<Thread>;
    list(): Promise<{ threads: Thread[] }>;
    get(id: string): Promise<Thread>;
    invite(id: string, userId: string): Promise<Invite>;
    answerInvite(id: string, userId: string, action: "accept" | "decline"): Promise<Thread | undefined>;
    inviteLink(id: string): Promise<{ code: string; url: string }>;
    join(id: string, code: string): Promise<Thread>;
    removeUser(id: string, userId: string): Promise<void>;
    messages(id: string, options?: { before?: string; limit?: number }): Promise<{ messages: Message[] }>;
    /** Through the outbox (Idempotency-Key). */
    postMessage(id: string, snapshot: unknown, options?: CreateOptions): Promise<Message>;
    updateMessage(id: string, messageId: string, snapshot: unknown): Promise<Message>;
    deleteMessage(id: string, messageId: string): Promise<void>;
  };
  drafts: {
    create(title: string): Promise<Draft>;
    get(id: string): Promise<Draft>;
    /** Through the outbox (Idempotency-Key). */
    addSegment(id: string, content: string, options?: CreateOptions): Promise<Draft["segments"][number]>;
    passRing(id: string, toUserId: string): Promise<Draft>;
    addCollaborator(id: string, userId: string): Promise<Draft>;
  };
  canvases: {
    create(canvas: { name: string; width: number; height: number }): Promise<Canvas>;
    get(id: string): Promise<Canvas>;
    addMember(id: string, userId: string): Promise<unknown>;
    /** Through the outbox (Idempotency-Key). */
    createTile(id: string, tile: { x: number; y: number; data: unknown }, options?: CreateOptions): Promise<Tile>;
    updateTile(id: string, tileId: string, data: unknown): Promise<Tile>;
    likeTile(id: string, tileId: string): Promise<Tile>;
    chat(id: string, options?: { limit?: number }): Promise<unknown>;
  };
  rooms: {
    /** The polling endpoint: durable events after `after`; `wait` (ms) makes it a long poll. */
    events(room: Room, options?: { after?: number; wait?: number; limit?: number }): Promise<EventsPage>;
  };
}

export interface TandemClient {
  /** The current status; `onStatus` reports every change. */
  readonly status: Status;
  /** From the `connected` frame (relayed to follower tabs). */
  readonly userId: string | undefined;
  readonly connectionId: string | undefined;
  /** With `shareAcrossTabs`: whether this tab holds the WebSocket (always true without it). */
  readonly isLeader: boolean;
  /** Idempotent creates waiting in the outbox. */
  readonly pendingCreates: number;
  /** Resolves once the client has loaded its cursors and started. */
  readonly ready: Promise<void>;
  readonly rest: Rest;
  /** Calls `fn` for every server frame of `type` (`"*"`: every frame); returns the remover. */
  on<K extends keyof FrameMap>(type: K, fn: (frame: FrameMap[K]) => void): () => void;
  on(type: string, fn: (frame: Frame) => void): () => void;
  /** Calls `fn(status)` on every change; returns the remover. */
  onStatus(fn: (status: Status) => void): () => void;
  /** Sends a client frame; resolves with the `ack`, rejects with the server's `error` as a
   * TandemError, or `timeout`, or `disconnected` (the socket closed first). Waits for `live`. */
  send(frame: { type: string; [field: string]: unknown }, options?: SendOptions): Promise<FrameMap["ack"] | undefined>;
  /** Views a `draft:` or `canvas:` room (joined again after each reconnect, from its cursor). */
  subscribe(room: Room, options?: SubscribeOptions): Promise<void>;
  unsubscribe(room: Room): Promise<void>;
  /** Sets a room's cursor: you have everything up to `seq` (e.g. from a REST object). */
  track(room: Room, seq: number): void;
  /** The room's cursor: the seq of the last durable event delivered. */
  cursor(room: Room): number | undefined;
  presence(room: Room): Presence;
  typing(room: Room, options?: TypingOptions): Typing;
  cursors(room: Room, options?: { interval?: number }): Cursors;
  /** Closes for good (status `offline`). */
  close(): void;
}

/** Errors the SDK rejects with: the server's `code` or `timeout`, `disconnected`, `not_connected`,
 * `closed`, `network`, `unauthorized`. */
export class TandemError extends Error {
  readonly code: string;
  /** HTTP status, for REST errors. */
  readonly status?: number;
  /** The server's `error` frame, for socket errors. */
  readonly frame?: Frame;
  constructor(code: string, message: string, extra?: { status?: number; frame?: Frame });
}

/** Connects and stays connected until `close()` (API.md §6). */
export function connect(options: ConnectOptions): TandemClient;

/** `POST /api/v1/users`: a new user and its token. */
export function signUp(
  url: string,
  username?: string,
  options?: { fetch?: typeof fetch },
): Promise<{ user: User; token: string }>;

/** Internal building blocks exported for the SDK's own tests; not part of the API. */
export const __internal: Record<string, unknown>;
