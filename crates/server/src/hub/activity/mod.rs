//! Live activity in every room (API.md §4 "Live activity", seed 004): typing, cursors and tile
//! editing, and the viewers of rooms joined while viewed. Nothing here is stored or has a seq.
//!
//! * Each (room, user) has one [`Throttle`] per activity: typing (at most one change per
//!   250 ms, over after 5 s without a refresh), tile editing (250 ms), cursor (20 a second, the
//!   latest wins, hidden after 10 s without a move). A flood costs O(1) frames per window.
//! * State is sharded by room; a shard's lock is held only to decide, never while publishing:
//!   the frames are collected under the lock and published after it is released.
//! * Wake-ups (a change due at the end of a window, an expiry) run on tasks tracked by the
//!   hub and cancelled by [`Activity::close`].
//! * A viewer is a user with at least one connection in a viewed room; `user_joined` /
//!   `user_left` announce only the first and last such connection, with `active_users`. In a
//!   cluster, [`RemoteViewers`] tells which users view the room on other nodes: they count in
//!   `active_users` and `canvas_viewers`, a user already viewing elsewhere is not announced
//!   again, and a dead node's viewers leave.
//! * A connection leaving a room (unsubscribe or disconnect) clears its user's activity there
//!   for the others at once, bypassing the windows, when it was the user's last connection in
//!   the room.

mod throttle;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tandem_protocol::ws::{ServerFrame, ViewerEvent};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tandem_protocol::room::{Room, RoomKind};
pub use throttle::{Policy, Throttle};

use super::registry::Registry;
use super::shards::Shards;
use super::{Broker, Except, Frame, NodeId, Publication};
use crate::clock;

/// Typing: one change per 250 ms; a `true` not refreshed for 5 s ends.
pub const TYPING: Policy = Policy { window: Duration::from_millis(250), ttl: Some(Duration::from_secs(5)) };
/// Tile editing: one change per 250 ms, until stopped or the user leaves.
pub const EDITING: Policy = Policy { window: Duration::from_millis(250), ttl: None };
/// Cursor: at most 20 a second; hidden after 10 s without a move.
pub const CURSOR: Policy = Policy { window: Duration::from_millis(50), ttl: Some(Duration::from_secs(10)) };

/// A pointer position.
pub type Position = (f64, f64);

/// What a user does in a room.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Started (true) or stopped typing.
    Typing(bool),
    /// Started or stopped editing the tile `(x, y)` (a canvas room; bounds are the caller's).
    Editing {
        /// Column.
        x: i64,
        /// Row.
        y: i64,
        /// Started or stopped.
        is_editing: bool,
    },
    /// Moved the pointer, or hid it (`None`).
    Cursor(Option<Position>),
}

struct Gates {
    username: Box<str>,
    typing: Throttle<bool>,
    editing: Throttle<Option<(i64, i64)>>,
    cursor: Throttle<Option<Position>>,
    /// The wake-up a timer task is sleeping until, if any.
    scheduled: Option<Instant>,
}

impl Gates {
    fn new(username: &str) -> Self {
        Self {
            username: username.into(),
            typing: Throttle::new(TYPING),
            editing: Throttle::new(EDITING),
            cursor: Throttle::new(CURSOR),
            scheduled: None,
        }
    }

    fn is_idle(&self) -> bool {
        self.typing.is_idle() && self.editing.is_idle() && self.cursor.is_idle()
    }
}

struct Viewer {
    username: Box<str>,
    name: Box<str>,
}

#[derive(Default)]
struct RoomState {
    gates: HashMap<Box<str>, Gates>,
    viewers: HashMap<Box<str>, Viewer>,
}

/// Called with `(room, user id, username, name)` of a viewer gone with its node.
pub type ViewerGone = Box<dyn Fn(&str, &str, &str, &str) + Send + Sync>;

