//! The servers a fan-out run can load, behind one interface: start it with R rooms × M
//! members, connect member `i` to its room, publish tick `n` to a room, read ticks back.
//!
//! * [`tandem`]: the release `tandem` binary; members are users joined to threads by link,
//!   ticks go through the publish API. One node on SQLite (`tandem`) or PostgreSQL
//!   (`tandem-pg`), or N nodes in cluster mode on PostgreSQL + Redis (`cluster`).
//! * [`socketio`]: Node + npm `socket.io` (`bench/peers/socketio`), rooms joined with an acked
//!   `join` event, ticks `POST`ed to the peer's `/publish/{room}`.
//! * [`sockudo`]: Sockudo (Pusher protocol), public channels, ticks through Pusher's signed
//!   HTTP events API.
//! * [`raw`]: a length-prefixed TCP fan-out server built into the bench: the ceiling.

pub mod raw;
pub mod socketio;
pub mod sockudo;
pub mod tandem;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use crate::client;
use crate::server::ServerProcess;
use crate::services::PgDatabase;
use crate::tick::{self, Tick};

/// Which server to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// Tandem (this project), one node on SQLite.
    Tandem,
    /// Tandem, one node on a fresh PostgreSQL database, no Redis.
    TandemPg,
    /// Tandem in cluster mode: `--nodes` nodes on one fresh PostgreSQL database and a private
    /// Redis; publishes go to node 1, members are spread round-robin over the nodes.
    Cluster,
    /// socket.io 4 on Node.
    Socketio,
    /// Sockudo (Pusher protocol).
    Sockudo,
    /// The bench's own length-prefixed TCP fan-out: the machine's ceiling.
    Raw,
}

impl TargetKind {
    /// Name used in tables, JSON and plots.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tandem => "tandem",
            Self::TandemPg => "tandem-pg",
            Self::Cluster => "cluster",
            Self::Socketio => "socket.io",
            Self::Sockudo => "sockudo",
            Self::Raw => "raw",
        }
    }

    /// Whether this is Tandem (in any mode) rather than a peer or the ceiling.
    pub fn is_tandem(self) -> bool {
        matches!(self, Self::Tandem | Self::TandemPg | Self::Cluster)
    }
}

/// Where the servers' programs are.
#[derive(Debug, Clone, clap::Args)]
pub struct Programs {
    /// The `tandem` binary (a release build measures what users run).
    #[arg(long, default_value = "target/release/tandem")]
    pub tandem_bin: PathBuf,
    /// The `sockudo` binary (`cargo install sockudo --locked`).
    #[arg(long, default_value = "sockudo")]
    pub sockudo_bin: PathBuf,
    /// Node.js, for the socket.io peer.
    #[arg(long, default_value = "node")]
    pub node_bin: PathBuf,
    /// The socket.io peer's folder (with `node_modules` installed by `npm ci`).
    #[arg(long, default_value = "bench/peers/socketio")]
    pub socketio_dir: PathBuf,
    /// `redis-server`, started privately (free port, no persistence) for the `cluster` target.
    #[arg(long, default_value = "redis-server")]
    pub redis_bin: PathBuf,
    /// `psql`, which creates and drops the `tandem-pg` and `cluster` targets' databases.
    #[arg(long, default_value = "psql")]
    pub psql_bin: PathBuf,
}

/// Settings of the PostgreSQL-backed targets (`tandem-pg`, `cluster`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Node counts of the `cluster` target: one run per value (`--nodes 1,2,3`), each with the
    /// same rooms, members and rate.
    #[arg(long, value_delimiter = ',', default_value = "3")]
    pub nodes: Vec<usize>,
    /// A loopback PostgreSQL server (any database on it): every run creates a fresh database
    /// there and drops it afterwards.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
}

/// A started server, prepared for `rooms` × `members` members.
pub enum Target {
    /// See [`tandem`].
    Tandem(tandem::Tandem),
    /// See [`socketio`].
    SocketIo(socketio::SocketIo),
    /// See [`sockudo`].
    Sockudo(sockudo::Sockudo),
    /// See [`raw`].
    Raw(raw::Raw),
}

impl Target {
    /// Starts a `kind` server (a `cluster` of `nodes` nodes) and prepares `rooms` rooms of
    /// `members` members each.
    pub async fn start(
        kind: TargetKind,
        nodes: usize,
        programs: &Programs,
        cluster: &ClusterArgs,
        rooms: usize,
        members: usize,
    ) -> anyhow::Result<Self> {
        let tandem = |mode| tandem::Tandem::start(programs, &cluster.postgres_url, mode, rooms, members);
        Ok(match kind {
            TargetKind::Tandem => Self::Tandem(tandem(tandem::Mode::Sqlite).await?),
            TargetKind::TandemPg => Self::Tandem(tandem(tandem::Mode::Postgres).await?),
            TargetKind::Cluster => Self::Tandem(tandem(tandem::Mode::Cluster(nodes)).await?),
            TargetKind::Socketio => Self::SocketIo(socketio::SocketIo::start(programs).await?),
            TargetKind::Sockudo => Self::Sockudo(sockudo::Sockudo::start(&programs.sockudo_bin).await?),
            TargetKind::Raw => Self::Raw(raw::Raw::start().await?),
        })
    }

