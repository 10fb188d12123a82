//! Threads: thread rows, invitations, invite links and messages.
//!
//! Membership is the generic `room_members` table with room `thread:{id}` ([`thread_room`]).
//! Usernames and names are always read by JOIN with `users`, never copied, so every read shows
//! the current ones. Every write that has an event appends it with [`append_event!`] in the same
//! transaction, and every write that depends on the thread's membership first locks the
//! thread's row ([`ThreadLock`]), so its checks and its change are one atomic step on either
//! engine and across nodes.

use std::collections::HashMap;

use sqlx::{Pool, Postgres, Sqlite};

use super::members::{ADD_MEMBER, IS_MEMBER};
use super::{BeginRead, BeginWrite, ROOM_SEQ, Store, StoreError, StoredEvent, append_event, on_pool, on_writer};

/// The room of a thread: `thread:{id}`. The SQL below relies on this prefix (7 characters).
pub fn thread_room(thread_id: &str) -> String {
    format!("thread:{thread_id}")
}

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

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The thread.
    pub thread_id: String,
    /// The author.
    pub user_id: String,
    /// The body: JSON text exactly as posted.
    pub snapshot: String,
    /// When it was posted, unix ms.
    pub created_at: i64,
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

/// Why a thread write did not happen. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadRefusal {
    /// There is no such thread.
    NoThread,
    /// The acting user (or the user to remove) is not a member.
    NotMember,
    /// The user to add is already a member.
    AlreadyMember,
    /// The user to invite already has a pending invitation.
    AlreadyInvited,
    /// The user to invite does not exist.
    NoUser,
    /// The user has no pending invitation to answer.
    NoInvite,
    /// The code is not an invite link of this thread.
    BadCode,
}

/// The outcome of a thread write: the event it appended, or why nothing was written.
pub type ThreadWrite = Result<StoredEvent, ThreadRefusal>;

/// Per engine, the statement that locks a thread's row until the write transaction ends and
/// tells whether the thread exists. PostgreSQL locks the row (`FOR UPDATE`); SQLite's
/// `BEGIN IMMEDIATE` already holds the database's write lock, so a plain read suffices.
trait ThreadLock {
    const LOCK_THREAD: &'static str;
}

impl ThreadLock for Pool<Sqlite> {
    const LOCK_THREAD: &'static str = "SELECT 1 FROM threads WHERE id = $1";
}

impl ThreadLock for Pool<Postgres> {
    const LOCK_THREAD: &'static str = "SELECT 1 FROM threads WHERE id = $1 FOR UPDATE";
}

fn lock_thread_sql<P: ThreadLock>(_pool: &P) -> &'static str {
    P::LOCK_THREAD
}

const THREAD: &str = "SELECT id, name, created_by, created_at FROM threads WHERE id = $1";

const MEMBERS_OF_ROOM: &str = "SELECT substr(m.room, 8) AS thread_id, u.id AS user_id, u.username, u.name, m.joined_at, \
                               u.last_online \
                               FROM room_members m JOIN users u ON u.id = m.user_id \
                               WHERE m.room = $1 ORDER BY m.joined_at, u.id";
const INVITES_OF_THREAD: &str = "SELECT i.thread_id, i.user_id, u.username, i.invited_by, i.created_at \
                                 FROM thread_invites i JOIN users u ON u.id = i.user_id \
                                 WHERE i.thread_id = $1 ORDER BY i.created_at, i.user_id";

const THREADS_OF_USER: &str = "SELECT t.id, t.name, t.created_by, t.created_at \
                               FROM room_members m JOIN threads t ON t.id = substr(m.room, 8) \
                               WHERE m.user_id = $1 AND substr(m.room, 1, 7) = 'thread:' \
                               ORDER BY t.created_at DESC, t.id DESC";
const MEMBERS_OF_USERS_THREADS: &str = "SELECT substr(m.room, 8) AS thread_id, u.id AS user_id, u.username, u.name, \
                                        m.joined_at, u.last_online \
                                        FROM room_members mine \
                                        JOIN room_members m ON m.room = mine.room \
                                        JOIN users u ON u.id = m.user_id \
                                        WHERE mine.user_id = $1 AND substr(mine.room, 1, 7) = 'thread:' \
                                        ORDER BY m.joined_at, u.id";
