//! `storm`: every client drops at once and resumes. N clients are spread evenly over R threads
//! (one user and one connection per client); a backend publishes a few `bench.tick` events per
//! room so every client holds a cursor; then all connections are dropped at once (no close
//! handshake), `missed` events per room are published while everyone is away, and at t0 every
//! client reconnects concurrently with `?resume={"thread:<id>":<cursor>}`. Each client reads
//! until it has its room's final seq, checking that seqs arrive as cursor+1, cursor+2, … The
//! headline is the time from t0 until the last client caught up; lost and duplicated events
//! and any `resync_required` fail the run.
//!
//! Also holds the concurrent REST setup helpers shared with `presence`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::server::ServerProcess;
use crate::{client, report};

/// The API key the spawned server accepts for publishing.
const API_KEY: &str = "bench-api-key";
/// Events published per room before the drop, so every client holds a cursor.
const WARMUP: usize = 3;
/// How long the resume (and the drop) may take before the run gives up.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long the first connect and the warm-up may take (large rooms make setup slow).
const SETUP_DEADLINE: Duration = Duration::from_secs(300);
/// Handshakes in flight during the first connect (not measured; kept low so the server's
/// store pool is not starved).
const SETUP_HANDSHAKES: usize = 64;
/// How often one client retries a handshake refused with 503 before the run fails.
const MAX_REFUSALS: u32 = 30;
/// How long one WebSocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// REST requests in flight during setup (sign-ups, joins, publishes).
const SETUP_REQUESTS: usize = 64;

/// Settings of the `storm` scenario.
#[derive(Debug, Args)]
pub struct StormArgs {
    /// The `tandem` binary to start.
    #[arg(long, default_value = "target/release/tandem")]
    tandem_bin: PathBuf,
    /// Clients (one user and one connection each), at most 15000.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Threads; each client is a member of one, clients spread evenly.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Events published per room while every client is away (at most 500).
    #[arg(long, default_value_t = 20)]
    missed: usize,
    /// Source addresses 127.0.0.2.. to spread client sockets over.
    #[arg(long, default_value_t = 8)]
    source_ips: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One client: its user's token, its room (index) and its source address.
struct Client {
    token: String,
    room: usize,
    source: Ipv4Addr,
}

/// What the client tasks tell the scenario.
enum Progress {
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
struct Resumed {
    /// When its handshake started (after waiting for a handshake slot).
    started: Instant,
    /// When its `connected` frame arrived.
    connected: Instant,
    /// When its room's final seq arrived.
    caught_up: Instant,
    /// Seqs skipped.
    lost: u64,
    /// Seqs at or below one already seen.
    duplicated: u64,
    /// Whether `resync_required` arrived instead of a replay.
    resync: bool,
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
struct Held {
    last_seq: i64,
    lost: u64,
    duplicated: u64,
}

/// What every client task shares: where to connect, who the clients are.
struct Fleet {
    addr: SocketAddr,
    clients: Vec<Client>,
    rooms: Vec<String>,
}

/// The handshake gate of one phase, and how often its clients had to retry.
struct Handshakes {
    /// Handshakes in flight at once.
    gate: Semaphore,
    /// Handshakes the server refused with 503 (and the client retried).
    refused: AtomicU64,
    /// Replays the server could not do (`unavailable`), which the client asked for again.
    replays_retried: AtomicU64,
    /// Connections the server closed with 1013 (its store could not load the rooms), which the
    /// client reopened (and resumed).
    try_again: AtomicU64,
}

impl Handshakes {
    fn new(in_flight: usize) -> Arc<Self> {
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

/// Runs the scenario and prints its table.
pub async fn run(args: StormArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=15_000).contains(&args.clients), "clients must be 1..=15000");
    anyhow::ensure!((1..=args.clients.min(1_000)).contains(&args.rooms), "rooms must be 1..=min(clients, 1000)");
    anyhow::ensure!((1..=500).contains(&args.missed), "missed must be 1..=500");
    anyhow::ensure!((1..=250).contains(&args.source_ips), "source-ips must be 1..=250");
    anyhow::ensure!((1..=4_096).contains(&args.concurrency), "concurrency must be 1..=4096");
    let extra = ["--api-key", API_KEY, "--heartbeat-interval", "10m", "--ws-queue-capacity", "8192"].map(String::from);
    let server = ServerProcess::spawn(&args.tandem_bin, &extra).await?;
    let addr = server.addr;
    let http = reqwest::Client::new();

