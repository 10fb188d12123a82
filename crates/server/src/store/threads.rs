//! Threads: thread rows, their members, and views of both (invitations and links are in
//! `invites`, messages in `messages`).
//!
//! Membership is the generic `room_members` table with room `thread:{id}`.
//! Usernames and names are always read by JOIN with `users`, never copied, so every read shows
//! the current ones. Every write that has an event appends it with [`append_event!`] in the same
//! transaction, and every write that depends on the thread's membership first locks the
//! thread's row (`guard::lock_room!`), so its checks and its change are one atomic step on either
//! engine and across nodes.

use std::collections::HashMap;
use tandem_protocol::room::{Room, RoomKind};

use super::guard::lock_room;
use super::invites::InviteRecord;
use super::members::ADD_MEMBER;
use super::{
    BeginRead, BeginWrite, EncodeEvent, ROOM_SEQ, Refusal, Store, StoreError, StoredEvent, Written, append_event,
    on_pool, on_writer,
};

/// A thread as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThreadRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The thread's name.
    pub name: String,
    /// The creator's user id.
    pub created_by: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A member of a thread with the user's current username and name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThreadMemberRecord {
    /// The thread.
    pub thread_id: String,
    /// The member.
    pub user_id: String,
    /// The member's current username.
    pub username: String,
    /// The member's current display name.
    pub name: String,
    /// When they became a member, unix ms.
    pub joined_at: i64,
    /// When their last connection closed, unix ms (`None` if never).
    pub last_online: Option<i64>,
}

/// A thread with its members (in join order) and pending invitations (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadView {
    /// The thread row.
    pub thread: ThreadRecord,
    /// Its members.
    pub members: Vec<ThreadMemberRecord>,
    /// Its pending invitations.
    pub invites: Vec<InviteRecord>,
    /// The thread room's newest seq, read in the same snapshot as the rest.
    pub seq: i64,
}

const THREAD: &str = "SELECT id, name, created_by, created_at FROM threads WHERE id = $1";

/// Thread rooms' prefix, bound as `$2` where the SQL below selects thread rooms or cuts the id out.
const PREFIX: &str = RoomKind::Thread.prefix();

const MEMBERS_OF_ROOM: &str = "SELECT substr(m.room, length(CAST($2 AS TEXT)) + 1) AS thread_id, u.id AS user_id, u.username, u.name, m.joined_at, \
                               u.last_online \
                               FROM room_members m JOIN users u ON u.id = m.user_id \
                               WHERE m.room = $1 ORDER BY m.joined_at, u.id";
const INVITES_OF_THREAD: &str = "SELECT i.thread_id, i.user_id, u.username, i.invited_by, i.created_at \
                                 FROM thread_invites i JOIN users u ON u.id = i.user_id \
                                 WHERE i.thread_id = $1 ORDER BY i.created_at, i.user_id";

const THREADS_OF_USER: &str = "SELECT t.id, t.name, t.created_by, t.created_at \
                               FROM room_members m JOIN threads t ON t.id = substr(m.room, length(CAST($2 AS TEXT)) + 1) \
                               WHERE m.user_id = $1 AND substr(m.room, 1, length(CAST($2 AS TEXT))) = $2 \
                               ORDER BY t.created_at DESC, t.id DESC";
const MEMBERS_OF_USERS_THREADS: &str = "SELECT substr(m.room, length(CAST($2 AS TEXT)) + 1) AS thread_id, u.id AS user_id, u.username, u.name, \
                                        m.joined_at, u.last_online \
                                        FROM room_members mine \
                                        JOIN room_members m ON m.room = mine.room \
                                        JOIN users u ON u.id = m.user_id \
                                        WHERE mine.user_id = $1 AND substr(mine.room, 1, length(CAST($2 AS TEXT))) = $2 \
                                        ORDER BY m.joined_at, u.id";
const INVITES_OF_USERS_THREADS: &str = "SELECT i.thread_id, i.user_id, u.username, i.invited_by, i.created_at \
                                        FROM room_members mine \
                                        JOIN thread_invites i ON i.thread_id = substr(mine.room, length(CAST($2 AS TEXT)) + 1) \
                                        JOIN users u ON u.id = i.user_id \
                                        WHERE mine.user_id = $1 AND substr(mine.room, 1, length(CAST($2 AS TEXT))) = $2 \
                                        ORDER BY i.created_at, i.user_id";

