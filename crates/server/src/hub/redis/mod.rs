//! Cluster mode: the [`Broker`](super::Broker) over Redis pub/sub.
//!
//! * Interest-based: a node listens to a room's channel only while it has a local subscriber
//!   of the room ([`Broker::interest`](super::Broker::interest)); every node listens to the
//!   membership channel, so a user's connections follow their joins and leaves on every node.
//! * The publishing node delivers to its own connections directly, never through Redis, so
//!   a node whose Redis is down keeps serving its own connections.
//! * The bus is a fast hint, the database log is the truth: each node delivers each room's
//!   durable events in seq order, once, through its `Sequencer`, and fills any gap (a lost
//!   message, an outage, the moments before a subscription took effect) from the log.
//! * [`ClusterPresence`] decides in Redis who is online on any node, announces each change
//!   once, and takes a dead node's users offline; [`ViewerMirror`] knows who views which room
//!   on the other nodes.
//! * `wire` is the message format; `status` the counters behind `/readyz` and `/metrics`.

mod broker;
mod connect;
mod presence;
mod sequencer;
mod status;
mod viewers;
mod wire;

use futures_util::future::BoxFuture;

pub use broker::RedisBroker;
pub use connect::{Bus, BusError};
pub use presence::ClusterPresence;
pub use status::BusReport;
pub use viewers::ViewerMirror;

use super::Frame;

/// Pause before retrying a failed Redis command or log read.
const RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// Waits `how_long` unless `closed` fires first: true if the wait ran out (retry), false if
/// the node is closing (give up).
async fn pause(closed: &tokio_util::sync::CancellationToken, how_long: std::time::Duration) -> bool {
    tokio::select! {
        () = closed.cancelled() => false,
        () = tokio::time::sleep(how_long) => true,
    }
}

/// The database as the cluster reads it: the event log to fill gaps, and a dead node's users'
/// rooms and `last_online` (the store, wired in by the server).
pub trait Database: Send + Sync + 'static {
    /// The room's newest seq (0 for a room with no event).
    fn head<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<i64, String>>;
    /// Up to `limit` events of `room` after seq `after`, in seq order.
    fn after<'a>(&'a self, room: &'a str, after: i64, limit: i64) -> BoxFuture<'a, Result<Vec<(i64, Frame)>, String>>;
    /// The newest seq of each of `rooms` (at most 500) that has events.
    fn heads<'a>(&'a self, rooms: &'a [String]) -> BoxFuture<'a, Result<Vec<(String, i64)>, String>>;
    /// The ids of the members of `room` (a thread, draft or canvas).
    fn members_of<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>>;
    /// The rooms (threads, drafts, canvases) `user_id` is a member of.
    fn rooms_of<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>>;
    /// Records when `user_id` was last online.
    fn set_last_online<'a>(&'a self, user_id: &'a str, at: i64) -> BoxFuture<'a, Result<(), String>>;
}
