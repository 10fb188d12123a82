//! Canvases (seed 004): creation, reads, members, tiles, likes, chat, and the canvas frames of
//! the socket (`canvas_chat`, `typing`, `user_presence`, `tile_mention`).
//!
//! **Visibility.** Only members see a canvas: for anyone else it and everything under it is
//! `NotFound`, the same answer as for a canvas that does not exist.
//!
//! **Events and order.** As for threads: each durable change writes its row and its event in
//! one store transaction and is published after the commit, through [`Commit`].
//!
//! **Exclude-sender.** Tile events are not echoed to the connection that made the REST request
//! when the request names it in `X-Connection-Id` (the `connection_id` of its `connected`
//! frame) and that connection belongs to the caller; the caller's other connections get them,
//! and the event is in the log for every replay. A well-formed id that is not one of the
//! caller's live connections on this node is ignored.

use serde_json::Value;
use tandem_protocol::room::{Room, RoomKind};
use tandem_protocol::ws::{ServerFrame, TileEvent};

use super::events::Commit;
use super::{DomainError, ids, rooms};
use crate::clock;
use crate::hub::{self, ConnId, Except, Hub};
use crate::store::{CanvasChatRecord, CanvasRecord, CanvasView, Envelope, Store, TileRecord, UserRecord};

/// Longest canvas name, in characters (after trimming).
pub const NAME_MAX: usize = 100;
/// Largest width and height.
pub const SIZE_MAX: i64 = 1000;
/// Largest tile data, in bytes of compact JSON.
pub const DATA_MAX: usize = 16 * 1024;
/// Longest chat message, in characters (after trimming).
pub const CHAT_MAX: usize = 2000;
/// Longest `tile_mention` message, in characters.
pub const MENTION_MAX: usize = 500;
/// Longest `highlight_type` of a `tile_mention`.
pub const HIGHLIGHT_TYPE_MAX: usize = 32;
/// Allowed `tile_mention` durations, ms.
pub const MENTION_DURATION: std::ops::RangeInclusive<i64> = 500..=30_000;
/// Chat messages per history page when the caller does not say.
pub const CHAT_PAGE_DEFAULT: i64 = 50;
/// Most chat messages per history page.
pub const CHAT_PAGE_MAX: i64 = 200;

/// Creates a canvas whose first member is `creator`.
pub async fn create(
    store: &Store,
    hub: &Hub,
    creator: &UserRecord,
    name: &str,
    width: i64,
    height: i64,
) -> Result<CanvasView, DomainError> {
    let name = name.trim();
    let length = name.chars().count();
    if !(1..=NAME_MAX).contains(&length) {
        return Err(DomainError::Invalid(format!("canvas name must be 1 to {NAME_MAX} characters long, got {length}")));
    }
    for (what, value) in [("width", width), ("height", height)] {
        if !(1..=SIZE_MAX).contains(&value) {
            return Err(DomainError::Invalid(format!("{what} must be 1 to {SIZE_MAX}, got {value}")));
        }
    }
    let canvas = CanvasRecord {
        id: ids::new_id(),
        name: name.to_owned(),
        width,
        height,
        created_by: creator.id.clone(),
        created_at: clock::now_ms(),
    };
    store.create_canvas(&canvas).await?;
    hub.add_member(&creator.id, &Room::canvas(&canvas.id));
    // A new canvas's room has no event yet.
    Ok(CanvasView { canvas, members: vec![creator.id.clone()], tiles: Vec::new(), seq: 0 })
}

/// The canvas as its member `user_id` sees it; `NotFound` for everyone else.
pub async fn get(store: &Store, user_id: &str, canvas_id: &str) -> Result<CanvasView, DomainError> {
    if !ids::is_id(canvas_id) {
        return Err(DomainError::NotFound("canvas"));
    }
    store.canvas_view(canvas_id, user_id).await?.ok_or(DomainError::NotFound("canvas"))
}

