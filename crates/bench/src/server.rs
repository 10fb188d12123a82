//! Starting a server under test as a child process on loopback, and reading its RSS and CPU time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How a started server shows it is ready.
#[derive(Debug, Clone, Copy)]
pub enum Ready {
    /// `GET` on this path answers 2xx.
    Http(&'static str),
    /// A TCP connect to its address succeeds.
    Tcp,
}

/// A server child process (killed on drop) and, for Tandem, its temporary database folder.
pub struct ServerProcess {
    child: Child,
    /// Where it listens (always 127.0.0.1).
    pub addr: SocketAddr,
    _dir: Option<tempfile::TempDir>,
}

/// The JWT secret the spawned Tandem server signs with.
pub const SECRET: &str = "bench-secret";

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

impl ServerProcess {
    /// Spawns `binary serve` (Tandem) on a fresh SQLite database with `extra` flags and waits
    /// (≤ 30 s) until `/readyz` answers.
    pub async fn spawn(binary: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let db = format!("sqlite://{}", dir.path().join("bench.db").display());
        let mut server = Self::spawn_on(binary, &db, extra, None).await?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// Spawns `binary serve` (Tandem) on `database_url` with `extra` flags and waits (≤ 30 s)
    /// until `/readyz` answers. With a `label`, every line it prints is prefixed `[label] `.
    pub async fn spawn_on(
        binary: &Path,
        database_url: &str,
        extra: &[String],
        label: Option<&str>,
    ) -> anyhow::Result<Self> {
        let addr = free_loopback_addr()?;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--addr", &addr.to_string(), "--database-url", database_url, "--jwt-secret", SECRET])
            .args(extra)
            .env("RUST_LOG", "warn");
        if label.is_some() {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Self::launch_labelled(command, addr, Ready::Http("/readyz"), None, label).await
    }

    /// Spawns `command` (which must listen on `addr`) and waits (≤ 30 s) until it is `ready`.
    pub async fn launch(
        command: Command,
        addr: SocketAddr,
        ready: Ready,
        dir: Option<tempfile::TempDir>,
    ) -> anyhow::Result<Self> {
        Self::launch_labelled(command, addr, ready, dir, None).await
    }

    /// Like [`Self::launch`]; with a `label`, the child's piped stdout and stderr are copied
    /// to this process's, each line prefixed `[label] ` (so several nodes' logs can be told
    /// apart), from the start: a child that fails before it is ready still says why.
    pub async fn launch_labelled(
        mut command: Command,
        addr: SocketAddr,
        ready: Ready,
        dir: Option<tempfile::TempDir>,
        label: Option<&str>,
    ) -> anyhow::Result<Self> {
        let program = Path::new(command.get_program()).display().to_string();
        let mut child = command.stdin(Stdio::null()).spawn().with_context(|| format!("cannot start {program}"))?;
        if let Some(label) = label {
            if let Some(stdout) = child.stdout.take() {
                forward_lines(stdout, format!("[{label}] "), std::io::stdout);
            }
            if let Some(stderr) = child.stderr.take() {
                forward_lines(stderr, format!("[{label}] "), std::io::stderr);
            }
        }
        let mut server = Self { child, addr, _dir: dir };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let up = match ready {
                Ready::Http(path) => {
                    http.get(format!("http://{addr}{path}")).send().await.is_ok_and(|r| r.status().is_success())
                }
                Ready::Tcp => tokio::net::TcpStream::connect(addr).await.is_ok(),
            };
            if up {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("{program} exited with {status} before listening on {addr}");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{program} at {addr} not ready after 30 s");
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

/// Copies `from` line by line to `to()`, each line after `prefix`, on a thread that ends at
/// the child's end of output.
fn forward_lines<W: Write + 'static>(from: impl Read + Send + 'static, prefix: String, to: fn() -> W) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if writeln!(to(), "{prefix}{line}").is_err() {
                break;
            }
        }
    });
}

/// Resident set size of `pid` in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS line")?;
    let kib = line.split_whitespace().nth(1).context("malformed VmRSS")?;
    Ok(kib.parse()?)
}

/// User + system CPU time `pid` has used so far, in seconds (`/proc/<pid>/stat`, whose
/// `utime`/`stime` are in USER_HZ = 100 ticks per second on Linux).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> { Ok(fields.get(i).context("short stat")?.parse::<f64>()?) };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
