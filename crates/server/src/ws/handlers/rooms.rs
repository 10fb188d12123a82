//! `subscribe` / `unsubscribe`: joining and leaving rooms that are viewed.

use super::Reply;
use crate::domain::{DomainError, rooms};
use crate::ws::session::Session;

/// Joins `room` after the domain authorised it. Joining a room one is already in is a no-op.
pub async fn subscribe(session: &Session, room: &str) -> Result<Reply, DomainError> {
    rooms::authorize(&session.state.store, session.connection.user_id(), room).await?;
    session.state.hub.registry().subscribe(&session.connection, room);
    Ok(Reply::Done)
}

/// Leaves a viewed room; `NotFound` if this connection is not in it. The `user:` room and
/// auto-joined rooms follow membership and cannot be left this way.
pub fn unsubscribe(session: &Session, room: &str) -> Result<Reply, DomainError> {
    if !rooms::is_viewed(rooms::parse(room)?.0) {
        return Err(DomainError::Invalid(format!(
            "`{room}` follows your membership and cannot be unsubscribed; only draft: and canvas: rooms can"
        )));
    }
    if session.state.hub.registry().unsubscribe(&session.connection, room) {
        Ok(Reply::Done)
    } else {
        Err(DomainError::NotFound("subscription"))
    }
}
