//! The WebSocket transport: one task per accepted connection running a reader and a writer.
//! The HTTP side of `/ws` (Origin, authentication, the handshake) is `http::ws_upgrade`, which
//! hands the socket to [`run`] with the one set of tuned socket limits ([`socket_config`]).
//!
//! * [`Egress`] is the runtime connections run on, apart from HTTP (why: its docs).
//! * [`context`] is all the transport may reach of the server (store, hub, auth, settings,
//!   lifecycle); it never sees the HTTP side's application state.
//! * `closing` ends a connection after its close frames without a TCP reset.
//! * [`session`] is a connection's life: register with the hub, subscribe to its rooms, run
//!   reader and writer until either ends, unregister, announce presence.
//! * `recovery` replays durable history after a cursor, race-free with live delivery.
//! * [`socket`] is the accepted connection as two owned halves: tungstenite decodes the
//!   receive half; the send half takes pre-framed [`Frame`](crate::hub::Frame)s in vectored
//!   writes.
//! * [`reader`] decodes frames, applies the rate limit and dispatches to [`handlers`] (one
//!   module per concern). [`writer`] owns the send half: it drains the bounded queue into
//!   `writev`s and runs the heartbeat ([`liveness`]).

mod closing;
pub mod context;
mod egress;
mod handlers;
pub mod liveness;
pub mod rate_limit;
mod reader;
mod recovery;
mod session;
pub mod socket;
mod writer;

use tungstenite::protocol::WebSocketConfig;

pub use context::{Context, Settings};
pub use egress::Egress;
pub use session::{Opening, RoomsRead, run};
pub use socket::Socket;

/// tungstenite reads into a buffer of this size, allocated for every connection (its 128 KiB
/// default costs ~134 KiB of RSS per idle connection and is zero-filled on every read; see
/// STACK.md). Client frames are small JSON (a typing frame is ~70 bytes, an `auth` frame with
/// its token a few hundred); a larger one is read in several chunks and tungstenite grows the
/// buffer for it. 512 bytes instead of 2 KiB took idle RSS from 7.98 to 6.27 KiB per
/// connection at 15k (docs/BENCHMARKS.md).
pub const READ_BUFFER_SIZE: usize = 512;

/// Tandem's read-side limits, the one set every connection gets: small read buffer, message
/// and frame size capped at `max_message_size`. (tungstenite writes nothing: [`socket`].)
pub fn socket_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}
