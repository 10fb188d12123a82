//! Per room, the order of durable deliveries on this node in cluster mode: each seq once, in
//! order, with no gap, whatever order the bus (or this node's own writers) hand them over.
//!
//! A room's feed exists while this node has a local subscriber of the room. It knows the last
//! seq delivered here. An event right after it is delivered at once; a later one is held and
//! the room is handed to the filler, which reads the missing events from the log (the
//! database is the truth: a seq exists only once every smaller one is committed, because seqs
//! are taken under the room's row lock); an older one is a duplicate and dropped.
//!
//! Deliveries happen under the room's shard lock, so two threads offering events of one room
//! cannot reorder them. The lock is a `std` one and never held across `.await`.

use std::collections::BTreeMap;

use super::super::shards::Shards;
use crate::hub::{Except, Frame, NodeId};

/// A durable event waiting for its turn (or being delivered).
#[derive(Debug, Clone)]
pub struct Held {
    /// The encoded frame.
    pub frame: Frame,
    /// Recipients skipped, with the node that published.
    pub except: Option<(Except, NodeId)>,
}

#[derive(Debug, Default)]
struct Feed {
    /// The last seq delivered here; `None` until the room's head was read.
    last: Option<i64>,
    /// Events above `last + 1`, waiting for the gap to be filled.
    held: BTreeMap<i64, Held>,
    /// The room is with the filler (or queued for it).
    filling: bool,
}

/// What the filler must read next for a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// The room's head (its newest seq), to start from.
    Head,
    /// The events after this seq.
    After(i64),
}

/// What an offered event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Delivered now (with any held events it unblocked), or no feed: delivered unordered.
    Delivered,
    /// Older than what was delivered: dropped.
    Duplicate,
    /// Held; the room needs the filler (`true` the first time: the caller must hand it over).
    Held(bool),
}

/// Every room feed of this node.
#[derive(Default)]
pub struct Sequencer {
    feeds: Shards<Feed>,
}

impl Sequencer {
    /// Starts `room`'s feed (its first local subscriber), delivering after `last` if known,
    /// else after the room's head. True if the feed is new: the caller hands the room to the
    /// filler, which reads the head or catches up after `last`.
    pub fn start(&self, room: &str, last: Option<i64>) -> bool {
        let mut feeds = self.feeds.write(room);
        if feeds.contains_key(room) {
            return false;
        }
        feeds.insert(room.into(), Feed { last, filling: true, ..Feed::default() });
        true
    }

    /// Whether `room` has a feed.
    pub fn has(&self, room: &str) -> bool {
        self.feeds.read(room).contains_key(room)
    }

    /// Ends `room`'s feed (its last local subscriber left).
    pub fn stop(&self, room: &str) {
        self.feeds.write(room).remove(room);
    }

    /// Marks `room` for the filler, to catch up after its subscription was (re)confirmed. True
    /// if the caller must hand it over (it was not already with the filler).
    pub fn catch_up(&self, room: &str) -> bool {
        match self.feeds.write(room).get_mut(room) {
            Some(feed) if !feed.filling => {
                feed.filling = true;
                true
            }
            _ => false,
        }
    }

    /// Marks `room` for the filler if it has delivered less than `seq` (a head read a while
    /// ago: those events were committed long enough to have arrived). True if the caller must
    /// hand it over.
    pub fn catch_up_below(&self, room: &str, seq: i64) -> bool {
        match self.feeds.write(room).get_mut(room) {
            Some(feed) if !feed.filling && feed.last.is_some_and(|last| last < seq) => {
                feed.filling = true;
                true
            }
            _ => false,
        }
    }

    /// Every room with a feed.
    pub fn rooms(&self) -> Vec<String> {
        self.feeds.all_keys()
    }