const INVITES_OF_USERS_THREADS: &str = "SELECT i.thread_id, i.user_id, u.username, i.invited_by, i.created_at \
                                        FROM room_members mine \
                                        JOIN thread_invites i ON i.thread_id = substr(mine.room, 8) \
                                        JOIN users u ON u.id = i.user_id \
                                        WHERE mine.user_id = $1 AND substr(mine.room, 1, 7) = 'thread:' \
                                        ORDER BY i.created_at, i.user_id";

impl Store {
    /// Creates a thread and makes its creator its first member (joined at `created_at`), in
    /// one transaction.
    pub async fn create_thread(&self, thread: &ThreadRecord) -> Result<(), StoreError> {
        let room = thread_room(&thread.id);
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
                .bind(&room)
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
        let room = thread_room(thread_id);
        on_pool!(self, |pool| {
            let mut tx = pool.begin_read().await?;
            let Some(thread) =
                sqlx::query_as::<_, ThreadRecord>(THREAD).bind(thread_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(None);
            };
            let members =
                sqlx::query_as::<_, ThreadMemberRecord>(MEMBERS_OF_ROOM).bind(&room).fetch_all(&mut *tx).await?;
            if !members.iter().any(|m| m.user_id == member_id) {
                return Ok(None);
            }
            let invites =
                sqlx::query_as::<_, InviteRecord>(INVITES_OF_THREAD).bind(thread_id).fetch_all(&mut *tx).await?;
            let seq: i64 = sqlx::query_scalar(ROOM_SEQ).bind(&room).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(ThreadView { thread, members, invites, seq }))
        })
    }

    /// Every thread `user_id` is a member of, newest first, with members and invitations:
    /// always four queries in one snapshot, however many threads and members there are.
    pub async fn thread_views_of(&self, user_id: &str) -> Result<Vec<ThreadView>, StoreError> {
        let thread_rooms = format!("{}%", thread_room(""));
        let (threads, members, invites, seqs) = on_pool!(self, |pool| {
            let mut tx = pool.begin_read().await?;
            let threads = sqlx::query_as::<_, ThreadRecord>(THREADS_OF_USER).bind(user_id).fetch_all(&mut *tx).await?;
            let members = sqlx::query_as::<_, ThreadMemberRecord>(MEMBERS_OF_USERS_THREADS)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
            let invites =
                sqlx::query_as::<_, InviteRecord>(INVITES_OF_USERS_THREADS).bind(user_id).fetch_all(&mut *tx).await?;
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
                let seq = seqs.get(&thread_room(&thread.id)).copied().unwrap_or(0);
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
        build: impl FnOnce(i64, i64) -> String + Send,
    ) -> Result<ThreadWrite, StoreError> {
        let room = thread_room(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if sqlx::query(lock_thread_sql(pool)).bind(thread_id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(Err(ThreadRefusal::NoThread));
            }
            if !sqlx::query_scalar::<_, bool>(IS_MEMBER).bind(&room).bind(invited_by).fetch_one(&mut *tx).await? {
                return Ok(Err(ThreadRefusal::NotMember));
            }
            let user_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
            if !user_exists {
                return Ok(Err(ThreadRefusal::NoUser));
            }
            if sqlx::query_scalar::<_, bool>(IS_MEMBER).bind(&room).bind(user_id).fetch_one(&mut *tx).await? {
                return Ok(Err(ThreadRefusal::AlreadyMember));
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
                return Ok(Err(ThreadRefusal::AlreadyInvited));
            }
            let event = append_event!(tx, event_room, at, build).await?;
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
        build: impl FnOnce(i64, i64) -> String + Send,
    ) -> Result<ThreadWrite, StoreError> {
        let room = thread_room(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if sqlx::query(lock_thread_sql(pool)).bind(thread_id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(Err(ThreadRefusal::NoThread));
            }
            let deleted = sqlx::query("DELETE FROM thread_invites WHERE thread_id = $1 AND user_id = $2")
                .bind(thread_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(Err(ThreadRefusal::NoInvite));
            }
            if sqlx::query(ADD_MEMBER).bind(&room).bind(user_id).bind(at).execute(&mut *tx).await?.rows_affected() == 0
            {
                return Ok(Err(ThreadRefusal::AlreadyMember));
            }
            let event = append_event!(tx, &room, at, build).await?;
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
        build: impl FnOnce(i64, i64) -> String + Send,
    ) -> Result<ThreadWrite, StoreError> {
        let room = thread_room(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if sqlx::query(lock_thread_sql(pool)).bind(thread_id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(Err(ThreadRefusal::NoThread));
            }
            let valid: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM thread_invite_links WHERE code = $1 AND thread_id = $2)",
            )
            .bind(code)
            .bind(thread_id)
            .fetch_one(&mut *tx)
            .await?;
            if !valid {
                return Ok(Err(ThreadRefusal::BadCode));
            }
            if sqlx::query(ADD_MEMBER).bind(&room).bind(user_id).bind(at).execute(&mut *tx).await?.rows_affected() == 0
            {
                return Ok(Err(ThreadRefusal::AlreadyMember));
            }
            sqlx::query("DELETE FROM thread_invites WHERE thread_id = $1 AND user_id = $2")
                .bind(thread_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let event = append_event!(tx, &room, at, build).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// Ends `user_id`'s membership of `thread_id` and appends the event to the thread's room,
    /// in one transaction. Refused when the user is not a member.
    pub async fn remove_thread_member(
        &self,
        thread_id: &str,
        user_id: &str,
        at: i64,
        build: impl FnOnce(i64, i64) -> String + Send,
    ) -> Result<ThreadWrite, StoreError> {
        let room = thread_room(thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if sqlx::query(lock_thread_sql(pool)).bind(thread_id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(Err(ThreadRefusal::NoThread));
            }
            let deleted = sqlx::query("DELETE FROM room_members WHERE room = $1 AND user_id = $2")
                .bind(&room)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(Err(ThreadRefusal::NotMember));
            }
            let event = append_event!(tx, &room, at, build).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// Stores a message of a member and appends its event to the thread's room, in one
    /// transaction; the message's `seq` is the event's. Refused when the author is not a member.
    pub async fn insert_message(
        &self,
        message: NewMessage<'_>,
        build: impl FnOnce(i64, i64) -> String + Send,
    ) -> Result<ThreadWrite, StoreError> {
        let room = thread_room(message.thread_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if sqlx::query(lock_thread_sql(pool)).bind(message.thread_id).fetch_optional(&mut *tx).await?.is_none() {
                return Ok(Err(ThreadRefusal::NoThread));
            }
            if !sqlx::query_scalar::<_, bool>(IS_MEMBER).bind(&room).bind(message.user_id).fetch_one(&mut *tx).await? {
                return Ok(Err(ThreadRefusal::NotMember));
            }
            let event = append_event!(tx, &room, message.created_at, build).await?;
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

    /// The message `message_id` of `thread_id`, if it exists there.
    pub async fn message(&self, thread_id: &str, message_id: &str) -> Result<Option<MessageRecord>, StoreError> {
        const SQL: &str = "SELECT id, thread_id, user_id, snapshot, created_at, seq FROM messages \
                           WHERE id = $1 AND thread_id = $2";
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, MessageRecord>(SQL).bind(message_id).bind(thread_id).fetch_optional(pool).await?)
        })
    }

    /// Up to `limit` messages of `thread_id` with a seq below `before_seq`, newest first.
    pub async fn messages_before(
        &self,
        thread_id: &str,
        before_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        const SQL: &str = "SELECT id, thread_id, user_id, snapshot, created_at, seq FROM messages \
                           WHERE thread_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, MessageRecord>(SQL)
                .bind(thread_id)
                .bind(before_seq)
                .bind(limit)
                .fetch_all(pool)
                .await?)
        })
    }
}
