//! Canvas frames (seed 004): `canvas_chat`, `typing`, `user_presence`, `tile_mention`, and the
//! viewer bookkeeping around `subscribe` / `unsubscribe` of `canvas:` rooms.
//!
//! Typing, presence and mentions are for viewers: the connection must be subscribed to the
//! room (which needed membership), otherwise `not_found` ("subscription not found").

use tandem_protocol::ws::{OnlineUser, ServerFrame};

use super::Reply;
use crate::clock;
use crate::domain::{DomainError, canvases};
use crate::hub::{self, Except};
use crate::ws::session::Session;

fn is_canvas(room: &str) -> bool {
    room.starts_with("canvas:")
}

fn require_viewing(session: &Session, room: &str) -> Result<(), DomainError> {
    canvases::canvas_id_of(room)?;
    if session.connection.in_room(room) { Ok(()) } else { Err(DomainError::NotFound("subscription")) }
}

/// After a subscribe: for a canvas room, the others learn that this user views it (if this is
/// their first connection there) and this connection gets `canvas_viewers`.
pub async fn after_subscribe(session: &Session, room: &str) -> Result<Reply, DomainError> {
    if !is_canvas(room) {
        return Ok(Reply::Done);
    }
    let state = &session.state;
    // Rooms named canvas: without a canvas row (only the real-time core's tests make those)
    // have no viewer bookkeeping.
    if state.store.canvas(canvases::canvas_id_of(room)?).await?.is_none() {
        return Ok(Reply::Done);
    }
    let user_id = session.connection.user_id();
    let user = state.store.user(user_id).await?.ok_or(DomainError::NotFound("user"))?;
    state.canvas_activity.viewer_joined(room, user_id, &user.username, &user.name);
    let users: Vec<OnlineUser> = state
        .canvas_activity
        .viewers(room)
        .into_iter()
        .map(|(id, username, name)| OnlineUser { id, username, name })
        .collect();
    Ok(Reply::Frame(ServerFrame::CanvasViewers {
        room: room.to_owned(),
        active_users: users.len(),
        users,
        timestamp: clock::now_ms(),
    }))
}

/// After an unsubscribe of a canvas room: clear this user's activity, announce a leave.
pub fn after_leave(session: &Session, room: &str) {
    if is_canvas(room) {
        session.state.canvas_activity.viewer_left(room, session.connection.user_id());
    }
}

/// `canvas_chat` → `canvas_chat_message` to every viewer (durable).
pub async fn chat(session: &Session, room: &str, text: &str) -> Result<Reply, DomainError> {
    let state = &session.state;
    canvases::canvas_id_of(room)?;
    let user = state.store.user(session.connection.user_id()).await?.ok_or(DomainError::NotFound("user"))?;
    canvases::post_chat(&state.store, &state.hub, &user, room, text).await?;
    Ok(Reply::Done)
}

/// `typing` → `user_typing` to the other viewers (throttled, expires after 5 s).
pub fn typing(session: &Session, room: &str, is_typing: bool) -> Result<Reply, DomainError> {
    require_viewing(session, room)?;
    session.state.canvas_activity.typing(room, session.connection.user_id(), is_typing);
    Ok(Reply::Done)
}

/// `user_presence` (`editing_tile`, coordinates inside the canvas) → `user_presence_update`.
pub async fn presence(
    session: &Session,
    room: &str,
    presence_type: &str,
    (x, y): (i64, i64),
    is_editing: bool,
) -> Result<Reply, DomainError> {
    require_viewing(session, room)?;
    if presence_type != "editing_tile" {
        return Err(DomainError::Invalid(format!("presence_type must be \"editing_tile\", got \"{presence_type}\"")));
    }
    let user_id = session.connection.user_id();
    let canvas = canvases::canvas_of_room(&session.state.store, user_id, room).await?;
    canvases::check_cell(&canvas, x, y)?;
    session.state.canvas_activity.editing(room, user_id, x, y, is_editing);
    Ok(Reply::Done)
}

/// `tile_mention` → `tile_mention` to the other viewers.
pub async fn mention(
    session: &Session,
    room: &str,
    cell: (i64, i64),
    message: &str,
    duration: i64,
    highlight_type: &str,
) -> Result<Reply, DomainError> {
    require_viewing(session, room)?;
    let state = &session.state;
    let user_id = session.connection.user_id();
    let canvas = canvases::canvas_of_room(&state.store, user_id, room).await?;
    let user = state.store.user(user_id).await?.ok_or(DomainError::NotFound("user"))?;
    let frame = canvases::mention_frame(&canvas, &user, cell, message, duration, highlight_type)?;
    state.hub.publish_except(room, hub::encode(&frame), &Except::User(user.id));
    Ok(Reply::Done)
}
