//! WebSocket frames (API.md §4): JSON text frames, each an object with a `"type"`.
//!
//! Client frames may carry a `"ref"` (any JSON value); the server answers such a frame with an
//! [`ServerFrame::Ack`] or an [`ServerFrame::Error`] carrying the same `ref`.
//! Server event timestamps (`timestamp`) are unix milliseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Resume cursors: for each room, the seq of the last durable event the client has.
pub type Cursors = BTreeMap<String, i64>;

mod client;
mod server;
#[cfg(test)]
mod tests;

pub use client::ClientFrame;
pub use server::{
    CollaboratorAddedData, DraftCreatedData, RingPassedData, SegmentAddedData, ServerFrame, TileEvent, ViewerEvent,
};

/// A client frame with its optional correlation `ref`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMessage {
    /// Correlation value echoed in the `ack`/`error` answer.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Value>,
    /// The frame itself.
    #[serde(flatten)]
    pub frame: ClientFrame,
}

/// A user as listed in `online_users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineUser {
    /// User id.
    pub id: String,
    /// Current username.
    pub username: String,
    /// Display name.
    pub name: String,
}

/// WebSocket close codes the server uses.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect (possibly to another node).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol violation at the WebSocket level (e.g. an unmasked client frame).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame was not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation: the client kept flooding past its rate limit.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame was larger than the configured limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server could not set the connection up (its store is overloaded or down); reconnect
    /// with backoff and resume.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// No sign of life within the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4000;
    /// The client read too slowly and its outbound queue overflowed; reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Authentication failed or did not happen in time; do not retry with the same token.
    pub const UNAUTHORIZED: u16 = 4401;
}
