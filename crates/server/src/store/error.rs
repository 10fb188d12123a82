//! The store's error type and its classification of database errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (e.g. the username is taken). Nothing was written.
    #[error("unique constraint violated")]
    Conflict,
    /// The database cannot be reached right now (pool timeout, closed pool, I/O).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database error; a bug or a broken database.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A stored value breaks an invariant only the store's own writes could break (a damaged
    /// database or a bug).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database URL is not one Tandem understands.
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    /// Applying the schema migrations failed at start-up.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => Self::Unavailable(error),
            _ => Self::Database(error),
        }
    }
}
