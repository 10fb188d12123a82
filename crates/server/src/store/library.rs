//! The user-owned library (seed 000): playlist items and followed users. Every write is
//! idempotent: repeating it leaves the same state.

use super::{BeginWrite, Store, StoreError, UserRecord, on_pool, on_writer};

/// A playlist item as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PlaylistItemRecord {
    /// The item's id, unique per owner.
    pub item_id: String,
    /// The item's data: JSON text exactly as posted.
    pub data: String,
    /// When the item was first stored, unix ms.
    pub created_at: i64,
    /// When the item was last written, unix ms.
    pub updated_at: i64,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// The id was new: the item was created.
    Created,
    /// The id existed: its data was replaced.
    Replaced,
}

const ITEM: &str =
    "SELECT item_id, data, created_at, updated_at FROM playlist_items WHERE user_id = $1 AND item_id = $2";

impl Store {
    /// `user_id`'s playlist, oldest first.
    pub async fn playlist(&self, user_id: &str) -> Result<Vec<PlaylistItemRecord>, StoreError> {
        const SQL: &str = "SELECT item_id, data, created_at, updated_at FROM playlist_items WHERE user_id = $1 \
                           ORDER BY created_at, item_id";
        on_pool!(self, |pool| { Ok(sqlx::query_as::<_, PlaylistItemRecord>(SQL).bind(user_id).fetch_all(pool).await?) })
    }

    /// Stores `data` under `item_id` in `user_id`'s playlist: creates the item, or replaces the
    /// data of an existing one (keeping its `created_at`). Returns what happened and the item.
    pub async fn upsert_playlist_item(
        &self,
        user_id: &str,
        item_id: &str,
        data: &str,
        at: i64,
    ) -> Result<(Upserted, PlaylistItemRecord), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO playlist_items (user_id, item_id, data, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (user_id, item_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(item_id)
            .bind(data)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let outcome = if inserted == 1 {
                Upserted::Created
            } else {
                sqlx::query("UPDATE playlist_items SET data = $3, updated_at = $4 WHERE user_id = $1 AND item_id = $2")
                    .bind(user_id)
                    .bind(item_id)
                    .bind(data)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                Upserted::Replaced
            };
            let item =
                sqlx::query_as::<_, PlaylistItemRecord>(ITEM).bind(user_id).bind(item_id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok((outcome, item))
        })
    }

    /// Removes `item_id` from `user_id`'s playlist. False if it was not there.
    pub async fn delete_playlist_item(&self, user_id: &str, item_id: &str) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM playlist_items WHERE user_id = $1 AND item_id = $2")
                .bind(user_id)
                .bind(item_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted == 1)
        })
    }

    /// The users `user_id` follows, in the order they were followed.
    pub async fn followed(&self, user_id: &str) -> Result<Vec<UserRecord>, StoreError> {
        const SQL: &str = "SELECT u.id, u.username, u.name, u.created_at, u.last_online \
                           FROM follows f JOIN users u ON u.id = f.followed_id \
                           WHERE f.user_id = $1 ORDER BY f.created_at, u.id";
        on_pool!(self, |pool| { Ok(sqlx::query_as::<_, UserRecord>(SQL).bind(user_id).fetch_all(pool).await?) })
    }

    /// Makes `user_id` follow `followed_id` (an existing user). False if it already did.
    pub async fn follow(&self, user_id: &str, followed_id: &str, at: i64) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let inserted = sqlx::query(
                "INSERT INTO follows (user_id, followed_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, followed_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(followed_id)
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// Makes `user_id` stop following `followed_id`. False if it did not.
    pub async fn unfollow(&self, user_id: &str, followed_id: &str) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM follows WHERE user_id = $1 AND followed_id = $2")
                .bind(user_id)
                .bind(followed_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted == 1)
        })
    }
}
