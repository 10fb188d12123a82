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

mod clients;
mod control;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use clients::{Client, Fleet, Handshakes, Progress, hold, resume};
use control::{join_all, micros, publish, report_failure, wait_for, wait_until_no_connections};

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
