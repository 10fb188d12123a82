//! What the connection task knows about rooms: cursors, the rooms the application views, and
//! the replays in flight on the current connection.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tandem_protocol::room::Room;

use crate::Cursors;

/// Whether `room` is of a kind that is joined while viewed (drafts, canvases), as opposed to
/// one the server joins by membership (a user's own room, threads). A name that does not parse
/// is no room the server would join.
pub(crate) fn is_viewed_kind(room: &str) -> bool {
    Room::parse(room).is_ok_and(|room| room.kind().is_viewed())
}

/// Error codes with which the server refuses a room for good (the others, e.g.
/// `unavailable`, are worth trying again on the next connect).
const REFUSED_FOR_GOOD: &[&str] = &["not_found", "forbidden", "validation_failed"];

/// Cursors, viewed rooms and replays in flight.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    cursors: Cursors,
    /// Rooms the application subscribed to or tracked: joined again on every connect.
    viewed: BTreeSet<String>,
    /// Rooms being replayed on this connection after a `subscribe` with `after` (room → the
    /// subscribe's `ref`). Until the answer, only the event right after the cursor is taken:
    /// live events that overtake the replay come again inside it, in order.
    replaying: HashMap<String, String>,
}

impl Rooms {
    /// Starts from the application's cursors; their rooms count as tracked (viewed).
    pub(crate) fn new(cursors: Cursors) -> Self {
        let viewed = cursors.as_map().keys().cloned().collect();
        Self { cursors, viewed, replaying: HashMap::new() }
    }

    /// The cursor of `room`, if known.
    pub(crate) fn cursor(&self, room: &str) -> Option<i64> {
        self.cursors.get(room)
    }

    /// Whether the application views `room`.
    #[cfg(test)]
    pub(crate) fn is_viewed(&self, room: &str) -> bool {
        self.viewed.contains(room)
    }

    /// The application views `room` (it is joined again on every connect).
    pub(crate) fn view(&mut self, room: &str) {
        self.viewed.insert(room.to_owned());
    }

    /// The application has everything in `room` up to `seq`: the cursor becomes `seq` (also
    /// when that is lower than before) and the room is viewed.
    pub(crate) fn track(&mut self, room: &str, seq: i64) {
        self.cursors.set(room, seq);
        self.view(room);
    }

    /// The application stopped viewing `room`. The cursor of a viewed-kind room is dropped
    /// (nothing arrives for it any more); a membership room keeps its cursor, its events keep
    /// coming.
    pub(crate) fn forget(&mut self, room: &str) {
        self.viewed.remove(room);
        self.replaying.remove(room);
        if is_viewed_kind(room) {
            self.cursors.remove(room);
        }
    }

    /// A `subscribe` with `after` (ref `reference`) was sent for `room`.
    pub(crate) fn begin_replay(&mut self, room: &str, reference: &str) {
        self.replaying.insert(room.to_owned(), reference.to_owned());
    }

    /// The server answered the join of `room` sent as `reference`: `refused` is the error
    /// code if it refused it. A refusal for good forgets the room.
    pub(crate) fn answered(&mut self, room: &str, reference: &str, refused: Option<&str>) {
        if self.replaying.get(room).is_some_and(|r| r == reference) {
            self.replaying.remove(room);
        }
        if refused.is_some_and(|code| REFUSED_FOR_GOOD.contains(&code)) {
            self.viewed.remove(room);
            self.cursors.remove(room);
        }
    }

    /// The connection ended: no replay is in flight any more.
    pub(crate) fn connection_ended(&mut self) {
        self.replaying.clear();
    }

    /// Whether durable event `(room, seq)` is new: records it and returns true, or returns
    /// false for a duplicate (or, while the room replays, for a live event that overtook the
    /// replay and will come again inside it).
    pub(crate) fn accept(&mut self, room: &str, seq: i64) -> bool {
        if self.replaying.contains_key(room)
            && let Some(cursor) = self.cursors.get(room)
            && seq != cursor + 1
        {
            return false;
        }
        self.cursors.accept(room, seq)
    }

    /// Sets a room's cursor (after `resync_required`, or learnt by polling).
    pub(crate) fn set(&mut self, room: &str, seq: i64) {
        self.cursors.set(room, seq);
    }

    /// The cursors to give the server at connect: those of membership rooms (`user:`,
    /// `thread:`). Viewed-kind rooms are joined after connecting with `subscribe` and `after`
    /// instead (see [`Rooms::to_join`]): the same exactly-once replay and viewer bookkeeping (a
    /// canvas's `canvas_viewers`, `user_joined` to the others), with each rejoin answered on
    /// its own.
    pub(crate) fn resume_map(&self) -> BTreeMap<String, i64> {
        self.resume_map_keys().filter_map(|room| Some((room.clone(), self.cursors.get(room)?))).collect()
    }

