//! A connection as the hub sees it: identity, outbound queue, rooms, last sign of life.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use super::{Frame, OutboundQueue, Push};

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
    id: ConnId,
    user_id: Box<str>,
    queue: OutboundQueue,
    /// Rooms this connection is subscribed to, so unregistering can leave them all.
    rooms: Mutex<Vec<Box<str>>>,
    opened: Instant,
    /// Microseconds after `opened` of the last frame (any kind) received from the client,
    /// rounded up so a pong is never dated before the ping it answers.
    last_activity_us: AtomicU64,
}

impl Connection {
    /// A new connection for `user_id` with an outbound queue of `queue_capacity` frames.
    pub fn new(user_id: &str, queue_capacity: usize) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: ConnId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            user_id: user_id.into(),
            queue: OutboundQueue::new(queue_capacity),
            rooms: Mutex::default(),
            opened: Instant::now(),
            last_activity_us: AtomicU64::new(0),
        }
    }

    /// Process-unique id.
    pub fn id(&self) -> ConnId {
        self.id
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

    /// The rooms this connection is in whose name starts with `prefix`.
    pub fn rooms_with_prefix(&self, prefix: &str) -> Vec<Box<str>> {
        let rooms = self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rooms.iter().filter(|room| room.starts_with(prefix)).cloned().collect()
    }

    /// Whether the connection is subscribed to `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|r| &**r == room)
    }
}
