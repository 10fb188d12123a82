//! `idle`: N connections held open; server RSS per connection and connect rate. With
//! `--rounds`, the flood is repeated: all connections are dropped at once after each hold and
//! RSS is read again once the server settled, showing whether it gives memory back after a storm.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::server::{ServerProcess, rss_kib};
use crate::{client, report};

/// Settings of the `idle` scenario.
#[derive(Debug, Args)]
pub struct IdleArgs {
    /// The `tandem` binary to start (a release build measures what users run).
    #[arg(long, default_value = "target/release/tandem")]
    tandem_bin: PathBuf,
    /// Connections to open (one process holds at most ~19.9k sockets).
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Distinct users the connections belong to (connections are spread evenly).
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Source addresses 127.0.0.2.. to spread client sockets over.
    #[arg(long, default_value_t = 8)]
    source_ips: usize,
    /// How long to hold the connections before measuring RSS.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    hold: Duration,
    /// Connection floods to run, one after the other; each ends with every connection dropped
    /// at once (no close frame, as a network loss).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// How long to wait after dropping the connections before reading RSS again; longer than
    /// the server's presence grace (5 s), so its offline announcements are done.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs the scenario and prints its table.
pub async fn run(args: IdleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.connections <= 19_000, "one process holds at most ~19.9k sockets");
    // Long heartbeats: idle clients are not polled, so they would not answer pings.
    let extra = ["--heartbeat-interval", "10m", "--heartbeat-timeout", "1m"].map(String::from);
    let server = ServerProcess::spawn(&args.tandem_bin, &extra).await?;
    let tokens = client::sign_up(server.addr, args.users.max(1), "idle").await?;
    let baseline = rss_kib(server.pid())?;

    let mut floods = Vec::with_capacity(args.rounds.max(1));
    for _ in 0..args.rounds.max(1) {
        let flood = flood(&args, server.addr, &tokens).await?;
        tokio::time::sleep(args.hold).await;
        let held = rss_kib(server.pid())?;
        drop(flood.sockets);
        tokio::time::sleep(args.settle).await;
        let after = rss_kib(server.pid())?;
        floods.push(Round { held, after, rate: flood.rate, handshake: report::percentiles_ms(&flood.latency) });
    }
    let first = &floods[0];
    let per_connection_kib = (first.held.saturating_sub(baseline)) as f64 / args.connections as f64;
    let mut rows = vec![
        ("server RSS before", format!("{baseline} KiB")),
        ("server RSS holding", format!("{} KiB", first.held)),
        ("RSS per connection", format!("{per_connection_kib:.2} KiB (goal <= 6)")),
        ("connect rate", format!("{:.0} connections/s (goal >= 10000)", first.rate)),
        ("handshake p50 / p99", format!("{} / {} ms", first.handshake["p50"], first.handshake["p99"])),
    ];
    for (i, round) in floods.iter().enumerate() {
        let settled =
            format!("{} KiB holding, {} KiB {:?} after dropping them all", round.held, round.after, args.settle);
        rows.push((if i == 0 { "flood 1" } else { "next flood" }, settled));
    }
    report::table(&format!("idle: {} connections, {} users", args.connections, args.users), &rows);
    if let Some(path) = &args.json {
        let rounds: Vec<_> = floods
            .iter()
            .map(|r| json!({"rss_holding_kib": r.held, "rss_after_kib": r.after, "connect_rate_per_s": r.rate}))
            .collect();
        report::write_json(
            path,
            &json!({
                "scenario": "idle", "connections": args.connections, "users": args.users,
                "rss_before_kib": baseline, "rss_holding_kib": first.held, "rss_per_connection_kib": per_connection_kib,
                "connect_rate_per_s": first.rate, "handshake_ms": first.handshake,
                "settle_s": args.settle.as_secs_f64(), "rounds": rounds,
            }),
        )?;
    }
    Ok(())
}

/// What one flood measured.
struct Round {
    held: u64,
    after: u64,
    rate: f64,
    handshake: serde_json::Value,
}

/// A flood's open connections and how fast they opened.
struct Flood {
    sockets: Vec<client::Socket>,
    rate: f64,
    latency: Histogram<u64>,
}

/// Opens `args.connections` connections, `args.concurrency` handshakes at a time.
async fn flood(args: &IdleArgs, addr: std::net::SocketAddr, tokens: &[String]) -> anyhow::Result<Flood> {
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut handshakes = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let permit = gate.clone().acquire_owned().await?;
        let token = tokens[i % tokens.len()].clone();
        let source = client::source_ip(i, args.source_ips);
        handshakes.push(tokio::spawn(async move {
            let begun = Instant::now();
            let socket = client::connect(addr, source, &token).await;
            drop(permit);
            socket.map(|s| (s, begun.elapsed()))
        }));
    }
    let mut sockets = Vec::with_capacity(args.connections);
    let mut latency = Histogram::<u64>::new(3)?;
    for handshake in handshakes {
        let (socket, took) = handshake.await?.context("handshake failed")?;
        latency.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX))?;
        sockets.push(socket);
    }
    let rate = args.connections as f64 / started.elapsed().as_secs_f64();
    Ok(Flood { sockets, rate, latency })
}
