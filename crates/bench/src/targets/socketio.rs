//! socket.io as a fan-out target: `bench/peers/socketio/server.js` on Node. Members speak
//! Engine.IO 4 / socket.io 5 framing over a WebSocket (`0` open, `40` namespace connect,
//! `42[...]` events, `43[...]` acks); ticks are `POST`ed to `/publish/{room}`.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, bail};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::{Member, Programs, Protocol};
use crate::client;
use crate::server::{Ready, ServerProcess, free_loopback_addr};

/// A running socket.io peer.
pub struct SocketIo {
    /// The Node process.
    pub server: ServerProcess,
}

impl SocketIo {
    /// Starts `node server.js` in the peer's folder.
    pub async fn start(programs: &Programs) -> anyhow::Result<Self> {
        let script = programs.socketio_dir.join("server.js");
        if !programs.socketio_dir.join("node_modules/socket.io").is_dir() {
            bail!("socket.io is not installed: run `npm ci` in {}", programs.socketio_dir.display());
        }
        let addr = free_loopback_addr()?;
        let mut command = Command::new(&programs.node_bin);
        command.arg(script).env("PORT", addr.port().to_string());
        Ok(Self { server: ServerProcess::launch(command, addr, Ready::Http("/healthz"), None).await? })
    }

    /// Connects, opens the default namespace and joins room `r{room}` (acked).
    pub async fn connect(&self, room: usize, source: Ipv4Addr) -> anyhow::Result<Member> {
        let mut socket = client::open(self.server.addr, source, "/socket.io/?EIO=4&transport=websocket").await?;
        expect_prefix(&mut socket, "0{").await.context("engine.io open")?;
        socket.send(Message::text("40")).await?;
        expect_prefix(&mut socket, "40").await.context("namespace connect")?;
        socket.send(Message::text(format!(r#"420["join","r{room}"]"#))).await?;
        expect_prefix(&mut socket, "430").await.context("join ack")?;
        Ok(Member::Ws(socket, Protocol::SocketIo))
    }

    /// A publisher for this peer.
    pub fn publisher(&self) -> Publisher {
        Publisher { http: reqwest::Client::new(), base: format!("http://{}/publish/", self.server.addr) }
    }
}

/// Reads frames until one starts with `prefix`.
async fn expect_prefix(socket: &mut client::Socket, prefix: &str) -> anyhow::Result<()> {
    super::read_until(socket, Protocol::SocketIo, |text| Ok(text.starts_with(prefix))).await
}

/// Publishes through the peer's `/publish/{room}`.
#[derive(Clone)]
pub struct Publisher {
    http: reqwest::Client,
    base: String,
}

impl Publisher {
    /// Emits `body` as `tick` to room `r{room}`.
    pub async fn publish(&self, room: usize, body: String) -> anyhow::Result<()> {
        self.http
            .post(format!("{}r{room}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}
