//! The ceiling: the same fan-out over plain TCP, with a trivial server built into the bench.
//!
//! Protocol (all integers big-endian): a member sends `M` and its room as a `u32`, gets `+`
//! back once it is in the room, then reads frames `len: u32, payload`. The publisher sends `P`,
//! then frames `len: u32, room: u32, payload`; the server copies each payload, length-prefixed
//! once, to every member of the room. Each member has a bounded queue and a writer that drains
//! it with one `write` per batch — the least work a fan-out server can do per delivery, so
//! Tandem's deliveries/s as a share of this one's is what its protocol, hub and storage cost.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::Member;
use crate::client;
use crate::server::{Ready, ServerProcess, free_loopback_addr};

/// Frames a member's queue holds before the server drops new ones for it (counted as lost).
const MEMBER_QUEUE: usize = 8192;

/// Bytes a member's writer gathers into one `write`.
const WRITE_BATCH: usize = 64 * 1024;

/// A running raw fan-out server (this binary's hidden `raw-server` subcommand).
pub struct Raw {
    /// The child process.
    pub server: ServerProcess,
}

impl Raw {
    /// Starts `tandem-bench raw-server` on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let addr = free_loopback_addr()?;
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["raw-server", "--addr", &addr.to_string()]);
        Ok(Self { server: ServerProcess::launch(command, addr, Ready::Tcp, None).await? })
    }

    /// Connects a member and joins it to `room`.
    pub async fn connect(&self, room: usize, source: Ipv4Addr) -> anyhow::Result<Member> {
        let mut stream = client::tcp(self.server.addr, source).await?;
        stream.write_u8(b'M').await?;
        stream.write_u32(u32::try_from(room)?).await?;
        if stream.read_u8().await? != b'+' {
            bail!("raw server refused the join");
        }
        Ok(Member::Raw(FramedRead::new(stream, LengthDelimitedCodec::new())))
    }

    /// Opens the publisher connection.
    pub async fn publisher(&self) -> anyhow::Result<Publisher> {
        let mut stream = client::tcp(self.server.addr, Ipv4Addr::LOCALHOST).await?;
        stream.write_u8(b'P').await?;
        let (frames, mut outgoing) = mpsc::channel::<Bytes>(1024);
        tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                if stream.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        Ok(Publisher { frames })
    }
}

/// Sends ticks over the publisher connection.
#[derive(Clone)]
pub struct Publisher {
    frames: mpsc::Sender<Bytes>,
}

impl Publisher {
    /// Queues `body` for `room` on the publisher connection.
    pub async fn publish(&self, room: usize, body: String) -> anyhow::Result<()> {
        let mut frame = BytesMut::with_capacity(8 + body.len());
        frame.put_u32(u32::try_from(4 + body.len())?);
        frame.put_u32(u32::try_from(room)?);
        frame.put_slice(body.as_bytes());
        self.frames.send(frame.freeze()).await.ok().context("raw publisher connection closed")
    }
}

/// Members' queues by room.
type Rooms = Arc<RwLock<HashMap<u32, Vec<mpsc::Sender<Bytes>>>>>;

/// Runs the raw fan-out server on `addr` until the process is killed.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    anyhow::ensure!(addr.ip().is_loopback(), "the raw server only listens on loopback");
    let listener = TcpListener::bind(addr).await?;
    let rooms = Rooms::default();
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        // A connection that fails (a readiness probe, a client that went away) just ends.
        tokio::spawn(handle(stream, rooms.clone()));
    }
}

async fn handle(mut stream: TcpStream, rooms: Rooms) -> anyhow::Result<()> {
    match stream.read_u8().await? {
        b'M' => {
            let room = stream.read_u32().await?;
            let (queue, frames) = mpsc::channel(MEMBER_QUEUE);
            rooms.write().map_err(|_| anyhow::anyhow!("poisoned"))?.entry(room).or_default().push(queue);
            stream.write_u8(b'+').await?;
            write_member(stream, frames).await
        }
        b'P' => {
            let mut frames = FramedRead::new(stream, LengthDelimitedCodec::new());
            while let Some(frame) = frames.next().await {
                let mut frame = frame?;
                anyhow::ensure!(frame.len() >= 4, "short publish frame");
                let room = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                let payload = frame.split_off(4);
                let mut out = BytesMut::with_capacity(4 + payload.len());
                out.put_u32(u32::try_from(payload.len())?);
                out.put_slice(&payload);
                let out = out.freeze();
                let rooms = rooms.read().map_err(|_| anyhow::anyhow!("poisoned"))?;
                for member in rooms.get(&room).into_iter().flatten() {
                    // Full or gone: the member misses it, and the bench counts it lost.
                    let _ = member.try_send(out.clone());
                }
            }
            Ok(())
        }
        other => bail!("unknown role byte {other}"),
    }
}

/// Writes a member's queued frames, one `write` per batch.
async fn write_member(mut stream: TcpStream, mut frames: mpsc::Receiver<Bytes>) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(frame) = frames.recv().await {
        batch.clear();
        batch.extend_from_slice(&frame);
        while batch.len() < WRITE_BATCH {
            let Ok(frame) = frames.try_recv() else { break };
            batch.extend_from_slice(&frame);
        }
        stream.write_all(&batch).await?;
    }
    Ok(())
}
