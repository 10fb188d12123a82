//! Canvases (seed 004): canvas rows, tiles, likes and chat.
//!
//! Membership is the generic `room_members` table with room `canvas:{id}`.
//! Every write with an event first locks the canvas's row and checks membership
//! ([`lock_member!`]), writes and appends the event with [`append_event!`], all in one
//! transaction, exactly like threads.

use tandem_protocol::room::Room;

use super::guard::{USER_EXISTS, add_member, lock_member};
use super::members::ADD_MEMBER;
use super::{
    BeginRead, BeginWrite, EncodeEvent, Envelope, ROOM_SEQ, Refusal, Store, StoreError, StoredEvent, Written,
    append_event, on_pool, on_writer,
};

/// A canvas as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CanvasRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The canvas's name.
    pub name: String,
    /// Columns.
    pub width: i64,
    /// Rows.
    pub height: i64,
    /// The creator.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
}

/// A tile as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TileRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The canvas.
    pub canvas_id: String,
    /// Column.
    pub x: i64,
    /// Row.
    pub y: i64,
    /// JSON text as posted.
    pub data: String,
    /// The creator.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Likes.
    pub like_count: i64,
}

/// A canvas chat message as stored, with the sender's current username.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CanvasChatRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The canvas.
    pub canvas_id: String,
    /// The sender.
    pub user_id: String,
    /// The sender's current username.
    pub username: String,
    /// The text.
    pub text: String,
    /// Unix ms.
    pub created_at: i64,
    /// Seq of its event.
    pub seq: i64,
}

/// A canvas with its members (user ids in join order) and tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanvasView {
    /// The canvas row.
    pub canvas: CanvasRecord,
    /// Member ids.
    pub members: Vec<String>,
    /// Tiles by row, then column.
    pub tiles: Vec<TileRecord>,
    /// The canvas room's newest seq, read in the same snapshot as the rest.
    pub seq: i64,
}

const CANVAS: &str = "SELECT id, name, width, height, created_by, created_at FROM canvases WHERE id = $1";
const TILE_COLUMNS: &str = "id, canvas_id, x, y, data, created_by, created_at, updated_at, like_count";

