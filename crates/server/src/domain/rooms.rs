//! Who may be in which room.
//!
//! A connection is in its own `user:` room and every `thread:` room of its user from the moment
//! it connects; `draft:` and `canvas:` rooms are joined with `subscribe` while viewed
//! ([`RoomKind::is_viewed`]). Membership is durable (the `room_members` table); subscription is
//! live (the hub).

use std::sync::Arc;

use tandem_protocol::room::{Room, RoomKind};

use super::DomainError;
use crate::hub::{Connection, Hub};
use crate::store::Store;

/// Every room `user_id` is a member of (threads, drafts, canvases): its threads are joined
/// from the moment a connection opens; all of them make its collaborators for presence.
pub async fn member_rooms(store: &Store, user_id: &str) -> Result<Vec<Room>, DomainError> {
    Ok(store.member_rooms(user_id).await?)
}

/// Checks that `user_id` may receive `room`: its own `user:` room, or a room it is a member of.
/// Another user's `user:` room is `Forbidden`; for other kinds see [`require_member`].
pub async fn authorize(store: &Store, user_id: &str, room: &Room) -> Result<(), DomainError> {
    match room.kind() {
        RoomKind::User if room.id() == user_id => Ok(()),
        RoomKind::User => Err(DomainError::Forbidden("only your own user: room can be joined".into())),
        _ => require_member(store, room, user_id).await,
    }
}

/// The one membership guard, for every kind of room with members: `NotFound(<kind>)` unless
/// `user_id` is a member of `room`. Rooms that do not exist and rooms one is not a member of
/// answer alike, so nobody can probe which ids exist.
pub async fn require_member(store: &Store, room: &Room, user_id: &str) -> Result<(), DomainError> {
    if store.is_member(room, user_id).await? { Ok(()) } else { Err(DomainError::NotFound(room.kind().noun())) }
}

/// Subscribes `connection` to `room` (already authorised). In cluster mode, when this node
/// has no subscriber of the room yet, the room's newest seq is read first, so the node
/// delivers every event committed after this call began, from whichever node (the read costs
/// one query, and only for a node's first subscriber of a room). False if it already was.
pub async fn subscribe(
    store: &Store,
    hub: &Hub,
    connection: &Arc<Connection>,
    room: &Room,
) -> Result<bool, DomainError> {
    if !hub.wants_head(room) {
        return Ok(hub.subscribe(connection, room));
    }
    let head = store.room_log(room).await?.last_seq;
    Ok(hub.subscribe_after(connection, room, Some(head)))
}
