/**
 * Small helpers shared by the SDK's modules: room kinds, frame kinds, error reporting, ids,
 * timers, JWT subjects, base URLs and listener sets.
 *
 * @module tandem/util
 */

/** Does nothing (a default callback, a swallowed rejection). */
export const noop = () => {};

/** Whether `room` is one a client views by `subscribe` (`draft:`, `canvas:`), not by membership. */
export const isViewedKind = (room) => typeof room === "string" && /^(draft|canvas):/.test(room);

/** Whether `frame` is a durable event: it has a `room` and a `seq`. */
export const isDurable = (frame) => typeof frame.room === "string" && typeof frame.seq === "number";

/** Reports an error thrown by an application callback without stopping the SDK. */
export const report = (error) => (globalThis.reportError ?? console.error)(error);

/** A random id, unique enough to tell tabs apart. */
export const randomId = () => Math.random().toString(36).slice(2) + Date.now().toString(36);

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/** Who a JWT is about (`sub`), or undefined for anything that is not a readable JWT. */
export function subjectOf(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    return undefined;
  }
}

/** `http(s)://host[:port]` for a base URL given as http(s) or ws(s), without a trailing slash. */
export function httpBase(url) {
  return String(url ?? globalThis.location?.origin ?? "").replace(/\/+$/, "").replace(/^ws(s?):/, "http$1:");
}

/** Adds `fn` to `set`; returns the function that removes it. */
export function listen(set, fn) {
  set.add(fn);
  return () => set.delete(fn);
}
