//! Application-level keep-alive frames.

use tandem_protocol::ws::ServerFrame;

use super::Reply;

/// A client `ping` gets a `pong` (its arrival already counted as a sign of life).
pub fn ping() -> Reply {
    Reply::Frame(ServerFrame::Pong)
}