/// The canvas, if `user_id` is a member (`NotFound("canvas")` otherwise).
async fn member_canvas(store: &Store, user_id: &str, canvas_id: &str) -> Result<CanvasRecord, DomainError> {
    if !ids::is_id(canvas_id) {
        return Err(DomainError::NotFound("canvas"));
    }
    rooms::require_member(store, &Room::canvas(canvas_id), user_id).await?;
    store.canvas(canvas_id).await?.ok_or(DomainError::NotFound("canvas"))
}

/// Adds `user_id` as a member (members only). Returns the canvas.
pub async fn add_member(
    store: &Store,
    hub: &Hub,
    caller: &str,
    canvas_id: &str,
    user_id: &str,
) -> Result<CanvasView, DomainError> {
    member_canvas(store, caller, canvas_id).await?;
    if !ids::is_id(user_id) {
        return Err(DomainError::Invalid("user_id must be 24 lowercase hex characters".into()));
    }
    store.add_canvas_member(canvas_id, caller, user_id, clock::now_ms()).await??;
    hub.add_member(user_id, &Room::canvas(canvas_id));
    get(store, caller, canvas_id).await
}

/// Checks `(x, y)` against the canvas's bounds.
pub fn check_cell(canvas: &CanvasRecord, x: i64, y: i64) -> Result<(), DomainError> {
    if (0..canvas.width).contains(&x) && (0..canvas.height).contains(&y) {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!(
            "({x}, {y}) is outside the canvas: 0 <= x < {}, 0 <= y < {}",
            canvas.width, canvas.height
        )))
    }
}

fn data_text(data: &Value) -> Result<String, DomainError> {
    let text = data.to_string();
    if text.len() > DATA_MAX {
        return Err(DomainError::TooLarge(format!(
            "tile data is {} bytes of JSON; the limit is {DATA_MAX}",
            text.len()
        )));
    }
    Ok(text)
}

/// Whom a tile event skips: the caller's connection named by `X-Connection-Id`, if it is
/// one of the caller's live connections here. A malformed id is `Invalid`.
pub fn author_connection(hub: &Hub, caller: &str, header: Option<&str>) -> Result<Option<Except>, DomainError> {
    let Some(header) = header.map(str::trim) else { return Ok(None) };
    let id = u64::from_str_radix(header, 16)
        .map_err(|_| DomainError::Invalid("X-Connection-Id must be the connection_id of a `connected` frame".into()))?;
    let id = ConnId(id);
    Ok(hub.owns_connection(caller, id).then_some(Except::Connection(id)))
}

/// Which tile frame to build.
#[derive(Debug, Clone, Copy)]
enum TileKind {
    Created,
    Updated,
    Liked,
}

fn tile_encoder(kind: TileKind, actor: &str) -> impl FnOnce(&TileRecord, &Envelope<'_>) -> String + Send + use<> {
    let actor = actor.to_owned();
    move |tile, envelope| {
        let timestamp = envelope.timestamp;
        let event = TileEvent {
            room: envelope.room.to_owned(),
            seq: envelope.seq,
            tile_id: tile.id.clone(),
            canvas_id: tile.canvas_id.clone(),
            creator_id: tile.created_by.clone(),
            user_id: actor,
            x: tile.x,
            y: tile.y,
            data: serde_json::from_str(&tile.data).unwrap_or(Value::Null),
            like_count: tile.like_count,
            timestamp,
        };
        hub::to_json(&match kind {
            TileKind::Created => ServerFrame::TileCreated(event),
            TileKind::Updated => ServerFrame::TileUpdated(event),
            TileKind::Liked => ServerFrame::TileLiked(event),
        })
    }
}

