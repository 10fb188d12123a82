//! Who is viewing each canvas, and their ephemeral activity (seed 004): `user_joined` /
//! `user_left`, `user_typing` and `user_presence_update`. Nothing here is stored or has a seq.
//!
//! * **Viewers.** A user becomes a viewer of `canvas:{id}` with their first connection in the
//!   room and stops with their last; only those transitions are announced (to the other users'
//!   connections), with `active_users` = distinct users viewing on this node. The transitions
//!   are decided under one mutex, so concurrent joins and leaves announce each change once.
//! * **Typing and editing** go through a per-(room, user) [`Gate`]: a typing state expires
//!   [`TYPING_TTL`] after its last refresh, and the fan-out of one user in one room is at most
//!   one flush per [`THROTTLE`] (a flush sends only what changed since the last one, so a flood
//!   of keystrokes costs O(1) frames per window; a change inside the window is sent at its end).
//!   A connection leaving the room (unsubscribe or disconnect) clears its user's state for the
//!   others at once, bypassing the throttle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tandem_protocol::ws::{ServerFrame, ViewerEvent};
use tokio::time::Instant;

use crate::clock;
use crate::hub::{self, Except, Hub};

/// A typing state without a refresh for this long is over.
pub const TYPING_TTL: Duration = Duration::from_secs(5);
/// At most one fan-out of a user's typing/presence per room per this long.
pub const THROTTLE: Duration = Duration::from_millis(250);

/// A change the others are told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `user_typing`.
    Typing(bool),
    /// `user_presence_update` for the tile `(x, y)`.
    Editing {
        /// Column.
        x: i64,
        /// Row.
        y: i64,
        /// Started or stopped.
        is_editing: bool,
    },
}

/// The expiry and throttle state machine of one user in one room. Pure: the caller passes the
/// time and acts on what [`Gate::poll`] returns.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    typing: bool,
    typing_until: Option<Instant>,
    editing: Option<(i64, i64)>,
    sent_typing: bool,
    sent_editing: Option<(i64, i64)>,
    last_flush: Option<Instant>,
}

impl Gate {
    /// The user typed (`true`, refreshing the expiry) or stopped.
    pub fn set_typing(&mut self, now: Instant, typing: bool) {
        self.typing = typing;
        self.typing_until = typing.then(|| now + TYPING_TTL);
    }

    /// The user started or stopped editing the tile `(x, y)` (stopping any tile stops editing).
    pub fn set_editing(&mut self, x: i64, y: i64, editing: bool) {
        self.editing = editing.then_some((x, y));
    }

    /// Applies expiry, then flushes what changed if the throttle allows. Returns the signals to
    /// send now and when to poll next (`None`: nothing pending).
    pub fn poll(&mut self, now: Instant) -> (Vec<Signal>, Option<Instant>) {
        if self.typing && self.typing_until.is_some_and(|until| until <= now) {
            self.typing = false;
            self.typing_until = None;
        }
        let mut out = Vec::new();
        let mut wake = None;
        let ready_at = self.last_flush.map(|at| at + THROTTLE);
        if self.is_dirty() {
            if ready_at.is_none_or(|ready| ready <= now) {
                if self.typing != self.sent_typing {
                    out.push(Signal::Typing(self.typing));
                    self.sent_typing = self.typing;
                }
                if self.editing != self.sent_editing {
                    if let Some((x, y)) = self.sent_editing {
                        out.push(Signal::Editing { x, y, is_editing: false });
                    }
                    if let Some((x, y)) = self.editing {
                        out.push(Signal::Editing { x, y, is_editing: true });
                    }
                    self.sent_editing = self.editing;
                }
                self.last_flush = Some(now);
            } else {
                wake = ready_at;
            }
        }
        if self.typing {
            wake = earliest(wake, self.typing_until);
        }
        // Keep the throttle window alive (the caller must not forget the gate before it ends).
        if wake.is_none() && ready_at.is_some_and(|ready| ready > now) {
            wake = ready_at;
        }
        (out, wake)
    }

