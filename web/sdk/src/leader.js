/**
 * Leader election between the tabs of one browser (Web Locks API).
 *
 * @module tandem/leader
 */

import { noop } from "./util.js";

/**
 * Leader election with the Web Locks API: `onLeader()` runs when this tab holds the lock `name`;
 * the lock is held until the returned function is called (or the tab goes away, which releases
 * it), and then the next waiting tab becomes leader.
 * @returns {() => void} resign (or stop waiting)
 */
export function electLeader(locks, name, onLeader) {
  const abort = new AbortController();
  let resign = noop;
  locks
    .request(name, { signal: abort.signal }, () => new Promise((resolve) => {
      resign = resolve;
      if (abort.signal.aborted) resolve();
      else onLeader();
    }))
    .catch(noop);
  return () => {
    abort.abort();
    resign();
  };
}
