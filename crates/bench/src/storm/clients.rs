//! The storm's client tasks: one user and one connection each, first connected and warmed up
//! ([`hold`]), then dropped and resumed with its cursor ([`resume`]), checking the seqs.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{CONNECT_TIMEOUT, MAX_REFUSALS};
use crate::client;

/// One client: its user's token, its room (index) and its source address.
pub(super) struct Client {
    pub(super) token: String,
    pub(super) room: usize,
    pub(super) source: Ipv4Addr,
}

/// What the client tasks tell the scenario.
pub(super) enum Progress {
    /// The first connection is open.
    Connected,
    /// The client has seen its room's warm-up events.
    Warm,
    /// The client resumed and has its room's final seq.
    CaughtUp(Resumed),
    /// The client failed; the run fails.
    Failed(anyhow::Error),
}

/// One client's resume.
pub(super) struct Resumed {
    /// When its handshake started (after waiting for a handshake slot).
    pub(super) started: Instant,
    /// When its `connected` frame arrived.
    pub(super) connected: Instant,
    /// When its room's final seq arrived.
    pub(super) caught_up: Instant,
    /// Seqs skipped.
    pub(super) lost: u64,
    /// Seqs at or below one already seen.
    pub(super) duplicated: u64,
    /// Whether `resync_required` arrived instead of a replay.
    pub(super) resync: bool,
}

/// Checks that a room's seqs arrive as last+1, last+2, …
#[derive(Default)]
struct SeqCheck {
    last: Option<i64>,
    lost: u64,
    duplicated: u64,
}

impl SeqCheck {
    fn see(&mut self, seq: i64) {
        match self.last {
            Some(last) if seq <= last => self.duplicated += 1,
            Some(last) => {
                self.lost += u64::try_from(seq - last - 1).unwrap_or(0);
                self.last = Some(seq);
            }
            None => self.last = Some(seq),
        }
    }

    fn reached(&self, seq: i64) -> bool {
        self.last.is_some_and(|last| last >= seq)
    }
}

/// A received frame, as far as the storm cares.
enum Frame {
    /// A `bench.tick` of the client's room, with its seq.
    Tick(i64),
    /// `resync_required` for the client's room.
    Resync,
    /// An `unavailable` error: the server could not replay (its store was busy); the protocol
    /// says to resume again.
    Unavailable,
    /// Anything else (presence, other rooms).
    Other,
}

/// Classifies a text frame for a client of `room`; an `error` frame other than `unavailable`
/// is an error.
fn classify(text: &str, room: &str) -> anyhow::Result<Frame> {
    if text.contains("bench.tick") {
        let frame: Value = serde_json::from_str(text)?;
        if frame["type"] == "bench.tick" && frame["room"] == room {
            return Ok(Frame::Tick(frame["seq"].as_i64().context("bench.tick without seq")?));
        }
    } else if text.contains("resync_required") {
        let frame: Value = serde_json::from_str(text)?;
        if frame["type"] == "resync_required" && frame["room"] == room {
            return Ok(Frame::Resync);
        }
    } else if text.contains(r#""type":"error""#) {
        let frame: Value = serde_json::from_str(text)?;
        if frame["code"] == "unavailable" {
            return Ok(Frame::Unavailable);
        }
        bail!("the server sent an error: {text}");
    }
    Ok(Frame::Other)
}

/// The cursor a client held when it was dropped, and what its first connection saw.
pub(super) struct Held {
    pub(super) last_seq: i64,
    pub(super) lost: u64,
    pub(super) duplicated: u64,
}

/// What every client task shares: where to connect, who the clients are.
pub(super) struct Fleet {
    pub(super) addr: SocketAddr,
    pub(super) clients: Vec<Client>,
    pub(super) rooms: Vec<String>,
}

/// The handshake gate of one phase, and how often its clients had to retry.
pub(super) struct Handshakes {
    /// Handshakes in flight at once.
    gate: Semaphore,
    /// Handshakes the server refused with 503 (and the client retried).
    pub(super) refused: AtomicU64,
    /// Replays the server could not do (`unavailable`), which the client asked for again.
    pub(super) replays_retried: AtomicU64,
    /// Connections the server closed with 1013 (its store could not load the rooms), which the
    /// client reopened (and resumed).
    pub(super) try_again: AtomicU64,
}