    /// Clears everything at once (the user left): what the others were told is on, now off.
    pub fn clear(&mut self) -> Vec<Signal> {
        let mut out = Vec::new();
        if self.sent_typing {
            out.push(Signal::Typing(false));
        }
        if let Some((x, y)) = self.sent_editing {
            out.push(Signal::Editing { x, y, is_editing: false });
        }
        *self = Self::default();
        out
    }

    fn is_dirty(&self) -> bool {
        self.typing != self.sent_typing || self.editing != self.sent_editing
    }

    /// Nothing on, nothing told: the gate can be forgotten once its throttle window ended.
    pub fn is_idle(&self) -> bool {
        !self.typing && self.editing.is_none() && !self.sent_typing && self.sent_editing.is_none()
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// (room, user id).
type Key = (String, String);

#[derive(Debug)]
struct Viewer {
    username: String,
    name: String,
}

#[derive(Debug, Default)]
struct Entry {
    gate: Gate,
    /// The wake-up a timer task is sleeping until, if any.
    scheduled: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    viewers: HashMap<Key, Viewer>,
    gates: HashMap<Key, Entry>,
}

/// This node's canvas viewers and activity gates. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Activity {
    hub: Hub,
    state: Arc<Mutex<State>>,
}

impl Activity {
    /// A tracker publishing through `hub`.
    pub fn new(hub: Hub) -> Self {
        Self { hub, state: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `user_id` has a connection subscribed to `room` on this node.
    fn is_viewing(hub: &Hub, room: &str, user_id: &str) -> bool {
        hub.registry().connections_of(user_id).iter().any(|c| c.in_room(room))
    }

    /// After a connection of `user_id` subscribed to `room`: if that made the user a viewer,
    /// the other users get `user_joined`. Returns the viewers now, `(user id, username, name)`.
    pub fn viewer_joined(&self, room: &str, user_id: &str, username: &str, name: &str) {
        let mut state = self.lock();
        let key = (room.to_owned(), user_id.to_owned());
        if state.viewers.contains_key(&key) || !Self::is_viewing(&self.hub, room, user_id) {
            return;
        }
        state.viewers.insert(key, Viewer { username: username.to_owned(), name: name.to_owned() });
        let frame = ServerFrame::UserJoined(ViewerEvent {
            room: room.to_owned(),
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            display_name: name.to_owned(),
            active_users: self.hub.registry().viewers(room).len(),
            timestamp: clock::now_ms(),
        });
        self.hub.publish_except(room, hub::encode(&frame), &Except::User(user_id.to_owned()));
    }

    /// After a connection of `user_id` left `room` (unsubscribed or closed): the user's typing
    /// and editing are cleared for the others at once, and if it was the user's last
    /// connection there, the others get `user_left`.
    pub fn viewer_left(&self, room: &str, user_id: &str) {
        let mut state = self.lock();
        let key = (room.to_owned(), user_id.to_owned());
        let username = state.viewers.get(&key).map(|v| v.username.clone()).unwrap_or_default();
        let still_viewing = Self::is_viewing(&self.hub, room, user_id);
        if let Some(mut entry) = state.gates.remove(&key) {
            let signals = entry.gate.clear();
            self.send(room, user_id, &username, still_viewing, &signals);
        }
        if still_viewing {
            return;
        }
        let Some(viewer) = state.viewers.remove(&key) else { return };
        let frame = ServerFrame::UserLeft(ViewerEvent {
            room: room.to_owned(),
            user_id: user_id.to_owned(),
            username: viewer.username,
            display_name: viewer.name,
            active_users: self.hub.registry().viewers(room).len(),
            timestamp: clock::now_ms(),
        });
        self.hub.publish_except(room, hub::encode(&frame), &Except::User(user_id.to_owned()));
    }

    /// A `typing` frame of a viewer.
    pub fn typing(&self, room: &str, user_id: &str, is_typing: bool) {
        self.update(room, user_id, |gate, now| gate.set_typing(now, is_typing));
    }

    /// A `user_presence` (`editing_tile`) frame of a viewer.
    pub fn editing(&self, room: &str, user_id: &str, x: i64, y: i64, is_editing: bool) {
        self.update(room, user_id, |gate, _| gate.set_editing(x, y, is_editing));
    }

    fn update(&self, room: &str, user_id: &str, change: impl FnOnce(&mut Gate, Instant)) {
        let now = Instant::now();
        let key = (room.to_owned(), user_id.to_owned());
        let mut state = self.lock();
        change(&mut state.gates.entry(key.clone()).or_default().gate, now);
        self.poll_locked(&mut state, &key, now, None);
    }

    /// Polls the gate of `key`, sends its signals, schedules its next poll or forgets it.
    /// `woken` is the wake-up time of the timer task calling, if one is.
    fn poll_locked(&self, state: &mut State, key: &Key, now: Instant, woken: Option<Instant>) {
        let username = state.viewers.get(key).map(|v| v.username.clone()).unwrap_or_default();
        let Some(entry) = state.gates.get_mut(key) else { return };
        if woken.is_some() && entry.scheduled == woken {
            entry.scheduled = None;
        }
        let (signals, wake) = entry.gate.poll(now);
        let viewing = state.viewers.contains_key(key);
        self.send(&key.0, &key.1, &username, viewing, &signals);
        match wake {
            Some(wake) if entry.scheduled.is_none_or(|scheduled| wake < scheduled) => {
                entry.scheduled = Some(wake);
                self.spawn_timer(key.clone(), wake);
            }
            None if entry.gate.is_idle() && entry.scheduled.is_none() => {
                state.gates.remove(key);
            }
            _ => {}
        }
    }

    fn spawn_timer(&self, key: Key, wake: Instant) {
        let this = Self { hub: self.hub.clone(), state: self.state.clone() };
        tokio::spawn(async move {
            tokio::time::sleep_until(wake).await;
            let mut state = this.lock();
            this.poll_locked(&mut state, &key, Instant::now(), Some(wake));
        });
    }

    /// Publishes `signals` of `user_id` in `room` to the other viewers; `viewing` tells whether
    /// the user still views it (`status` of presence updates).
    fn send(&self, room: &str, user_id: &str, username: &str, viewing: bool, signals: &[Signal]) {
        let canvas_id = room.strip_prefix("canvas:").unwrap_or(room);
        for signal in signals {
            let timestamp = clock::now_ms();
            let frame = match *signal {
                Signal::Typing(is_typing) => ServerFrame::UserTyping {
                    room: room.to_owned(),
                    user_id: user_id.to_owned(),
                    username: username.to_owned(),
                    is_typing,
                    timestamp,
                },
                Signal::Editing { x, y, is_editing } => ServerFrame::UserPresenceUpdate {
                    room: room.to_owned(),
                    user_id: user_id.to_owned(),
                    username: username.to_owned(),
                    canvas_id: canvas_id.to_owned(),
                    presence_type: "editing_tile".into(),
                    status: if viewing { "online" } else { "offline" }.into(),
                    tile_x: x,
                    tile_y: y,
                    is_editing,
                    timestamp,
                },
            };
            self.hub.publish_except(room, hub::encode(&frame), &Except::User(user_id.to_owned()));
        }
    }

    /// The viewers of `room` this tracker announced, `(user id, username, name)`, by user id.
    pub fn viewers(&self, room: &str) -> Vec<(String, String, String)> {
        let state = self.lock();
        let mut viewers: Vec<_> = state
            .viewers
            .iter()
            .filter(|((r, _), _)| r == room)
            .map(|((_, user), v)| (user.clone(), v.username.clone(), v.name.clone()))
            .collect();
        viewers.sort();
        viewers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Connection, Frame};
    use std::collections::VecDeque;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn typing_expires_after_five_seconds_without_refresh() {
        let mut gate = Gate::default();
        let t0 = Instant::now();
        gate.set_typing(t0, true);
        let (out, wake) = gate.poll(t0);
        assert_eq!(out, [Signal::Typing(true)]);
        assert_eq!(wake, Some(t0 + TYPING_TTL));
        tokio::time::advance(ms(3000)).await;
        gate.set_typing(Instant::now(), true); // refresh
        let (out, wake) = gate.poll(Instant::now());
        assert!(out.is_empty(), "a refresh is not news");
        assert_eq!(wake, Some(t0 + ms(3000) + TYPING_TTL));
        tokio::time::advance(ms(4999)).await;
        assert!(gate.poll(Instant::now()).0.is_empty());
        tokio::time::advance(ms(1)).await;
        let (out, wake) = gate.poll(Instant::now());
        assert_eq!(out, [Signal::Typing(false)]);
        assert_eq!(wake, None);
        assert!(gate.is_idle());
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_is_one_flush_per_window_and_the_last_state_wins() {
        let mut gate = Gate::default();
        let t0 = Instant::now();
        let mut flushes = 0;
        let mut last = Vec::new();
        // 100 toggles over 1 s (one every 10 ms), polling after each like the tracker does.
        for i in 0..100u64 {
            let now = t0 + ms(i * 10);
            gate.set_typing(now, i % 2 == 0);
            gate.set_editing(i64::try_from(i % 3).unwrap(), 0, true);
            let (out, _) = gate.poll(now);
            if !out.is_empty() {
                flushes += 1;
                last = out;
            }
        }
        assert!(flushes <= 4, "1 s at one flush per 250 ms: {flushes}");
        assert!(!last.is_empty());
        // Whatever changed in the last window goes out when it ends: the others end up with
        // the final state.
        let (_, wake) = gate.poll(t0 + ms(990));
        if let Some(wake) = wake {
            gate.poll(wake);
        }
        assert!(!gate.is_dirty());
        assert!(!gate.sent_typing);
        assert_eq!(gate.sent_editing, Some((0, 0)));
    }

    #[test]
    fn clear_turns_off_only_what_was_announced() {
        let mut gate = Gate::default();
        let now = Instant::now();
        gate.set_editing(3, 4, true);
        assert_eq!(gate.poll(now).0, [Signal::Editing { x: 3, y: 4, is_editing: true }]);
        gate.set_typing(now, true); // not yet announced (throttled)
        assert_eq!(gate.clear(), [Signal::Editing { x: 3, y: 4, is_editing: false }]);
        assert!(gate.is_idle());
    }

    async fn drain(connection: &Connection) -> Vec<serde_json::Value> {
        let mut batch = VecDeque::new();
        connection.send(Frame::from_static("\"end\""));
        connection.queue().next_batch(&mut batch).await;
        batch
            .iter()
            .map(|f| serde_json::from_str::<serde_json::Value>(f.as_str()).unwrap())
            .filter(|f| f != "end")
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_tracker_expires_typing_by_itself_and_excludes_the_typist() {
        let hub = Hub::local();
        let activity = Activity::new(hub.clone());
        let (alice, bob) = (Arc::new(Connection::new("alice", 64)), Arc::new(Connection::new("bob", 64)));
        for (connection, name) in [(&alice, "alice"), (&bob, "bob")] {
            hub.registry().register(connection);
            hub.registry().subscribe(connection, "canvas:c");
            activity.viewer_joined("canvas:c", name, name, name);
        }
        let frames = drain(&alice).await;
        assert_eq!(
            (frames.len(), &frames[0]["type"], &frames[0]["active_users"]),
            (1, &"user_joined".into(), &2.into())
        );
        assert!(drain(&bob).await.is_empty(), "bob joined second: alice got it, bob did not");

        for _ in 0..50 {
            activity.typing("canvas:c", "alice", true);
            tokio::time::advance(ms(10)).await;
        }
        let frames = drain(&bob).await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0]["type"], "user_typing");
        assert_eq!(frames[0]["is_typing"], true);
        assert!(drain(&alice).await.is_empty(), "the typist gets nothing");

        tokio::time::sleep(TYPING_TTL + ms(10)).await;
        let frames = drain(&bob).await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0]["is_typing"], false);

        activity.editing("canvas:c", "alice", 1, 2, true);
        assert_eq!(drain(&bob).await[0]["is_editing"], true);
        hub.registry().unregister(&alice);
        activity.viewer_left("canvas:c", "alice");
        let frames = drain(&bob).await;
        let kinds: Vec<_> = frames.iter().map(|f| f["type"].as_str().unwrap().to_owned()).collect();
        assert_eq!(kinds, ["user_presence_update", "user_left"], "{frames:?}");
        assert_eq!(frames[0]["is_editing"], false);
        assert_eq!(frames[1]["active_users"], 1);
    }
}
