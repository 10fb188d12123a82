//! This node's connections: user → connections and room → connections (fan-out), the
//! publish-order locks and the long-poll wake-ups. Private to the hub.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem_protocol::room::RoomKind;
use tokio::sync::{Mutex, MutexGuard, Notify};

use super::shards::Shards;
use super::{Connection, Except, Frame, NodeId};

/// Number of long-poll wake-up buckets and of publish-order locks. Rooms share a bucket or a
/// lock by hash; sharing only costs a spurious wake-up or a short wait, never correctness.
const BUCKETS: usize = 256;

#[derive(Debug, Default)]
struct UserEntry {
    connections: Vec<Arc<Connection>>,
    /// Set from the registry's change counter by every membership change of the user (and at
    /// the entry's creation), so a connection that subscribes to its rooms from a store read
    /// can tell whether a change raced with the read.
    membership_epoch: u64,
}

/// A room on this node: its subscribed connections, and the long polls waiting on it (which
/// need the room's events here as much as a connection does, in a cluster).
#[derive(Debug, Default)]
struct RoomEntry {
    connections: Vec<Arc<Connection>>,
    watchers: usize,
}

impl RoomEntry {
    fn is_unused(&self) -> bool {
        self.connections.is_empty() && self.watchers == 0
    }
}

struct Inner {
    rooms: Shards<RoomEntry>,
    users: Shards<UserEntry>,
    /// Long polls park on their room's bucket; durable deliveries wake it.
    waiters: Box<[Notify]>,
    /// Serialises "commit, then publish" per room, so live delivery is in seq order.
    order: Box<[Mutex<()>]>,
    hasher: std::hash::RandomState,
    /// Counts every membership change on this node, of users with connections here or not:
    /// user epochs are drawn from it, so an epoch read before a user had a connection here
    /// still differs after a change made before the connection registered.
    membership_changes: AtomicU64,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            rooms: Shards::default(),
            users: Shards::default(),
            waiters: (0..BUCKETS).map(|_| Notify::new()).collect(),
            order: (0..BUCKETS).map(|_| Mutex::new(())).collect(),
            hasher: std::hash::RandomState::new(),
            membership_changes: AtomicU64::new(0),
        }
    }
}

/// Sharded registry of this node's connections. Cheap to clone.
///
/// Lock discipline: no two of its shard guards are ever held at once, and none across `.await`.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// What [`Registry::align_user`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Aligned {
    /// The user's membership epoch after the alignment: if it moved since, a membership change
    /// raced the database read and the alignment should be repeated.
    pub epoch: u64,
    /// Rooms that got their first local subscriber.
    pub interest_started: Vec<String>,
    /// Rooms that lost their last local subscriber.
    pub interest_ended: Vec<String>,
}

/// How a subscription changed a room on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing changed (already subscribed, or not subscribed).
    None,
    /// The connection joined or left; other local connections are in the room too.
    Changed,
    /// The connection is the room's first local subscriber, or was its last: the broker learns
    /// of this node's interest in the room.
    Interest,
}

impl Registry {
    /// Adds a connection to its user.
    pub fn register(&self, connection: &Arc<Connection>) {
        let mut users = self.inner.users.write(connection.user_id());
        let entry = users.entry(connection.user_id().into()).or_insert_with(|| UserEntry {
            connections: Vec::new(),
            membership_epoch: self.inner.membership_changes.load(Ordering::Acquire),
        });
        entry.connections.push(connection.clone());
    }

    /// Removes a connection from its user and from every room it was in. Returns the rooms it
    /// was the last local subscriber of.
    pub fn unregister(&self, connection: &Arc<Connection>) -> Vec<Box<str>> {
        let mut emptied = Vec::new();
        for room in connection.take_rooms() {
            if self.remove_from_room(connection, &room) {
                emptied.push(room);
            }
        }
        let mut users = self.inner.users.write(connection.user_id());
        if let Some(entry) = users.get_mut(connection.user_id()) {
            entry.connections.retain(|c| c.id() != connection.id());
            if entry.connections.is_empty() {
                users.remove(connection.user_id());
            }
        }
        emptied
    }

    /// The user's membership epoch (see [`Registry::join_user`]): equal at two reads only if
    /// no membership change of the user was applied on this node in between, whether or not
    /// the user had a connection here meanwhile (a change may also move it spuriously).
    pub fn membership_epoch(&self, user_id: &str) -> u64 {
        let users = self.inner.users.read(user_id);
        match users.get(user_id) {
            Some(entry) => entry.membership_epoch,
            None => self.inner.membership_changes.load(Ordering::Acquire),
        }
    }