    /// Offers durable event `seq` of `room`; `deliver` is called for each event delivered now,
    /// in seq order, under the room's lock.
    pub fn offer(&self, room: &str, seq: i64, event: Held, deliver: &mut dyn FnMut(i64, &Held)) -> Offered {
        let mut feeds = self.feeds.write(room);
        let Some(feed) = feeds.get_mut(room) else {
            drop(feeds);
            deliver(seq, &event);
            return Offered::Delivered;
        };
        match feed.last {
            Some(last) if seq <= last => Offered::Duplicate,
            Some(last) if seq == last + 1 && feed.held.is_empty() => {
                deliver(seq, &event);
                feed.last = Some(seq);
                Offered::Delivered
            }
            _ => {
                feed.held.insert(seq, event);
                let hand_over = !feed.filling;
                feed.filling = true;
                Offered::Held(hand_over)
            }
        }
    }

    /// What the filler must read next for `room`; `None` once the feed is gone.
    pub fn next_fill(&self, room: &str) -> Option<Fill> {
        self.feeds.read(room).get(room).map(|feed| feed.last.map_or(Fill::Head, Fill::After))
    }

    /// The filler read the room's head: delivery starts after it, or before the oldest held
    /// event if that is older (it was committed after the head was read). Returns whether the
    /// room needs more filling.
    pub fn head(&self, room: &str, head: i64, deliver: &mut dyn FnMut(i64, &Held)) -> bool {
        let mut feeds = self.feeds.write(room);
        let Some(feed) = feeds.get_mut(room) else { return false };
        let oldest_held = feed.held.first_key_value().map_or(i64::MAX, |(seq, _)| seq - 1);
        feed.last = Some(head.min(oldest_held).max(0));
        let gap_left = feed.release(deliver);
        // Events up to the head that were not held are committed and still to be read.
        feed.filling = gap_left || feed.last < Some(head);
        feed.filling
    }

    /// The filler read `events` (in seq order) after the feed's last seq. Returns whether the
    /// room needs more filling. When the log has nothing to fill the gap with (the events were
    /// pruned), delivery skips to the oldest held event and `skipped` counts it.
    pub fn fill(
        &self,
        room: &str,
        events: Vec<(i64, Frame)>,
        deliver: &mut dyn FnMut(i64, &Held),
        skipped: &mut dyn FnMut(),
    ) -> bool {
        let mut feeds = self.feeds.write(room);
        let Some(feed) = feeds.get_mut(room) else { return false };
        let Some(mut last) = feed.last else { return true };
        let read_any = !events.is_empty();
        for (seq, frame) in events {
            if seq != last + 1 {
                continue;
            }
            let held = feed.held.remove(&seq).unwrap_or(Held { frame, except: None });
            deliver(seq, &held);
            last = seq;
        }
        feed.last = Some(last);
        if !read_any && let Some((&oldest, _)) = feed.held.first_key_value() {
            skipped();
            feed.last = Some(oldest - 1);
        }
        feed.release(deliver)
    }
}

