//! Opening a store from a URL: engine selection, connection settings, migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Engine, SqlitePools, Store, StoreError};

/// How long a query waits for a pooled connection before the store reports `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on a locked database before failing with `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens the database at `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://...`) and
    /// applies pending migrations. A SQLite file is created if missing and runs in WAL mode
    /// with `synchronous=NORMAL`, a busy timeout and foreign keys enforced, behind 8 reader
    /// connections and one writer connection.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite(connect_sqlite(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres(connect_postgres(url).await?)
        } else {
            return Err(StoreError::InvalidUrl(format!("`{url}`: expected sqlite://PATH or postgres://USER@HOST/DB")));
        };
        Ok(Self { engine })
    }
}

/// Readers beside the one writer connection.
const SQLITE_READERS: u32 = 8;

async fn connect_sqlite(url: &str) -> Result<SqlitePools, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(format!("`{url}`: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await?;
    sqlx::migrate!("migrations/sqlite").run(&writer).await?;
    // An in-memory database exists once per connection: the writer's is the only one.
    if url.contains(":memory:") {
        return Ok(SqlitePools::new(writer.clone(), writer));
    }
    let reader = SqlitePoolOptions::new()
        .max_connections(SQLITE_READERS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok(SqlitePools::new(reader, writer))
}

async fn connect_postgres(url: &str) -> Result<sqlx::PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(format!("`{url}`: {e}")))?;
    let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await?;
    sqlx::migrate!("migrations/postgres").run(&pool).await?;
    Ok(pool)
}
