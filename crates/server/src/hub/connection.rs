//! A connection as the hub sees it: identity, outbound queue, rooms, last sign of life.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::time::Instant;

use super::{Frame, NodeId, OutboundQueue, Push};

/// Where one room's recovery stands for a connection.
#[derive(Debug)]
enum Recovery {
    /// Its history is being replayed: live durable events held back, `(seq, frame)`.
    Holding(Vec<(i64, Frame)>),
    /// Replayed through this seq: a live event at or below it is a repeat and dropped, until
    /// the first one above it (live events of a room arrive in seq order). In a cluster a
    /// node's filler or another node's writer can deliver an event the replay already read.
    Through(i64),
}

/// Process-unique connection number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// One WebSocket connection's shared state. The connection task owns the socket; publishers
/// only ever touch the queue.
#[derive(Debug)]
pub struct Connection {
    node: NodeId,
    id: ConnId,
    user_id: Box<str>,
    queue: OutboundQueue,
    /// Rooms this connection is subscribed to, so unregistering can leave them all.
    rooms: Mutex<Vec<Box<str>>>,
    opened: Instant,
    /// Set while at least one room is in `recovery` (see [`Connection::begin_recovery`]);
    /// lets live delivery skip the recovery lock in the common case.
    recovering: AtomicBool,
    /// Rooms being replayed, or replayed and not yet live past the replay.
    recovery: Mutex<Vec<(Box<str>, Recovery)>>,
    /// Microseconds after `opened` of the last frame (any kind) received from the client,
    /// rounded up so a pong is never dated before the ping it answers.
    last_activity_us: AtomicU64,
}

impl Connection {
    /// A new connection of `user_id` on `node` with an outbound queue of `queue_capacity`
    /// frames (the hub makes them: `Hub::connection`).
    pub fn new(node: NodeId, user_id: &str, queue_capacity: usize) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            node,
            id: ConnId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            user_id: user_id.into(),
            queue: OutboundQueue::new(queue_capacity),
            rooms: Mutex::default(),
            recovering: AtomicBool::new(false),
            recovery: Mutex::default(),
            opened: Instant::now(),
            last_activity_us: AtomicU64::new(0),
        }
    }

    /// Process-unique id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The node it is connected to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The authenticated user.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The outbound queue (the writer drains it).
    pub fn queue(&self) -> &OutboundQueue {
        &self.queue
    }

    /// Queues a frame for this connection only.
    pub fn send(&self, frame: Frame) -> Push {
        let outcome = self.queue.push(frame);
        if outcome == Push::Overflowed {
            crate::telemetry::ws().queue_overflows.increment(1);
        }
        outcome
    }

    /// Delivers a room event: durable events (`seq` set) of a room being recovered are held
    /// back until [`Connection::finish_recovery`], and those the replay already sent are
    /// dropped; everything else is queued at once.
    pub fn deliver(&self, room: &str, seq: Option<i64>, frame: &Frame) {
        if let Some(seq) = seq
            && self.recovering.load(Ordering::Acquire)
        {
            let mut recovery = self.recovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(index) = recovery.iter().position(|(r, _)| &**r == room) {
                match &mut recovery[index].1 {
                    Recovery::Holding(held) => {
                        held.push((seq, frame.clone()));
                        return;
                    }
                    Recovery::Through(through) if seq <= *through => return,
                    Recovery::Through(_) => {
                        recovery.swap_remove(index);
                        if recovery.is_empty() {
                            self.recovering.store(false, Ordering::Release);
                        }
                    }
                }
            }
        }
        self.send(frame.clone());
    }

    /// Starts holding back live durable events of `room` (call before subscribing to it and
    /// before reading its history, so nothing published in between is missed).
    pub fn begin_recovery(&self, room: &str) {
        let mut recovery = self.recovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match recovery.iter_mut().find(|(r, _)| &**r == room) {
            Some((_, state @ Recovery::Through(_))) => *state = Recovery::Holding(Vec::new()),
            Some(_) => {}
            None => recovery.push((room.into(), Recovery::Holding(Vec::new()))),
        }
        self.recovering.store(true, Ordering::Release);
    }

    /// Ends the recovery of `room`: the held-back events with a seq above `replayed_through`
    /// are queued in seq order (each once), and live delivery resumes, dropping events at or
    /// below `replayed_through` (`i64::MAX`: the replay failed, nothing is dropped). Done under
    /// the recovery lock, so no live event can overtake them.
    pub fn finish_recovery(&self, room: &str, replayed_through: i64) {
        let mut recovery = self.recovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(index) = recovery.iter().position(|(r, _)| &**r == room) else { return };
        let Recovery::Holding(held) = &mut recovery[index].1 else { return };
        let mut held = std::mem::take(held);
        held.sort_by_key(|(seq, _)| *seq);
        held.dedup_by_key(|(seq, _)| *seq);
        let mut through = replayed_through;
        for (seq, frame) in held.into_iter().filter(|(seq, _)| *seq > replayed_through) {
            self.send(frame);
            through = seq;
        }
        if replayed_through == i64::MAX || through > replayed_through {
            // Live past the replay already (or nothing to guard): no floor is needed.
            recovery.swap_remove(index);
        } else {
            recovery[index].1 = Recovery::Through(through);
        }
        if recovery.is_empty() {
            self.recovering.store(false, Ordering::Release);
        }
    }

    /// Records a sign of life from the client (any frame, including pongs).
    pub fn touch(&self) {
        let elapsed = u64::try_from(self.opened.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        self.last_activity_us.fetch_max(elapsed + 1, Ordering::Relaxed);
    }

    /// When the client was last heard from (the opening counts).
    pub fn last_activity(&self) -> Instant {
        self.opened + std::time::Duration::from_micros(self.last_activity_us.load(Ordering::Relaxed))
    }

    /// Adds `room` to the connection's room list; false if it was already there.
    pub(super) fn add_room(&self, room: &str) -> bool {
        let mut rooms = self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if rooms.iter().any(|r| &**r == room) {
            return false;
        }
        rooms.push(room.into());
        true
    }

    /// Removes `room` from the connection's room list; false if it was not there.
    pub(super) fn remove_room(&self, room: &str) -> bool {
        let mut rooms = self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = rooms.len();
        rooms.retain(|r| &**r != room);
        rooms.len() != before
    }

    /// Takes the whole room list (when the connection goes away).
    pub(super) fn take_rooms(&self) -> Vec<Box<str>> {
        std::mem::take(&mut *self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The rooms this connection is in, by name.
    pub fn rooms(&self) -> Vec<Box<str>> {
        self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether the connection is subscribed to `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|r| &**r == room)
    }
}