impl Store {
    /// Creates a thread and makes its creator its first member (joined at `created_at`), in
    /// one transaction.
    pub async fn create_thread(&self, thread: &ThreadRecord) -> Result<(), StoreError> {
        let room = Room::thread(&thread.id).to_string();
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO threads (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&thread.id)
                .bind(&thread.name)
                .bind(&thread.created_by)
                .bind(thread.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(ADD_MEMBER)
                .bind(room.as_str())
                .bind(&thread.created_by)
                .bind(thread.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The thread `id`, if it exists (whoever asks; membership is the caller's business).
    pub async fn thread(&self, id: &str) -> Result<Option<ThreadRecord>, StoreError> {
        on_pool!(self, |pool| { Ok(sqlx::query_as::<_, ThreadRecord>(THREAD).bind(id).fetch_optional(pool).await?) })
    }

    /// The thread `thread_id` with its members and invitations, if it exists and `member_id`
    /// is one of its members (`None` otherwise, alike). Three queries in one snapshot.
    pub async fn thread_view(&self, thread_id: &str, member_id: &str) -> Result<Option<ThreadView>, StoreError> {
        let room = Room::thread(thread_id);
        on_pool!(self, |pool| {
            let mut tx = pool.begin_read().await?;
            let Some(thread) =
                sqlx::query_as::<_, ThreadRecord>(THREAD).bind(thread_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(None);
            };
            let members = sqlx::query_as::<_, ThreadMemberRecord>(MEMBERS_OF_ROOM)
                .bind(room.as_str())
                .bind(PREFIX)
                .fetch_all(&mut *tx)
                .await?;
            if !members.iter().any(|m| m.user_id == member_id) {
                return Ok(None);
            }
            let invites =
                sqlx::query_as::<_, InviteRecord>(INVITES_OF_THREAD).bind(thread_id).fetch_all(&mut *tx).await?;
            let seq: i64 = sqlx::query_scalar(ROOM_SEQ).bind(room.as_str()).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(ThreadView { thread, members, invites, seq }))
        })
    }

    /// Every thread `user_id` is a member of, newest first, with members and invitations:
    /// always four queries in one snapshot, however many threads and members there are.
    pub async fn thread_views_of(&self, user_id: &str) -> Result<Vec<ThreadView>, StoreError> {
        let thread_rooms = format!("{PREFIX}%");
        let (threads, members, invites, seqs) = on_pool!(self, |pool| {
            let mut tx = pool.begin_read().await?;
            let threads = sqlx::query_as::<_, ThreadRecord>(THREADS_OF_USER)
                .bind(user_id)
                .bind(PREFIX)
                .fetch_all(&mut *tx)
                .await?;
            let members = sqlx::query_as::<_, ThreadMemberRecord>(MEMBERS_OF_USERS_THREADS)
                .bind(user_id)
                .bind(PREFIX)
                .fetch_all(&mut *tx)
                .await?;
            let invites = sqlx::query_as::<_, InviteRecord>(INVITES_OF_USERS_THREADS)
                .bind(user_id)
                .bind(PREFIX)
                .fetch_all(&mut *tx)
                .await?;
            let seqs: Vec<(String, i64)> = sqlx::query_as(
                "SELECT r.room, r.last_seq FROM rooms r JOIN room_members m ON m.room = r.room \
                 WHERE m.user_id = $1 AND r.room LIKE $2",
            )
            .bind(user_id)
            .bind(&thread_rooms)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (threads, members, invites, seqs)
        });
        let seqs: HashMap<String, i64> = seqs.into_iter().collect();
        let mut views: Vec<ThreadView> = threads
            .into_iter()
            .map(|thread| {
                let seq = seqs.get(&Room::thread(&thread.id).to_string()).copied().unwrap_or(0);
                ThreadView { thread, members: Vec::new(), invites: Vec::new(), seq }
            })
            .collect();
        let index: HashMap<String, usize> =
            views.iter().enumerate().map(|(i, view)| (view.thread.id.clone(), i)).collect();
        for member in members {
            if let Some(&i) = index.get(&member.thread_id) {
                views[i].members.push(member);
            }
        }
        for invite in invites {
            if let Some(&i) = index.get(&invite.thread_id) {
                views[i].invites.push(invite);
            }
        }
        Ok(views)
    }

    /// Ends `user_id`'s membership of `thread_id` and appends the event to the thread's room,
    /// in one transaction. Refused when the user is not a member.
    pub async fn remove_thread_member(
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
                return Ok(Err(Refusal::NotFound("thread")));
            }
            let deleted = sqlx::query("DELETE FROM room_members WHERE room = $1 AND user_id = $2")
                .bind(room.as_str())
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(Err(Refusal::NotFound("member")));
            }
            let event = append_event!(tx, room.as_str(), at, encode).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }
}