impl Store {
    /// Creates a canvas whose first member is its creator, in one transaction.
    pub async fn create_canvas(&self, canvas: &CanvasRecord) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO canvases (id, name, width, height, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&canvas.id)
            .bind(&canvas.name)
            .bind(canvas.width)
            .bind(canvas.height)
            .bind(&canvas.created_by)
            .bind(canvas.created_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(ADD_MEMBER)
                .bind(Room::canvas(&canvas.id).to_string())
                .bind(&canvas.created_by)
                .bind(canvas.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The canvas `id`, if it exists (membership is the caller's business).
    pub async fn canvas(&self, id: &str) -> Result<Option<CanvasRecord>, StoreError> {
        on_pool!(self, |pool| { Ok(sqlx::query_as::<_, CanvasRecord>(CANVAS).bind(id).fetch_optional(pool).await?) })
    }

    /// The canvas with members and tiles if `member_id` is a member (`None` otherwise, alike).
    pub async fn canvas_view(&self, canvas_id: &str, member_id: &str) -> Result<Option<CanvasView>, StoreError> {
        let room = Room::canvas(canvas_id);
        let tiles_sql = format!("SELECT {TILE_COLUMNS} FROM canvas_tiles WHERE canvas_id = $1 ORDER BY y, x");
        on_pool!(self, |pool| {
            let mut tx = pool.begin_read().await?;
            let Some(canvas) =
                sqlx::query_as::<_, CanvasRecord>(CANVAS).bind(canvas_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(None);
            };
            let members: Vec<String> =
                sqlx::query_scalar("SELECT user_id FROM room_members WHERE room = $1 ORDER BY joined_at, user_id")
                    .bind(room.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            if !members.iter().any(|m| m == member_id) {
                return Ok(None);
            }
            let tiles = sqlx::query_as::<_, TileRecord>(sqlx::AssertSqlSafe(tiles_sql.clone()))
                .bind(canvas_id)
                .fetch_all(&mut *tx)
                .await?;
            let seq: i64 = sqlx::query_scalar(ROOM_SEQ).bind(room.as_str()).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(CanvasView { canvas, members, tiles, seq }))
        })
    }

    /// Adds `user_id` to the canvas on behalf of the member `actor`.
    pub async fn add_canvas_member(
        &self,
        canvas_id: &str,
        actor: &str,
        user_id: &str,
        at: i64,
    ) -> Result<Written<()>, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let room = Room::canvas(canvas_id);
            lock_member!(pool, tx, &room, actor);
            if !sqlx::query_scalar::<_, bool>(USER_EXISTS).bind(user_id).fetch_one(&mut *tx).await? {
                return Ok(Err(Refusal::NotFound("user")));
            }
            if !add_member!(tx, &room, user_id, at) {
                return Ok(Err(Refusal::Conflict("the user is already a member of this canvas")));
            }
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    /// Creates a tile of the member `tile.created_by` in a free cell and appends its event
    /// (`encode(tile, envelope)`), in one transaction. Bounds are the caller's business.
    pub async fn create_tile(
        &self,
        tile: &TileRecord,
        encode: impl FnOnce(&TileRecord, &Envelope<'_>) -> String + Send,
    ) -> Result<Written<(TileRecord, StoredEvent)>, StoreError> {
        let room = Room::canvas(&tile.canvas_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, &tile.created_by);
            let inserted = sqlx::query(
                "INSERT INTO canvas_tiles (id, canvas_id, x, y, data, created_by, created_at, updated_at, like_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) ON CONFLICT (canvas_id, x, y) DO NOTHING",
            )
            .bind(&tile.id)
            .bind(&tile.canvas_id)
            .bind(tile.x)
            .bind(tile.y)
            .bind(&tile.data)
            .bind(&tile.created_by)
            .bind(tile.created_at)
            .bind(tile.updated_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(Err(Refusal::Conflict("that cell already has a tile")));
            }
            let stored = tile.clone();
            let event =
                append_event!(tx, room.as_str(), tile.created_at, |envelope: &Envelope<'_>| encode(&stored, envelope))
                    .await?;
            tx.commit().await?;
            Ok(Ok((tile.clone(), event)))
        })
    }

    /// Replaces the data of `tile_id` (its creator `user_id` only) and appends the event.
    pub async fn update_tile(
        &self,
        canvas_id: &str,
        tile_id: &str,
        user_id: &str,
        data: &str,
        at: i64,
        encode: impl FnOnce(&TileRecord, &Envelope<'_>) -> String + Send,
    ) -> Result<Written<(TileRecord, StoredEvent)>, StoreError> {
        let room = Room::canvas(canvas_id);
        let tile_sql = format!("SELECT {TILE_COLUMNS} FROM canvas_tiles WHERE id = $1 AND canvas_id = $2");
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, user_id);
            let Some(mut tile) = sqlx::query_as::<_, TileRecord>(sqlx::AssertSqlSafe(tile_sql.clone()))
                .bind(tile_id)
                .bind(canvas_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(Err(Refusal::NotFound("tile")));
            };
            if tile.created_by != user_id {
                return Ok(Err(Refusal::Forbidden("only the tile's creator can update it")));
            }
            sqlx::query("UPDATE canvas_tiles SET data = $1, updated_at = $2 WHERE id = $3")
                .bind(data)
                .bind(at)
                .bind(tile_id)
                .execute(&mut *tx)
                .await?;
            data.clone_into(&mut tile.data);
            tile.updated_at = at;
            let stored = tile.clone();
            let event =
                append_event!(tx, room.as_str(), at, |envelope: &Envelope<'_>| encode(&stored, envelope)).await?;
            tx.commit().await?;
            Ok(Ok((tile, event)))
        })
    }

    /// Records `user_id`'s like of `tile_id` (once per user), bumps its count and appends the
    /// event, in one transaction.
    pub async fn like_tile(
        &self,
        canvas_id: &str,
        tile_id: &str,
        user_id: &str,
        at: i64,
        encode: impl FnOnce(&TileRecord, &Envelope<'_>) -> String + Send,
    ) -> Result<Written<(TileRecord, StoredEvent)>, StoreError> {
        let room = Room::canvas(canvas_id);
        let tile_sql = format!("SELECT {TILE_COLUMNS} FROM canvas_tiles WHERE id = $1 AND canvas_id = $2");
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, user_id);
            let Some(mut tile) = sqlx::query_as::<_, TileRecord>(sqlx::AssertSqlSafe(tile_sql.clone()))
                .bind(tile_id)
                .bind(canvas_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(Err(Refusal::NotFound("tile")));
            };
            let liked = sqlx::query(
                "INSERT INTO canvas_tile_likes (tile_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (tile_id, user_id) DO NOTHING",
            )
            .bind(tile_id)
            .bind(user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if liked == 0 {
                return Ok(Err(Refusal::Conflict("you already liked this tile")));
            }
            tile.like_count = sqlx::query_scalar(
                "UPDATE canvas_tiles SET like_count = like_count + 1 WHERE id = $1 RETURNING like_count",
            )
            .bind(tile_id)
            .fetch_one(&mut *tx)
            .await?;
            let stored = tile.clone();
            let event =
                append_event!(tx, room.as_str(), at, |envelope: &Envelope<'_>| encode(&stored, envelope)).await?;
            tx.commit().await?;
            Ok(Ok((tile, event)))
        })
    }

    /// Stores a chat message of the member `user_id` and appends its event; the message's seq
    /// is the event's.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_canvas_chat(
        &self,
        id: &str,
        canvas_id: &str,
        user_id: &str,
        text: &str,
        at: i64,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::canvas(canvas_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, user_id);
            let event = append_event!(tx, room.as_str(), at, encode).await?;
            sqlx::query(
                "INSERT INTO canvas_chat (id, canvas_id, user_id, text, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(canvas_id)
            .bind(user_id)
            .bind(text)
            .bind(at)
            .bind(event.seq)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// The newest `limit` chat messages of `canvas_id`, oldest first.
    pub async fn canvas_chat(&self, canvas_id: &str, limit: i64) -> Result<Vec<CanvasChatRecord>, StoreError> {
        const SQL: &str = "SELECT c.id, c.canvas_id, c.user_id, u.username, c.text, c.created_at, c.seq \
                           FROM canvas_chat c JOIN users u ON u.id = c.user_id \
                           WHERE c.canvas_id = $1 ORDER BY c.seq DESC LIMIT $2";
        let mut messages = on_pool!(self, |pool| {
            sqlx::query_as::<_, CanvasChatRecord>(SQL).bind(canvas_id).bind(limit).fetch_all(pool).await?
        });
        messages.reverse();
        Ok(messages)
    }
}
