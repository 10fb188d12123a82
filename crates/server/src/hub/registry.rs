//! This node's connections: user → connections (presence) and room → connections (fan-out).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Mutex, MutexGuard, Notify};

use super::shards::Shards;
use super::{Connection, Except, Frame};

/// Number of long-poll wake-up buckets and of publish-order locks. Rooms share a bucket or a
/// lock by hash; sharing only costs a spurious wake-up or a short wait, never correctness.
const BUCKETS: usize = 256;

/// A user's presence transition caused by registering or unregistering a connection.
/// `generation` orders transitions: an announcement is only made while it is still the user's
/// latest transition, so a quick disconnect/reconnect can never end with co-members seeing
/// the stale status last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The user's first connection: announce `is_online: true`.
    WentOnline {
        /// Transition number to pass to [`Registry::announce`].
        generation: u64,
    },
    /// The user's last connection closed: write `last_online`, announce `is_online: false`.
    WentOffline {
        /// Transition number to pass to [`Registry::announce`].
        generation: u64,
    },
    /// The user had (or still has) other connections: nothing to announce.
    Unchanged,
}

#[derive(Debug, Default)]
struct UserEntry {
    connections: Vec<Arc<Connection>>,
    /// Latest presence transition (process-wide counter value).
    generation: u64,
    /// What collaborators were last told: online (true) or offline / nothing yet (false). A
    /// user back before their offline was announced (a presence grace) is still online to them.
    announced_online: bool,
    /// Bumped by every membership change, so a connection that subscribes to its rooms from a
    /// store read can tell whether a change raced with the read.
    membership_epoch: u64,
}

struct Inner {
    rooms: Shards<Vec<Arc<Connection>>>,
    users: Shards<UserEntry>,
    generations: AtomicU64,
    /// Long polls park on their room's bucket; durable deliveries wake it.
    waiters: Box<[Notify]>,
    /// Serialises "commit, then publish" per room, so live delivery is in seq order.
    order: Box<[Mutex<()>]>,
    hasher: std::hash::RandomState,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            rooms: Shards::default(),
            users: Shards::default(),
            generations: AtomicU64::new(0),
            waiters: (0..BUCKETS).map(|_| Notify::new()).collect(),
            order: (0..BUCKETS).map(|_| Mutex::new(())).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }
}

