//! A killed node restarted under its name before another node took it for dead: the new run
//! takes the previous run's users offline itself (after the presence grace, so that those
//! who reconnect here do not flap).

use redis::aio::ConnectionManager;

use super::super::pause;
use super::{Tasks, Want, reaped_key, status_frame, users_key};

/// The users a previous run of this node left in Redis: it was killed, and this run started
/// under the same name before another node took them offline. Read before the sync task
/// writes anything, so the node's user set holds only the previous run's users. `None` if
/// the node closed meanwhile.
pub(super) async fn users(tasks: &Tasks, connection: &mut ConnectionManager) -> Option<Vec<String>> {
    loop {
        let name = &tasks.presence.name;
        let read = redis::pipe().smembers(users_key(name)).del(reaped_key(name)).ignore().query_async(connection).await;
        match read {
            Ok((users,)) => return Some(users),
            Err(e) => {
                tracing::debug!(error = %e, "could not read this node's previous users; retrying");
                if !pause(&tasks.closed, tasks.retry).await {
                    return None;
                }
            }
        }
    }
}

/// After the presence grace (time for them to reconnect), queues going offline for the
/// previous run's users not connected here again.
pub(super) async fn forget(tasks: &Tasks, previous: Vec<String>) {
    if previous.is_empty() {
        return;
    }
    if !pause(&tasks.closed, tasks.grace).await {
        return;
    }
    tracing::info!(users = previous.len(), "taking the users of this node's previous run offline");
    let presence = &tasks.presence;
    let timestamp = crate::clock::now_ms();
    for user in previous {
        let rooms = loop {
            match tasks.database.rooms_of(&user).await {
                Ok(rooms) => break rooms.into_iter().map(Box::from).collect(),
                Err(e) => {
                    tracing::debug!(error = %e, "could not read a previous user's rooms; retrying");
                    if !pause(&tasks.closed, tasks.retry).await {
                        return;
                    }
                }
            }
        };
        let frame = status_frame(&user, false, timestamp);
        presence.want_offline_unless_here(&user, Want { op: '-', frame: Some((rooms, frame)) });
    }
}
