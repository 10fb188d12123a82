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
mod library;
mod members;
mod settings;
mod threads;
mod users;

pub use canvases::{CanvasChatRecord, CanvasRecord, CanvasRefusal, CanvasView, TileRecord, TileWrite, canvas_room};
pub use drafts::{
    DraftCollaboratorRecord, DraftRecord, DraftRefusal, DraftView, DraftWrite, NewSegment, SegmentRecord, draft_room,
};
pub use error::StoreError;
pub(crate) use events::{BeginRead, BeginWrite, append_event};
pub use events::{RoomLog, StoredEvent};
pub use library::{PlaylistItemRecord, Upserted};
pub use threads::{
    InviteRecord, MessageRecord, NewMessage, ThreadMemberRecord, ThreadRecord, ThreadRefusal, ThreadView, ThreadWrite,
    thread_room,
};
pub use users::UserRecord;

use sqlx::{Pool, Postgres, Sqlite};

/// A pool of one of the two supported engines.
#[derive(Debug, Clone)]
pub enum Engine {
    /// Embedded SQLite file (WAL mode).
    Sqlite(Pool<Sqlite>),
    /// PostgreSQL server.
    Postgres(Pool<Postgres>),
}

/// Handle to the data store. Cloning is cheap (the pool is reference-counted) and every clone
/// talks to the same database.
#[derive(Debug, Clone)]
pub struct Store {
    engine: Engine,
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever engine the store uses.
/// The body is compiled once per engine, so the same SQL text serves both.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.engine {
            $crate::store::Engine::Sqlite($pool) => $body,
            $crate::store::Engine::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

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
            Engine::Sqlite(pool) => {
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await {
                    tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
                }
                pool.close().await;
            }
            Engine::Postgres(pool) => pool.close().await,
        }
    }
}