    /// Viewed rooms that the connect-time cursors `sent` did not cover (no cursor then, or a
    /// different one since), with the cursor to subscribe after, if any.
    pub(crate) fn to_join(&self, sent: &BTreeMap<String, i64>) -> Vec<(String, Option<i64>)> {
        self.viewed
            .iter()
            .filter_map(|room| {
                let cursor = self.cursors.get(room);
                let covered = cursor.is_some() && sent.get(room) == cursor.as_ref();
                (!covered).then(|| (room.clone(), cursor))
            })
            .collect()
    }

    /// Rooms to long-poll: every membership room with a cursor and every viewed room.
    pub(crate) fn poll_rooms(&self) -> impl Iterator<Item = &String> {
        self.resume_map_keys().chain(self.viewed.iter())
    }

    fn resume_map_keys(&self) -> impl Iterator<Item = &String> {
        self.cursors.as_map().keys().filter(|room| !is_viewed_kind(room))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaying_room_takes_only_the_next_event_until_answered() {
        let mut rooms = Rooms::default();
        assert!(rooms.accept("draft:a", 7));
        rooms.track("draft:a", 5);
        rooms.begin_replay("draft:a", "r1");
        assert!(!rooms.accept("draft:a", 8), "a live event that overtook the replay");
        assert!(rooms.accept("draft:a", 6));
        assert!(rooms.accept("draft:a", 7));
        assert!(rooms.accept("draft:a", 8));
        assert!(!rooms.accept("draft:a", 8));
        rooms.answered("draft:a", "r1", None);
        assert!(rooms.accept("draft:a", 10), "back to plain dedupe after the answer");
    }

    #[test]
    fn only_the_latest_replay_ends_it() {
        let mut rooms = Rooms::default();
        rooms.track("canvas:a", 1);
        rooms.begin_replay("canvas:a", "r1");
        rooms.begin_replay("canvas:a", "r2");
        rooms.answered("canvas:a", "r1", None);
        assert!(!rooms.accept("canvas:a", 3));
        rooms.answered("canvas:a", "r2", None);
        assert!(rooms.accept("canvas:a", 3));
    }

    #[test]
    fn unviewed_rooms_leave_the_resume_map_and_viewed_ones_without_a_cursor_are_joined() {
        let mut rooms = Rooms::default();
        rooms.set("thread:t", 4);
        rooms.set("user:u", 1);
        rooms.view("canvas:c");
        rooms.track("draft:d", 2);
        rooms.set("draft:old", 9); // an event that arrived after an unsubscribe
        rooms.track("thread:x", 0);
        let sent = rooms.resume_map();
        assert_eq!(sent.keys().map(String::as_str).collect::<Vec<_>>(), ["thread:t", "thread:x", "user:u"]);
        assert_eq!(rooms.to_join(&sent), [("canvas:c".to_owned(), None), ("draft:d".to_owned(), Some(2))]);
        rooms.track("thread:x", 1); // tracked again while connecting
        assert_eq!(
            rooms.to_join(&sent),
            [("canvas:c".to_owned(), None), ("draft:d".to_owned(), Some(2)), ("thread:x".to_owned(), Some(1))]
        );
        rooms.forget("draft:d");
        rooms.forget("thread:t");
        assert_eq!(rooms.to_join(&sent), [("canvas:c".to_owned(), None), ("thread:x".to_owned(), Some(1))]);
        assert_eq!(
            rooms.resume_map().keys().map(String::as_str).collect::<Vec<_>>(),
            ["thread:t", "thread:x", "user:u"]
        );
    }

    #[test]
    fn a_refusal_for_good_forgets_the_room_and_a_transient_one_does_not() {
        let mut rooms = Rooms::default();
        rooms.track("canvas:a", 3);
        rooms.answered("canvas:a", "r", Some("unavailable"));
        assert!(rooms.is_viewed("canvas:a"));
        rooms.answered("canvas:a", "r", Some("not_found"));
        assert!(!rooms.is_viewed("canvas:a"));
        assert_eq!(rooms.cursor("canvas:a"), None);
    }

    #[test]
    fn application_cursors_count_as_tracked() {
        let mut cursors = Cursors::default();
        cursors.set("canvas:c", 3);
        let rooms = Rooms::new(cursors);
        assert!(rooms.is_viewed("canvas:c"));
        assert_eq!(rooms.to_join(&rooms.resume_map()), [("canvas:c".to_owned(), Some(3))]);
    }
}
