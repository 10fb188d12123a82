//! Events as the application receives them.

use std::sync::Arc;

use serde_json::Value;
use tandem_protocol::ws::ServerFrame;

/// One server frame, shared cheaply between the stream and handlers.
#[derive(Debug, Clone)]
pub struct Event {
    json: Arc<Value>,
}

impl Event {
    /// The `type` of the event that tells a room's history no longer reaches the client's
    /// cursor; see [`Event::resynced`]. Register for it with
    /// `client.on(Event::RESYNC_REQUIRED, ...)`.
    pub const RESYNC_REQUIRED: &'static str = "resync_required";

    pub(crate) fn new(json: Value) -> Self {
        Self { json: Arc::new(json) }
    }

    /// The frame's `type`.
    pub fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap_or_default()
    }

    /// The room of a durable event.
    pub fn room(&self) -> Option<&str> {
        self.json["room"].as_str()
    }

    /// The seq of a durable event.
    pub fn seq(&self) -> Option<i64> {
        self.json["seq"].as_i64()
    }

    /// `Some(room)` when this is the server's `resync_required` for `room` (the "Resynced"
    /// event): the events after the client's cursor are gone from the room's log (retention
    /// pruned them, or the log was reset), so they will not be replayed. By the time the
    /// application sees this event the SDK has moved the room's cursor to the event's
    /// `last_seq`, and the room's later events continue from there; the application should
    /// refetch the room's object by REST (and may [`crate::Client::track`] its `seq`). It comes
    /// the same way over the WebSocket (at connect, after `subscribe` or `track`) and from the
    /// long-poll fallback.
    pub fn resynced(&self) -> Option<&str> {
        if self.kind() == Self::RESYNC_REQUIRED { self.room() } else { None }
    }

    /// The whole frame.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The frame as a typed [`ServerFrame`], when it is one the protocol crate knows
    /// (backends may publish their own types).
    pub fn frame(&self) -> Option<ServerFrame> {
        serde_json::from_value(Value::clone(&self.json)).ok()
    }
}

/// What a reconnect brought, given to [`crate::Client::on_reconnected`] hooks once the replay
/// of missed events is complete (every replayed event was delivered before the hook runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectInfo {
    /// Whether any cursor was given to the server (in the connect-time resume map, or as
    /// the `after` of a viewed room's `subscribe`), i.e. whether missed events were replayed.
    pub resumed: bool,
    /// Rooms the server answered `resync_required` for during the replay: their missed events
    /// are gone, refetch these objects by REST (each also came as an [`Event::resynced`]).
    pub resync_required: Vec<String>,
    /// Viewed rooms joined again without a cursor (subscribed to before any of their events
    /// arrived, and never tracked): events published in them while disconnected were not
    /// replayed, so refetch them too. Track a room's REST `seq` to avoid this.
    pub rejoined_without_cursor: Vec<String>,
}
