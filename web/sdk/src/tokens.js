/**
 * Bearer tokens: a fixed one, or `getToken` asked before each connect and told which token the
 * server refused.
 *
 * @module tandem/tokens
 */

/** Where bearer tokens come from: a fixed `token`, or `getToken` asked before each connect. */
export class Tokens {
  constructor({ token, getToken }) {
    if (!token && !getToken) throw new TypeError("connect() needs `token` or `getToken`");
    this.provider = getToken;
    this.current = token;
    this.rejected = undefined;
  }

  /** Whether a refused token can be replaced. */
  get refreshable() {
    return Boolean(this.provider);
  }

  /** A token for a new connect: asks `getToken({ rejected })` when there is one. */
  async fresh() {
    if (!this.provider) return this.current;
    const token = await this.provider({ rejected: this.rejected });
    if (token !== this.rejected) this.rejected = undefined;
    return (this.current = token);
  }

  /** The token REST calls use: the latest one (asked for if none yet). */
  forRest() {
    return this.current ?? this.fresh();
  }

  /** The server refused `token` (401 or close 4401): the next `fresh()` says so. */
  reject(token) {
    this.rejected = token;
  }
}
