//! Durable events: appended to the room's log with the next seq, then published live.

use serde_json::{Map, Value};
use tandem_protocol::ws::{ClientFrame, ServerFrame};

use super::{DomainError, rooms};
use crate::clock;
use crate::hub::{Except, Frame, Hub};
use crate::store::{Store, StoredEvent};

/// Longest accepted event type.
const TYPE_MAX: usize = 64;

/// A committed and published event's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Its seq in the room.
    pub seq: i64,
    /// Its timestamp, unix ms.
    pub timestamp: i64,
}

/// Appends an event to `room` (`build(seq, timestamp)` makes its JSON text, which must carry
/// `room`, `seq` and `timestamp`) and publishes it, holding the room's order lock so live
/// delivery follows seq order.
pub async fn append_and_publish(
    store: &Store,
    hub: &Hub,
    room: &str,
    build: impl FnOnce(i64, i64) -> String + Send,
) -> Result<Published, DomainError> {
    let _order = hub.registry().order_lock(room).await;
    let event = store.append_event(room, clock::now_ms(), build).await?;
    Ok(publish_committed(hub, room, event, None))
}

/// Publishes an event already committed to `room`'s log (the caller holds the room's order
/// lock), skipping the connection or user in `except`, and counts it in `events_stored_total`.
/// Every domain's durable events leave through here.
pub fn publish_committed(hub: &Hub, room: &str, event: StoredEvent, except: Option<&Except>) -> Published {
    crate::telemetry::events().stored.increment(1);
    let published = Published { seq: event.seq, timestamp: event.created_at };
    let frame = Frame::from(event.frame);
    match except {
        Some(except) => hub.publish_durable_except(room, event.seq, frame, except),
        None => hub.publish_durable(room, event.seq, frame),
    }
    published
}

/// The server publish API: an app backend's own event `{"type": ..., ...}` into `room`.
/// `room`, `seq` and `timestamp` are set by the server (overwriting any sent).
pub async fn publish_from_backend(
    store: &Store,
    hub: &Hub,
    room: &str,
    mut event: Map<String, Value>,
) -> Result<Published, DomainError> {
    rooms::parse(room)?;
    let Some(kind) = event.get("type").and_then(Value::as_str) else {
        return Err(DomainError::Invalid("the event needs a string \"type\"".into()));
    };
    if kind.is_empty() || kind.len() > TYPE_MAX {
        return Err(DomainError::Invalid(format!("\"type\" must be 1 to {TYPE_MAX} characters")));
    }
    if ServerFrame::TYPES.contains(&kind) || ClientFrame::TYPES.contains(&kind) {
        return Err(DomainError::Invalid(format!("\"{kind}\" is a protocol frame type; choose another")));
    }
    let room_value = Value::from(room);
    append_and_publish(store, hub, room, move |seq, timestamp| {
        event.insert("room".into(), room_value);
        event.insert("seq".into(), seq.into());
        event.insert("timestamp".into(), timestamp.into());
        Value::Object(event).to_string()
    })
    .await
}
