//! Presence (seed 002): online means at least one live connection. Status changes reach the
//! user's collaborators — the users who share a thread, a draft or a canvas with them (API.md
//! §3) — that are online, each once; the only write is `last_online`, when the last connection
//! closes.

use tandem_protocol::room::Room;
use tandem_protocol::ws::ServerFrame;

use super::DomainError;
use crate::clock;
use crate::hub::{self, Hub, Transition};
use crate::store::{Store, UserRecord};

/// Acts on a presence transition of `user_id`: writes `last_online` when the user went offline
/// (in a cluster, when no node this one knows of has the user; the node that finds in Redis
/// that the user left the last node writes it too),
/// then sends `user_status_changed` to the `user:` room of each online collaborator, unless a
/// newer transition of the same user happened meanwhile (it announces itself). The recipients
/// come from the hub's presence, not the store: a reconnect storm costs memory reads, not one
/// query per connection (in a cluster, each node tells its own connections). Failures are
/// logged: presence is best effort and never fails the connection.
pub async fn announce(store: &Store, hub: &Hub, user_id: &str, transition: Transition) {
    let (is_online, generation) = match transition {
        Transition::WentOnline { generation } => (true, generation),
        Transition::WentOffline { generation } => (false, generation),
        Transition::Unchanged => return,
    };
    let timestamp = clock::now_ms();
    // A user back online (a reconnect raced this announcement) keeps no stale last_online.
    if !is_online
        && !hub.is_online(user_id)
        && let Err(e) = store.set_last_online(user_id, timestamp).await
    {
        tracing::warn!(error = %e, user_id, "could not record last_online");
    }
    let frame = hub::encode(&ServerFrame::UserStatusChanged { user_id: user_id.to_owned(), is_online, timestamp });
    hub.presence().announce(user_id, generation, is_online, &frame);
}

/// After `user_id` joined `room` (its join event is published), tells the room the user is
/// online if the join event said offline but a connection of the user is open now.
///
/// The join event's `is_online` is read before the commit. A connection opening in between
/// read the user's rooms before the join was committed, so its own announcement skipped this
/// room's members, and without this they would see the user offline until the next change.
/// A connection opening after this check reads the committed membership and announces itself.
pub fn announce_joined_online(hub: &Hub, user_id: &str, room: &Room, event_said_online: bool) {
    if event_said_online || !hub.is_online(user_id) {
        return;
    }
    let frame =
        ServerFrame::UserStatusChanged { user_id: user_id.to_owned(), is_online: true, timestamp: clock::now_ms() };
    hub.publish(room, hub::encode(&frame));
}

/// The caller's collaborators, optionally only those online now.
pub async fn collaborators(
    store: &Store,
    hub: &Hub,
    user_id: &str,
    online_only: bool,
) -> Result<Vec<UserRecord>, DomainError> {
    let mut collaborators = store.collaborators(user_id).await?;
    if online_only {
        collaborators.retain(|user| hub.is_online(&user.id));
    }
    Ok(collaborators)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use super::*;
    use crate::hub::{Connection, Frame};

    /// The frames queued on `connection` so far: a marker is queued behind them and everything
    /// before it is read (the local hub queues synchronously, so nothing is still on its way).
    async fn queued(connection: &Arc<Connection>) -> Vec<String> {
        connection.send(Frame::from_static("marker"));
        let mut frames = Vec::new();
        let mut batch = VecDeque::<Frame>::new();
        loop {
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(2), connection.queue().next_batch(&mut batch));
            assert!(read.await.is_ok(), "the marker never came");
            for frame in batch.drain(..) {
                if frame.as_str() == "marker" {
                    return frames;
                }
                frames.push(frame.as_str().to_owned());
            }
        }
    }

    #[tokio::test]
    async fn a_joiner_whose_event_said_offline_is_announced_once_online() {
        let hub = Hub::local();
        let room = Room::thread("t");
        let member = hub.connection("a", 8);
        hub.connect(&member);
        hub.subscribe(&member, &room);

        announce_joined_online(&hub, "b", &room, false);
        assert!(queued(&member).await.is_empty(), "b has no connection: nothing to say");

        let joiner = hub.connection("b", 8);
        hub.connect(&joiner);
        announce_joined_online(&hub, "b", &room, true);
        assert!(queued(&member).await.is_empty(), "the join event already said online");

        announce_joined_online(&hub, "b", &room, false);
        let frames = queued(&member).await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        let frame: serde_json::Value = serde_json::from_str(&frames[0]).expect("JSON");
        assert_eq!(
            (frame["type"].as_str(), frame["user_id"].as_str(), frame["is_online"].as_bool()),
            (Some("user_status_changed"), Some("b"), Some(true))
        );
    }
}
