//! The one membership guard of every room kind, for write transactions.
//!
//! A write that needs a room's object (thread, draft, canvas, user) to exist and its caller to
//! be a member first locks the object's row and then checks the membership, both inside its
//! transaction ([`lock_member!`]), so the check and the change are one atomic step on either
//! engine: PostgreSQL locks the row (`FOR UPDATE`) until the transaction ends; SQLite's
//! `BEGIN IMMEDIATE` already holds the database's write lock, so a plain read suffices. Every
//! writer of a room locks the same row first, so writers of one room queue on it.
//!
//! Macros, like `append_event!`, because the statements run on either engine's transaction.

use sqlx::{Pool, Postgres, Sqlite};
use tandem_protocol::room::RoomKind;

/// Whether user `$1` exists.
pub(super) const USER_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)";

/// Per engine, the statement that locks the row of a room's object (its id bound as `$1`) until
/// the write transaction ends and returns it if it exists.
pub(super) trait RoomLock {
    /// The statement for rooms of `kind`.
    fn lock_room_sql(kind: RoomKind) -> &'static str;
}

impl RoomLock for Pool<Sqlite> {
    fn lock_room_sql(kind: RoomKind) -> &'static str {
        match kind {
            RoomKind::User => "SELECT 1 FROM users WHERE id = $1",
            RoomKind::Thread => "SELECT 1 FROM threads WHERE id = $1",
            RoomKind::Draft => "SELECT 1 FROM drafts WHERE id = $1",
            RoomKind::Canvas => "SELECT 1 FROM canvases WHERE id = $1",
        }
    }
}

impl RoomLock for Pool<Postgres> {
    fn lock_room_sql(kind: RoomKind) -> &'static str {
        match kind {
            RoomKind::User => "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
            RoomKind::Thread => "SELECT 1 FROM threads WHERE id = $1 FOR UPDATE",
            RoomKind::Draft => "SELECT 1 FROM drafts WHERE id = $1 FOR UPDATE",
            RoomKind::Canvas => "SELECT 1 FROM canvases WHERE id = $1 FOR UPDATE",
        }
    }
}

/// [`RoomLock::lock_room_sql`] of `pool`'s engine.
pub(super) fn lock_room_sql<P: RoomLock>(_pool: &P, kind: RoomKind) -> &'static str {
    P::lock_room_sql(kind)
}

/// Inside write transaction `$tx` on `$pool`: locks the row of `$room`'s object; evaluates to
/// whether it exists.
macro_rules! lock_room {
    ($pool:expr, $tx:expr, $room:expr) => {{
        let room: &::tandem_protocol::room::Room = $room;
        sqlx::query($crate::store::guard::lock_room_sql($pool, room.kind()))
            .bind(room.id())
            .fetch_optional(&mut *$tx)
            .await?
            .is_some()
    }};
}
pub(super) use lock_room;

/// Inside transaction `$tx`: whether user `$user` is a member of `$room` (a `user:` room's one
/// member is its user).
macro_rules! is_member {
    ($tx:expr, $room:expr, $user:expr) => {{
        let (room, user): (&::tandem_protocol::room::Room, &str) = ($room, $user);
        match room.kind() {
            ::tandem_protocol::room::RoomKind::User => room.id() == user,
            _ => {
                sqlx::query_scalar::<_, bool>($crate::store::members::IS_MEMBER)
                    .bind(room.as_str())
                    .bind(user)
                    .fetch_one(&mut *$tx)
                    .await?
            }
        }
    }};
}
pub(super) use is_member;

/// Inside write transaction `$tx`: makes `$user` a member of `$room` (joined at `$at`);
/// evaluates to false if they already were (nothing changes).
macro_rules! add_member {
    ($tx:expr, $room:expr, $user:expr, $at:expr) => {{
        let room: &::tandem_protocol::room::Room = $room;
        sqlx::query($crate::store::members::ADD_MEMBER)
            .bind(room.as_str())
            .bind($user)
            .bind($at)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            == 1
    }};
}
pub(super) use add_member;

/// Inside write transaction `$tx` on `$pool`: locks the row of `$room`'s object, then checks
/// that `$user` is a member; either failing returns `Ok(Err(Refusal::NotFound(noun)))` from
/// the enclosing function (a non-member learns nothing of the room's existence).
macro_rules! lock_member {
    ($pool:expr, $tx:expr, $room:expr, $user:expr) => {{
        let (room, user): (&::tandem_protocol::room::Room, &str) = ($room, $user);
        if !$crate::store::guard::lock_room!($pool, $tx, room) || !$crate::store::guard::is_member!($tx, room, user) {
            return Ok(Err($crate::store::Refusal::NotFound(room.kind().noun())));
        }
    }};
}
pub(super) use lock_member;
