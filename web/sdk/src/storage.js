/**
 * Resume cursors and where they are kept: per room, the seq of the last durable event
 * delivered, saved in the browser's storage so that a reload resumes.
 *
 * @module tandem/storage
 */

/** Cursor saves closer together than this are coalesced (flushed on pagehide and when hidden). */
const SAVE_EVERY_MS = 16;

/** Storage that never throws (sandboxed frames, private mode, quota) or a stand-in for none. */
export function safeStorage(storage) {
  return {
    get: (key) => { try { return storage?.getItem(key) ?? null; } catch { return null; } },
    set: (key, value) => { try { storage?.setItem(key, value); } catch { /* full or denied */ } },
  };
}

/** The browser's per-tab storage if it can be used (it survives reloads, not tab closes). */
export function defaultStorage() {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined;
  }
}

/**
 * Per room, the seq of the last durable event delivered: the dedupe ("is this new?") and the
 * resume cursors. Optionally persisted as JSON under one storage key, so a reload resumes. A save
 * is written at once unless the previous one is less than SAVE_EVERY_MS old; then it is written
 * at the end of that window (at 1,000 events/s: 60 writes, not 1,000), or by `flush()`, which the
 * client calls on `pagehide` and when the page is hidden.
 */
export class CursorStore {
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