    /// The next value of the change counter, for an epoch that moves.
    fn next_epoch(&self) -> u64 {
        self.inner.membership_changes.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Subscribes one connection to `room`.
    pub fn subscribe(&self, connection: &Arc<Connection>, room: &str) -> Change {
        if !connection.add_room(room) {
            return Change::None;
        }
        let mut rooms = self.inner.rooms.write(room);
        let entry = rooms.entry(room.into()).or_default();
        let first = entry.is_unused();
        entry.connections.push(connection.clone());
        if first { Change::Interest } else { Change::Changed }
    }

    /// A long poll starts waiting on `room`: `Interest` if nothing on this node used the room.
    pub fn watch(&self, room: &str) -> Change {
        let mut rooms = self.inner.rooms.write(room);
        let entry = rooms.entry(room.into()).or_default();
        let first = entry.is_unused();
        entry.watchers += 1;
        if first { Change::Interest } else { Change::Changed }
    }

    /// A long poll stops waiting on `room`: `Interest` if nothing on this node uses it now.
    pub fn unwatch(&self, room: &str) -> Change {
        let mut rooms = self.inner.rooms.write(room);
        let Some(entry) = rooms.get_mut(room) else { return Change::None };
        entry.watchers = entry.watchers.saturating_sub(1);
        if entry.is_unused() {
            rooms.remove(room);
            return Change::Interest;
        }
        Change::Changed
    }

    /// Unsubscribes one connection from `room`.
    pub fn unsubscribe(&self, connection: &Arc<Connection>, room: &str) -> Change {
        if !connection.remove_room(room) {
            return Change::None;
        }
        if self.remove_from_room(connection, room) { Change::Interest } else { Change::Changed }
    }

    /// Whether the room is left without local subscribers.
    fn remove_from_room(&self, connection: &Connection, room: &str) -> bool {
        let mut rooms = self.inner.rooms.write(room);
        let Some(entry) = rooms.get_mut(room) else {
            return false;
        };
        if let Some(index) = entry.connections.iter().position(|c| c.id() == connection.id()) {
            entry.connections.swap_remove(index);
        }
        if entry.is_unused() {
            rooms.remove(room);
            return true;
        }
        false
    }

    /// The user's connections on this node right now.
    pub fn connections_of(&self, user_id: &str) -> Vec<Arc<Connection>> {
        self.inner.users.read(user_id).get(user_id).map(|entry| entry.connections.clone()).unwrap_or_default()
    }

    /// Subscribes every connection of `user_id` on this node to `room` and bumps the user's
    /// membership epoch. True if the room got its first local subscriber.
    pub fn join_user(&self, user_id: &str, room: &str) -> bool {
        let mut interest = false;
        for connection in self.bump_epoch(user_id) {
            interest |= self.subscribe(&connection, room) == Change::Interest;
        }
        interest
    }

    /// Unsubscribes every connection of `user_id` on this node from `room` and bumps the
    /// user's membership epoch. True if the room lost its last local subscriber.
    pub fn leave_user(&self, user_id: &str, room: &str) -> bool {
        let mut interest = false;
        for connection in self.bump_epoch(user_id) {
            interest |= self.unsubscribe(&connection, room) == Change::Interest;
        }
        interest
    }

    /// The users with a connection on this node: a snapshot that may miss users connecting
    /// meanwhile.
    pub fn users(&self) -> Vec<String> {
        self.inner.users.all_keys()
    }

    /// Unsubscribes the connections in `room` whose user is not in `members` (the room's
    /// members as the database lists them), bumping those users' membership epochs. True if
    /// the room lost its last local subscriber.
    pub fn retain_members(&self, room: &str, members: &[String]) -> bool {
        let strangers: Vec<Arc<Connection>> = {
            let rooms = self.inner.rooms.read(room);
            let Some(entry) = rooms.get(room) else { return false };
            entry.connections.iter().filter(|c| !members.iter().any(|m| m == c.user_id())).cloned().collect()
        };
        let mut interest = false;
        for connection in strangers {
            self.bump_epoch(connection.user_id());
            interest |= self.unsubscribe(&connection, room) == Change::Interest;
        }
        interest
    }

    /// Makes the subscriptions of `user_id`'s connections agree with `member_of` (the rooms
    /// the database lists for the user): every connection leaves the thread, draft and canvas
    /// rooms not listed and joins the listed threads it is not in (drafts and canvases are
    /// joined while viewed, so never here). Bumps the membership epoch; `None` if the user
    /// has no connection here.
    pub fn align_user(&self, user_id: &str, member_of: &[String]) -> Option<Aligned> {
        let epoch = {
            let mut users = self.inner.users.write(user_id);
            let epoch = self.next_epoch();
            let entry = users.get_mut(user_id)?;
            entry.membership_epoch = epoch;
            epoch
        };
        let mut aligned = Aligned { epoch, interest_started: Vec::new(), interest_ended: Vec::new() };
        let listed = |room: &str| member_of.iter().any(|listed| listed == room);
        for connection in self.connections_of(user_id) {
            for room in connection.rooms() {
                let has_members = !room.starts_with(RoomKind::User.prefix());
                if has_members && !listed(&room) && self.unsubscribe(&connection, &room) == Change::Interest {
                    aligned.interest_ended.push(room.into());
                }
            }
            for room in member_of.iter().filter(|room| room.starts_with(RoomKind::Thread.prefix())) {
                if self.subscribe(&connection, room) == Change::Interest {
                    aligned.interest_started.push(room.clone());
                }
            }
        }
        Some(aligned)
    }

    fn bump_epoch(&self, user_id: &str) -> Vec<Arc<Connection>> {
        let mut users = self.inner.users.write(user_id);
        let epoch = self.next_epoch();
        match users.get_mut(user_id) {
            Some(entry) => {
                entry.membership_epoch = epoch;
                entry.connections.clone()
            }
            None => Vec::new(),
        }
    }

    /// Queues `frame` on every connection subscribed to `room` on this node, without waiting
    /// for any of them, and wakes long polls of the room for durable events (`seq` set).
    /// Returns the number of recipients.
    /// Connections that `except` matches on `node` (this node) are skipped.
    pub fn deliver(&self, room: &str, seq: Option<i64>, frame: &Frame, except: Option<(&Except, NodeId)>) -> usize {
        let recipients = {
            let rooms = self.inner.rooms.read(room);
            match rooms.get(room) {
                Some(entry) => {
                    let mut delivered = 0;
                    for connection in &entry.connections {
                        if except.is_some_and(|(except, node)| except.matches(node, connection)) {
                            continue;
                        }
                        connection.deliver(room, seq, frame);
                        delivered += 1;
                    }
                    delivered
                }
                None => 0,
            }
        };
        if seq.is_some() {
            self.waiter(room).notify_waiters();
        }
        recipients
    }

    /// The distinct users with at least one connection subscribed to `room` on this node,
    /// sorted (seed 004's "active users" of a viewed room).
    pub fn viewers(&self, room: &str) -> Vec<String> {
        let mut users: Vec<String> = self
            .inner
            .rooms
            .read(room)
            .get(room)
            .map(|entry| entry.connections.iter().map(|c| c.user_id().to_owned()).collect())
            .unwrap_or_default();
        users.sort();
        users.dedup();
        users
    }

    fn bucket(&self, room: &str) -> usize {
        use std::hash::BuildHasher;
        usize::try_from(self.inner.hasher.hash_one(room) % BUCKETS as u64).unwrap_or(0)
    }

    /// What a long poll on `room` waits on: notified (with `notify_waiters`) after every
    /// durable delivery to a room of the same bucket. Enable the `Notified` before reading
    /// the store, or a delivery in between is missed.
    pub fn waiter(&self, room: &str) -> &Notify {
        &self.inner.waiters[self.bucket(room)]
    }

    /// Held by a writer of `room` from before its transaction until after it published the
    /// event, so this node publishes each room's events in seq order. Per room (by hash),
    /// never global; it guards no data, only order.
    pub async fn order_lock(&self, room: &str) -> MutexGuard<'_, ()> {
        self.inner.order[self.bucket(room)].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::CloseReason;
    use std::collections::VecDeque;

    use tandem_protocol::room::Room;

    fn connection(user: &str) -> Arc<Connection> {
        Arc::new(Connection::new(NodeId(0), user, 16))
    }

    async fn drain(connection: &Connection) -> Vec<String> {
        if connection.queue().closing().is_some() {
            return Vec::new();
        }
        let mut batch = VecDeque::new();
        connection.send(Frame::from_static("end"));
        connection.queue().next_batch(&mut batch).await;
        batch.iter().map(|f| f.as_str().to_owned()).filter(|f| f != "end").collect()
    }

    #[tokio::test]
    async fn deliver_reaches_room_members_only() {
        let registry = Registry::default();
        let room = Room::thread("1");
        let (a, b, c) = (connection("a"), connection("b"), connection("c"));
        for conn in [&a, &b, &c] {
            registry.register(conn);
        }
        registry.subscribe(&a, &room);
        registry.join_user("b", &room);
        assert_eq!(registry.deliver(&room, None, &Frame::from_static("x"), None), 2);
        assert_eq!(drain(&a).await, ["x"]);
        assert_eq!(drain(&b).await, ["x"]);
        assert!(drain(&c).await.is_empty());
        registry.leave_user("b", &room);
        assert_eq!(registry.deliver(&room, None, &Frame::from_static("y"), None), 1);
        assert!(drain(&b).await.is_empty());
        assert_eq!(registry.membership_epoch("b"), 2);
    }

    #[tokio::test]
    async fn an_epoch_read_before_the_user_connected_sees_a_change_made_before_it_did() {
        let registry = Registry::default();
        let before = registry.membership_epoch("a");
        registry.join_user("a", &Room::thread("1"));
        registry.register(&connection("a"));
        assert_ne!(registry.membership_epoch("a"), before, "the change is noticed");
        let settled = registry.membership_epoch("a");
        registry.join_user("b", &Room::thread("2"));
        registry.register(&connection("a"));
        assert_eq!(registry.membership_epoch("a"), settled, "others' changes and more connections do not move it");
        registry.leave_user("a", &Room::thread("1"));
        assert_ne!(registry.membership_epoch("a"), settled);
    }

    #[tokio::test]
    async fn unregister_leaves_every_room() {
        let registry = Registry::default();
        let a = connection("a");
        registry.register(&a);
        registry.subscribe(&a, "r1");
        registry.subscribe(&a, "r2");
        registry.unregister(&a);
        assert_eq!(registry.deliver("r1", None, &Frame::from_static("x"), None), 0);
        assert_eq!(registry.deliver("r2", None, &Frame::from_static("x"), None), 0);
    }

    /// A registry with connection `a` subscribed to `thread:1` while recovering it.
    fn recovering() -> (Registry, Room, Arc<Connection>) {
        let registry = Registry::default();
        let room = Room::thread("1");
        let a = connection("a");
        registry.register(&a);
        a.begin_recovery(&room);
        registry.subscribe(&a, &room);
        (registry, room, a)
    }

    #[tokio::test]
    async fn recovering_room_holds_live_events_until_the_replay_is_done() {
        let (registry, room, a) = recovering();
        registry.deliver(&room, Some(5), &Frame::from_static("e5"), None);
        registry.deliver(&room, Some(4), &Frame::from_static("e4"), None);
        registry.deliver(&room, None, &Frame::from_static("ephemeral, not held"), None);
        a.send(Frame::from_static("replayed 3"));
        a.send(Frame::from_static("replayed 4"));
        a.finish_recovery(&room, 4);
        registry.deliver(&room, Some(6), &Frame::from_static("e6"), None);
        assert_eq!(drain(&a).await, ["ephemeral, not held", "replayed 3", "replayed 4", "e5", "e6"]);
    }

    #[tokio::test]
    async fn events_the_replay_sent_are_not_sent_again_live() {
        // In a cluster, the node's filler or another node's writer can deliver an event the
        // replay already read, after the replay ended.
        let (registry, room, a) = recovering();
        a.send(Frame::from_static("replayed 1"));
        a.send(Frame::from_static("replayed 2"));
        a.finish_recovery(&room, 2);
        registry.deliver(&room, Some(1), &Frame::from_static("e1 again"), None);
        registry.deliver(&room, Some(2), &Frame::from_static("e2 again"), None);
        registry.deliver(&room, Some(3), &Frame::from_static("e3"), None);
        registry.deliver(&room, Some(4), &Frame::from_static("e4"), None);
        assert_eq!(drain(&a).await, ["replayed 1", "replayed 2", "e3", "e4"]);
        // A failed replay drops nothing afterwards.
        a.begin_recovery(&room);
        a.finish_recovery(&room, i64::MAX);
        registry.deliver(&room, Some(2), &Frame::from_static("after a failed replay"), None);
        assert_eq!(drain(&a).await, ["after a failed replay"]);
    }

    #[test]
    fn overflowing_recipient_does_not_block_others() {
        let registry = Registry::default();
        let slow = Arc::new(Connection::new(NodeId(0), "slow", 2));
        let fast = Arc::new(Connection::new(NodeId(0), "fast", 100));
        for conn in [&slow, &fast] {
            registry.register(conn);
            registry.subscribe(conn, "room");
        }
        for _ in 0..10 {
            registry.deliver("room", None, &Frame::from_static("x"), None);
        }
        assert_eq!(slow.queue().closing(), Some(CloseReason::SlowConsumer));
        assert_eq!(fast.queue().closing(), None);
    }
}
