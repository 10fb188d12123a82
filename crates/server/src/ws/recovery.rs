//! Replaying a room's durable history to one connection, race-free with live delivery.
//!
//! The order that makes it exactly-once: (1) [`Connection::begin_recovery`] holds back live
//! durable events of the room, (2) the connection is subscribed, (3) the history after the
//! cursor is read page by page and queued, (4) [`Connection::finish_recovery`] queues the
//! held-back events newer than the last replayed seq. An event committed before (2) is read in
//! (3); one committed after (2) is held back in (1); one that is both is sent once. Step (4)
//! runs under the room's publish-order lock: a writer holds it from before its commit until its
//! event is delivered, so an event committed before the last read cannot be delivered live
//! after (4) — it is in the held-back set by then and deduplicated. In a cluster that lock is
//! per node, and this node's sequencer may deliver events the replay already read (another
//! node's writer, or the filler catching the room up) after (4): the connection then drops
//! live events at or below the replayed seq until the first one above it.

use tandem_protocol::ErrorCode;
use tandem_protocol::ws::ServerFrame;

use crate::hub::{Connection, Frame, Hub, Push, encode};
use crate::store::{Store, StoreError};

/// Events read per store query during a replay.
const PAGE: i64 = 256;

/// How a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    /// Every event after the cursor was queued, through `through`.
    Replayed {
        /// Seq of the last replayed event (the cursor itself if there was nothing to replay).
        through: i64,
    },
    /// The history does not reach back to the cursor; `resync_required` was sent.
    ResyncRequired,
}

/// Replays `room`'s events after `after` to `connection`, then resumes live delivery.
/// Precondition: [`Connection::begin_recovery`] was called for `room` before the connection
/// was subscribed to it. On a store failure the client gets an `unavailable` error and the
/// held-back events are dropped (its next resume fills the gap).
pub async fn replay(store: &Store, hub: &Hub, connection: &Connection, room: &str, after: i64) -> Recovered {
    let metrics = crate::telemetry::events();
    let outcome = read_and_queue(store, connection, room, after).await;
    let _order = hub.order(room).await;
    match outcome {
        Ok(Ok(through)) => {
            connection.finish_recovery(room, through);
            metrics.replays.increment(1);
            Recovered::Replayed { through }
        }
        Ok(Err(last_seq)) => {
            connection.send(encode(&ServerFrame::ResyncRequired { room: room.to_owned(), last_seq }));
            connection.finish_recovery(room, last_seq);
            metrics.resyncs.increment(1);
            Recovered::ResyncRequired
        }
        Err(e) => {
            tracing::warn!(error = %e, room, "replay failed");
            let message = format!("could not replay `{room}`: the data store is unavailable; resume again");
            connection.send(encode(&ServerFrame::Error { code: ErrorCode::Unavailable, message, reference: None }));
            connection.finish_recovery(room, i64::MAX);
            Recovered::ResyncRequired
        }
    }
}

/// Queues the events after `after`; `Ok(Err(last_seq))` when a resync is needed instead.
async fn read_and_queue(
    store: &Store,
    connection: &Connection,
    room: &str,
    after: i64,
) -> Result<Result<i64, i64>, StoreError> {
    let log = store.room_log(room).await?;
    if after > log.last_seq || after < log.pruned_through {
        return Ok(Err(log.last_seq));
    }
    let mut cursor = after;
    loop {
        let page = store.events_after(room, cursor, PAGE).await?;
        if page.first().is_some_and(|first| first.seq != cursor + 1) {
            // Retention removed part of the range while we were reading it.
            return Ok(Err(store.room_log(room).await?.last_seq));
        }
        let full = page.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
        for event in page {
            if connection.queue().push_when_room(Frame::from(event.frame)).await == Push::Closed {
                return Ok(Ok(cursor));
            }
            cursor = event.seq;
            crate::telemetry::events().replayed.increment(1);
        }
        if !full {
            return Ok(Ok(cursor));
        }
    }
}
