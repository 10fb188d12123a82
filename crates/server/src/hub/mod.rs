//! The hub: who is connected, which connection is in which room, fan-out, presence.
//!
//! [`Hub`] is the one handle the rest of the server uses; everything behind it is private:
//! * the registry holds user → connections and room → connections in sharded maps (no global
//!   lock on the publish path; no lock is ever held across `.await`), the per-room publish-order
//!   locks and the long-poll wake-ups;
//! * [`Broker`] is the seam between publishing and delivering: [`LocalBroker`] delivers straight
//!   into this node; a cluster broker carries the same [`Publication`]s to every node's
//!   [`Inbound`] and learns, through [`Broker::interest`], which rooms this node needs;
//! * [`Presence`] is the seam for who is online and with whom ([`LocalPresence`] for one node);
//! * [`activity`] is the ephemeral room activity (typing, cursors, tile editing) of every room;
//! * [`redis`] is the cluster broker.
//!
//! A [`Frame`] is encoded to JSON and framed for the WebSocket **once**; every recipient gets a
//! reference-counted clone of the bytes. Each [`Connection`] has a bounded [`OutboundQueue`]; overflow closes that connection
//! as a slow consumer instead of delaying anyone else.

pub mod activity;
mod broker;
mod connection;
mod frame;
mod presence;
mod queue;
pub mod redis;
mod registry;
mod shards;

use std::sync::Arc;

use tokio::sync::{MutexGuard, futures::Notified};

use activity::Activity;

pub use broker::{Broker, Inbound, LocalBroker, Publication};
pub use connection::{ConnId, Connection};
pub use frame::Frame;
pub use presence::{LocalPresence, NodePresence, Presence, Transition, deliver_to_users};
pub use queue::{CloseReason, OutboundQueue, Push};
pub use registry::Aligned;
use registry::{Change, Registry};

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

/// A node's name, random per process (a cluster will name its nodes): what makes a
/// [`ConnId`] meaningful across nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub u64);

impl NodeId {
    /// A fresh random node id.
    pub fn random() -> Self {
        Self(rand::random())
    }
}

/// Whom a publication skips (seed 004: events are not echoed to the connection or user that
/// caused them). Plain data, so a cluster broker can carry it with the publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Except {
    /// One connection of the publishing node (the REST request's `X-Connection-Id`, checked to
    /// be the caller's).
    Connection(ConnId),
    /// Every connection of one user (its other devices too), on every node.
    User(String),
}

impl Except {
    /// Whether `connection`, on this node, is skipped by a publication from node `from`.
    pub fn matches(&self, from: NodeId, connection: &Connection) -> bool {
        match self {
            Self::Connection(id) => from == connection.node() && connection.id() == *id,
            Self::User(user_id) => connection.user_id() == user_id,
        }
    }
}

/// What a hub is built on: how publications travel, who is online, and (cluster) who views
/// which room on the other nodes.
pub struct Seams {
    /// Carries publications and membership changes to every node.
    pub broker: Arc<dyn Broker>,
    /// Who is online, and announcing it.
    pub presence: Arc<dyn Presence>,
    /// The viewers on other nodes (`None` on a single node).
    pub remote_viewers: Option<Arc<dyn activity::RemoteViewers>>,
}