/// Creates a tile at `(x, y)` (inside the canvas, else `Invalid`; a taken cell is
/// `Conflict`). Returns the tile and its event's seq.
pub async fn create_tile(
    store: &Store,
    hub: &Hub,
    caller: &str,
    canvas_id: &str,
    (x, y): (i64, i64),
    data: &Value,
    except: Option<Except>,
) -> Result<(TileRecord, i64), DomainError> {
    let canvas = member_canvas(store, caller, canvas_id).await?;
    check_cell(&canvas, x, y)?;
    let at = clock::now_ms();
    let tile = TileRecord {
        id: ids::new_id(),
        canvas_id: canvas.id.clone(),
        x,
        y,
        data: data_text(data)?,
        created_by: caller.to_owned(),
        created_at: at,
        updated_at: at,
        like_count: 0,
    };
    let room = Room::canvas(canvas_id);
    let write = store.create_tile(&tile, tile_encoder(TileKind::Created, caller));
    let (tile, published) = Commit::new(hub, &room).except(except).run(write).await?;
    Ok((tile, published.seq))
}

/// Replaces a tile's data (its creator only, else `Forbidden`).
pub async fn update_tile(
    store: &Store,
    hub: &Hub,
    caller: &str,
    canvas_id: &str,
    tile_id: &str,
    data: &Value,
    except: Option<Except>,
) -> Result<(TileRecord, i64), DomainError> {
    member_canvas(store, caller, canvas_id).await?;
    if !ids::is_id(tile_id) {
        return Err(DomainError::NotFound("tile"));
    }
    let text = data_text(data)?;
    let room = Room::canvas(canvas_id);
    let write =
        store.update_tile(canvas_id, tile_id, caller, &text, clock::now_ms(), tile_encoder(TileKind::Updated, caller));
    let (tile, published) = Commit::new(hub, &room).except(except).run(write).await?;
    Ok((tile, published.seq))
}

/// Likes a tile (once per user, else `Conflict`).
pub async fn like_tile(
    store: &Store,
    hub: &Hub,
    caller: &str,
    canvas_id: &str,
    tile_id: &str,
    except: Option<Except>,
) -> Result<(TileRecord, i64), DomainError> {
    member_canvas(store, caller, canvas_id).await?;
    if !ids::is_id(tile_id) {
        return Err(DomainError::NotFound("tile"));
    }
    let room = Room::canvas(canvas_id);
    let write = store.like_tile(canvas_id, tile_id, caller, clock::now_ms(), tile_encoder(TileKind::Liked, caller));
    let (tile, published) = Commit::new(hub, &room).except(except).run(write).await?;
    Ok((tile, published.seq))
}

/// The newest `limit` (1..=200, default 50) chat messages, oldest first (members only).
pub async fn chat_history(
    store: &Store,
    caller: &str,
    canvas_id: &str,
    limit: Option<i64>,
) -> Result<Vec<CanvasChatRecord>, DomainError> {
    member_canvas(store, caller, canvas_id).await?;
    let limit = limit.unwrap_or(CHAT_PAGE_DEFAULT);
    if !(1..=CHAT_PAGE_MAX).contains(&limit) {
        return Err(DomainError::Invalid(format!("limit must be 1 to {CHAT_PAGE_MAX}")));
    }
    Ok(store.canvas_chat(canvas_id, limit).await?)
}

/// A `canvas_chat` frame: 1..=2000 characters after trimming, by a member; stored and sent to
/// every viewer (the sender included) as `canvas_chat_message`.
pub async fn post_chat(
    store: &Store,
    hub: &Hub,
    sender: &UserRecord,
    room: &Room,
    text: &str,
) -> Result<i64, DomainError> {
    let canvas_id = canvas_id_of(room)?;
    let text = text.trim();
    let length = text.chars().count();
    if !(1..=CHAT_MAX).contains(&length) {
        return Err(DomainError::Invalid(format!("chat text must be 1 to {CHAT_MAX} characters long, got {length}")));
    }
    member_canvas(store, &sender.id, canvas_id).await?;
    let (id, at) = (ids::new_id(), clock::now_ms());
    let encode = {
        let (id, canvas_id, sender, text) = (id.clone(), canvas_id.to_owned(), sender.clone(), text.to_owned());
        move |envelope: &Envelope<'_>| {
            let (seq, timestamp) = (envelope.seq, envelope.timestamp);
            hub::to_json(&ServerFrame::CanvasChatMessage {
                room: envelope.room.to_owned(),
                seq,
                message_id: id,
                canvas_id,
                sender_id: sender.id,
                sender_username: sender.username,
                message_text: text,
                created_at: clock::rfc3339_ms(timestamp),
                timestamp,
            })
        }
    };
    let write = store.insert_canvas_chat(&id, canvas_id, &sender.id, text, at, encode);
    let ((), published) = Commit::new(hub, room).run(write).await?;
    Ok(published.seq)
}

