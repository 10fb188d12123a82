//! The hub: who is connected, which connection is in which room, and fan-out.
//!
//! * [`Registry`] holds user → connections and room → connections in sharded maps (no global
//!   lock on the publish path; a lock is never held across `.await`).
//! * [`Broker`] is the seam between "publish" and "deliver": the in-process [`LocalBroker`]
//!   delivers straight into this node's registry; a cluster broker (Redis) will carry the same
//!   envelopes to every node's registry without the hub or the domain changing.
//! * [`Hub`] is the handle the rest of the server uses: it encodes an event to JSON **once** and
//!   hands the shared bytes to the broker; every recipient gets a reference-counted clone.
//! * Each [`Connection`] has a bounded [`OutboundQueue`]; overflow closes that connection as a
//!   slow consumer instead of delaying anyone else.

mod broker;
mod connection;
mod queue;
mod registry;
mod shards;

use std::sync::Arc;

pub use broker::{Broker, LocalBroker};
pub use connection::{ConnId, Connection};
pub use queue::{CloseReason, OutboundQueue, Push};
pub use registry::{Presence, Registry};

/// An encoded server frame: JSON text shared by every recipient (cloning is a reference-count
/// increment, never a copy).
pub type Frame = tungstenite::Utf8Bytes;

/// Encodes `event` as a JSON text frame. See [`to_json`].
pub fn encode<T: serde::Serialize>(event: &T) -> Frame {
    Frame::from(to_json(event))
}

/// Encodes `event` as JSON text, e.g. a durable event for the log (which keeps exactly what is
/// sent). Serializing our own frame types cannot fail (they hold only strings, numbers, bools,
/// maps and `serde_json::Value`s).
pub fn to_json<T: serde::Serialize>(event: &T) -> String {
    match serde_json::to_string(event) {
        Ok(json) => json,
        Err(e) => unreachable!("server frame failed to serialize: {e}"),
    }
}

/// The room every connection of a user is in: personal events (invitations, statuses).
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Whom a publication skips (seed 004: events are not echoed to the connection or user that
/// caused them). Plain data, so a cluster broker can carry it with the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Except {
    /// One connection (the REST request's `X-Connection-Id`, checked to be the caller's).
    Connection(ConnId),
    /// Every connection of one user (its other devices too).
    User(String),
}

impl Except {
    /// Whether `connection` is skipped.
    pub fn matches(&self, connection: &Connection) -> bool {
        match self {
            Self::Connection(id) => connection.id() == *id,
            Self::User(user_id) => connection.user_id() == user_id,
        }
    }
}

/// Handle to this node's hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    registry: Registry,
    broker: Arc<dyn Broker>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("registry", &self.registry).finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub whose events stay in this process.
    pub fn local() -> Self {
        let registry = Registry::default();
        let broker = Arc::new(LocalBroker::new(registry.clone()));
        Self { registry, broker }
    }

    /// This node's connections and subscriptions.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Sends an ephemeral `frame` (no seq, not stored) to every connection subscribed to
    /// `room`, on every node.
    pub fn publish(&self, room: &str, frame: Frame) {
        self.broker.publish(room, None, frame);
    }

    /// Sends a durable event, already committed to the log with `seq`, to `room` on every
    /// node. Call it while holding [`Registry::order_lock`] for the room.
    pub fn publish_durable(&self, room: &str, seq: i64, frame: Frame) {
        self.broker.publish(room, Some(seq), frame);
    }

    /// [`Hub::publish`] skipping the recipients `except` matches.
    pub fn publish_except(&self, room: &str, frame: Frame, except: &Except) {
        self.broker.publish_except(room, None, frame, except);
    }

    /// [`Hub::publish_durable`] skipping the recipients `except` matches (live delivery only:
    /// the event is in the log and replays to everyone).
    pub fn publish_durable_except(&self, room: &str, seq: i64, frame: Frame, except: &Except) {
        self.broker.publish_except(room, Some(seq), frame, except);
    }

    /// Subscribes every open connection of `user_id`, on every node, to `room` (e.g. after the
    /// user accepted an invitation).
    pub fn join_user(&self, user_id: &str, room: &str) {
        self.broker.join_user(user_id, room);
    }

    /// Unsubscribes every open connection of `user_id`, on every node, from `room` (e.g. after
    /// the user left a thread).
    pub fn leave_user(&self, user_id: &str, room: &str) {
        self.broker.leave_user(user_id, room);
    }

    /// Whether `user_id` has at least one live connection.
    pub fn is_online(&self, user_id: &str) -> bool {
        self.registry.is_online(user_id)
    }
}
