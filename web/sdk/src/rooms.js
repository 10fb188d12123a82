/**
 * What one connection knows about rooms: cursors, viewed rooms, replays in flight; the dedupe
 * of durable events by `(room, seq)`.
 *
 * @module tandem/rooms
 */

import { isViewedKind } from "./util.js";
import { CursorStore } from "./storage.js";

/** Error codes that refuse a room for good (others, e.g. `unavailable`, are retried). */
const REFUSED_FOR_GOOD = ["not_found", "forbidden", "validation_failed"];

/**
 * What one connection knows about rooms: cursors, the rooms it views (joined again on every
 * connect), and the replays in flight after a `subscribe` with `after`. While a room replays,
 * only the event right after its cursor is taken: a live event that overtakes the replay comes
 * again inside it, in order.
 */
export class Rooms {
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