/// Handle to this node's hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    node: NodeId,
    registry: Registry,
    broker: Arc<dyn Broker>,
    presence: Arc<dyn Presence>,
    activity: Activity,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Hub {
    /// A single-node hub: in-process broker and presence.
    pub fn local() -> Self {
        Self::new(NodeId::random(), |inbound| Seams {
            broker: LocalBroker::new(inbound.clone()),
            presence: LocalPresence::new(inbound),
            remote_viewers: None,
        })
    }

    /// A hub on node `node` whose seams are built by `seams` around this node's inbound side.
    pub fn new(node: NodeId, seams: impl FnOnce(Inbound) -> Seams) -> Self {
        let registry = Registry::default();
        let Seams { broker, presence, remote_viewers } = seams(Inbound::new(registry.clone()));
        let activity = Activity::new(node, registry.clone(), broker.clone(), remote_viewers);
        Self { node, registry, broker, presence, activity }
    }

    /// This node.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// A new connection of `user_id` on this node (its queue holds `queue_capacity` frames).
    pub fn connection(&self, user_id: &str, queue_capacity: usize) -> Arc<Connection> {
        Arc::new(Connection::new(self.node, user_id, queue_capacity))
    }

    /// Registers an open connection; returns its user's presence transition.
    pub fn connect(&self, connection: &Arc<Connection>) -> Transition {
        self.registry.register(connection);
        self.presence.connect(connection.user_id())
    }

    /// Unregisters a connection and leaves all its rooms; returns its user's presence
    /// transition.
    pub fn disconnect(&self, connection: &Arc<Connection>) -> Transition {
        for room in self.registry.unregister(connection) {
            self.broker.interest(&room, false, None);
        }
        self.presence.disconnect(connection.user_id())
    }

    /// Subscribes one connection to `room`. False if it already was.
    pub fn subscribe(&self, connection: &Arc<Connection>, room: &str) -> bool {
        self.subscribe_after(connection, room, None)
    }

    /// [`Hub::subscribe`], saying that the room's newest seq was `after` before it (from a
    /// store read, or the connection's cursor): in cluster mode, if this is the node's first
    /// subscriber of the room, every event after it is delivered here.
    pub fn subscribe_after(&self, connection: &Arc<Connection>, room: &str, after: Option<i64>) -> bool {
        match self.registry.subscribe(connection, room) {
            Change::None => false,
            Change::Changed => true,
            Change::Interest => {
                self.broker.interest(room, true, after);
                true
            }
        }
    }

    /// Whether a subscriber of `room` should read where the room stands first and subscribe
    /// with [`Hub::subscribe_after`] (cluster mode, no subscriber of the room on this node yet).
    pub fn wants_head(&self, room: &str) -> bool {
        self.broker.wants_head(room)
    }

    /// Unsubscribes one connection from `room`. False if it was not subscribed.
    pub fn unsubscribe(&self, connection: &Arc<Connection>, room: &str) -> bool {
        match self.registry.unsubscribe(connection, room) {
            Change::None => false,
            Change::Changed => true,
            Change::Interest => {
                self.broker.interest(room, false, None);
                true
            }
        }
    }

    /// Sends an ephemeral `frame` (no seq, not stored) to every connection subscribed to
    /// `room`, on every node.
    pub fn publish(&self, room: &str, frame: Frame) {
        self.broker.publish(Publication { room, seq: None, frame: &frame, except: None });
    }

    /// [`Hub::publish`] skipping the recipients `except` matches.
    pub fn publish_except(&self, room: &str, frame: Frame, except: &Except) {
        self.broker.publish(Publication { room, seq: None, frame: &frame, except: Some((except, self.node)) });
    }

    /// Sends a durable event, already committed to the log with `seq`, to `room` on every
    /// node, skipping `except` live (the event is in the log and replays to everyone). Only
    /// `domain::events::commit` calls it, holding [`Hub::order`] for the room.
    pub fn publish_durable(&self, room: &str, seq: i64, frame: Frame, except: Option<&Except>) {
        let except = except.map(|except| (except, self.node));
        self.broker.publish(Publication { room, seq: Some(seq), frame: &frame, except });
    }

    /// Held by a writer of `room` from before its transaction until after it published the
    /// event (`domain::events::commit`), and by a replay while it switches to live delivery
    /// (`ws::recovery`), so this node publishes each room's events in seq order. Per room (by
    /// hash), never global; it guards no data, only order, and is held across the write's
    /// `.await`s by design.
    pub async fn order(&self, room: &str) -> MutexGuard<'_, ()> {
        self.registry.order_lock(room).await
    }

    /// Keeps `room`'s events coming to this node while the returned guard lives, for a long
    /// poll that waits on [`Hub::durable_delivery`] with no connection in the room. `after`:
    /// the room's newest seq as the poll just read it (in a cluster, events after it are
    /// delivered here, so one committed on another node wakes the poll).
    pub fn watch(&self, room: &str, after: i64) -> Watch<'_> {
        if self.registry.watch(room) == Change::Interest {
            self.broker.interest(room, true, Some(after));
        }
        Watch { hub: self, room: room.to_owned() }
    }

    /// Resolves after the next durable delivery to `room` (or to a room sharing its wake-up
    /// bucket: a spurious wake-up, never a missed one). Create it before reading the store, or
    /// a delivery in between is missed.
    pub fn durable_delivery(&self, room: &str) -> Notified<'_> {
        self.registry.waiter(room).notified()
    }

    /// Subscribes every open connection of `user_id`, on every node, to `room`, and counts
    /// `room` among the user's rooms for presence (e.g. after the user accepted an invitation).
    /// `from_seq`: the seq of the durable event the join came with (about to be published);
    /// the user's connections get it and every later event of the room, on every node.
    pub fn join_user(&self, user_id: &str, room: &str, from_seq: Option<i64>) {
        self.presence.joined(user_id, room);
        self.broker.join_user(user_id, room, from_seq);
    }

    /// Unsubscribes every open connection of `user_id`, on every node, from `room`, and drops
    /// it from the user's rooms for presence (e.g. after the user left a thread).
    pub fn leave_user(&self, user_id: &str, room: &str) {
        self.presence.left(user_id, room);
        self.broker.leave_user(user_id, room);
    }

    /// Counts `room` among `user_id`'s rooms for presence, without subscribing anyone (a new
    /// member of a draft or canvas, which are joined while viewed).
    pub fn add_member(&self, user_id: &str, room: &str) {
        self.presence.joined(user_id, room);
    }

    /// Whether `user_id` has at least one live connection.
    pub fn is_online(&self, user_id: &str) -> bool {
        self.presence.is_online(user_id)
    }

    /// Whether connection `id` of this node belongs to `user_id`.
    pub fn owns_connection(&self, user_id: &str, id: ConnId) -> bool {
        self.registry.connections_of(user_id).iter().any(|connection| connection.id() == id)
    }

    /// The distinct users with a connection in `room` on this node, sorted.
    pub fn viewers(&self, room: &str) -> Vec<String> {
        self.registry.viewers(room)
    }

    /// Bumped by every membership change of `user_id` on this node: a connection that joins
    /// its rooms from a store read repeats the read if it moved meanwhile.
    pub fn membership_epoch(&self, user_id: &str) -> u64 {
        self.registry.membership_epoch(user_id)
    }

    /// Live activity (typing, cursors, tile editing, viewers) of every room.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Stops the hub's own background work (activity wake-ups, the broker's tasks) and waits
    /// for it.
    pub async fn close(&self) {
        self.activity.close().await;
        self.broker.close().await;
    }

    /// The bus's state in cluster mode; `None` on a single node.
    pub fn bus(&self) -> Option<redis::BusReport> {
        self.broker.report()
    }

    /// The presence seam (set a user's rooms, announce).
    pub fn presence(&self) -> &dyn Presence {
        &*self.presence
    }
}

/// A long poll's hold on a room's events ([`Hub::watch`]); released when dropped.
#[must_use = "the room is watched only while the guard lives"]
pub struct Watch<'a> {
    hub: &'a Hub,
    room: String,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if self.hub.registry.unwatch(&self.room) == Change::Interest {
            self.hub.broker.interest(&self.room, false, None);
        }
    }
}
