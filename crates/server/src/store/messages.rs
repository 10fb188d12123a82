//! Thread messages: posting, editing and deleting (each with its event, in one transaction
//! that first locks the thread's row), and paging through them.

use tandem_protocol::room::Room;

use super::guard::lock_member;
use super::{
    BeginWrite, EncodeEvent, Refusal, Store, StoreError, StoredEvent, Written, append_event, on_pool, on_writer,
};

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The thread.
    pub thread_id: String,
    /// The author.
    pub user_id: String,
    /// The body: JSON text exactly as posted (or as last edited).
    pub snapshot: String,
    /// When it was posted, unix ms.
    pub created_at: i64,
    /// When its snapshot was last replaced, unix ms (`None` if never edited).
    pub updated_at: Option<i64>,
    /// The seq of its `message_created` event in the thread's room (orders messages).
    pub seq: i64,
}

/// A message to insert.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// Its new id.
    pub id: &'a str,
    /// The thread.
    pub thread_id: &'a str,
    /// The author (must be a member).
    pub user_id: &'a str,
    /// The body as JSON text.
    pub snapshot: &'a str,
    /// When it was posted, unix ms (also the event's timestamp).
    pub created_at: i64,
}

const COLUMNS: &str = "id, thread_id, user_id, snapshot, created_at, updated_at, seq";

impl Store {
    /// Stores a message of a member and appends its event to the thread's room, in one
    /// transaction; the message's `seq` is the event's. Refused when the thread does not exist
    /// or the author is not a member (both `NotFound("thread")`).
    pub async fn insert_message(
        &self,
        message: NewMessage<'_>,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::thread(message.thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, message.user_id);
            let event = append_event!(tx, room.as_str(), message.created_at, encode).await?;
            sqlx::query(
                "INSERT INTO messages (id, thread_id, user_id, snapshot, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(message.id)
            .bind(message.thread_id)
            .bind(message.user_id)
            .bind(message.snapshot)
            .bind(message.created_at)
            .bind(event.seq)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// Replaces the snapshot of message `message_id` of `thread_id` (by its author `user_id`,
    /// who must still be a member) and appends the event, in one transaction. `encode` gets
    /// the message as it is after the edit. Refused: no thread or not a member →
    /// `NotFound("thread")`; no such message there → `NotFound("message")`; someone else's →
    /// `Forbidden`.
    pub async fn update_message(
        &self,
        thread_id: &str,
        message_id: &str,
        user_id: &str,
        snapshot: &str,
        at: i64,
        encode: impl FnOnce(&MessageRecord, &super::Envelope<'_>) -> String + Send,
    ) -> Result<Written<(MessageRecord, StoredEvent)>, StoreError> {
        let room = Room::thread(thread_id);
        let select = format!("SELECT {COLUMNS} FROM messages WHERE id = $1 AND thread_id = $2");
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, user_id);
            let Some(mut message) = sqlx::query_as::<_, MessageRecord>(sqlx::AssertSqlSafe(select.as_str()))
                .bind(message_id)
                .bind(thread_id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(Err(Refusal::NotFound("message")));
            };
            if message.user_id != user_id {
                return Ok(Err(Refusal::Forbidden("only the message's author can edit it")));
            }
            sqlx::query("UPDATE messages SET snapshot = $1, updated_at = $2 WHERE id = $3")
                .bind(snapshot)
                .bind(at)
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            message.snapshot = snapshot.to_owned();
            message.updated_at = Some(at);
            let event =
                append_event!(tx, room.as_str(), at, |envelope: &super::Envelope<'_>| encode(&message, envelope))
                    .await?;
            tx.commit().await?;
            Ok(Ok((message, event)))
        })
    }

    /// Deletes message `message_id` of `thread_id` for `user_id` — its author, or the thread's
    /// creator — and appends the event, in one transaction; the message is gone from the
    /// history. Refused like [`Store::update_message`], with `Forbidden` for other members.
    pub async fn delete_message(
        &self,
        thread_id: &str,
        message_id: &str,
        user_id: &str,
        at: i64,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::thread(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, user_id);
            let found: Option<(String, String)> = sqlx::query_as(
                "SELECT m.user_id, t.created_by FROM messages m JOIN threads t ON t.id = m.thread_id \
                 WHERE m.id = $1 AND m.thread_id = $2",
            )
            .bind(message_id)
            .bind(thread_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((author, creator)) = found else {
                return Ok(Err(Refusal::NotFound("message")));
            };
            if author != user_id && creator != user_id {
                return Ok(Err(Refusal::Forbidden("only the message's author or the thread's creator can delete it")));
            }
            sqlx::query("DELETE FROM messages WHERE id = $1").bind(message_id).execute(&mut *tx).await?;
            let event = append_event!(tx, room.as_str(), at, encode).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// The message `message_id` of `thread_id`, if it exists there.
    pub async fn message(&self, thread_id: &str, message_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE id = $1 AND thread_id = $2");
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, MessageRecord>(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(message_id)
                .bind(thread_id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Up to `limit` messages of `thread_id` with a seq below `before_seq`, newest first.
    pub async fn messages_before(
        &self,
        thread_id: &str,
        before_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM messages WHERE thread_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3");
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, MessageRecord>(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(thread_id)
                .bind(before_seq)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }
}
