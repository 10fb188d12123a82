//! The services cluster mode shares between Tandem nodes, each private to one run: a fresh
//! PostgreSQL database on a loopback server (created with `psql`, dropped on drop) and a
//! `redis-server` child on a free loopback port that keeps nothing on disk (killed on drop).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};

use crate::server::{Ready, ServerProcess, free_loopback_addr};

/// A database of this run on a loopback PostgreSQL server; dropped (with its connections
/// closed by force) when this is dropped.
pub struct PgDatabase {
    psql: PathBuf,
    /// URL of the server's maintenance database, where `CREATE`/`DROP DATABASE` run.
    admin_url: String,
    /// The database's name, `bench_` and hex digits.
    pub name: String,
    /// The URL Tandem nodes connect to.
    pub url: String,
}

impl PgDatabase {
    /// Creates a uniquely named database on the server `admin_url` points at (which must be
    /// on a loopback address).
    pub fn create(psql: &Path, admin_url: &str) -> anyhow::Result<Self> {
        let mut url = reqwest::Url::parse(admin_url).with_context(|| format!("--postgres-url `{admin_url}`"))?;
        let host = url.host_str().unwrap_or_default();
        ensure!(
            matches!(host, "127.0.0.1" | "localhost" | "[::1]") || host.starts_with("127."),
            "refusing a non-loopback PostgreSQL server: {host}"
        );
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
        let name = format!("bench_{:x}_{nanos:x}", std::process::id());
        url.set_path(&format!("/{name}"));
        let database = Self { psql: psql.to_owned(), admin_url: admin_url.to_owned(), name, url: url.to_string() };
        database.psql(&format!("CREATE DATABASE {}", database.name))?;
        Ok(database)
    }

    /// Process ids of the PostgreSQL backends connected to this database now, and of the
    /// server's background processes (WAL writer, checkpointer, background writer, autovacuum
    /// launcher), which work for every database on the server.
    pub fn server_pids(&self) -> anyhow::Result<Vec<u32>> {
        let sql = format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{}' OR (datname IS NULL AND backend_type <> 'client backend')",
            self.name
        );
        let out = self.psql(&sql)?;
        out.lines().filter(|l| !l.is_empty()).map(|l| l.trim().parse::<u32>().context("pid")).collect()
    }

    /// Runs one SQL command on the maintenance database; its unaligned output.
    fn psql(&self, sql: &str) -> anyhow::Result<String> {
        let out = Command::new(&self.psql)
            .args([&self.admin_url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.psql.display()))?;
        if !out.status.success() {
            bail!("psql `{sql}`: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8(out.stdout)?)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = self.psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("could not drop the bench database {}: {e:#}", self.name);
        }
    }
}

/// Starts `redis-server` (`binary`) on a free loopback port, without persistence, and waits
/// (≤ 30 s) until it accepts connections. Its URL is `redis://{addr}`.
pub async fn start_redis(binary: &Path) -> anyhow::Result<ServerProcess> {
    let addr = free_loopback_addr()?;
    let mut command = Command::new(binary);
    command
        .args(["--port", &addr.port().to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null());
    ServerProcess::launch(command, addr, Ready::Tcp, None).await
}
