//! The broker seam: between "publish" and "deliver", and where a node says which rooms it
//! needs.
//!
//! The hub hands every publication and membership change to its [`Broker`]; the broker
//! carries them to every node (itself included), where they arrive through that node's
//! [`Inbound`]. [`LocalBroker`] is the single-node broker: it hands everything straight to
//! its own inbound. A network broker (Redis, in the cluster issue) must pass the same
//! [`conformance`] suite.

use std::sync::Arc;

use super::registry::{Aligned, Registry};
use super::{Except, Frame, NodeId};

/// One publication: an encoded frame for a room's subscribers. Borrowed, so publishing
/// allocates nothing on the broadcast path; a network broker serializes it.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    /// The room.
    pub room: &'a str,
    /// Set for durable events (already committed to the log with this seq); lets recovering
    /// connections order and dedupe them.
    pub seq: Option<i64>,
    /// The frame, encoded once for every recipient.
    pub frame: &'a Frame,
    /// Recipients skipped (seed 004: no echo to the sender), with the node that published:
    /// a connection id means something only on its own node.
    pub except: Option<(&'a Except, NodeId)>,
}

/// Carries publications and membership changes to every node's [`Inbound`].
///
/// Methods never wait: an implementation that talks to the network queues the work and
/// returns. Delivery across nodes is at-most-once; durable events are recovered from the store
/// by seq, never from the broker.
pub trait Broker: Send + Sync + 'static {
    /// Delivers `publication` to the room's subscribers on every node.
    fn publish(&self, publication: Publication<'_>);
    /// Subscribes `user_id`'s connections on every node to `room`; they get every durable
    /// event from `from_seq` on (the event the join came with), where given.
    fn join_user(&self, user_id: &str, room: &str, from_seq: Option<i64>);
    /// Unsubscribes `user_id`'s connections on every node from `room`.
    fn leave_user(&self, user_id: &str, room: &str);
    /// This node got its first local subscriber of `room` (`true`) or lost its last (`false`):
    /// a network broker starts or stops listening to the room's channel. `after`: the room's
    /// newest seq as read before the subscription, so a network broker delivers every later
    /// event (without it, it reads the room's head itself, a moment later).
    fn interest(&self, room: &str, interested: bool, after: Option<i64>);
    /// Whether a subscription of `room` should say where the room stood ([`Broker::interest`]'s
    /// `after`): only a network broker that has no feed of the room yet wants it.
    fn wants_head(&self, _room: &str) -> bool {
        false
    }
    /// How the network under the broker is doing (`None`: there is none, one node).
    fn report(&self) -> Option<super::redis::BusReport> {
        None
    }
    /// Stops the broker's background work and waits for it (nothing to stop by default).
    fn close(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// What arrives at a node from its broker: deliveries and membership changes, applied to this
/// node's connections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Inbound {
    registry: Registry,
}

impl Inbound {
    pub(super) fn new(registry: Registry) -> Self {
        Self { registry }
    }

    /// Queues the publication on this node's subscribers of its room (never waits; a full
    /// queue closes that connection as a slow consumer). Returns the number of recipients.
    pub fn deliver(&self, publication: Publication<'_>) -> usize {
        let started = std::time::Instant::now();
        let delivered = self.registry.deliver(publication.room, publication.seq, publication.frame, publication.except);
        crate::telemetry::ws().fanout_seconds.record(started.elapsed().as_secs_f64());
        delivered
    }

    /// Subscribes `user_id`'s connections on this node to `room`. True if the room got its
    /// first local subscriber.
    pub fn join_user(&self, user_id: &str, room: &str) -> bool {
        self.registry.join_user(user_id, room)
    }

    /// Unsubscribes `user_id`'s connections on this node from `room`. True if the room lost
    /// its last local subscriber.
    pub fn leave_user(&self, user_id: &str, room: &str) -> bool {
        self.registry.leave_user(user_id, room)
    }

    /// Unsubscribes this node's connections in `room` whose user is not in `members`. True if
    /// the room lost its last local subscriber.
    pub fn retain_members(&self, room: &str, members: &[String]) -> bool {
        self.registry.retain_members(room, members)
    }

    /// The users with a connection on this node (a snapshot).
    pub fn users(&self) -> Vec<String> {
        self.registry.users()
    }

    /// Bumped by every membership change of `user_id` on this node (0 for unknown users).
    pub fn membership_epoch(&self, user_id: &str) -> u64 {
        self.registry.membership_epoch(user_id)
    }

    /// Makes the subscriptions of `user_id`'s connections on this node agree with
    /// `member_of`, the rooms the database lists for the user (see [`Registry::align_user`]).
    pub fn align_user(&self, user_id: &str, member_of: &[String]) -> Option<Aligned> {
        self.registry.align_user(user_id, member_of)
    }
}

/// The single-node broker: everything goes straight to this node's inbound.
#[derive(Debug, Clone)]
pub struct LocalBroker {
    inbound: Inbound,
}

impl LocalBroker {
    /// A broker delivering into `inbound`.
    pub fn new(inbound: Inbound) -> Arc<Self> {
        Arc::new(Self { inbound })
    }
}

impl Broker for LocalBroker {
    fn publish(&self, publication: Publication<'_>) {
        self.inbound.deliver(publication);
    }

    fn join_user(&self, user_id: &str, room: &str, _from_seq: Option<i64>) {
        // One node: the join is applied before the event is published.
        self.inbound.join_user(user_id, room);
    }

    fn leave_user(&self, user_id: &str, room: &str) {
        self.inbound.leave_user(user_id, room);
    }

    fn interest(&self, _room: &str, _interested: bool, _after: Option<i64>) {
        // One node: every publication is already here.
    }
}

/// The behaviour every [`Broker`] must show, driven through a [`Hub`](super::Hub) built on it
/// (`make` builds a hub over a broker of the implementation under test); `#[test]`s call
/// these for each implementation. Deliveries are awaited on the connections' queues, with a
/// timeout, so a network broker's latency is fine.
#[cfg(test)]
pub mod conformance {
    use std::time::Duration;

    use crate::hub::{Connection, Except, Frame, Hub};
    use tandem_protocol::room::Room;

    async fn next(connection: &Connection) -> Option<String> {
        let mut batch = std::collections::VecDeque::new();
        let read = tokio::time::timeout(Duration::from_secs(2), connection.queue().next_batch(&mut batch));
        read.await.ok()?;
        batch.front().map(|frame| frame.as_str().to_owned())
    }

    async fn nothing_for(connection: &Connection) -> bool {
        connection.send(Frame::from_static("marker"));
        next(connection).await.as_deref() == Some("marker")
    }

    /// A publication reaches every subscriber of its room and no one else; `except` skips a
    /// user's connections, or one connection.
    pub async fn publications_reach_subscribers_only(hub: Hub) {
        let room = Room::thread("1");
        let (a1, a2, b, c) =
            (hub.connection("a", 8), hub.connection("a", 8), hub.connection("b", 8), hub.connection("c", 8));
        for connection in [&a1, &a2, &b, &c] {
            hub.connect(connection);
        }
        for connection in [&a1, &a2, &b] {
            hub.subscribe(connection, &room);
        }
        hub.publish(&room, Frame::from_static("one"));
        for connection in [&a1, &a2, &b] {
            assert_eq!(next(connection).await.as_deref(), Some("one"));
        }
        assert!(nothing_for(&c).await);
        hub.publish_except(&room, Frame::from_static("two"), &Except::User("a".into()));
        assert_eq!(next(&b).await.as_deref(), Some("two"));
        assert!(nothing_for(&a1).await && nothing_for(&a2).await);
        hub.publish_except(&room, Frame::from_static("three"), &Except::Connection(a1.id()));
        assert_eq!(next(&a2).await.as_deref(), Some("three"));
        assert_eq!(next(&b).await.as_deref(), Some("three"));
        assert!(nothing_for(&a1).await);
    }

    /// `join_user` / `leave_user` subscribe and unsubscribe every connection of the user.
    pub async fn membership_changes_reach_every_connection(hub: Hub) {
        let room = Room::thread("2");
        let (a1, a2) = (hub.connection("a", 8), hub.connection("a", 8));
        hub.connect(&a1);
        hub.connect(&a2);
        hub.join_user("a", &room, None);
        hub.publish(&room, Frame::from_static("in"));
        assert_eq!(next(&a1).await.as_deref(), Some("in"));
        assert_eq!(next(&a2).await.as_deref(), Some("in"));
        hub.leave_user("a", &room);
        hub.publish(&room, Frame::from_static("out"));
        assert!(nothing_for(&a1).await && nothing_for(&a2).await);
    }
}

#[cfg(test)]
mod tests {
    use super::conformance;
    use crate::hub::Hub;

    #[tokio::test]
    async fn local_broker_conforms() {
        conformance::publications_reach_subscribers_only(Hub::local()).await;
        conformance::membership_changes_reach_every_connection(Hub::local()).await;
    }
}