    let setup = Instant::now();
    let users = client::sign_up_users(addr, args.clients, "storm").await?;
    let sign_up_time = setup.elapsed();
    eprintln!("storm: {} users signed up in {:.1} s", args.clients, sign_up_time.as_secs_f64());
    let mut groups = vec![Vec::new(); args.rooms];
    for client in 0..args.clients {
        groups[client % args.rooms].push(client);
    }
    let threads_started = Instant::now();
    let thread_ids = client::create_threads(&http, addr, &users, &groups, "storm", SETUP_REQUESTS).await?;
    let threads_time = threads_started.elapsed();
    eprintln!("storm: {} threads created and joined in {:.1} s", args.rooms, threads_time.as_secs_f64());
    let clients = users
        .into_iter()
        .enumerate()
        .map(|(i, (_, token))| Client { token, room: i % args.rooms, source: client::source_ip(i, args.source_ips) })
        .collect();
    let rooms = thread_ids.iter().map(|id| format!("thread:{id}")).collect();
    let fleet = Arc::new(Fleet { addr, clients, rooms });
    let handshakes = Handshakes::new(SETUP_HANDSHAKES.min(args.concurrency));

    // Phase 1: connect everyone, publish the warm-up, wait until every client has it.
    let (progress, mut updates) = mpsc::channel(args.clients + 16);
    let (targets_tx, targets) = watch::channel(vec![0_i64; args.rooms]);
    let (drop_tx, dropped) = watch::channel(false);
    let connect_started = Instant::now();
    let mut holders = Vec::with_capacity(args.clients);
    for index in 0..args.clients {
        let task = hold(fleet.clone(), handshakes.clone(), index, targets.clone(), dropped.clone(), progress.clone());
        holders.push(tokio::spawn(report_failure(task, progress.clone())));
    }
    wait_for(&mut updates, args.clients, "connected", SETUP_DEADLINE, |p| matches!(p, Progress::Connected)).await?;
    let connect_time = connect_started.elapsed();
    let setup_refused = handshakes.refused.load(Ordering::Relaxed);
    let setup_try_again = handshakes.try_again.load(Ordering::Relaxed);
    eprintln!(
        "storm: {} clients connected in {:.1} s ({setup_refused} handshakes refused, {setup_try_again} closed with 1013)",
        args.clients,
        connect_time.as_secs_f64()
    );
    let warm = publish(&http, addr, &fleet.rooms, WARMUP).await?;
    targets_tx.send(warm.clone()).map_err(|_| anyhow!("every client task ended"))?;
    wait_for(&mut updates, args.clients, "warm", SETUP_DEADLINE, |p| matches!(p, Progress::Warm)).await?;
    let warm_time = connect_started.elapsed() - connect_time;
    eprintln!("storm: every client has its warm-up events after {:.1} s more", warm_time.as_secs_f64());

    // Phase 2: drop every connection at once; publish while everyone is away.
    let dropped_at = Instant::now();
    drop_tx.send(true).map_err(|_| anyhow!("every client task ended"))?;
    let held = join_all(holders).await?;
    let warm_lost: u64 = held.iter().map(|h| h.lost).sum();
    let warm_duplicated: u64 = held.iter().map(|h| h.duplicated).sum();
    wait_until_no_connections(&http, addr).await?;
    let drop_seen = dropped_at.elapsed();
    let finals = publish(&http, addr, &fleet.rooms, args.missed).await?;
    for (room, (&warm, &last)) in warm.iter().zip(&finals).enumerate() {
        let missed = i64::try_from(args.missed)?;
        anyhow::ensure!(last == warm + missed, "room {room}: expected final seq {}, got {last}", warm + missed);
    }
    eprintln!(
        "storm: all dropped (server saw it after {} ms), {} events published per room; resuming",
        drop_seen.as_millis(),
        args.missed
    );

