//! User rows.

use super::{Store, StoreError, on_pool, on_writer};

/// A pending invitation seen from the invitee's side, with the names it needs.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingInviteRecord {
    /// The thread.
    pub thread_id: String,
    /// The thread's name.
    pub thread_name: String,
    /// The member who invited.
    pub invited_by: String,
    /// That member's current username.
    pub invited_by_username: String,
    /// When the invitation was made, unix ms.
    pub created_at: i64,
}

/// A user as stored. `is_online` is not here on purpose: it is connection state, not data.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// Current username (unique ignoring case).
    pub username: String,
    /// Display name.
    pub name: String,
    /// Sign-up time, unix ms.
    pub created_at: i64,
    /// When the user's last connection closed, unix ms.
    pub last_online: Option<i64>,
}

impl Store {
    /// Inserts a new user. Fails with [`StoreError::Conflict`] if the id or the username
    /// (ignoring case) is taken; nothing is written then.
    pub async fn insert_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query("INSERT INTO users (id, username, name, created_at, last_online) VALUES ($1, $2, $3, $4, $5)")
                .bind(&user.id)
                .bind(&user.username)
                .bind(&user.name)
                .bind(user.created_at)
                .bind(user.last_online)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// The user with this id, if any.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = "SELECT id, username, name, created_at, last_online FROM users WHERE id = $1";
        on_pool!(self, |pool| { Ok(sqlx::query_as::<_, UserRecord>(SQL).bind(id).fetch_optional(pool).await?) })
    }

    /// Sets the username of `id` and returns the updated row, or `None` if there is no such
    /// user. Fails with [`StoreError::Conflict`] if another user has it (ignoring case).
    pub async fn set_username(&self, id: &str, username: &str) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = "UPDATE users SET username = $1 WHERE id = $2 \
                           RETURNING id, username, name, created_at, last_online";
        on_writer!(self, |pool| {
            Ok(sqlx::query_as::<_, UserRecord>(SQL).bind(username).bind(id).fetch_optional(pool).await?)
        })
    }

    /// Up to `limit` users whose username starts with `prefix`, ignoring ASCII case, by username.
    /// `LIKE` wildcards in `prefix` match themselves.
    pub async fn users_by_username_prefix(&self, prefix: &str, limit: i64) -> Result<Vec<UserRecord>, StoreError> {
        const SQL: &str = "SELECT id, username, name, created_at, last_online FROM users \
                           WHERE lower(username) LIKE $1 ESCAPE '\\' ORDER BY lower(username) LIMIT $2";
        let mut pattern = String::with_capacity(prefix.len() + 2);
        for c in prefix.chars().map(|c| c.to_ascii_lowercase()) {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, UserRecord>(SQL).bind(&pattern).bind(limit).fetch_all(pool).await?)
        })
    }

    /// The invitations `user_id` has not answered yet, newest first.
    pub async fn pending_invites_of(&self, user_id: &str) -> Result<Vec<PendingInviteRecord>, StoreError> {
        const SQL: &str = "SELECT i.thread_id, t.name AS thread_name, i.invited_by, \
                           u.username AS invited_by_username, i.created_at \
                           FROM thread_invites i JOIN threads t ON t.id = i.thread_id \
                           JOIN users u ON u.id = i.invited_by \
                           WHERE i.user_id = $1 ORDER BY i.created_at DESC, i.thread_id";
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, PendingInviteRecord>(SQL).bind(user_id).fetch_all(pool).await?)
        })
    }

    /// Records that `id`'s last connection closed at `at` (unix ms). The only presence write.
    pub async fn set_last_online(&self, id: &str, at: i64) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query("UPDATE users SET last_online = $1 WHERE id = $2").bind(at).bind(id).execute(pool).await?;
            Ok(())
        })
    }
}
