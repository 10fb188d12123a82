/**
 * Usernames by user id for places where events carry only ids (tile creators, draft authors):
 * filled from what the page already saw, else one `GET /api/v1/users/{id}` per unknown id.
 * Username changes (`onRename`) update it.
 */
import { onRename } from "./account.js";
import { getClient } from "./realtime.js";

const known = new Map();
const asked = new Map();
let listening = false;

/** Records that `userId` is called `username`. */
export function learnName(userId, username) {
  if (userId && username) known.set(userId, username);
}

/** The known username of `userId`, or `undefined` (see `fetchName`). */
export function nameOf(userId) {
  return known.get(userId);
}

/** The username of `userId`, fetched once if unknown; `"someone"` when it cannot be read. */
export function fetchName(userId) {
  if (!listening) {
    listening = true;
    onRename(learnName);
  }
  if (known.has(userId)) return Promise.resolve(known.get(userId));
  if (!asked.has(userId)) {
    asked.set(userId, getClient().rest.users.get(userId)
      .then((user) => (learnName(user.id, user.username), user.username))
      .catch(() => "someone"));
  }
  return asked.get(userId);
}