/// The viewers of rooms on other nodes (cluster mode).
pub trait RemoteViewers: Send + Sync + 'static {
    /// The viewers of `room` on other nodes: `(user id, username, name)`.
    fn of(&self, room: &str) -> Vec<(String, String, String)>;
    /// `user_id` became (`true`) or stopped being (`false`) a viewer of `room` on this node.
    fn changed(&self, room: &str, user_id: &str, username: &str, name: &str, viewing: bool);
    /// Registers what to call when a viewer on another node is gone with its node.
    fn on_gone(&self, gone: ViewerGone);
}

struct Inner {
    node: NodeId,
    registry: Registry,
    broker: Arc<dyn Broker>,
    remote: Option<Arc<dyn RemoteViewers>>,
    rooms: Shards<RoomState>,
    timers: TaskTracker,
    closed: CancellationToken,
}

/// This node's live activity service. Cheap to clone.
#[derive(Clone)]
pub struct Activity {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity").finish_non_exhaustive()
    }
}

/// Frames decided under a lock, published after it is released.
type Outbox = Vec<(Box<str>, ServerFrame, Except)>;

impl Activity {
    pub(super) fn new(
        node: NodeId,
        registry: Registry,
        broker: Arc<dyn Broker>,
        remote: Option<Arc<dyn RemoteViewers>>,
    ) -> Self {
        let inner = Inner {
            node,
            registry,
            broker,
            remote,
            rooms: Shards::default(),
            timers: TaskTracker::new(),
            closed: CancellationToken::new(),
        };
        let activity = Self { inner: Arc::new(inner) };
        if let Some(remote) = &activity.inner.remote {
            // Weak: the remote viewers live inside this activity's own hub.
            let weak = Arc::downgrade(&activity.inner);
            remote.on_gone(Box::new(move |room, user_id, username, name| {
                if let Some(inner) = weak.upgrade() {
                    Self { inner }.remote_viewer_gone(room, user_id, username, name);
                }
            }));
        }
        activity
    }

    fn remote_viewers(&self, room: &str) -> Vec<(String, String, String)> {
        self.inner.remote.as_ref().map(|remote| remote.of(room)).unwrap_or_default()
    }

    /// A viewer of `room` on a dead node is gone: unless they view it here too, this node's
    /// connections in the room get `user_left` (each node tells its own).
    fn remote_viewer_gone(&self, room: &str, user_id: &str, username: &str, name: &str) {
        let Ok(room) = Room::parse(room) else { return };
        let frame = {
            let rooms = self.inner.rooms.read(&room);
            if rooms.get(room.as_str()).is_some_and(|state| state.viewers.contains_key(user_id)) {
                return;
            }
            ServerFrame::UserLeft(self.viewer_event(&room, user_id, username, name))
        };
        let frame = Frame::from(super::to_json(&frame));
        self.inner.registry.deliver(&room, None, &frame, None);
    }

    fn publish(&self, outbox: Outbox) {
        for (room, frame, except) in outbox {
            let frame = Frame::from(super::to_json(&frame));
            let except = Some((&except, self.inner.node));
            self.inner.broker.publish(Publication { room: &room, seq: None, frame: &frame, except });
        }
    }

    /// Whether `user_id` has a connection in `room` on this node.
    fn is_in_room(&self, room: &str, user_id: &str) -> bool {
        self.inner.registry.connections_of(user_id).iter().any(|c| c.in_room(room))
    }

    /// `user_id` (shown as `username`) does `action` in `room`; the room's other users are
    /// told within the activity's window.
    pub fn act(&self, room: &Room, user_id: &str, username: &str, action: Action) {
        let now = Instant::now();
        let outbox = {
            let mut rooms = self.inner.rooms.write(room);
            let state = rooms.entry(room.as_str().into()).or_default();
            let gates = state.gates.entry(user_id.into()).or_insert_with(|| Gates::new(username));
            match action {
                Action::Typing(is_typing) => gates.typing.set(now, is_typing),
                Action::Editing { x, y, is_editing } => {
                    gates.editing.set(now, is_editing.then_some((x, y)));
                }
                Action::Cursor(position) => gates.cursor.set(now, position),
            }
            self.poll_locked(room, state, user_id, now, None)
        };
        self.publish(outbox);
    }

