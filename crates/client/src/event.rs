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