    // Phase 3: at t0 every client reconnects with its cursor and reads until its room's final seq.
    let handshakes = Handshakes::new(args.concurrency);
    let (progress, mut updates) = mpsc::channel(args.clients + 16);
    let (stop_tx, stop) = watch::channel(false);
    let t0 = Instant::now();
    let mut resumers = Vec::with_capacity(args.clients);
    for (index, holder) in held.iter().enumerate() {
        let final_seq = finals[fleet.clients[index].room];
        let task = resume(
            fleet.clone(),
            handshakes.clone(),
            index,
            holder.last_seq,
            final_seq,
            progress.clone(),
            stop.clone(),
        );
        resumers.push(tokio::spawn(report_failure(task, progress.clone())));
    }
    drop(progress);
    let deadline = tokio::time::Instant::from_std(t0 + DEADLINE);
    let mut resumed = Vec::with_capacity(args.clients);
    while resumed.len() < args.clients {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Err(_) => bail!(
                "only {} of {} clients caught up within {} s of t0 ({} handshakes refused)",
                resumed.len(),
                args.clients,
                DEADLINE.as_secs(),
                handshakes.refused.load(Ordering::Relaxed)
            ),
            Ok(None) => bail!("client tasks ended early"),
            Ok(Some(Progress::CaughtUp(r))) => resumed.push(r),
            Ok(Some(Progress::Failed(e))) => return Err(e.context("a client failed to resume")),
            Ok(Some(_)) => {}
        }
    }
    let _ = stop_tx.send(true);
    let _ = join_all(resumers).await?;
    let refused = handshakes.refused.load(Ordering::Relaxed);
    let replays_retried = handshakes.replays_retried.load(Ordering::Relaxed);
    let try_again = handshakes.try_again.load(Ordering::Relaxed);