    /// Polls one user's gates in `room`, returns their frames, schedules the next poll or
    /// forgets the gates. `woken` is the wake-up time of the timer task calling, if one is.
    fn poll_locked(
        &self,
        room: &str,
        state: &mut RoomState,
        user_id: &str,
        now: Instant,
        woken: Option<Instant>,
    ) -> Outbox {
        let viewing = state.viewers.contains_key(user_id) || self.is_in_room(room, user_id);
        let Some(gates) = state.gates.get_mut(user_id) else { return Vec::new() };
        if woken.is_some() && gates.scheduled == woken {
            gates.scheduled = None;
        }
        let mut frames = Vec::new();
        let (typing, wake_typing) = gates.typing.poll(now);
        if let Some((is_typing, _)) = typing {
            frames.push(typing_frame(room, user_id, &gates.username, is_typing));
        }
        let (editing, wake_editing) = gates.editing.poll(now);
        if let Some((tile, before)) = editing {
            if let Some((x, y)) = before {
                frames.push(editing_frame(room, user_id, &gates.username, (x, y), false, viewing));
            }
            if let Some((x, y)) = tile {
                frames.push(editing_frame(room, user_id, &gates.username, (x, y), true, viewing));
            }
        }
        let (cursor, wake_cursor) = gates.cursor.poll(now);
        if let Some((position, _)) = cursor {
            frames.push(cursor_frame(room, user_id, &gates.username, position));
        }
        let wake = [wake_typing, wake_editing, wake_cursor].into_iter().flatten().min();
        match wake {
            Some(wake) if gates.scheduled.is_none_or(|scheduled| wake < scheduled) => {
                gates.scheduled = Some(wake);
                self.schedule(room, user_id, wake);
            }
            None if gates.is_idle() && gates.scheduled.is_none() => {
                state.gates.remove(user_id);
            }
            _ => {}
        }
        let except = Except::User(user_id.to_owned());
        frames.into_iter().map(|frame| (Box::from(room), frame, except.clone())).collect()
    }

