//! Room names and who may be in which room.
//!
//! Rooms are `user:{id}`, `thread:{id}`, `draft:{id}`, `canvas:{id}`. A connection is in its own
//! `user:` room and every `thread:` room of its user from the moment it connects; `draft:` and
//! `canvas:` rooms are joined with `subscribe` while viewed. Membership is durable (the
//! `room_members` table); subscription is live (the hub).

use super::DomainError;
use crate::store::Store;

/// The kinds of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKind {
    /// Personal events of one user.
    User,
    /// A thread's events; members receive it while connected.
    Thread,
    /// A draft's events; collaborators subscribe while viewing.
    Draft,
    /// A canvas's events; members subscribe while viewing.
    Canvas,
}

/// Rooms a connection joins automatically besides its `user:` room: every room with this prefix
/// the user is a member of.
pub const AUTO_JOINED_PREFIX: &str = "thread:";

/// Splits `room` into its kind and id. Unknown kinds and empty ids are invalid.
pub fn parse(room: &str) -> Result<(RoomKind, &str), DomainError> {
    let (kind, id) = room
        .split_once(':')
        .ok_or_else(|| DomainError::Invalid(format!("`{room}` is not a room name; expected kind:id")))?;
    let kind = match kind {
        "user" => RoomKind::User,
        "thread" => RoomKind::Thread,
        "draft" => RoomKind::Draft,
        "canvas" => RoomKind::Canvas,
        other => {
            return Err(DomainError::Invalid(format!(
                "unknown room kind `{other}`; rooms are user:, thread:, draft: or canvas:"
            )));
        }
    };
    if id.is_empty() || id.len() > 64 {
        return Err(DomainError::Invalid(format!("`{room}` has an empty or too long id")));
    }
    Ok((kind, id))
}

/// Whether rooms of this kind are joined while viewed (`subscribe`/`unsubscribe`) rather than
/// following membership automatically.
pub fn is_viewed(kind: RoomKind) -> bool {
    matches!(kind, RoomKind::Draft | RoomKind::Canvas)
}

/// The rooms (besides `user:`) a new connection of `user_id` is subscribed to.
pub async fn auto_joined(store: &Store, user_id: &str) -> Result<Vec<String>, DomainError> {
    Ok(store.rooms_of(user_id, AUTO_JOINED_PREFIX).await?)
}

/// Checks that `user_id` may receive `room`: its own `user:` room, or a room it is a member of.
/// Another user's `user:` room is `Forbidden`; for other kinds, rooms that do not exist and
/// rooms one is not a member of answer `NotFound` alike, so a subscribe cannot probe which
/// ids exist.
pub async fn authorize(store: &Store, user_id: &str, room: &str) -> Result<(), DomainError> {
    match parse(room)? {
        (RoomKind::User, id) if id == user_id => Ok(()),
        (RoomKind::User, _) => Err(DomainError::Forbidden("only your own user: room can be joined".into())),
        _ if store.is_member(room, user_id).await? => Ok(()),
        _ => Err(DomainError::NotFound("room")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_parse() {
        assert_eq!(parse("thread:abc").unwrap(), (RoomKind::Thread, "abc"));
        assert_eq!(parse("canvas:42").unwrap(), (RoomKind::Canvas, "42"));
        assert_eq!(parse("draft:x:y").unwrap(), (RoomKind::Draft, "x:y"));
        assert!(parse("lobby").is_err());
        assert!(parse("room:1").is_err());
        assert!(parse("thread:").is_err());
        assert!(parse(&format!("thread:{}", "x".repeat(65))).is_err());
    }
}
