/**
 * The signed-in user and their token, kept in localStorage so the session survives reloads
 * (and is shared by the tabs of one browser profile). Sign-up goes through the SDK's `signUp`.
 */
import { signUp } from "/sdk/tandem.js";

const KEY = "tandem.session";

/** @typedef {{ token: string, user: { id: string, username: string } }} Session */

/** The stored session, or `null`. @returns {Session|null} */
export function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) ?? "null");
    return session && typeof session.token === "string" && session.user?.id ? session : null;
  } catch {
    return null;
  }
}

/** Stores `session`. */
export function saveSession(session) {
  localStorage.setItem(KEY, JSON.stringify(session));
}

/** Forgets the session (sign out). */
export function clearSession() {
  localStorage.removeItem(KEY);
}

/** Creates a user named `username` on this server and stores the new session. */
export async function createAccount(username) {
  const { user, token } = await signUp(location.origin, username);
  const session = { token, user: { id: user.id, username: user.username } };
  saveSession(session);
  return session;
}