    /// The server's processes, named (`server`; Tandem's `node1`, `node2`, …, `redis`), whose
    /// CPU time and memory are the server's.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let single = |server: &ServerProcess| vec![("server".to_owned(), server.pid())];
        match self {
            Self::Tandem(t) => t.processes(),
            Self::SocketIo(t) => single(&t.server),
            Self::Sockudo(t) => single(&t.server),
            Self::Raw(t) => single(&t.server),
        }
    }

    /// The PostgreSQL database a Tandem target runs on, if any.
    pub fn database(&self) -> Option<&PgDatabase> {
        match self {
            Self::Tandem(t) => t.database.as_ref(),
            _ => None,
        }
    }

    /// Connects member `member` (0-based over all rooms) of `room` from `source`; returns once
    /// the member is in the room, so a tick published afterwards reaches it.
    pub async fn connect(&self, member: usize, room: usize, source: Ipv4Addr) -> anyhow::Result<Member> {
        match self {
            Self::Tandem(t) => t.connect(member, source).await,
            Self::SocketIo(t) => t.connect(room, source).await,
            Self::Sockudo(t) => t.connect(room, source).await,
            Self::Raw(t) => t.connect(room, source).await,
        }
    }

    /// A handle that publishes ticks; cheap to clone.
    pub async fn publisher(&self) -> anyhow::Result<Publisher> {
        Ok(match self {
            Self::Tandem(t) => Publisher::Tandem(t.publisher()?),
            Self::SocketIo(t) => Publisher::SocketIo(t.publisher()),
            Self::Sockudo(t) => Publisher::Sockudo(t.publisher()),
            Self::Raw(t) => Publisher::Raw(t.publisher().await?),
        })
    }
}

/// Publishes ticks to one target.
#[derive(Clone)]
pub enum Publisher {
    /// See [`tandem::Publisher`].
    Tandem(tandem::Publisher),
    /// See [`socketio::Publisher`].
    SocketIo(socketio::Publisher),
    /// See [`sockudo::Publisher`].
    Sockudo(sockudo::Publisher),
    /// See [`raw::Publisher`].
    Raw(raw::Publisher),
}

impl Publisher {
    /// Publishes tick `n` of `room`, stamped now; returns when the server accepted it.
    pub async fn publish(&self, room: usize, n: u64) -> anyhow::Result<()> {
        let body = tick::payload(room, n);
        match self {
            Self::Tandem(p) => p.publish(room, &body).await,
            Self::SocketIo(p) => p.publish(room, body).await,
            Self::Sockudo(p) => p.publish(room, &body).await,
            Self::Raw(p) => p.publish(room, body).await,
        }
    }
}

/// The wire protocol of a member's WebSocket, for the control frames it must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Tandem JSON frames (WebSocket pings are answered by tungstenite).
    Tandem,
    /// Engine.IO 4: the server's `2` ping wants a `3` pong.
    SocketIo,
    /// Pusher: `pusher:ping` wants `pusher:pong`.
    Pusher,
}

/// One member's connection, in its room.
pub enum Member {
    /// A WebSocket speaking `Protocol`.
    Ws(client::Socket, Protocol),
    /// A raw TCP stream of length-prefixed frames.
    Raw(FramedRead<tokio::net::TcpStream, LengthDelimitedCodec>),
}

/// What [`Member::next`] read.
#[derive(Debug)]
pub enum Received {
    /// A tick.
    Tick(Tick),
    /// Any other frame (presence, protocol chatter).
    Other,
    /// The server closed the connection.
    Closed,
}

impl Member {
    /// Reads the next frame, answering protocol pings on the way. Cancel-safe.
    pub async fn next(&mut self) -> anyhow::Result<Received> {
        match self {
            Self::Ws(socket, protocol) => {
                let Some(message) = socket.next().await else { return Ok(Received::Closed) };
                let Message::Text(text) = message? else { return Ok(Received::Other) };
                if let Some(tick) = tick::scan(text.as_bytes()) {
                    return Ok(Received::Tick(tick));
                }
                answer_ping(socket, *protocol, &text).await?;
                Ok(Received::Other)
            }
            Self::Raw(frames) => match frames.next().await {
                None => Ok(Received::Closed),
                Some(frame) => Ok(tick::scan(&frame?).map_or(Received::Other, Received::Tick)),
            },
        }
    }
}

/// Answers `text` if it is `protocol`'s ping (Engine.IO `2`, Pusher `pusher:ping`); returns
/// whether it was one.
async fn answer_ping(socket: &mut client::Socket, protocol: Protocol, text: &str) -> anyhow::Result<bool> {
    let pong = match protocol {
        Protocol::SocketIo if text == "2" => "3",
        Protocol::Pusher if text.contains("pusher:ping") => r#"{"event":"pusher:pong","data":{}}"#,
        _ => return Ok(false),
    };
    socket.send(Message::text(pong)).await?;
    Ok(true)
}

/// During a peer's handshake: reads text frames, answering pings, until `awaited` accepts one
/// (`Ok(true)`); `awaited` may refuse a frame with an error. Fails if the socket closes first.
pub async fn read_until(
    socket: &mut client::Socket,
    protocol: Protocol,
    mut awaited: impl FnMut(&str) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    loop {
        match socket.next().await.context("closed")?? {
            Message::Text(text) if answer_ping(socket, protocol, &text).await? => {}
            Message::Text(text) if awaited(&text)? => return Ok(()),
            Message::Close(frame) => anyhow::bail!("closed: {frame:?}"),
            _ => {}
        }
    }
}
