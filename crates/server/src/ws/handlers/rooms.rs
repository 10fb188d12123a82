//! `subscribe` / `unsubscribe` / `resume`: joining and leaving viewed rooms, catching up.

use tandem_protocol::room::Room;
use tandem_protocol::ws::Cursors;

use super::Reply;
use crate::domain::{DomainError, rooms};
use crate::ws::recovery;
use crate::ws::session::Session;

/// Joins `room` after the domain authorised it; with `after`, first replays its durable
/// events after that seq (exactly once, in order, then live). Joining a room one is already
/// in only replays.
pub async fn subscribe(session: &Session, room: &str, after: Option<i64>) -> Result<Reply, DomainError> {
    let room = Room::parse(room)?;
    let hub = &session.context.hub;
    rooms::authorize(&session.context.store, session.connection.user_id(), &room).await?;
    let Some(after) = after else {
        rooms::subscribe(&session.context.store, hub, &session.connection, &room).await?;
        return super::canvas::after_subscribe(session, &room).await;
    };
    session.connection.begin_recovery(&room);
    hub.subscribe_after(&session.connection, &room, Some(after));
    recovery::replay(&session.context.store, hub, &session.connection, &room, after).await;
    super::canvas::after_subscribe(session, &room).await
}

/// Leaves a viewed room; `NotFound` if this connection is not in it. The `user:` room and
/// auto-joined rooms follow membership and cannot be left this way.
pub fn unsubscribe(session: &Session, room: &str) -> Result<Reply, DomainError> {
    let room = Room::parse(room)?;
    if !room.kind().is_viewed() {
        return Err(DomainError::Invalid(format!(
            "`{room}` follows your membership and cannot be unsubscribed; only draft: and canvas: rooms can"
        )));
    }
    if session.context.hub.unsubscribe(&session.connection, &room) {
        super::canvas::after_leave(session, &room);
        Ok(Reply::Done)
    } else {
        Err(DomainError::NotFound("subscription"))
    }
}

/// Replays every listed room after its cursor (all rooms are authorised first; one refusal
/// refuses the whole frame). Viewed rooms not yet joined are joined, and announced as by
/// `subscribe`. Events this connection already received live may be sent again; clients dedupe
/// by `(room, seq)`.
pub async fn resume(session: &Session, cursors: &Cursors) -> Result<Reply, DomainError> {
    let user_id = session.connection.user_id();
    let mut parsed = Vec::with_capacity(cursors.len());
    for (room, after) in cursors {
        let room = Room::parse(room)?;
        rooms::authorize(&session.context.store, user_id, &room).await?;
        parsed.push((room, *after));
    }
    for (room, after) in parsed {
        let joined = !session.connection.in_room(&room);
        session.connection.begin_recovery(&room);
        session.context.hub.subscribe_after(&session.connection, &room, Some(after));
        recovery::replay(&session.context.store, &session.context.hub, &session.connection, &room, after).await;
        if joined {
            super::viewer_resumed(session, &room).await;
        }
    }
    Ok(Reply::Done)
}
