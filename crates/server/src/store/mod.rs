//! Persistence behind one interface with two engines: SQLite (embedded default) and PostgreSQL.
//!
//! [`Store`] is a cheap `Clone` handle over a connection pool of either engine. Each query is
//! written once when the SQL is the same on both engines (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT` work on both) and the [`on_pool!`] macro compiles it once per engine; where the
//! engines differ, a method matches on [`Engine`] itself. The same conformance suite
//! (`tests/store_conformance.rs`) runs against both engines to keep them honest.
//!
//! All timestamps are `i64` unix milliseconds.

mod canvases;
mod connect;
mod drafts;
mod error;
mod events;
mod guard;
mod invites;
mod library;
mod members;
mod messages;
mod refusal;
mod settings;
mod threads;
mod users;

pub use canvases::{CanvasChatRecord, CanvasRecord, CanvasView, TileRecord};
pub use drafts::{DraftCollaboratorRecord, DraftRecord, DraftView, NewSegment, SegmentRecord};
pub use error::StoreError;
pub(crate) use events::{BeginRead, BeginWrite, ROOM_SEQ, append_event};
pub use events::{EncodeEvent, Envelope, RoomLog, StoredEvent};
pub use invites::InviteRecord;
pub use library::{PlaylistItemRecord, Upserted};
pub use messages::{MessageRecord, NewMessage};
pub use refusal::{Refusal, Written};
pub use threads::{ThreadMemberRecord, ThreadRecord, ThreadView};
pub use users::{PendingInviteRecord, UserRecord};

use sqlx::{Pool, Postgres, Sqlite};

/// A pool of one of the two supported engines.
#[derive(Debug, Clone)]
pub enum Engine {
    /// Embedded SQLite file (WAL mode).
    Sqlite(SqlitePools),
    /// PostgreSQL server.
    Postgres(Pool<Postgres>),
}

/// SQLite's two pools over one database file: readers, which WAL mode lets run beside the
/// writer, and a single writer connection. Writes queue for that connection in the pool's async,
/// first-come wait instead of racing for SQLite's write lock, where a loser sleeps in SQLite's
/// busy handler (1, 2, 5, … 100 ms) — that sleep was the fan-out's publish-latency tail.
#[derive(Debug, Clone)]
pub struct SqlitePools {
    reader: Pool<Sqlite>,
    writer: Pool<Sqlite>,
}

/// Handle to the data store. Cloning is cheap (the pool is reference-counted) and every clone
/// talks to the same database.
#[derive(Debug, Clone)]
pub struct Store {
    engine: Engine,
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever engine the store uses.
/// The body is compiled once per engine, so the same SQL text serves both.
/// On SQLite, `$pool` is the reader pool: use [`on_writer!`] for anything that writes.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.engine {
            $crate::store::Engine::Sqlite(pools) => match pools.reader() {
                $pool => $body,
            },
            $crate::store::Engine::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Like [`on_pool!`] for statements and transactions that write: on SQLite `$pool` is the
/// single writer connection's pool.
macro_rules! on_writer {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.engine {
            $crate::store::Engine::Sqlite(pools) => match pools.writer() {
                $pool => $body,
            },
            $crate::store::Engine::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_writer;

impl SqlitePools {
    /// Pools over one database: `reader` for reads, `writer` (one connection) for writes. For
    /// an in-memory database both are the same single connection.
    pub(crate) fn new(reader: Pool<Sqlite>, writer: Pool<Sqlite>) -> Self {
        Self { reader, writer }
    }

    /// The pool for reads.
    pub(crate) fn reader(&self) -> &Pool<Sqlite> {
        &self.reader
    }

    /// The pool for writes.
    pub(crate) fn writer(&self) -> &Pool<Sqlite> {
        &self.writer
    }
}

impl Store {
    /// Which engine this store runs on (`"sqlite"` or `"postgres"`), for logs and metrics.
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Closes every pooled connection after in-flight queries finish. On SQLite this also
    /// checkpoints the write-ahead log into the main file, so a copied `.db` file is complete.
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(pools) => {
                pools.reader.close().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pools.writer).await {
                    tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
                }
                pools.writer.close().await;
            }
            Engine::Postgres(pool) => pool.close().await,
        }
    }
}
