//! The presence seam: who is online, and which online users share a room with whom.
//!
//! A user is online while at least one connection of theirs is open (seed 002: connection
//! state, never stored). [`Presence`] is what the rest of the server asks; [`LocalPresence`]
//! answers for one node; the cluster implementation (`redis::ClusterPresence`) answers for
//! every node. Both keep their own node's users in a [`NodePresence`], whose behaviour the
//! [`conformance`] suite pins down.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem_protocol::room::Room;

use super::shards::Shards;
use super::{Frame, Inbound, Publication};

/// A user's presence transition caused by a connection opening or closing. `generation`
/// orders transitions: an announcement is made only while it is still the user's latest, so a
/// quick disconnect/reconnect can never end with co-members seeing the stale status last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The user's first connection: announce `is_online: true`.
    WentOnline {
        /// Transition number to pass to [`Presence::announce`].
        generation: u64,
    },
    /// The user's last connection closed: write `last_online`, announce `is_online: false`.
    WentOffline {
        /// Transition number to pass to [`Presence::announce`].
        generation: u64,
    },
    /// The user had (or still has) other connections: nothing to announce.
    Unchanged,
}

/// Who is online and with whom they share rooms. Methods never wait (a network
/// implementation keeps a local view and syncs it in the background).
pub trait Presence: Send + Sync + 'static {
    /// This node's own users (connection counts, transitions, rooms).
    fn view(&self) -> &NodePresence;
    /// A connection of `user_id` opened on this node.
    fn connect(&self, user_id: &str) -> Transition {
        self.view().connect(user_id)
    }
    /// A connection of `user_id` closed on this node.
    fn disconnect(&self, user_id: &str) -> Transition {
        self.view().disconnect(user_id)
    }
    /// Whether `user_id` has at least one open connection (on any node, as far as this node
    /// knows).
    fn is_online(&self, user_id: &str) -> bool {
        self.view().is_online(user_id)
    }
    /// Sets the rooms `user_id` is a member of (threads, drafts, canvases), read from the store
    /// when a connection opens; membership changes afterwards arrive through
    /// [`Presence::joined`] / [`Presence::left`].
    fn set_rooms(&self, user_id: &str, rooms: &[Box<str>]) {
        self.view().set_rooms(user_id, rooms);
    }
    /// `user_id` became a member of `room`.
    fn joined(&self, user_id: &str, room: &str) {
        self.view().joined(user_id, room);
    }
    /// `user_id` stopped being a member of `room`.
    fn left(&self, user_id: &str, room: &str) {
        self.view().left(user_id, room);
    }
    /// Announces transition `generation` of `user_id` with `frame` (its `user_status_changed`)
    /// to the `user:` rooms of its online co-members, each once, if the transition is still the
    /// user's latest (no newer one is announced in between) and is news to them (they were last
    /// told otherwise). Returns whether it was announced, or (cluster) queued to be decided with
    /// the other nodes; an offline user is forgotten afterwards.
    fn announce(&self, user_id: &str, generation: u64, online: bool, frame: &Frame) -> bool;
}

#[derive(Debug, Default)]
struct Entry {
    connections: usize,
    /// Latest transition (process-wide counter value).
    generation: u64,
    /// What co-members were last told: online (true) or offline / nothing yet (false). A user
    /// back before their offline was announced (a presence grace) is still online to them.
    announced_online: bool,
    rooms: HashSet<Box<str>>,
}

/// One node's view of its own users: connection counts, transitions, and the rooms of each
/// user with a connection here, indexed room → users, so co-members are found in
/// O(rooms × members) memory reads with no store query. Both [`Presence`] implementations
/// keep their node's users in one.
///
/// Lock order: a user shard may be held while a room shard is locked, never the reverse.
#[derive(Default)]
pub struct NodePresence {
    users: Shards<Entry>,
    rooms: Shards<HashSet<Box<str>>>,
    generations: AtomicU64,
}

impl std::fmt::Debug for NodePresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodePresence").finish_non_exhaustive()
    }
}