/// Sharded registry of this node's connections. Cheap to clone.
///
/// Lock discipline: a user-shard guard may be held while room shards are locked (presence
/// announcements fan out under it); a room-shard guard is never held while locking anything.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    fn next_generation(&self) -> u64 {
        self.inner.generations.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a connection to its user. Returns `WentOnline` for the user's first connection,
    /// unless collaborators were never told the user went offline (a reconnect within the
    /// presence grace): then the pending offline announcement is overtaken and nothing is said.
    pub fn register(&self, connection: &Arc<Connection>) -> Presence {
        let mut users = self.inner.users.write(connection.user_id());
        let entry = users.entry(connection.user_id().into()).or_default();
        entry.connections.push(connection.clone());
        if entry.connections.len() == 1 {
            entry.generation = self.next_generation();
            if entry.announced_online {
                return Presence::Unchanged;
            }
            Presence::WentOnline { generation: entry.generation }
        } else {
            Presence::Unchanged
        }
    }

    /// Removes a connection from its user and from every room it was in. Returns
    /// `WentOffline` when it was the user's last connection on this node.
    pub fn unregister(&self, connection: &Arc<Connection>) -> Presence {
        for room in connection.take_rooms() {
            self.remove_from_room(connection, &room);
        }
        let mut users = self.inner.users.write(connection.user_id());
        let Some(entry) = users.get_mut(connection.user_id()) else {
            return Presence::Unchanged;
        };
        let before = entry.connections.len();
        entry.connections.retain(|c| c.id() != connection.id());
        if before > 0 && entry.connections.is_empty() {
            entry.generation = self.next_generation();
            Presence::WentOffline { generation: entry.generation }
        } else {
            Presence::Unchanged
        }
    }

    /// Runs `deliver` only if `generation` is still `user_id`'s latest presence transition, while
    /// holding that user's shard so no newer transition can be announced in between. Afterwards
    /// an offline user's entry is forgotten. Returns whether `deliver` ran.
    pub fn announce(&self, user_id: &str, generation: u64, online: bool, deliver: impl FnOnce()) -> bool {
        let mut users = self.inner.users.write(user_id);
        let Some(entry) = users.get_mut(user_id) else {
            return false;
        };
        if entry.generation != generation {
            return false;
        }
        deliver();
        entry.announced_online = online;
        if entry.connections.is_empty() {
            users.remove(user_id);
        }
        true
    }

    /// The distinct users other than `user_id` with at least one connection on this node
    /// subscribed to any of `rooms`, in no particular order. Reads the room shards only: no store
    /// query, so a presence change costs the rooms' sizes in memory, however many connect at once.
    pub fn co_members(&self, user_id: &str, rooms: &[Box<str>]) -> Vec<String> {
        let mut users = std::collections::HashSet::new();
        for room in rooms {
            if let Some(members) = self.inner.rooms.read(room).get(&**room) {
                users.extend(members.iter().map(|c| c.user_id()).filter(|id| *id != user_id).map(str::to_owned));
            }
        }
        users.into_iter().collect()
    }

    /// Whether `user_id` has at least one connection on this node.
    pub fn is_online(&self, user_id: &str) -> bool {
        self.inner.users.read(user_id).get(user_id).is_some_and(|entry| !entry.connections.is_empty())
    }

    /// The user's membership epoch (see [`Registry::join_user`]); 0 for unknown users.
    pub fn membership_epoch(&self, user_id: &str) -> u64 {
        self.inner.users.read(user_id).get(user_id).map_or(0, |entry| entry.membership_epoch)
    }

    /// Subscribes one connection to `room`. False if it already was.
    pub fn subscribe(&self, connection: &Arc<Connection>, room: &str) -> bool {
        if !connection.add_room(room) {
            return false;
        }
        self.inner.rooms.write(room).entry(room.into()).or_default().push(connection.clone());
        true
    }

    /// Unsubscribes one connection from `room`. False if it was not subscribed.
    pub fn unsubscribe(&self, connection: &Arc<Connection>, room: &str) -> bool {
        if !connection.remove_room(room) {
            return false;
        }
        self.remove_from_room(connection, room);
        true
    }

    fn remove_from_room(&self, connection: &Connection, room: &str) {
        let mut rooms = self.inner.rooms.write(room);
        if let Some(members) = rooms.get_mut(room) {
            if let Some(index) = members.iter().position(|c| c.id() == connection.id()) {
                members.swap_remove(index);
            }
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// The user's connections on this node right now.
    pub fn connections_of(&self, user_id: &str) -> Vec<Arc<Connection>> {
        self.inner.users.read(user_id).get(user_id).map(|entry| entry.connections.clone()).unwrap_or_default()
    }

    /// Subscribes every connection of `user_id` on this node to `room` and bumps the user's
    /// membership epoch.
    pub fn join_user(&self, user_id: &str, room: &str) {
        for connection in self.bump_epoch(user_id) {
            self.subscribe(&connection, room);
        }
    }

    /// Unsubscribes every connection of `user_id` on this node from `room` and bumps the
    /// user's membership epoch.
    pub fn leave_user(&self, user_id: &str, room: &str) {
        for connection in self.bump_epoch(user_id) {
            self.unsubscribe(&connection, room);
        }
    }

    fn bump_epoch(&self, user_id: &str) -> Vec<Arc<Connection>> {
        let mut users = self.inner.users.write(user_id);
        match users.get_mut(user_id) {
            Some(entry) => {
                entry.membership_epoch += 1;
                entry.connections.clone()
            }
            None => Vec::new(),
        }
    }

    /// Queues `frame` on every connection subscribed to `room` on this node, without waiting
    /// for any of them, and wakes long polls of the room for durable events (`seq` set).
    /// Returns the number of recipients.
    pub fn deliver(&self, room: &str, seq: Option<i64>, frame: &Frame) -> usize {
        self.deliver_except(room, seq, frame, None)
    }

    /// [`Registry::deliver`], skipping the connections `except` matches. Returns the number of
    /// recipients.
    pub fn deliver_except(&self, room: &str, seq: Option<i64>, frame: &Frame, except: Option<&Except>) -> usize {
        let recipients = {
            let rooms = self.inner.rooms.read(room);
            match rooms.get(room) {
                Some(members) => {
                    let mut delivered = 0;
                    for connection in members {
                        if except.is_some_and(|except| except.matches(connection)) {
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
            .map(|members| members.iter().map(|c| c.user_id().to_owned()).collect())
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

    fn connection(user: &str) -> Arc<Connection> {
        Arc::new(Connection::new(user, 16))
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

    #[test]
    fn first_and_last_connection_change_presence() {
        let registry = Registry::default();
        let (a, b) = (connection("u"), connection("u"));
        assert!(matches!(registry.register(&a), Presence::WentOnline { .. }));
        assert_eq!(registry.register(&b), Presence::Unchanged);
        assert!(registry.is_online("u"));
        assert_eq!(registry.unregister(&a), Presence::Unchanged);
        assert!(matches!(registry.unregister(&b), Presence::WentOffline { .. }));
        assert!(!registry.is_online("u"));
    }

    #[test]
    fn stale_announcements_are_skipped() {
        let registry = Registry::default();
        let a = connection("u");
        let Presence::WentOnline { generation: online } = registry.register(&a) else { panic!() };
        let Presence::WentOffline { generation: offline } = registry.unregister(&a) else { panic!() };
        let b = connection("u");
        let Presence::WentOnline { generation: again } = registry.register(&b) else { panic!() };
        assert!(!registry.announce("u", online, true, || {}), "superseded");
        assert!(!registry.announce("u", offline, false, || {}), "superseded");
        assert!(registry.announce("u", again, true, || {}));
        assert!(registry.is_online("u"), "entry kept while connected");
    }

    #[test]
    fn a_return_before_the_offline_was_announced_is_no_change() {
        let registry = Registry::default();
        let a = connection("u");
        let Presence::WentOnline { generation: online } = registry.register(&a) else { panic!() };
        assert!(registry.announce("u", online, true, || {}));
        let Presence::WentOffline { generation: offline } = registry.unregister(&a) else { panic!() };
        // Back during the grace: collaborators were never told otherwise.
        let b = connection("u");
        assert_eq!(registry.register(&b), Presence::Unchanged);
        assert!(!registry.announce("u", offline, false, || {}), "the pending offline is overtaken");
        // Once an offline is announced, the next connection is news again.
        let Presence::WentOffline { generation: gone } = registry.unregister(&b) else { panic!() };
        assert!(registry.announce("u", gone, false, || {}));
        assert!(matches!(registry.register(&connection("u")), Presence::WentOnline { .. }));
    }

    #[tokio::test]
    async fn deliver_reaches_room_members_only() {
        let registry = Registry::default();
        let (a, b, c) = (connection("a"), connection("b"), connection("c"));
        for conn in [&a, &b, &c] {
            registry.register(conn);
        }
        registry.subscribe(&a, "thread:1");
        registry.join_user("b", "thread:1");
        assert_eq!(registry.deliver("thread:1", None, &Frame::from_static("x")), 2);
        assert_eq!(drain(&a).await, ["x"]);
        assert_eq!(drain(&b).await, ["x"]);
        assert!(drain(&c).await.is_empty());
        registry.leave_user("b", "thread:1");
        assert_eq!(registry.deliver("thread:1", None, &Frame::from_static("y")), 1);
        assert!(drain(&b).await.is_empty());
        assert_eq!(registry.membership_epoch("b"), 2);
    }

    #[tokio::test]
    async fn unregister_leaves_every_room() {
        let registry = Registry::default();
        let a = connection("a");
        registry.register(&a);
        registry.subscribe(&a, "r1");
        registry.subscribe(&a, "r2");
        registry.unregister(&a);
        assert_eq!(registry.deliver("r1", None, &Frame::from_static("x")), 0);
        assert_eq!(registry.deliver("r2", None, &Frame::from_static("x")), 0);
    }

    #[tokio::test]
    async fn recovering_room_holds_live_events_until_the_replay_is_done() {
        let registry = Registry::default();
        let a = connection("a");
        registry.register(&a);
        a.begin_recovery("thread:1");
        registry.subscribe(&a, "thread:1");
        registry.deliver("thread:1", Some(5), &Frame::from_static("e5"));
        registry.deliver("thread:1", Some(4), &Frame::from_static("e4"));
        registry.deliver("thread:1", None, &Frame::from_static("ephemeral, not held"));
        a.send(Frame::from_static("replayed 3"));
        a.send(Frame::from_static("replayed 4"));
        a.finish_recovery("thread:1", 4);
        registry.deliver("thread:1", Some(6), &Frame::from_static("e6"));
        assert_eq!(drain(&a).await, ["ephemeral, not held", "replayed 3", "replayed 4", "e5", "e6"]);
    }

    #[test]
    fn overflowing_recipient_does_not_block_others() {
        let registry = Registry::default();
        let slow = Arc::new(Connection::new("slow", 2));
        let fast = Arc::new(Connection::new("fast", 100));
        for conn in [&slow, &fast] {
            registry.register(conn);
            registry.subscribe(conn, "room");
        }
        for _ in 0..10 {
            registry.deliver("room", None, &Frame::from_static("x"));
        }
        assert_eq!(slow.queue().closing(), Some(CloseReason::SlowConsumer));
        assert_eq!(fast.queue().closing(), None);
    }
}