impl Handshakes {
    pub(super) fn new(in_flight: usize) -> Arc<Self> {
        Arc::new(Self {
            gate: Semaphore::new(in_flight),
            refused: AtomicU64::new(0),
            replays_retried: AtomicU64::new(0),
            try_again: AtomicU64::new(0),
        })
    }
}

/// How long a client waits before its `attempt`-th retry: exponential from 200 ms to 1.6 s,
/// plus a per-client offset of up to 99 ms, as a reconnecting SDK would.
fn backoff(attempt: u32, index: usize) -> Duration {
    Duration::from_millis(100 << attempt.clamp(1, 4)) + Duration::from_millis((index % 100) as u64)
}

/// Whether the server closed with 1013 "try again later: reconnect and resume".
fn is_try_again(frame: Option<&CloseFrame>) -> bool {
    frame.is_some_and(|frame| u16::from(frame.code) == 1013)
}

/// The query string that resumes `room` after `cursor`.
fn resume_query(token: &str, room: &str, cursor: i64) -> String {
    let cursors = json!({ room: cursor }).to_string();
    let encoded: String = cursors.bytes().map(|b| format!("%{b:02X}")).collect();
    format!("token={token}&resume={encoded}")
}

/// Whether a handshake failed because the server answered 503 (e.g. its store pool was busy),
/// which a real client retries after a backoff.
fn is_unavailable(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Http(response)) if response.status() == 503
    )
}

/// Connects client `index` with `query`, one handshake slot per attempt; a 503 is retried
/// after a backoff (at most [`MAX_REFUSALS`] times, counted in `handshakes.refused`). Returns
/// the socket and when the first attempt started.
async fn connect_retrying(
    fleet: &Fleet,
    handshakes: &Handshakes,
    index: usize,
    query: &str,
) -> anyhow::Result<(client::Socket, Instant)> {
    let client = &fleet.clients[index];
    let mut started = None;
    let mut refusals = 0_u32;
    loop {
        let permit = handshakes.gate.acquire().await?;
        let first = *started.get_or_insert_with(Instant::now);
        let attempt = timeout(CONNECT_TIMEOUT, client::connect_with_query(fleet.addr, client.source, query))
            .await
            .with_context(|| format!("client {index}: handshake timed out"))?;
        drop(permit);
        match attempt {
            Ok(socket) => return Ok((socket, first)),
            Err(e) if refusals < MAX_REFUSALS && is_unavailable(&e) => {
                refusals += 1;
                handshakes.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(refusals, index)).await;
            }
            Err(e) => return Err(e.context(format!("client {index}: handshake failed"))),
        }
    }
}

