//! Live activity frames in every room: `typing`, `cursor`, and seed 004's `user_presence`
//! (`typing` in any room, `editing_tile` in a viewed canvas). The connection must be in the
//! room (`not_found` "subscription not found" otherwise); nothing here touches the store.

use tandem_protocol::room::Room;
use tandem_protocol::ws::ClientFrame;

use super::Reply;
use crate::domain::DomainError;
use crate::hub::activity::Action;
use crate::ws::session::Session;

/// Largest accepted cursor coordinate, in absolute value (positions are the app's own units).
const CURSOR_MAX: f64 = 1e9;

/// Routes a live-activity frame; any other frame is a routing bug, refused as invalid.
pub fn handle(session: &Session, frame: ClientFrame) -> Result<Reply, DomainError> {
    match frame {
        ClientFrame::Typing { room, is_typing } => typing(session, &room, is_typing),
        ClientFrame::Cursor { room, x, y } => cursor(session, &room, x, y),
        ClientFrame::UserPresence { room, presence_type, tile_x, tile_y, is_editing, is_typing } => {
            let fields = PresenceFields { presence_type: &presence_type, tile_x, tile_y, is_editing, is_typing };
            presence(session, &room, fields)
        }
        other => Err(DomainError::Internal(format!("not a live-activity frame: {other:?}"))),
    }
}

/// The room, if this connection is in it.
fn room_of(session: &Session, room: &str) -> Result<Room, DomainError> {
    let room = Room::parse(room)?;
    if session.connection.in_room(&room) { Ok(room) } else { Err(DomainError::NotFound("subscription")) }
}

fn act(session: &Session, room: &Room, action: Action) {
    session.context.hub.activity().act(room, session.connection.user_id(), &session.user.username, action);
}

/// `typing` → `user_typing` to the room's other users (throttled, expires after 5 s).
fn typing(session: &Session, room: &str, is_typing: bool) -> Result<Reply, DomainError> {
    let room = room_of(session, room)?;
    act(session, &room, Action::Typing(is_typing));
    Ok(Reply::Done)
}

/// `cursor` → `user_cursor` to the room's other users (20 a second at most, latest wins).
fn cursor(session: &Session, room: &str, x: Option<f64>, y: Option<f64>) -> Result<Reply, DomainError> {
    let room = room_of(session, room)?;
    let position = match (x, y) {
        (Some(x), Some(y)) if x.is_finite() && y.is_finite() && x.abs() <= CURSOR_MAX && y.abs() <= CURSOR_MAX => {
            Some((x, y))
        }
        (None, None) => None,
        _ => {
            return Err(DomainError::Invalid(format!(
                "x and y must both be numbers within ±{CURSOR_MAX:e}, or both null to hide the cursor"
            )));
        }
    };
    act(session, &room, Action::Cursor(position));
    Ok(Reply::Done)
}

/// The fields of a `user_presence` frame.
#[derive(Debug, Clone, Copy)]
struct PresenceFields<'a> {
    /// `"editing_tile"` or `"typing"`.
    pub presence_type: &'a str,
    /// Tile column (`editing_tile`).
    pub tile_x: Option<i64>,
    /// Tile row (`editing_tile`).
    pub tile_y: Option<i64>,
    /// `editing_tile`'s state.
    pub is_editing: Option<bool>,
    /// `typing`'s state.
    pub is_typing: Option<bool>,
}

/// `user_presence`: `typing` means a `typing` frame; `editing_tile` (a viewed canvas, the tile
/// inside its bounds as cached at subscribe) → `user_presence_update`.
fn presence(session: &Session, room: &str, fields: PresenceFields<'_>) -> Result<Reply, DomainError> {
    match fields.presence_type {
        "typing" => {
            let is_typing = fields
                .is_typing
                .ok_or_else(|| DomainError::Invalid("presence_type \"typing\" needs a boolean is_typing".into()))?;
            typing(session, room, is_typing)
        }
        "editing_tile" => {
            let room = room_of(session, room)?;
            let (Some(x), Some(y), Some(is_editing)) = (fields.tile_x, fields.tile_y, fields.is_editing) else {
                return Err(DomainError::Invalid(
                    "presence_type \"editing_tile\" needs tile_x, tile_y and is_editing".into(),
                ));
            };
            super::canvas::check_cell(session, &room, x, y)?;
            act(session, &room, Action::Editing { x, y, is_editing });
            Ok(Reply::Done)
        }
        other => {
            Err(DomainError::Invalid(format!("presence_type must be \"editing_tile\" or \"typing\", got \"{other}\"")))
        }
    }
}
