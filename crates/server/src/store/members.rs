//! Room membership: who belongs to which room, and who shares a room with whom.

use tandem_protocol::room::Room;

use super::{Store, StoreError, UserRecord, on_pool, on_writer};

/// Adds `$2` to room `$1` (joined at `$3`); a member already there is left as is. Shared by every
/// domain that writes memberships inside its own transactions.
pub(super) const ADD_MEMBER: &str = "INSERT INTO room_members (room, user_id, joined_at) VALUES ($1, $2, $3) \
                                     ON CONFLICT (room, user_id) DO NOTHING";
/// Whether `$2` is a member of room `$1`.
pub(super) const IS_MEMBER: &str = "SELECT EXISTS (SELECT 1 FROM room_members WHERE room = $1 AND user_id = $2)";

impl Store {
    /// Makes `user_id` a member of `room`. Returns false if it already was (nothing changes).
    pub async fn add_member(&self, room: &Room, user_id: &str, joined_at: i64) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            let result =
                sqlx::query(ADD_MEMBER).bind(room.as_str()).bind(user_id).bind(joined_at).execute(pool).await?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// Whether `user_id` is a member of `room`.
    pub async fn is_member(&self, room: &Room, user_id: &str) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_scalar::<_, bool>(IS_MEMBER).bind(room.as_str()).bind(user_id).fetch_one(pool).await?)
        })
    }

    /// Every room `user_id` is a member of, by name.
    pub async fn member_rooms(&self, user_id: &str) -> Result<Vec<Room>, StoreError> {
        let names: Vec<String> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT room FROM room_members WHERE user_id = $1 ORDER BY room")
                .bind(user_id)
                .fetch_all(pool)
                .await?
        });
        // Only the store writes room names, so a name that does not parse is a damaged row.
        names.iter().map(|name| Room::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
    }

    /// The user `id` and the rooms it is a member of, sorted, in one query (what a connection
    /// needs when it opens: one store round trip instead of two); `None` if there is no such
    /// user.
    pub async fn user_with_rooms(&self, id: &str) -> Result<Option<(UserRecord, Vec<Room>)>, StoreError> {
        const SQL: &str = "SELECT u.id, u.username, u.name, u.created_at, u.last_online, m.room FROM users u \
                           LEFT JOIN room_members m ON m.user_id = u.id WHERE u.id = $1 ORDER BY m.room";
        let rows: Vec<UserRoomRow> =
            on_pool!(self, |pool| { sqlx::query_as::<_, UserRoomRow>(SQL).bind(id).fetch_all(pool).await? });
        let mut rooms = Vec::with_capacity(rows.len());
        let mut user = None;
        for row in rows {
            if let Some(name) = &row.room {
                // Only the store writes room names, so a name that does not parse is a damaged row.
                rooms.push(Room::parse(name).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            }
            user.get_or_insert(row.user);
        }
        Ok(user.map(|user| (user, rooms)))
    }

    /// The ids of `room`'s members, sorted.
    pub async fn members_of(&self, room: &Room) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_scalar("SELECT user_id FROM room_members WHERE room = $1 ORDER BY user_id")
                .bind(room.as_str())
                .fetch_all(pool)
                .await?)
        })
    }

    /// Everyone who shares at least one room (a thread, a draft or a canvas) with `user_id`
    /// (not the user), each once, by id.
    pub async fn collaborators(&self, user_id: &str) -> Result<Vec<UserRecord>, StoreError> {
        const SQL: &str = "SELECT u.id, u.username, u.name, u.created_at, u.last_online FROM users u \
                           WHERE u.id <> $1 AND u.id IN ( \
                               SELECT other.user_id FROM room_members mine \
                               JOIN room_members other ON other.room = mine.room \
                               WHERE mine.user_id = $1) \
                           ORDER BY u.id";
        on_pool!(self, |pool| Ok(sqlx::query_as::<_, UserRecord>(SQL).bind(user_id).fetch_all(pool).await?))
    }
}

/// One row of [`Store::user_with_rooms`]: the user and one of its rooms (none: not in any).
#[derive(sqlx::FromRow)]
struct UserRoomRow {
    #[sqlx(flatten)]
    user: UserRecord,
    room: Option<String>,
}