impl NodePresence {
    fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn index(&self, room: &str, user_id: &str, member: bool) {
        let mut rooms = self.rooms.write(room);
        if member {
            rooms.entry(room.into()).or_default().insert(user_id.into());
        } else if let Some(users) = rooms.get_mut(room) {
            users.remove(user_id);
            if users.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// See [`Presence::connect`]: `WentOnline` for the first connection, unless co-members
    /// were never told the user left (a return within the grace).
    pub fn connect(&self, user_id: &str) -> Transition {
        let mut users = self.users.write(user_id);
        let entry = users.entry(user_id.into()).or_default();
        entry.connections += 1;
        if entry.connections > 1 {
            return Transition::Unchanged;
        }
        entry.generation = self.next_generation();
        if entry.announced_online {
            return Transition::Unchanged;
        }
        Transition::WentOnline { generation: entry.generation }
    }

    /// See [`Presence::disconnect`]: `WentOffline` when the last connection closed.
    pub fn disconnect(&self, user_id: &str) -> Transition {
        let mut users = self.users.write(user_id);
        let Some(entry) = users.get_mut(user_id) else {
            return Transition::Unchanged;
        };
        if entry.connections == 0 {
            return Transition::Unchanged;
        }
        entry.connections -= 1;
        if entry.connections > 0 {
            return Transition::Unchanged;
        }
        entry.generation = self.next_generation();
        Transition::WentOffline { generation: entry.generation }
    }

    /// Whether `user_id` has a connection on this node.
    pub fn is_online(&self, user_id: &str) -> bool {
        self.users.read(user_id).get(user_id).is_some_and(|entry| entry.connections > 0)
    }

    /// See [`Presence::set_rooms`] (ignored for a user without an entry here).
    pub fn set_rooms(&self, user_id: &str, rooms: &[Box<str>]) {
        let mut users = self.users.write(user_id);
        let Some(entry) = users.get_mut(user_id) else {
            return;
        };
        let new: HashSet<Box<str>> = rooms.iter().cloned().collect();
        for gone in entry.rooms.difference(&new) {
            self.index(gone, user_id, false);
        }
        for added in new.difference(&entry.rooms) {
            self.index(added, user_id, true);
        }
        entry.rooms = new;
    }

    /// See [`Presence::joined`].
    pub fn joined(&self, user_id: &str, room: &str) {
        let mut users = self.users.write(user_id);
        if let Some(entry) = users.get_mut(user_id)
            && entry.rooms.insert(room.into())
        {
            self.index(room, user_id, true);
        }
    }

    /// See [`Presence::left`].
    pub fn left(&self, user_id: &str, room: &str) {
        let mut users = self.users.write(user_id);
        if let Some(entry) = users.get_mut(user_id)
            && entry.rooms.remove(room)
        {
            self.index(room, user_id, false);
        }
    }

    /// The rooms of `user_id` (empty for a user without an entry here).
    pub fn rooms_of(&self, user_id: &str) -> Vec<Box<str>> {
        self.users.read(user_id).get(user_id).map(|entry| entry.rooms.iter().cloned().collect()).unwrap_or_default()
    }

    /// The users other than `user_id` with a connection on this node who are members of at
    /// least one of `rooms`, each once.
    pub fn online_in<'a>(&self, rooms: impl IntoIterator<Item = &'a str>, user_id: &str) -> Vec<String> {
        let mut others = HashSet::new();
        for room in rooms {
            if let Some(users) = self.rooms.read(room).get(room) {
                others.extend(users.iter().filter(|id| ***id != *user_id).cloned());
            }
        }
        others.into_iter().filter(|id| self.is_online(id)).map(String::from).collect()
    }

    /// The users with a connection on this node who share a room with `user_id`, each once.
    pub fn co_members_online(&self, user_id: &str) -> Vec<String> {
        let rooms = self.rooms_of(user_id);
        self.online_in(rooms.iter().map(|room| &**room), user_id)
    }

    /// Every user whose co-members were last told "online" (connected here, or back within
    /// the grace).
    pub fn told_online(&self) -> Vec<String> {
        self.users
            .all_keys()
            .into_iter()
            .filter(|user| self.users.read(user).get(user.as_str()).is_some_and(|entry| entry.announced_online))
            .collect()
    }

    /// Runs `deliver` only if `generation` is still `user_id`'s latest transition, so that no
    /// newer transition is announced in between; records what co-members were told. Returns
    /// whether `deliver` ran. An offline user is forgotten afterwards.
    pub fn settle(&self, user_id: &str, generation: u64, online: bool, deliver: &mut dyn FnMut()) -> bool {
        let mut users = self.users.write(user_id);
        let Some(entry) = users.get_mut(user_id) else {
            return false;
        };
        if entry.generation != generation {
            return false;
        }
        deliver();
        entry.announced_online = online;
        if entry.connections == 0 {
            for room in std::mem::take(&mut entry.rooms) {
                self.index(&room, user_id, false);
            }
            users.remove(user_id);
        }
        true
    }
}

/// Single-node presence: this node's view, announcements delivered straight to this node's
/// connections.
pub struct LocalPresence {
    view: NodePresence,
    inbound: Inbound,
}

impl LocalPresence {
    /// Presence delivering announcements into `inbound`.
    pub fn new(inbound: Inbound) -> Arc<Self> {
        Arc::new(Self { view: NodePresence::default(), inbound })
    }
}

impl Presence for LocalPresence {
    fn view(&self) -> &NodePresence {
        &self.view
    }

