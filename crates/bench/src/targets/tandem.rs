//! Tandem as a fan-out target: one user per member, rooms are threads joined by invite link,
//! ticks go through `POST /api/v1/rooms/thread:{id}/publish` with the API key.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

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
        let tokens: Vec<String> = users.into_iter().map(|(_, token)| token).collect();
        let http = reqwest::Client::new();
        let mut threads = Vec::with_capacity(rooms);
        for (room, members) in tokens.chunks(members.max(1)).enumerate() {
            threads.push(create_thread(&http, server.addr, room, members).await?);
        }
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

/// Creates a thread owned by the first of `members`; the others join by invite link.
async fn create_thread(
    http: &reqwest::Client,
    addr: SocketAddr,
    room: usize,
    members: &[String],
) -> anyhow::Result<String> {
    let (owner, others) = members.split_first().context("a room needs a member")?;
    let thread: Value = http
        .post(format!("http://{addr}/api/v1/threads"))
        .bearer_auth(owner)
        .json(&serde_json::json!({"name": format!("fanout {room}")}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = thread["id"].as_str().context("thread id")?.to_owned();
    let link: Value = http
        .post(format!("http://{addr}/api/v1/threads/{id}/invite-link"))
        .bearer_auth(owner)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let code = link["code"].as_str().context("invite code")?.to_owned();
    stream::iter(others)
        .map(|token| {
            let request = http
                .post(format!("http://{addr}/api/v1/threads/{id}/join"))
                .bearer_auth(token)
                .json(&serde_json::json!({"code": code}));
            async move { request.send().await?.error_for_status().map(drop) }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<()>()
        .await?;
    Ok(id)
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