/// Opens client `index`'s first connection and waits until the server has joined it to its
/// rooms (its `ping` is answered only after that), so no warm-up event can be missed; a 1013
/// close is retried after a backoff.
async fn connect_joined(fleet: &Fleet, handshakes: &Handshakes, index: usize) -> anyhow::Result<client::Socket> {
    let query = format!("token={}", fleet.clients[index].token);
    let mut closes = 0_u32;
    'connect: loop {
        let (mut socket, _) = connect_retrying(fleet, handshakes, index, &query).await?;
        socket.send(Message::text(r#"{"type":"ping"}"#)).await.with_context(|| format!("client {index}: ping"))?;
        loop {
            let message = timeout(CONNECT_TIMEOUT, socket.next())
                .await
                .with_context(|| format!("client {index}: no pong"))?
                .with_context(|| format!("client {index}: the server ended the connection"))?
                .with_context(|| format!("client {index}: reading"))?;
            match message {
                Message::Text(text) if text.contains(r#""type":"pong""#) => return Ok(socket),
                Message::Close(frame) if is_try_again(frame.as_ref()) => {
                    closes += 1;
                    anyhow::ensure!(closes <= MAX_REFUSALS, "client {index}: closed with 1013 {closes} times");
                    handshakes.try_again.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(closes, index)).await;
                    continue 'connect;
                }
                Message::Close(frame) => bail!("client {index}: the server closed the connection: {frame:?}"),
                _ => {}
            }
        }
    }
}

/// A client's first connection: connect, report, read until the warm-up target is reached,
/// report, keep reading until the drop signal, then drop the socket without a close handshake.
pub(super) async fn hold(
    fleet: Arc<Fleet>,
    handshakes: Arc<Handshakes>,
    index: usize,
    mut targets: watch::Receiver<Vec<i64>>,
    mut dropped: watch::Receiver<bool>,
    progress: mpsc::Sender<Progress>,
) -> anyhow::Result<Held> {
    let client = &fleet.clients[index];
    let room = &fleet.rooms[client.room];
    let mut socket = connect_joined(&fleet, &handshakes, index).await?;
    progress.send(Progress::Connected).await?;
    let mut seqs = SeqCheck::default();
    let mut warm = false;
    loop {
        let target = targets.borrow()[client.room];
        if !warm && target > 0 && seqs.reached(target) {
            progress.send(Progress::Warm).await?;
            warm = true;
        }
        tokio::select! {
            _ = dropped.changed() => break,
            changed = targets.changed(), if !warm => changed.context("warm-up targets gone")?,
            message = socket.next() => {
                let message = message.with_context(|| format!("client {index}: the server ended the connection"))?;
                match message.with_context(|| format!("client {index}: reading"))? {
                    Message::Text(text) => {
                        match classify(&text, room)? {
                            Frame::Tick(seq) => seqs.see(seq),
                            Frame::Resync | Frame::Unavailable => bail!("client {index}: unexpected {text}"),
                            Frame::Other => {}
                        }
                    }
                    Message::Close(frame) => bail!("client {index}: the server closed the connection: {frame:?}"),
                    _ => {}
                }
            }
        }
    }
    drop(socket);
    let last_seq = seqs.last.with_context(|| format!("client {index}: no cursor when dropped"))?;
    Ok(Held { last_seq, lost: seqs.lost, duplicated: seqs.duplicated })
}

/// A client's resume: connect with its cursor, read until `final_seq`, report, keep reading
/// until the stop signal.
pub(super) async fn resume(
    fleet: Arc<Fleet>,
    handshakes: Arc<Handshakes>,
    index: usize,
    cursor: i64,
    final_seq: i64,
    progress: mpsc::Sender<Progress>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = &fleet.clients[index];
    let room = &fleet.rooms[client.room];
    let query = resume_query(&client.token, room, cursor);
    let (mut socket, started) = connect_retrying(&fleet, &handshakes, index, &query).await?;
    let connected = Instant::now();

    let mut seqs = SeqCheck { last: Some(cursor), ..SeqCheck::default() };
    let mut resync = false;
    let mut caught_up = false;
    // After an `unavailable` replay: when to send a `resume` frame, and how often that happened.
    let mut resume_at: Option<tokio::time::Instant> = None;
    let mut retries = 0_u32;
    let mut closes = 0_u32;
    loop {
        if !caught_up && (resync || seqs.reached(final_seq)) {
            let resumed = Resumed {
                started,
                connected,
                caught_up: Instant::now(),
                lost: seqs.lost,
                duplicated: seqs.duplicated,
                resync,
            };
            progress.send(Progress::CaughtUp(resumed)).await?;
            caught_up = true;
        }
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            () = tokio::time::sleep_until(resume_at.unwrap_or_else(tokio::time::Instant::now)), if resume_at.is_some() => {
                resume_at = None;
                let frame = json!({"type": "resume", "rooms": { room: seqs.last }}).to_string();
                socket.send(Message::text(frame)).await.with_context(|| format!("client {index}: sending resume"))?;
            }
            message = socket.next() => {
                let message = message.with_context(|| format!("client {index}: the server ended the connection"))?;
                match message.with_context(|| format!("client {index}: reading"))? {
                    Message::Text(text) => match classify(&text, room)? {
                        Frame::Tick(seq) => seqs.see(seq),
                        Frame::Resync => resync = true,
                        Frame::Unavailable => {
                            retries += 1;
                            anyhow::ensure!(retries <= MAX_REFUSALS, "client {index}: replay unavailable {retries} times");
                            handshakes.replays_retried.fetch_add(1, Ordering::Relaxed);
                            resume_at = Some(tokio::time::Instant::now() + backoff(retries, index));
                        }
                        Frame::Other => {}
                    },
                    Message::Close(frame) if is_try_again(frame.as_ref()) => {
                        // Reconnect with backoff and resume from what arrived, as 1013 asks.
                        closes += 1;
                        anyhow::ensure!(closes <= MAX_REFUSALS, "client {index}: closed with 1013 {closes} times");
                        handshakes.try_again.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(backoff(closes, index)).await;
                        let query = resume_query(&client.token, room, seqs.last.unwrap_or(cursor));
                        socket = connect_retrying(&fleet, &handshakes, index, &query).await?.0;
                        resume_at = None;
                    }
                    Message::Close(frame) => bail!("client {index}: the server closed the connection: {frame:?}"),
                    _ => {}
                }
            }
        }
    }
}
