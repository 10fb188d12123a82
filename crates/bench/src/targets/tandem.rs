//! Tandem as a fan-out target: one user per member, rooms are threads joined by invite link,
//! ticks go through `POST /api/v1/rooms/thread:{id}/publish` with the API key.
//!
//! It runs as one node on SQLite or PostgreSQL, or as a cluster of N nodes on one fresh
//! PostgreSQL database and a private Redis ([`Mode`]). Setup and publishes go to node 1;
//! member `i` connects to node `i mod N`, so every room has members on every node.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;

use super::{Member, Programs, Protocol};
use crate::client;
use crate::server::ServerProcess;
use crate::services::{self, PgDatabase};

/// The API key the spawned server accepts for publishing.
pub const API_KEY: &str = "bench-api-key";

/// REST calls in flight while preparing rooms.
const SETUP_CONCURRENCY: usize = 32;

/// Where a Tandem target keeps its data, and how many nodes serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One node on a fresh SQLite file.
    Sqlite,
    /// One node on a fresh PostgreSQL database, without Redis.
    Postgres,
    /// This many nodes in cluster mode on one fresh PostgreSQL database and a private Redis.
    Cluster(usize),
}

/// A running Tandem (one node or a cluster) with its users and threads.
///
/// Fields drop in order: the nodes are killed first, then Redis, then the database goes.
pub struct Tandem {
    /// The node processes; node 1 first.
    pub nodes: Vec<ServerProcess>,
    /// The cluster's private `redis-server`.
    pub redis: Option<ServerProcess>,
    /// The PostgreSQL database, unless on SQLite.
    pub database: Option<PgDatabase>,
    /// Token of every member, in member order (room-major).
    tokens: Vec<String>,
    /// Thread id of every room.
    threads: Arc<Vec<String>>,
}

impl Tandem {
    /// Starts Tandem in `mode` (PostgreSQL databases are created on `postgres_url`'s server)
    /// and prepares `rooms` threads of `members` users each through node 1.
    pub async fn start(
        programs: &Programs,
        postgres_url: &str,
        mode: Mode,
        rooms: usize,
        members: usize,
    ) -> anyhow::Result<Self> {
        let flags = ["--api-key", API_KEY, "--heartbeat-interval", "10m", "--ws-queue-capacity", "8192"];
        let flags: Vec<String> = flags.map(String::from).into();
        let database = match mode {
            Mode::Sqlite => None,
            Mode::Postgres | Mode::Cluster(_) => Some(PgDatabase::create(&programs.psql_bin, postgres_url)?),
        };
        let (redis, count) = match mode {
            Mode::Cluster(count) => (Some(services::start_redis(&programs.redis_bin).await?), count),
            Mode::Sqlite | Mode::Postgres => (None, 1),
        };
        let mut nodes = Vec::with_capacity(count);
        for n in 1..=count {
            let node = match (&database, &redis) {
                (None, _) => ServerProcess::spawn(&programs.tandem_bin, &flags).await?,
                (Some(database), None) => {
                    ServerProcess::spawn_on(&programs.tandem_bin, &database.url, &flags, Some("node1")).await?
                }
                (Some(database), Some(redis)) => {
                    let name = format!("node{n}");
                    let cluster = ["--redis-url", &format!("redis://{}", redis.addr), "--node-id", &name];
                    let flags: Vec<String> = flags.iter().cloned().chain(cluster.map(String::from)).collect();
                    ServerProcess::spawn_on(&programs.tandem_bin, &database.url, &flags, Some(&name))
                        .await
                        .with_context(|| format!("starting {name}"))?
                }
            };
            nodes.push(node);
        }
        let first = nodes.first().context("no node")?.addr;
        let users = client::sign_up_users(first, rooms * members, "fan").await?;
        let groups: Vec<Vec<usize>> = (0..rooms).map(|room| (room * members..(room + 1) * members).collect()).collect();
        let http = reqwest::Client::new();
        let threads = client::create_threads(&http, first, &users, &groups, "fanout", SETUP_CONCURRENCY).await?;
        let tokens = users.into_iter().map(|(_, token)| token).collect();
        Ok(Self { nodes, redis, database, tokens, threads: Arc::new(threads) })
    }

    /// Connects member `member` to node `member mod N`; the node joins it to its thread at connect.
    pub async fn connect(&self, member: usize, source: Ipv4Addr) -> anyhow::Result<Member> {
        let token = self.tokens.get(member).context("no such member")?;
        let node = self.nodes.get(member % self.nodes.len().max(1)).context("no node")?;
        Ok(Member::Ws(client::connect(node.addr, source, token).await?, Protocol::Tandem))
    }

    /// A publisher for these threads, through node 1.
    pub fn publisher(&self) -> anyhow::Result<Publisher> {
        let addr = self.nodes.first().context("no node")?.addr;
        Ok(Publisher { http: reqwest::Client::new(), addr, threads: self.threads.clone() })
    }

    /// The processes whose CPU and memory count as the server's: every node, then Redis.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let nodes = self.nodes.iter().enumerate().map(|(i, node)| (format!("node{}", i + 1), node.pid()));
        nodes.chain(self.redis.iter().map(|redis| ("redis".to_owned(), redis.pid()))).collect()
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