    fn announce(&self, user_id: &str, generation: u64, online: bool, frame: &Frame) -> bool {
        // Read before the user's shard is locked (co-members live in other shards).
        let co_members = self.view.co_members_online(user_id);
        self.view.settle(user_id, generation, online, &mut || {
            deliver_to_users(&self.inbound, &co_members, frame);
        })
    }
}

/// Queues `frame` on the `user:` room of each of `users` on this node.
pub fn deliver_to_users(inbound: &Inbound, users: &[String], frame: &Frame) {
    for user in users {
        let room = Room::user(user);
        inbound.deliver(Publication { room: &room, seq: None, frame, except: None });
    }
}

/// The behaviour of [`NodePresence`], which both implementations build on, as plain functions;
/// the cluster's cross-node behaviour is tested end to end in `tests/cluster*.rs`.
#[cfg(test)]
pub mod conformance {
    use super::{NodePresence, Transition};

    use tandem_protocol::room::Room;

    fn rooms(rooms: &[&Room]) -> Vec<Box<str>> {
        rooms.iter().map(|room| Box::from(room.as_str())).collect()
    }

    /// First connection online, last offline, the ones between change nothing.
    pub fn first_and_last_connection_change_presence(presence: &NodePresence) {
        assert!(matches!(presence.connect("u"), Transition::WentOnline { .. }));
        assert_eq!(presence.connect("u"), Transition::Unchanged);
        assert!(presence.is_online("u"));
        assert_eq!(presence.disconnect("u"), Transition::Unchanged);
        assert!(matches!(presence.disconnect("u"), Transition::WentOffline { .. }));
        assert!(!presence.is_online("u"));
        assert_eq!(presence.disconnect("u"), Transition::Unchanged, "an extra disconnect is harmless");
    }

    /// An announcement superseded by a newer transition does not run.
    pub fn stale_announcements_are_skipped(presence: &NodePresence) {
        let Transition::WentOnline { generation: online } = presence.connect("u") else { panic!() };
        let Transition::WentOffline { generation: offline } = presence.disconnect("u") else { panic!() };
        let Transition::WentOnline { generation: again } = presence.connect("u") else { panic!() };
        assert!(!presence.settle("u", online, true, &mut || {}), "superseded");
        assert!(!presence.settle("u", offline, false, &mut || {}), "superseded");
        let mut ran = false;
        assert!(presence.settle("u", again, true, &mut || ran = true));
        assert!(ran && presence.is_online("u"));
    }

    /// Back before the offline was announced (the grace): no change either way.
    pub fn a_return_before_the_offline_was_announced_is_no_change(presence: &NodePresence) {
        let Transition::WentOnline { generation } = presence.connect("u") else { panic!() };
        assert!(presence.settle("u", generation, true, &mut || {}));
        let Transition::WentOffline { generation: offline } = presence.disconnect("u") else { panic!() };
        assert_eq!(presence.connect("u"), Transition::Unchanged);
        assert!(!presence.settle("u", offline, false, &mut || {}), "the pending offline is overtaken");
        let Transition::WentOffline { generation: gone } = presence.disconnect("u") else { panic!() };
        assert!(presence.settle("u", gone, false, &mut || {}));
        assert!(matches!(presence.connect("u"), Transition::WentOnline { .. }), "news again after an offline");
    }

    /// Co-members are the online users sharing any room, following membership changes.
    pub fn co_members_follow_rooms_and_status(presence: &NodePresence) {
        for user in ["a", "b", "c", "d"] {
            presence.connect(user);
        }
        let (thread, canvas, draft) = (Room::thread("1"), Room::canvas("2"), Room::draft("3"));
        presence.set_rooms("a", &rooms(&[&thread, &canvas]));
        presence.set_rooms("b", &rooms(&[&thread]));
        presence.set_rooms("c", &rooms(&[&canvas]));
        presence.set_rooms("d", &rooms(&[&draft]));
        let mut co = presence.co_members_online("a");
        co.sort();
        assert_eq!(co, ["b", "c"]);
        assert!(presence.co_members_online("d").is_empty());
        presence.joined("d", &thread);
        let mut co = presence.co_members_online("d");
        co.sort();
        assert_eq!(co, ["a", "b"]);
        presence.left("b", &thread);
        let mut co = presence.co_members_online("a");
        co.sort();
        assert_eq!(co, ["c", "d"]);
        let Transition::WentOffline { generation } = presence.disconnect("c") else { panic!() };
        assert_eq!(presence.co_members_online("a"), ["d"], "an offline user is no co-member online");
        assert!(presence.settle("c", generation, false, &mut || {}));
        assert_eq!(presence.co_members_online("a"), ["d"]);
    }
}

#[cfg(test)]
mod tests {
    use super::{NodePresence, conformance};

    #[test]
    fn node_presence_conforms() {
        conformance::first_and_last_connection_change_presence(&NodePresence::default());
        conformance::stale_announcements_are_skipped(&NodePresence::default());
        conformance::a_return_before_the_offline_was_announced_is_no_change(&NodePresence::default());
        conformance::co_members_follow_rooms_and_status(&NodePresence::default());
    }
}