    fn schedule(&self, room: &str, user_id: &str, wake: Instant) {
        let (this, room, user_id) = (self.clone(), Box::<str>::from(room), Box::<str>::from(user_id));
        self.inner.timers.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = this.inner.closed.cancelled() => return,
            }
            let outbox = {
                let mut rooms = this.inner.rooms.write(&room);
                let Some(state) = rooms.get_mut(&*room) else { return };
                let outbox = this.poll_locked(&room, state, &user_id, Instant::now(), Some(wake));
                if state.gates.is_empty() && state.viewers.is_empty() {
                    rooms.remove(&*room);
                }
                outbox
            };
            this.publish(outbox);
        });
    }

    /// After a connection of `user_id` joined `room` (a viewed room): if that made the user a
    /// viewer, the other users get `user_joined` with `active_users`. Returns the viewers now,
    /// `(user id, username, name)` sorted by id, for the joining connection's `canvas_viewers`.
    pub fn viewer_joined(
        &self,
        room: &Room,
        user_id: &str,
        username: &str,
        name: &str,
    ) -> Vec<(String, String, String)> {
        let (viewers, outbox) = {
            let mut rooms = self.inner.rooms.write(room);
            let state = rooms.entry(room.as_str().into()).or_default();
            let mut outbox = Vec::new();
            let mut viewers: Vec<_> = state
                .viewers
                .iter()
                .map(|(id, v)| (id.to_string(), v.username.to_string(), v.name.to_string()))
                .collect();
            let remote = self.remote_viewers(room);
            if !state.viewers.contains_key(user_id) && self.is_in_room(room, user_id) {
                state.viewers.insert(user_id.into(), Viewer { username: username.into(), name: name.into() });
                viewers.push((user_id.to_owned(), username.to_owned(), name.to_owned()));
                if let Some(directory) = &self.inner.remote {
                    directory.changed(room, user_id, username, name, true);
                }
                if !remote.iter().any(|(id, _, _)| id == user_id) {
                    let frame = ServerFrame::UserJoined(self.viewer_event(room, user_id, username, name));
                    outbox.push((Box::from(room.as_str()), frame, Except::User(user_id.to_owned())));
                }
            }
            viewers.extend(remote);
            viewers.sort();
            viewers.dedup_by(|a, b| a.0 == b.0);
            (viewers, outbox)
        };
        self.publish(outbox);
        viewers
    }

    /// After a connection of `user_id` left `room` (unsubscribed or closed): if it was the
    /// user's last connection there, the others see its activity end at once and, in a viewed
    /// room, get `user_left`.
    pub fn left(&self, room: &Room, user_id: &str) {
        if self.is_in_room(room, user_id) {
            return;
        }
        let outbox = {
            let mut rooms = self.inner.rooms.write(room);
            let Some(state) = rooms.get_mut(room.as_str()) else { return };
            let mut frames = Vec::new();
            if let Some(mut gates) = state.gates.remove(user_id) {
                let username = gates.username.clone();
                if gates.typing.clear() == Some(true) {
                    frames.push(typing_frame(room, user_id, &username, false));
                }
                if let Some(Some(tile)) = gates.editing.clear() {
                    frames.push(editing_frame(room, user_id, &username, tile, false, false));
                }
                if let Some(Some(_)) = gates.cursor.clear() {
                    frames.push(cursor_frame(room, user_id, &username, None));
                }
            }
            if let Some(viewer) = state.viewers.remove(user_id) {
                if let Some(directory) = &self.inner.remote {
                    directory.changed(room, user_id, &viewer.username, &viewer.name, false);
                }
                if !self.remote_viewers(room).iter().any(|(id, _, _)| id == user_id) {
                    frames.push(ServerFrame::UserLeft(self.viewer_event(
                        room,
                        user_id,
                        &viewer.username,
                        &viewer.name,
                    )));
                }
            }
            if state.gates.is_empty() && state.viewers.is_empty() {
                rooms.remove(room.as_str());
            }
            let except = Except::User(user_id.to_owned());
            frames.into_iter().map(|frame| (Box::from(room.as_str()), frame, except.clone())).collect()
        };
        self.publish(outbox);
    }

    /// The distinct users with a connection in `room` here, plus its viewers on other nodes.
    fn active_users(&self, room: &str) -> usize {
        let mut users = self.inner.registry.viewers(room);
        users.extend(self.remote_viewers(room).into_iter().map(|(id, _, _)| id));
        users.sort();
        users.dedup();
        users.len()
    }

    fn viewer_event(&self, room: &Room, user_id: &str, username: &str, name: &str) -> ViewerEvent {
        ViewerEvent {
            room: room.to_string(),
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            display_name: name.to_owned(),
            active_users: self.active_users(room),
            timestamp: clock::now_ms(),
        }
    }

    /// Stops every pending wake-up and waits for their tasks (server shutdown).
    pub async fn close(&self) {
        self.inner.closed.cancel();
        self.inner.timers.close();
        self.inner.timers.wait().await;
    }
}

fn typing_frame(room: &str, user_id: &str, username: &str, is_typing: bool) -> ServerFrame {
    ServerFrame::UserTyping {
        room: room.to_owned(),
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        is_typing,
        timestamp: clock::now_ms(),
    }
}

fn editing_frame(
    room: &str,
    user_id: &str,
    username: &str,
    (x, y): (i64, i64),
    is_editing: bool,
    viewing: bool,
) -> ServerFrame {
    // Editing is canvas activity: `room` is a `canvas:` room the gate already accepted.
    let canvas_id = room.strip_prefix(RoomKind::Canvas.prefix()).unwrap_or_default();
    ServerFrame::UserPresenceUpdate {
        room: room.to_owned(),
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        canvas_id: canvas_id.to_owned(),
        presence_type: "editing_tile".into(),
        status: if viewing { "online" } else { "offline" }.into(),
        tile_x: x,
        tile_y: y,
        is_editing,
        timestamp: clock::now_ms(),
    }
}

fn cursor_frame(room: &str, user_id: &str, username: &str, position: Option<Position>) -> ServerFrame {
    ServerFrame::UserCursor {
        room: room.to_owned(),
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        x: position.map(|(x, _)| x),
        y: position.map(|(_, y)| y),
    }
}
