//! A cluster node as its own `tandem serve` process, so a test can kill it with SIGKILL.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `tandem serve` child of this test; killed when dropped.
pub struct NodeProcess {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    child: Option<Child>,
}

impl NodeProcess {
    /// Starts node `name` on `db_url` and `redis_url` with `extra` flags and waits (≤ 30 s)
    /// until `/readyz` answers.
    pub async fn start(db_url: &str, redis_url: &str, name: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["serve", "--addr", &addr, "--database-url", db_url, "--redis-url", redis_url, "--node-id", name])
            .args(["--jwt-secret", super::TEST_SECRET])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("tandem starts");
        let node = Self { base: format!("http://{addr}"), child: Some(child) };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http.get(format!("{}/readyz", node.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return node;
            }
            assert!(Instant::now() < deadline, "node {name} not ready within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The WebSocket URL with `?token=`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("{}/ws?token={token}", self.base.replacen("http://", "ws://", 1))
    }

    /// Kills the process with SIGKILL: no goodbye to Redis, its clients or the database.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
