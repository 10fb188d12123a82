//! Starting the server under test as a child process on loopback, and reading its RSS.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A `tandem serve` child process on a temporary SQLite database. Killed on drop.
pub struct ServerProcess {
    child: Child,
    /// Where it listens (always 127.0.0.1).
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// The JWT secret the spawned server signs with.
pub const SECRET: &str = "bench-secret";

impl ServerProcess {
    /// Spawns `binary serve` with `extra` flags and waits (≤ 30 s) until `/readyz` answers.
    pub async fn spawn(binary: &PathBuf, extra: &[String]) -> anyhow::Result<Self> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let dir = tempfile::tempdir()?;
        let db = format!("sqlite://{}", dir.path().join("bench.db").display());
        let child = Command::new(binary)
            .args(["serve", "--addr", &addr.to_string(), "--database-url", &db, "--jwt-secret", SECRET])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let server = Self { child, addr, _dir: dir };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(response) = http.get(format!("http://{addr}/readyz")).send().await
                && response.status().is_success()
            {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("server at {addr} not ready after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of `pid` in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS line")?;
    let kib = line.split_whitespace().nth(1).context("malformed VmRSS")?;
    Ok(kib.parse()?)
}
