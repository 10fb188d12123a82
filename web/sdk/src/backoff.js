/**
 * The reconnect schedule (seed 000): 1, 2, 4, 8, 16, then every 30 s, for ever, with full
 * jitter.
 *
 * @module tandem/backoff
 */

/** Seed 000's base delays (ms); the last repeats for ever. */
export const DEFAULT_DELAYS = [1000, 2000, 4000, 8000, 16000, 30000];

/**
 * The reconnect schedule: `delays` (default 1, 2, 4, 8, 16, 30 s), the last one repeating for
 * ever. With `jitter`, each delay is uniform in `[0, base]` ("full jitter"), so a crowd of
 * clients does not come back in lockstep after a restart. `hold` keeps it at the first delay for
 * a while (a server that closed with "going away" or "service restart").
 */
export class Backoff {
  /**
   * @param {number[]} [delays] base delays in ms
   * @param {boolean} [jitter]
   * @param {() => number} [random] uniform in [0, 1)
   */
  constructor(delays = DEFAULT_DELAYS, jitter = true, random = Math.random) {
    this.delays = delays;
    this.jitter = jitter;
    this.random = random;
    this.attempt = 0;
    this.heldUntil = 0;
  }

  /** The next delay to wait, in ms (the first delay again while held). */
  next() {
    const step = this.held ? 0 : this.attempt++;
    const base = this.delays[Math.min(step, this.delays.length - 1)];
    return this.jitter ? Math.floor(this.random() * (base + 1)) : base;
  }

  /** Starts the schedule over (after a connection that stayed up long enough). */
  reset() {
    this.attempt = 0;
  }

  /**
   * Starts the schedule over and keeps it at its first delay for `ms`: the server said it is
   * restarting, so it is probably back within seconds, and retries at most one first delay
   * apart (uniform in [0, 1 s] by default) find it soon after it accepts, without escalating
   * to 2, 4, 8 s meanwhile. Afterwards the schedule goes on from its start.
   */
  hold(ms) {
    this.attempt = 0;
    this.heldUntil = Date.now() + ms;
  }

  /** Ends a hold early (a connection got through). */
  release() {
    this.heldUntil = 0;
  }

  /** Whether a hold is in force. */
  get held() {
    return Date.now() < this.heldUntil;
  }
}
