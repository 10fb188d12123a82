//! The WebSocket transport: one task per accepted connection running a reader and a writer.
//! The HTTP side of `/ws` (Origin, authentication, the handshake) is `http::ws_upgrade`, which
//! hands the socket to [`run`] with the one set of tuned socket limits ([`socket_config`]).
//!
//! * [`context`] is all the transport may reach of the server (store, hub, auth, settings,
//!   lifecycle); it never sees the HTTP side's application state.
//! * `closing` ends a connection after its close frames without a TCP reset.
//! * [`session`] is a connection's life: register with the hub, subscribe to its rooms, run
//!   reader and writer until either ends, unregister, announce presence.
//! * `recovery` replays durable history after a cursor, race-free with live delivery.
//! * [`reader`] decodes frames, applies the rate limit and dispatches to [`handlers`] (one
//!   module per concern). [`writer`] owns the send half: it drains the bounded queue, flushes
//!   once per batch and runs the heartbeat ([`liveness`]).

mod closing;
pub mod context;
mod handlers;
pub mod liveness;
pub mod rate_limit;
mod reader;
mod recovery;
mod session;
mod writer;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::WebSocketConfig;

pub use context::{Context, Settings};
pub use session::run;

/// An accepted WebSocket: tungstenite over the upgraded connection, whose TCP stream stays
/// reachable ([`WebSocketStream::into_inner`], used by `closing`).
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// tungstenite reads into a buffer of this size (its 128 KiB default costs ~134 KiB of RSS per
/// idle connection and is zero-filled on every read; see STACK.md). Client frames are small
/// JSON; a larger one makes tungstenite grow the buffer for that frame, so 2 KiB costs only
/// extra reads for big messages and saves 2 KiB on every idle connection (docs/BENCHMARKS.md).
pub const READ_BUFFER_SIZE: usize = 2 * 1024;
/// Frames are collected up to this many bytes before a write syscall (a batch is flushed at
/// its end regardless).
pub const WRITE_BUFFER_SIZE: usize = 8 * 1024;
/// Hard cap on tungstenite's write buffer; our own queue bounds the backlog long before this.
pub const MAX_WRITE_BUFFER_SIZE: usize = 1024 * 1024;

/// Tandem's socket limits, the one set every connection gets: small read buffer, bounded write
/// buffer, message and frame size capped at `max_message_size`.
pub fn socket_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(WRITE_BUFFER_SIZE)
        .max_write_buffer_size(MAX_WRITE_BUFFER_SIZE.max(max_message_size * 2))
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}
