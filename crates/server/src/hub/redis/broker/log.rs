//! Reading the log for the broker: the filler (gaps and new feeds) and the high-water check
//! (rooms whose last events never arrived).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tandem_protocol::room::RoomKind;
use tokio::sync::mpsc;

use super::super::Database;
use super::super::sequencer::{Fill, Held};
use super::{FILL_LIMIT, Inner, RETRY};

/// How often every room's delivered seq is checked against the log (a lost tail: the last
/// events of a room lost on the bus, with no later event to reveal the gap).
const HIGH_WATER: Duration = Duration::from_secs(2);
/// Rooms whose heads are read in one query.
const HEADS_BATCH: usize = 500;

/// The filler: reads the log for rooms with a gap, or their head for new feeds.
pub(super) async fn fill(inner: Arc<Inner>, log: Arc<dyn Database>, mut rooms: mpsc::UnboundedReceiver<String>) {
    loop {
        let room = tokio::select! {
            () = inner.closed.cancelled() => return,
            room = rooms.recv() => room,
        };
        let Some(room) = room else { return };
        while let Some(next) = inner.sequencer.next_fill(&room) {
            let more = match next {
                Fill::Head => match log.head(&room).await {
                    Ok(head) => inner.sequencer.head(&room, head, &mut |seq, held| inner.deliver(&room, seq, held)),
                    Err(e) => retry(&inner, &room, &e).await,
                },
                Fill::After(after) => match read_for_members(&inner, log.as_ref(), &room, after).await {
                    Ok(None) => false,
                    Ok(Some(events)) => {
                        inner.status.backfilled(events.len() as u64);
                        let mut deliver = |seq, held: &Held| inner.deliver(&room, seq, held);
                        inner.sequencer.fill(&room, events, &mut deliver, &mut || inner.status.gap())
                    }
                    Err(e) => retry(&inner, &room, &e).await,
                },
            };
            if !more || inner.closed.is_cancelled() {
                break;
            }
        }
    }
}

/// Events of `room` after `after`, for the room's local subscribers who are still its
/// members. A gap in a room may hide a member's removal (made on another node while its
/// membership message was lost, e.g. during an outage; every removal is an event of the room,
/// so it leaves a gap here), so the members are read after the events and everyone else is
/// unsubscribed before anything is delivered. `None` when no local subscriber is left.
async fn read_for_members(
    inner: &Inner,
    log: &dyn Database,
    room: &str,
    after: i64,
) -> Result<Option<Vec<(i64, crate::hub::Frame)>>, String> {
    let events = log.after(room, after, FILL_LIMIT).await?;
    if events.is_empty() || room.starts_with(RoomKind::User.prefix()) {
        return Ok(Some(events));
    }
    let members = log.members_of(room).await?;
    if inner.inbound.retain_members(room, &members) {
        inner.stop_interest(room);
        return Ok(None);
    }
    Ok(Some(events))
}

/// The high-water check: every [`HIGH_WATER`], reads the heads of the rooms with a feed; a
/// room that has still not delivered the head read one period earlier lost its tail on the
/// bus, and goes to the filler (counted as a gap). Comparing with the previous read, not the
/// current one, leaves events in flight alone.
pub(super) async fn check_high_water(inner: Arc<Inner>, database: Arc<dyn Database>) {
    let mut previous: HashMap<String, i64> = HashMap::new();
    let mut tick = tokio::time::interval(HIGH_WATER);
    loop {
        tokio::select! {
            () = inner.closed.cancelled() => return,
            _ = tick.tick() => {}
        }
        let rooms = inner.sequencer.rooms();
        let mut heads = HashMap::with_capacity(rooms.len());
        for chunk in rooms.chunks(HEADS_BATCH) {
            match database.heads(chunk).await {
                Ok(read) => heads.extend(read),
                Err(e) => tracing::debug!(error = %e, "could not read room heads"),
            }
        }
        for (room, head) in &previous {
            if inner.sequencer.catch_up_below(room, *head) {
                inner.status.gap();
                inner.to_filler(room);
            }
        }
        previous = heads;
    }
}

/// After a failed log read: waits, then says whether to try again.
async fn retry(inner: &Inner, room: &str, error: &str) -> bool {
    tracing::warn!(room, error, "could not read the log to fill a gap; retrying");
    tokio::select! {
        () = inner.closed.cancelled() => false,
        () = tokio::time::sleep(RETRY) => true,
    }
}
