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

/// Acts on a presence transition of `user_id`: writes `last_online` when the user went offline,
/// then sends `user_status_changed` to the `user:` room of each online collaborator, unless a
/// newer transition of the same user happened meanwhile (it announces itself). The recipients
/// come from the hub's presence, not the store: a reconnect storm costs memory reads, not one
/// query per connection. Failures are logged: presence is best effort and never fails the
/// connection.
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
    let presence = hub.presence();
    let collaborators = presence.co_members_online(user_id);
    let frame = hub::encode(&ServerFrame::UserStatusChanged { user_id: user_id.to_owned(), is_online, timestamp });
    presence.announce(user_id, generation, is_online, &mut || {
        for collaborator in &collaborators {
            hub.publish(&Room::user(collaborator), frame.clone());
        }
    });
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
