//! The membership recheck: membership changes published while Redis was unreachable (or
//! pushed while this node's receiver lagged) never arrive, so after either, every local user's
//! subscriptions are aligned with the database. Without it a user removed from a thread
//! during an outage would go on receiving the thread's events on this node.

use std::sync::Arc;

use super::super::{Database, pause};
use super::{Inner, RETRY};

/// The recheck task: waits for [`Inner::recheck`], then aligns every local user, again after
/// [`RETRY`] while the database fails.
pub(super) async fn recheck(inner: Arc<Inner>, database: Arc<dyn Database>) {
    loop {
        tokio::select! {
            () = inner.closed.cancelled() => return,
            () = inner.recheck.notified() => {}
        }
        let mut failed = false;
        for user_id in inner.inbound.users() {
            if inner.closed.is_cancelled() {
                return;
            }
            if let Err(e) = align(&inner, database.as_ref(), &user_id).await {
                tracing::warn!(error = %e, user_id, "rechecking memberships after a bus outage failed");
                failed = true;
            }
        }
        if failed {
            if !pause(&inner.closed, RETRY).await {
                return;
            }
            inner.recheck.notify_one();
        }
    }
}

/// Aligns one user's connections with the rooms the database lists, repeating the read if a
/// membership change arrived meanwhile. A thread joined during the outage is delivered from
/// its head at this moment on (the join's own event reached the user's `user:` room, which
/// is caught up from the log).
async fn align(inner: &Inner, database: &dyn Database, user_id: &str) -> Result<(), String> {
    loop {
        let rooms = database.rooms_of(user_id).await?;
        let Some(aligned) = inner.inbound.align_user(user_id, &rooms) else { return Ok(()) };
        for room in &aligned.interest_started {
            inner.interest_from(room, None);
        }
        for room in &aligned.interest_ended {
            inner.stop_interest(room);
        }
        let names: Vec<Box<str>> = rooms.iter().map(|room| Box::from(room.as_str())).collect();
        crate::hub::Presence::set_rooms(inner.presence.as_ref(), user_id, &names);
        if inner.inbound.membership_epoch(user_id) == aligned.epoch {
            return Ok(());
        }
    }
}
