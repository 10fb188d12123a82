//! Canvas frames (seed 004): `canvas_chat`, `tile_mention`, and the viewer bookkeeping around
//! `subscribe` / `unsubscribe` of `canvas:` rooms. Mentions are for viewers: the connection
//! must be in the room (`not_found` "subscription not found" otherwise).

use tandem_protocol::room::{Room, RoomKind};
use tandem_protocol::ws::{OnlineUser, ServerFrame};

use super::Reply;
use crate::clock;
use crate::domain::{DomainError, canvases};
use crate::hub::{self, Except};
use crate::ws::session::Session;

/// After a subscribe: for a canvas room, its bounds are cached for this connection, the others
/// learn that this user views it (if this is their first connection there) and this connection
/// gets `canvas_viewers`.
pub async fn after_subscribe(session: &Session, room: &Room) -> Result<Reply, DomainError> {
    if room.kind() != RoomKind::Canvas {
        return Ok(Reply::Done);
    }
    // Rooms named canvas: without a canvas row (only the real-time core's tests make those)
    // have no viewer bookkeeping.
    let Some(canvas) = session.context.store.canvas(room.id()).await? else {
        return Ok(Reply::Done);
    };
    let mut cached = bounds(session);
    cached.retain(|(r, _)| r != room);
    cached.push((room.clone(), (canvas.width, canvas.height)));
    drop(cached);
    let user = &session.user;
    let viewers = session.context.hub.activity().viewer_joined(room, &user.id, &user.username, &user.name);
    let users: Vec<OnlineUser> =
        viewers.into_iter().map(|(id, username, name)| OnlineUser { id, username, name }).collect();
    Ok(Reply::Frame(ServerFrame::CanvasViewers {
        room: room.to_string(),
        active_users: users.len(),
        users,
        timestamp: clock::now_ms(),
    }))
}

/// After an unsubscribe: this user's activity there ends and, if it was their last connection
/// in the room, the others see them leave.
pub fn after_leave(session: &Session, room: &Room) {
    bounds(session).retain(|(r, _)| r != room);
    session.context.hub.activity().left(room, session.connection.user_id());
}

fn bounds(session: &Session) -> std::sync::MutexGuard<'_, Vec<(Room, (i64, i64))>> {
    session.canvases.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks `(x, y)` against the bounds of a canvas this connection views (cached at subscribe).
pub fn check_cell(session: &Session, room: &Room, x: i64, y: i64) -> Result<(), DomainError> {
    canvases::canvas_id_of(room)?;
    let Some((width, height)) = bounds(session).iter().find(|(r, _)| r == room).map(|(_, size)| *size) else {
        return Err(DomainError::NotFound("subscription"));
    };
    if (0..width).contains(&x) && (0..height).contains(&y) {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!("({x}, {y}) is outside the canvas: 0 <= x < {width}, 0 <= y < {height}")))
    }
}

/// `canvas_chat` → `canvas_chat_message` to every viewer (durable).
pub async fn chat(session: &Session, room: &str, text: &str) -> Result<Reply, DomainError> {
    let room = Room::parse_kind(room, RoomKind::Canvas)?;
    canvases::post_chat(&session.context.store, &session.context.hub, &session.user, &room, text).await?;
    Ok(Reply::Done)
}

/// `tile_mention` → `tile_mention` to the other viewers.
pub fn mention(
    session: &Session,
    room: &str,
    (x, y): (i64, i64),
    message: &str,
    duration: i64,
    highlight_type: &str,
) -> Result<Reply, DomainError> {
    let room = Room::parse(room)?;
    if !session.connection.in_room(&room) {
        return Err(DomainError::NotFound("subscription"));
    }
    check_cell(session, &room, x, y)?;
    let frame = canvases::mention_frame(&room, &session.user, (x, y), message, duration, highlight_type)?;
    session.context.hub.publish_except(&room, hub::encode(&frame), &Except::User(session.user.id.clone()));
    Ok(Reply::Done)
}