/// Checks a `tile_mention` (the caller checked the cell against the canvas's bounds) and
/// builds its frame for the other viewers of `room`.
pub fn mention_frame(
    room: &Room,
    sender: &UserRecord,
    (x, y): (i64, i64),
    message: &str,
    duration: i64,
    highlight_type: &str,
) -> Result<ServerFrame, DomainError> {
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if !(1..=HIGHLIGHT_TYPE_MAX).contains(&highlight_type.len()) || !highlight_type.chars().all(valid) {
        return Err(DomainError::Invalid(format!(
            "highlight_type must be 1 to {HIGHLIGHT_TYPE_MAX} of a-z, 0-9 and _, got `{highlight_type}`"
        )));
    }
    if !MENTION_DURATION.contains(&duration) {
        return Err(DomainError::Invalid(format!(
            "duration must be {} to {} ms, got {duration}",
            MENTION_DURATION.start(),
            MENTION_DURATION.end()
        )));
    }
    let length = message.chars().count();
    if length > MENTION_MAX {
        return Err(DomainError::Invalid(format!("message must be at most {MENTION_MAX} characters, got {length}")));
    }
    Ok(ServerFrame::TileMention {
        room: room.to_string(),
        user_id: sender.id.clone(),
        username: sender.username.clone(),
        tile_x: x,
        tile_y: y,
        message: message.to_owned(),
        duration,
        highlight_type: highlight_type.to_owned(),
        timestamp: clock::now_ms(),
    })
}

/// The canvas id of a room, `Invalid` unless it is a `canvas:` room.
pub fn canvas_id_of(room: &Room) -> Result<&str, DomainError> {
    Ok(room.id_of(RoomKind::Canvas)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas() -> CanvasRecord {
        CanvasRecord { id: "c".into(), name: "n".into(), width: 10, height: 5, created_by: "u".into(), created_at: 0 }
    }

    #[test]
    fn cells_are_bounded_by_the_canvas() {
        let canvas = canvas();
        assert!(check_cell(&canvas, 0, 0).is_ok());
        assert!(check_cell(&canvas, 9, 4).is_ok());
        assert!(check_cell(&canvas, 10, 0).is_err());
        assert!(check_cell(&canvas, 0, 5).is_err());
        assert!(check_cell(&canvas, -1, 0).is_err());
    }

    #[test]
    fn mentions_check_duration_and_message() {
        let canvas = canvas();
        let user =
            UserRecord { id: "u".into(), username: "u".into(), name: String::new(), created_at: 0, last_online: None };
        let canvas = Room::canvas(&canvas.id);
        assert!(mention_frame(&canvas, &user, (1, 1), "hi", 500, "mention").is_ok());
        assert!(mention_frame(&canvas, &user, (1, 1), "hi", 499, "mention").is_err());
        assert!(mention_frame(&canvas, &user, (1, 1), "hi", 30_001, "mention").is_err());
        assert!(mention_frame(&canvas, &user, (1, 1), &"x".repeat(501), 1000, "mention").is_err());
        assert!(mention_frame(&canvas, &user, (1, 1), "hi", 1000, "question_2").is_ok());
        for bad in ["", "Mention", "a-b", &"x".repeat(33)] {
            assert!(mention_frame(&canvas, &user, (1, 1), "hi", 1000, bad).is_err(), "{bad:?}");
        }
    }
}
