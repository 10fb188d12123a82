/**
 * What the user has read, per thread: the time of the newest message seen while the thread was
 * open, kept in localStorage. The thread list counts messages from others after it as unread.
 */

const KEY = "tandem.reads";

function all() {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

/** Unix ms of the newest message read in `threadId` (0: none). */
export function lastRead(threadId) {
  return all()[threadId] ?? 0;
}

/** Records that everything in `threadId` up to `when` (RFC 3339 or ms) has been read. */
export function markRead(threadId, when) {
  const ms = typeof when === "number" ? when : Date.parse(when);
  if (Number.isNaN(ms)) return;
  const reads = all();
  if ((reads[threadId] ?? 0) >= ms) return;
  reads[threadId] = ms;
  localStorage.setItem(KEY, JSON.stringify(reads));
}
