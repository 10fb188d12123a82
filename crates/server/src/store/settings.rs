//! Server-wide settings kept in the database (e.g. the generated JWT secret).

use super::{Store, StoreError, on_writer};

impl Store {
    /// Returns the value stored under `key`, first storing `candidate` if the key is absent.
    /// When several nodes race, all of them get the same (first written) value.
    pub async fn setting_or_insert(&self, key: &str, candidate: &str) -> Result<String, StoreError> {
        on_writer!(self, |pool| {
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(candidate)
                .execute(pool)
                .await?;
            let value: String =
                sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(pool).await?;
            Ok(value)
        })
    }
}
