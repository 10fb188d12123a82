//! Thread invitations (by user, answered by the invitee) and invite links (seed 000's deep
//! links). Every write that admits a member locks the thread's row first (`lock_room!`), so
//! its checks and its change are one atomic step on either engine and across nodes.

use tandem_protocol::room::Room;

use super::guard::{USER_EXISTS, add_member, is_member, lock_member, lock_room};
use super::{BeginWrite, EncodeEvent, Refusal, Store, StoreError, StoredEvent, Written, append_event, on_writer};

/// A pending invitation with the invitee's current username.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InviteRecord {
    /// The thread.
    pub thread_id: String,
    /// The invitee.
    pub user_id: String,
    /// The invitee's current username.
    pub username: String,
    /// The member who invited.
    pub invited_by: String,
    /// When the invitation was made, unix ms.
    pub created_at: i64,
}

impl Store {
    /// Invites `user_id` to `thread_id` on behalf of `invited_by` and appends the invitee's
    /// event to `event_room` (their `user:` room), in one transaction. Refused when the thread
    /// or the invitee does not exist, the inviter is not a member, the invitee already is one
    /// or is already invited.
    pub async fn invite_to_thread(
        &self,
        thread_id: &str,
        user_id: &str,
        invited_by: &str,
        event_room: &str,
        at: i64,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::thread(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, invited_by);
            if !sqlx::query_scalar::<_, bool>(USER_EXISTS).bind(user_id).fetch_one(&mut *tx).await? {
                return Ok(Err(Refusal::NotFound("user")));
            }
            if is_member!(tx, &room, user_id) {
                return Ok(Err(Refusal::Conflict("the user is already a member of this thread")));
            }
            let inserted = sqlx::query(
                "INSERT INTO thread_invites (thread_id, user_id, invited_by, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (thread_id, user_id) DO NOTHING",
            )
            .bind(thread_id)
            .bind(user_id)
            .bind(invited_by)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(Err(Refusal::Conflict("the user is already invited to this thread")));
            }
            let event = append_event!(tx, event_room, at, encode).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// Accepts `user_id`'s invitation to `thread_id`: deletes the invitation, inserts the
    /// membership (joined at `at`) and appends the event to the thread's room, in one
    /// transaction. Refused without an invitation, or when the user already is a member (the
    /// invitation then stays).
    pub async fn accept_invite(
        &self,
        thread_id: &str,
        user_id: &str,
        at: i64,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::thread(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if !lock_room!(pool, tx, &room) {
                return Ok(Err(Refusal::NotFound("invitation")));
            }
            let deleted = sqlx::query("DELETE FROM thread_invites WHERE thread_id = $1 AND user_id = $2")
                .bind(thread_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(Err(Refusal::NotFound("invitation")));
            }
            if !add_member!(tx, &room, user_id, at) {
                return Ok(Err(Refusal::Conflict("the user is already a member of this thread")));
            }
            let event = append_event!(tx, room.as_str(), at, encode).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// Deletes `user_id`'s invitation to `thread_id`. False if there was none.
    pub async fn decline_invite(&self, thread_id: &str, user_id: &str) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM thread_invites WHERE thread_id = $1 AND user_id = $2")
                .bind(thread_id)
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted == 1)
        })
    }

    /// Stores an invite link `code` for `thread_id`, made by `created_by`.
    pub async fn create_invite_link(
        &self,
        thread_id: &str,
        code: &str,
        created_by: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO thread_invite_links (code, thread_id, created_by, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(code)
            .bind(thread_id)
            .bind(created_by)
            .bind(at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Makes `user_id` a member of `thread_id` through the invite link `code` (a pending
    /// invitation of the user is dropped) and appends the event to the thread's room, in one
    /// transaction. Refused for a code that is not this thread's, or an existing member.
    pub async fn join_with_code(
        &self,
        thread_id: &str,
        code: &str,
        user_id: &str,
        at: i64,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::thread(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if !lock_room!(pool, tx, &room) {
                return Ok(Err(Refusal::NotFound("invite link")));
            }
            let valid: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM thread_invite_links WHERE code = $1 AND thread_id = $2)",
            )
            .bind(code)
            .bind(thread_id)
            .fetch_one(&mut *tx)
            .await?;
            if !valid {
                return Ok(Err(Refusal::NotFound("invite link")));
            }
            if !add_member!(tx, &room, user_id, at) {
                return Ok(Err(Refusal::Conflict("the user is already a member of this thread")));
            }
            sqlx::query("DELETE FROM thread_invites WHERE thread_id = $1 AND user_id = $2")
                .bind(thread_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let event = append_event!(tx, room.as_str(), at, encode).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }
}
