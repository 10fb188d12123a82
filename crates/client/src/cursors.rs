//! Per-room cursors and duplicate suppression.

use std::collections::BTreeMap;

/// For each room, the seq of the last durable event delivered to the application. A durable
/// event is delivered only if its seq is above its room's cursor, so replays that overlap what
/// was already seen are invisible to the application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursors(BTreeMap<String, i64>);

impl Cursors {
    /// Records `(room, seq)`; false if it was already delivered (a duplicate).
    pub fn accept(&mut self, room: &str, seq: i64) -> bool {
        match self.0.get_mut(room) {
            Some(last) if seq <= *last => false,
            Some(last) => {
                *last = seq;
                true
            }
            None => {
                self.0.insert(room.to_owned(), seq);
                true
            }
        }
    }

    /// Sets a room's cursor (e.g. after refetching it by REST at `seq`).
    pub fn set(&mut self, room: &str, seq: i64) {
        self.0.insert(room.to_owned(), seq);
    }

    /// Forgets a room's cursor.
    pub(crate) fn remove(&mut self, room: &str) {
        self.0.remove(room);
    }

    /// The cursor of `room`, if known.
    pub fn get(&self, room: &str) -> Option<i64> {
        self.0.get(room).copied()
    }

    /// Whether no cursor is known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The cursors as a map (the `resume` payload).
    pub fn as_map(&self) -> &BTreeMap<String, i64> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_old_events_are_dropped() {
        let mut cursors = Cursors::default();
        assert!(cursors.accept("thread:a", 1));
        assert!(cursors.accept("thread:a", 2));
        assert!(!cursors.accept("thread:a", 2));
        assert!(!cursors.accept("thread:a", 1));
        assert!(cursors.accept("thread:b", 1), "rooms are independent");
        assert_eq!(cursors.get("thread:a"), Some(2));
    }
}
