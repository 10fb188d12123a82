/**
 * The SDK's error type.
 *
 * @module tandem/errors
 */

/**
 * An error the SDK rejects with. `code` is the server's error code (`not_found`,
 * `unauthorized`, ...) or one of the SDK's own: `timeout` (no answer in time), `disconnected`
 * (the connection closed before the answer: the frame may or may not have been applied),
 * `not_connected`, `closed` (the client was closed), `network` (a REST request got no answer).
 * REST errors also carry the HTTP `status`.
 */
export class TandemError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {object} [extra] copied onto the error (`status`, `frame`)
   */
  constructor(code, message, extra) {
    super(message);
    this.name = "TandemError";
    this.code = code;
    Object.assign(this, extra);
  }
}

/** The TandemError for a server `error` frame (its `code` and `message`). */
export const errorOf = (frame) => new TandemError(frame.code ?? "error", frame.message ?? "refused", { frame });
