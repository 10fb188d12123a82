//! The seam between publishing and delivering.

use super::{Except, Frame, Registry};

/// Carries publications and membership changes to every node's [`Registry`].
///
/// Methods never wait: an implementation that talks to the network (Redis) queues the work
/// and returns. Delivery is at-most-once across nodes; durable events are recovered from the
/// store by sequence number, never from the broker.
pub trait Broker: Send + Sync + 'static {
    /// Deliver `frame` to `room`'s subscribers on every node. `seq` is set for durable events
    /// (already committed to the log) and lets recovering connections order and dedupe them.
    fn publish(&self, room: &str, seq: Option<i64>, frame: Frame);
    /// Like [`Broker::publish`], but recipients matching `except` are skipped (seed 004's
    /// exclude-sender rule). `except` is plain data so a network broker can carry it.
    fn publish_except(&self, room: &str, seq: Option<i64>, frame: Frame, except: &Except);
    /// Subscribe `user_id`'s connections on every node to `room`.
    fn join_user(&self, user_id: &str, room: &str);
    /// Unsubscribe `user_id`'s connections on every node from `room`.
    fn leave_user(&self, user_id: &str, room: &str);
}

/// The single-node broker: everything goes straight into this process's registry.
#[derive(Debug, Clone)]
pub struct LocalBroker {
    registry: Registry,
}

impl LocalBroker {
    /// A broker delivering into `registry`.
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

impl Broker for LocalBroker {
    fn publish(&self, room: &str, seq: Option<i64>, frame: Frame) {
        let started = std::time::Instant::now();
        self.registry.deliver(room, seq, &frame);
        crate::telemetry::ws().fanout_seconds.record(started.elapsed().as_secs_f64());
    }

    fn publish_except(&self, room: &str, seq: Option<i64>, frame: Frame, except: &Except) {
        let started = std::time::Instant::now();
        self.registry.deliver_except(room, seq, &frame, Some(except));
        crate::telemetry::ws().fanout_seconds.record(started.elapsed().as_secs_f64());
    }

    fn join_user(&self, user_id: &str, room: &str) {
        self.registry.join_user(user_id, room);
    }

    fn leave_user(&self, user_id: &str, room: &str) {
        self.registry.leave_user(user_id, room);
    }
}