impl Feed {
    /// Delivers the held events that follow `last` without a gap; returns whether a gap is
    /// left (the room stays with the filler) and clears `filling` otherwise.
    fn release(&mut self, deliver: &mut dyn FnMut(i64, &Held)) -> bool {
        let Some(mut last) = self.last else { return true };
        while let Some(entry) = self.held.first_entry() {
            let seq = *entry.key();
            if seq <= last {
                entry.remove();
            } else if seq == last + 1 {
                let held = entry.remove();
                deliver(seq, &held);
                last = seq;
            } else {
                break;
            }
        }
        self.last = Some(last);
        self.filling = !self.held.is_empty();
        self.filling
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(text: &str) -> Held {
        Held { frame: Frame::from(text.to_owned()), except: None }
    }

    fn frame(text: &str) -> Frame {
        Frame::from(text.to_owned())
    }

    #[test]
    fn in_order_events_go_straight_through_and_duplicates_are_dropped() {
        let sequencer = Sequencer::default();
        let mut out = Vec::new();
        assert!(sequencer.start("thread:t", None));
        assert_eq!(sequencer.next_fill("thread:t"), Some(Fill::Head));
        assert!(!sequencer.head("thread:t", 4, &mut |seq, _| out.push(seq)));
        for seq in [5, 6, 6, 3, 7] {
            sequencer.offer("thread:t", seq, held("e"), &mut |seq, _| out.push(seq));
        }
        assert_eq!(out, [5, 6, 7]);
    }

    #[test]
    fn a_gap_is_filled_from_the_log_before_the_newer_event() {
        let sequencer = Sequencer::default();
        let mut out = Vec::new();
        sequencer.start("r", None);
        sequencer.head("r", 1, &mut |seq, _| out.push(seq));
        assert_eq!(sequencer.offer("r", 4, held("4"), &mut |seq, _| out.push(seq)), Offered::Held(true));
        assert_eq!(sequencer.offer("r", 5, held("5"), &mut |seq, _| out.push(seq)), Offered::Held(false));
        assert_eq!(sequencer.next_fill("r"), Some(Fill::After(1)));
        let more = sequencer.fill(
            "r",
            vec![(2, frame("2")), (3, frame("3")), (4, frame("4"))],
            &mut |seq, _| out.push(seq),
            &mut || {},
        );
        assert!(!more);
        assert_eq!(
            sequencer.offer("r", 3, held("3"), &mut |seq, _| out.push(seq)),
            Offered::Duplicate,
            "the late original"
        );
        assert_eq!(out, [2, 3, 4, 5]);
    }

    #[test]
    fn events_held_before_the_head_is_known_are_not_lost() {
        let sequencer = Sequencer::default();
        let mut out = Vec::new();
        sequencer.start("r", None);
        sequencer.offer("r", 8, held("8"), &mut |seq, _| out.push(seq));
        // The head was read after seq 9 was committed: 8 is still delivered, then 9 is read.
        assert!(sequencer.head("r", 9, &mut |seq, _| out.push(seq)));
        assert_eq!(out, [8]);
        assert!(!sequencer.fill("r", vec![(9, frame("9"))], &mut |seq, _| out.push(seq), &mut || {}));
        assert_eq!(out, [8, 9]);
    }

    #[test]
    fn a_gap_the_log_cannot_fill_is_skipped_and_counted() {
        let sequencer = Sequencer::default();
        let (mut out, mut skipped) = (Vec::new(), 0);
        sequencer.start("r", None);
        sequencer.head("r", 1, &mut |_, _| {});
        sequencer.offer("r", 5, held("5"), &mut |seq, _| out.push(seq));
        assert!(!sequencer.fill("r", vec![], &mut |seq, _| out.push(seq), &mut || skipped += 1));
        assert_eq!((out, skipped), (vec![5], 1));
    }

    #[test]
    fn a_feed_started_with_a_join_delivers_from_the_join_event() {
        let sequencer = Sequencer::default();
        let mut out = Vec::new();
        assert!(sequencer.start("r", Some(6)));
        assert_eq!(sequencer.next_fill("r"), Some(Fill::After(6)));
        assert!(!sequencer.fill("r", vec![(7, frame("7"))], &mut |seq, _| out.push(seq), &mut || {}));
        assert_eq!(sequencer.offer("r", 7, held("7"), &mut |seq, _| out.push(seq)), Offered::Duplicate);
        assert_eq!(out, [7]);
    }

    #[test]
    fn a_room_without_a_feed_is_delivered_unordered() {
        let sequencer = Sequencer::default();
        let mut out = Vec::new();
        assert_eq!(sequencer.offer("r", 9, held("9"), &mut |seq, _| out.push(seq)), Offered::Delivered);
        assert_eq!(out, [9]);
        sequencer.start("r", None);
        sequencer.stop("r");
        assert_eq!(sequencer.next_fill("r"), None);
    }
}
