//! Tandem as a fan-out target: one user per member, rooms are threads joined by invite link,
//! ticks go through `POST /api/v1/rooms/thread:{id}/publish` with the API key.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::{Member, Protocol};
use crate::client;
use crate::server::ServerProcess;

/// The API key the spawned server accepts for publishing.
pub const API_KEY: &str = "bench-api-key";

/// REST calls in flight while preparing rooms.
const SETUP_CONCURRENCY: usize = 32;

/// A running Tandem with its users and threads.
pub struct Tandem {
    /// The child process.
    pub server: ServerProcess,
    /// Token of every member, in member order (room-major).
    tokens: Vec<String>,
    /// Thread id of every room.
    threads: Arc<Vec<String>>,
}

impl Tandem {
    /// Starts `binary` and prepares `rooms` threads of `members` users each.
    pub async fn start(binary: &Path, rooms: usize, members: usize) -> anyhow::Result<Self> {
        let extra =
            ["--api-key", API_KEY, "--heartbeat-interval", "10m", "--ws-queue-capacity", "8192"].map(String::from);
        let server = ServerProcess::spawn(&binary.to_path_buf(), &extra).await?;
        let users = client::sign_up_users(server.addr, rooms * members, "fan").await?;
        let groups: Vec<Vec<usize>> = (0..rooms).map(|room| (room * members..(room + 1) * members).collect()).collect();
        let http = reqwest::Client::new();
        let threads = client::create_threads(&http, server.addr, &users, &groups, "fanout", SETUP_CONCURRENCY).await?;
        let tokens = users.into_iter().map(|(_, token)| token).collect();
        Ok(Self { server, tokens, threads: Arc::new(threads) })
    }

    /// Connects member `member`; the server joins it to its thread at connect.
    pub async fn connect(&self, member: usize, source: Ipv4Addr) -> anyhow::Result<Member> {
        let token = self.tokens.get(member).context("no such member")?;
        Ok(Member::Ws(client::connect(self.server.addr, source, token).await?, Protocol::Tandem))
    }

    /// A publisher for these threads.
    pub fn publisher(&self) -> Publisher {
        Publisher { http: reqwest::Client::new(), addr: self.server.addr, threads: self.threads.clone() }
    }
}

/// Publishes through Tandem's publish API.
#[derive(Clone)]
pub struct Publisher {
    http: reqwest::Client,
    addr: SocketAddr,
    threads: Arc<Vec<String>>,
}

impl Publisher {
    /// Publishes `body` (a JSON object) as a `bench.tick` event in `room`'s thread.
    pub async fn publish(&self, room: usize, body: &str) -> anyhow::Result<()> {
        let thread = self.threads.get(room).context("no such room")?;
        // The tick's fields plus the event type, as one JSON object.
        let event = format!(r#"{{"type":"bench.tick",{}"#, body.strip_prefix('{').context("tick is an object")?);
        self.http
            .post(format!("http://{}/api/v1/rooms/thread:{thread}/publish", self.addr))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(event)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}