    // Report.
    let all_caught_up = resumed.iter().map(|r| r.caught_up - t0).max().unwrap_or_default();
    let all_connected = resumed.iter().map(|r| r.connected - t0).max().unwrap_or_default();
    let handshake_rate = args.clients as f64 / all_connected.as_secs_f64().max(1e-9);
    let lost: u64 = resumed.iter().map(|r| r.lost).sum();
    let duplicated: u64 = resumed.iter().map(|r| r.duplicated).sum();
    let resyncs = resumed.iter().filter(|r| r.resync).count();
    let mut own = Histogram::<u64>::new(3)?;
    let mut since_t0 = Histogram::<u64>::new(3)?;
    let mut handshake = Histogram::<u64>::new(3)?;
    for r in &resumed {
        own.record(micros(r.caught_up - r.started))?;
        since_t0.record(micros(r.caught_up - t0))?;
        handshake.record(micros(r.connected - r.started))?;
    }
    let (own, since_t0, handshake) =
        (report::percentiles_ms(&own), report::percentiles_ms(&since_t0), report::percentiles_ms(&handshake));
    let p50_p99_max = |p: &Value| format!("{} / {} / {} ms", p["p50"], p["p99"], p["max"]);
    let resync_text = if resyncs == 0 { "no".to_owned() } else { format!("YES, {resyncs} clients") };
    report::table(
        &format!(
            "storm: {} clients in {} rooms, {} events missed per room, {} handshakes in flight",
            args.clients, args.rooms, args.missed, args.concurrency
        ),
        &[
            ("setup: sign-up", format!("{:.1} s", sign_up_time.as_secs_f64())),
            ("setup: threads + joins", format!("{:.1} s", threads_time.as_secs_f64())),
            (
                "setup: first connect",
                format!(
                    "{:.1} s ({setup_refused} refused with 503, {setup_try_again} closed with 1013; retried)",
                    connect_time.as_secs_f64()
                ),
            ),
            ("setup: warm-up delivered", format!("{:.1} s", warm_time.as_secs_f64())),
            ("server saw every drop after", format!("{} ms", drop_seen.as_millis())),
            ("ALL CAUGHT UP after t0", format!("{:.3} s (goal <= 10 s)", all_caught_up.as_secs_f64())),
            (
                "all connected after t0",
                format!("{:.3} s ({handshake_rate:.0} handshakes/s)", all_connected.as_secs_f64()),
            ),
            ("handshakes refused (503), retried", refused.to_string()),
            ("replays unavailable, resumed again", replays_retried.to_string()),
            ("closed with 1013, reconnected", try_again.to_string()),
            ("per-client catch-up p50/p99/max", p50_p99_max(&own)),
            ("caught up since t0 p50/p99/max", p50_p99_max(&since_t0)),
            ("handshake p50/p99/max", p50_p99_max(&handshake)),
            ("lost / duplicated", format!("{lost} / {duplicated} (must be 0 / 0)")),
            ("resync_required", format!("{resync_text} (must be no)")),
            ("warm-up lost / duplicated", format!("{warm_lost} / {warm_duplicated}")),
        ],
    );
    if let Some(path) = &args.json {
        report::write_json(
            path,
            &json!({
                "scenario": "storm", "clients": args.clients, "rooms": args.rooms, "missed": args.missed,
                "concurrency": args.concurrency, "source_ips": args.source_ips,
                "sign_up_s": sign_up_time.as_secs_f64(), "threads_s": threads_time.as_secs_f64(),
                "first_connect_s": connect_time.as_secs_f64(), "first_connect_refused": setup_refused,
                "warmup_s": warm_time.as_secs_f64(), "drop_seen_ms": drop_seen.as_secs_f64() * 1e3,
                "all_caught_up_s": all_caught_up.as_secs_f64(), "all_connected_s": all_connected.as_secs_f64(),
                "handshakes_per_s": handshake_rate, "handshakes_refused": refused, "replays_retried": replays_retried, "closed_1013": try_again,
                "first_connect_closed_1013": setup_try_again, "catch_up_ms": own,
                "caught_up_since_t0_ms": since_t0, "handshake_ms": handshake, "lost": lost,
                "duplicated": duplicated, "resync_required": resyncs,
                "warmup_lost": warm_lost, "warmup_duplicated": warm_duplicated,
            }),
        )?;
    }
    anyhow::ensure!(
        lost == 0 && duplicated == 0 && resyncs == 0 && warm_lost == 0 && warm_duplicated == 0,
        "{lost} lost and {duplicated} duplicated events, {resyncs} resync_required \
         (warm-up: {warm_lost} lost, {warm_duplicated} duplicated)"
    );
    Ok(())
}

/// A duration in whole microseconds (at least 1, for the histogram).
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Runs a client task; if it fails, also tells the scenario so it stops waiting.
async fn report_failure<T>(
    task: impl Future<Output = anyhow::Result<T>>,
    progress: mpsc::Sender<Progress>,
) -> anyhow::Result<T> {
    let result = task.await;
    if let Err(e) = &result {
        let _ = progress.send(Progress::Failed(anyhow!("{e:#}"))).await;
    }
    result
}

/// Waits (≤ `limit`) for `count` updates matching `wanted`; a failure ends the wait.
async fn wait_for(
    updates: &mut mpsc::Receiver<Progress>,
    count: usize,
    what: &str,
    limit: Duration,
    wanted: impl Fn(&Progress) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut seen = 0;
    while seen < count {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Err(_) => bail!("only {seen} of {count} clients {what} within {} s", limit.as_secs()),
            Ok(None) => bail!("client tasks ended early"),
            Ok(Some(Progress::Failed(e))) => return Err(e.context(format!("waiting for clients: {what}"))),
            Ok(Some(update)) if wanted(&update) => seen += 1,
            Ok(Some(_)) => {}
        }
    }
    Ok(())
}

/// Joins client tasks (≤ [`DEADLINE`] in all), failing on the first error.
async fn join_all<T>(tasks: Vec<JoinHandle<anyhow::Result<T>>>) -> anyhow::Result<Vec<T>> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        let result = tokio::time::timeout_at(deadline, task).await.context("client tasks did not end")?;
        results.push(result.context("client task panicked")??);
    }
    Ok(results)
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
async fn hold(
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
async fn resume(
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

/// Polls `/metrics` until `ws_connections_active` is 0 (≤ [`DEADLINE`]).
async fn wait_until_no_connections(http: &reqwest::Client, addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = http.get(format!("http://{addr}/metrics")).send().await?.error_for_status()?.text().await?;
        let active = text
            .lines()
            .find_map(|line| line.strip_prefix("ws_connections_active "))
            .map(|value| value.trim().parse::<f64>())
            .transpose()
            .context("malformed ws_connections_active")?
            .unwrap_or(0.0);
        if active == 0.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server still counts {active} connections {} s after the drop", DEADLINE.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `per_room` `bench.tick` events into each room through the publish API; returns
/// each room's highest seq.
async fn publish(
    http: &reqwest::Client,
    addr: SocketAddr,
    rooms: &[String],
    per_room: usize,
) -> anyhow::Result<Vec<i64>> {
    let events = (0..per_room).flat_map(|n| (0..rooms.len()).map(move |room| (room, n)));
    let mut sending = stream::iter(events)
        .map(|(room, n)| {
            let http = http.clone();
            let url = format!("http://{addr}/api/v1/rooms/{}/publish", rooms[room]);
            async move {
                let body: Value = http
                    .post(url)
                    .bearer_auth(API_KEY)
                    .json(&json!({"type": "bench.tick", "n": n}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                anyhow::Ok((room, body["seq"].as_i64().context("publish answer without seq")?))
            }
        })
        .buffer_unordered(SETUP_REQUESTS);
    let mut highest = vec![0_i64; rooms.len()];
    while let Some(published) = sending.next().await {
        let (room, seq) = published?;
        highest[room] = highest[room].max(seq);
    }
    Ok(highest)
}
