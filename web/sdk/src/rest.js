/**
 * REST with the client's token, and the API's resources (API.md §3) over it.
 *
 * @module tandem/rest
 */

import { TandemError } from "./errors.js";
import { Backoff } from "./backoff.js";
import { Outbox } from "./outbox.js";

/** Reads a fetch Response: the JSON body, or a TandemError for a non-2xx answer. */
export async function readBody(response) {
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
 * REST with the client's token: JSON in and out, `TandemError` for error answers, one retry with
 * a fresh token (from `getToken`) after a 401.
 */
export class Rest {
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
