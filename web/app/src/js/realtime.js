/**
 * The one SDK client of the page and what views need around it: the badge, and a "resync"
 * signal. A resync is reported when the client is live again after having been live before
 * (a reconnect, a server restart) or when the server says a room's history is gone
 * (`resync_required`): views then refetch their object by REST, as seed 000's
 * `_syncDataAfterReconnect` does.
 */
import { connect } from "/sdk/tandem.js";
import { showStatus } from "./badge.js";
import { clearSession, loadSession } from "./session.js";

/** @type {import("/sdk/tandem.d.ts").TandemClient | null} */
let client = null;
const resyncListeners = new Set();

/** Connects with the stored session's token (once); returns the client. */
export function startClient() {
  if (client) return client;
  let wasLive = false;
  let dropped = false;
  // No thread discovery before the first connect: it would put a REST round trip before the
  // socket, and the app needs none of it. Views read their object by REST and `track` its seq,
  // and everything is refetched after a reconnect (see `onResync`).
  client = connect({ url: location.origin, getToken, discoverThreads: false });
  showStatus(client.status);
  client.onStatus((status) => {
    showStatus(status);
    if (status === "live") {
      if (wasLive && dropped) notifyResync(null);
      wasLive = true;
      dropped = false;
    } else if (wasLive) {
      dropped = true;
    }
  });
  client.on("resync_required", (frame) => notifyResync(frame.room ?? null));
  return client;
}

/**
 * The session's token for the SDK. When the server refuses it (expired or from another server),
 * there is no way to renew it: the session is dropped and the page starts over with the
 * username form.
 */
async function getToken({ rejected } = {}) {
  const token = loadSession()?.token ?? "";
  if (rejected && rejected === token) {
    clearSession();
    location.assign("/");
  }
  return token;
}

/** The running client (after `startClient`). */
export function getClient() {
  if (!client) throw new Error("the client is not started");
  return client;
}

/** Closes the client for good (sign out). */
export function stopClient() {
  client?.close();
  client = null;
  showStatus("offline");
}

/** Calls `fn(room)` on every resync (`room` null: everything); returns the remover. */
export function onResync(fn) {
  resyncListeners.add(fn);
  return () => resyncListeners.delete(fn);
}

function notifyResync(room) {
  for (const fn of [...resyncListeners]) {
    try {
      fn(room);
    } catch (error) {
      console.error("resync handler failed", error);
    }
  }
}
