//! The durable event log: gap-free per-room sequence numbers, replay, retention.

use sqlx::{Pool, Postgres, Sqlite, Transaction};

use super::{Store, StoreError, on_pool, on_writer};

/// An event as stored: the frame's JSON text is exactly what was sent live.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredEvent {
    /// Position in its room's log, 1, 2, 3, ...
    pub seq: i64,
    /// When it was written, unix ms.
    pub created_at: i64,
    /// The encoded frame (includes `room`, `seq`, `timestamp`).
    pub frame: String,
}

/// The part of every durable event the log assigns: its room, its seq there, and its
/// timestamp. A frame encoder receives it and must copy all three into the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The room whose log the event is in.
    pub room: &'a str,
    /// Its position in that log, 1, 2, 3, ...
    pub seq: i64,
    /// When it was written, unix ms.
    pub timestamp: i64,
}

/// Where a room's log stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomLog {
    /// Seq of the newest event (0 when the room never had one).
    pub last_seq: i64,
    /// Highest seq removed by retention (0 when nothing was pruned).
    pub pruned_through: i64,
}

/// Opening a write transaction, per engine. SQLite starts with `BEGIN IMMEDIATE` so the write
/// lock is taken up front (a deferred transaction that upgrades fails with `SQLITE_BUSY`
/// without waiting); PostgreSQL uses a plain `BEGIN` and row locks.
pub(crate) trait BeginWrite {
    /// The engine.
    type Db: sqlx::Database;
    /// Starts a write transaction.
    fn begin_write(&self) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for Pool<Sqlite> {
    type Db = Sqlite;
    fn begin_write(&self) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for Pool<Postgres> {
    type Db = Postgres;
    fn begin_write(&self) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        self.begin()
    }
}

/// The newest seq of room `$1` (0 before its first event). Read inside a snapshot transaction
/// beside an object's state, it is the cursor that state reflects.
pub(crate) const ROOM_SEQ: &str = "SELECT COALESCE((SELECT last_seq FROM rooms WHERE room = $1), 0)";

/// Opening a read-only transaction whose statements all see one snapshot, per engine: SQLite's
/// deferred `BEGIN` (in WAL mode the snapshot is taken at the first read); PostgreSQL's
/// `REPEATABLE READ READ ONLY` (its default, `READ COMMITTED`, gives each statement its own).
pub(crate) trait BeginRead {
    /// The engine.
    type Db: sqlx::Database;
    /// Starts a read-only snapshot transaction.
    fn begin_read(&self) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginRead for Pool<Sqlite> {
    type Db = Sqlite;
    fn begin_read(&self) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        self.begin()
    }
}

impl BeginRead for Pool<Postgres> {
    type Db = Postgres;
    fn begin_read(&self) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        self.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }
}

/// Inside a write transaction `$tx` (either engine): allocates `$room`'s next seq, encodes the
/// frame with `$encode(&Envelope)` (a pure function of the envelope and the change, no I/O)
/// and stores it. Evaluates to `Result<StoredEvent, _>`.
/// The room's row stays locked until the transaction ends, so concurrent writers of one room
/// get consecutive seqs with no gap and no duplicate.
macro_rules! append_event {
    ($tx:expr, $room:expr, $at:expr, $encode:expr) => {
        async {
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO rooms (room, last_seq) VALUES ($1, 1) \
                 ON CONFLICT (room) DO UPDATE SET last_seq = rooms.last_seq + 1 RETURNING last_seq",
            )
            .bind($room)
            .fetch_one(&mut *$tx)
            .await?;
            let frame: String = ($encode)(&$crate::store::Envelope { room: $room, seq, timestamp: $at });
            sqlx::query("INSERT INTO events (room, seq, created_at, frame) VALUES ($1, $2, $3, $4)")
                .bind($room)
                .bind(seq)
                .bind($at)
                .bind(&frame)
                .execute(&mut *$tx)
                .await?;
            Ok::<_, sqlx::Error>($crate::store::StoredEvent { seq, created_at: $at, frame })
        }
    };
}
pub(crate) use append_event;

/// Encodes a durable event's frame from its [`Envelope`]; called once, inside the write's
/// transaction, after the seq is allocated.
pub trait EncodeEvent: FnOnce(&Envelope<'_>) -> String + Send {}
impl<F: FnOnce(&Envelope<'_>) -> String + Send> EncodeEvent for F {}

impl Store {
    /// Appends one event to `room` in its own transaction (an event with no other change,
    /// e.g. a backend's publish or a canvas chat line).
    pub async fn append_event(&self, room: &str, at: i64, encode: impl EncodeEvent) -> Result<StoredEvent, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let event = append_event!(tx, room, at, encode).await?;
            tx.commit().await?;
            Ok(event)
        })
    }

    /// Where `room`'s log stands (all zeros for a room without events).
    pub async fn room_log(&self, room: &str) -> Result<RoomLog, StoreError> {
        on_pool!(self, |pool| {
            let log = sqlx::query_as::<_, RoomLog>("SELECT last_seq, pruned_through FROM rooms WHERE room = $1")
                .bind(room)
                .fetch_optional(pool)
                .await?;
            Ok(log.unwrap_or_default())
        })
    }

    /// The newest seq of each of `rooms` that has events (rooms without events are left out).
    pub async fn room_heads(&self, rooms: &[String]) -> Result<Vec<(String, i64)>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=rooms.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT room, last_seq FROM rooms WHERE room IN ({})", placeholders.join(", "));
        on_pool!(self, |pool| {
            // Only numbered placeholders are formatted in; the room names are bound.
            let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql.clone()));
            for room in rooms {
                query = query.bind(room);
            }
            Ok(query.fetch_all(pool).await?)
        })
    }

    /// Up to `limit` events of `room` with seq greater than `after`, oldest first.
    pub async fn events_after(&self, room: &str, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        const SQL: &str =
            "SELECT seq, created_at, frame FROM events WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3";
        on_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, StoredEvent>(SQL).bind(room).bind(after).bind(limit).fetch_all(pool).await?)
        })
    }

    /// Retention: removes, in every room, events beyond the newest `keep_last` and events
    /// written before `older_than` (unix ms), and records what went in `pruned_through`.
    /// Returns the number of events removed.
    pub async fn prune_events(&self, keep_last: i64, older_than: i64) -> Result<u64, StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let removed = sqlx::query(
                "DELETE FROM events WHERE created_at < $2 \
                 OR seq <= (SELECT r.last_seq FROM rooms r WHERE r.room = events.room) - $1",
            )
            .bind(keep_last)
            .bind(older_than)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if removed > 0 {
                sqlx::query(
                    "UPDATE rooms SET pruned_through = COALESCE( \
                         (SELECT MIN(e.seq) - 1 FROM events e WHERE e.room = rooms.room), last_seq) \
                     WHERE pruned_through < COALESCE( \
                         (SELECT MIN(e.seq) - 1 FROM events e WHERE e.room = rooms.room), last_seq)",
                )
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(removed)
        })
    }
}
