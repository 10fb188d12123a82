/**
 * The outbox: idempotent REST creates, retried with the same `Idempotency-Key` until the server
 * answers.
 *
 * @module tandem/outbox
 */

/** HTTP statuses after which an idempotent create is retried. */
export const RETRY_STATUSES = [408, 425, 429, 502, 503, 504];

/**
 * The outbox: idempotent creates sent in order, each with its `Idempotency-Key`, retried with the
 * same key (backoff, and at once when the client is reachable again) after a network failure or a
 * 408/425/429/502/503/504, until the server answers. Another answer settles the request. Queued
 * requests live in memory: a reload drops them (their promises are gone too).
 */
export class Outbox {
  /**
   * @param {(item: {path: string, body: unknown, key: string}) => Promise<unknown>} post
   * @param {Backoff} backoff
   */
  constructor(post, backoff) {
    this.post = post;
    this.backoff = backoff;
    this.items = [];
    this.busy = false;
    this.timer = undefined;
  }

  /** Queues a create; resolves with the server's answer body. */
  add(path, body, key) {
    return new Promise((resolve, reject) => {
      this.items.push({ path, body, key, resolve, reject });
      this.pump();
    });
  }

  /** Retries now (the client is reachable again). */
  wake() {
    if (this.items.length && !this.busy) this.pump();
  }

  /** Number of creates not yet answered. */
  get size() {
    return this.items.length;
  }

  async pump() {
    if (this.busy) return;
    this.busy = true;
    clearTimeout(this.timer);
    while (this.items.length) {
      const item = this.items[0];
      try {
        const value = await this.post(item);
        this.items.shift();
        this.backoff.reset();
        item.resolve(value);
      } catch (error) {
        if (error.code === "network" || RETRY_STATUSES.includes(error.status)) {
          this.timer = setTimeout(() => this.pump(), this.backoff.next());
          break;
        }
        this.items.shift();
        item.reject(error);
      }
    }
    this.busy = false;
  }
}
