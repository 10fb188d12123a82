//! `idle`: N connections held open; server RSS per connection and connect rate.

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

    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut handshakes = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let permit = gate.clone().acquire_owned().await?;
        let token = tokens[i % tokens.len()].clone();
        let source = client::source_ip(i, args.source_ips);
        let addr = server.addr;
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
    let connect_time = started.elapsed();
    tokio::time::sleep(args.hold).await;
    let held = rss_kib(server.pid())?;
    let per_connection_kib = (held.saturating_sub(baseline)) as f64 / args.connections as f64;
    let rate = args.connections as f64 / connect_time.as_secs_f64();

    let handshake = report::percentiles_ms(&latency);
    report::table(
        &format!("idle: {} connections, {} users", args.connections, args.users),
        &[
            ("server RSS before", format!("{baseline} KiB")),
            ("server RSS holding", format!("{held} KiB")),
            ("RSS per connection", format!("{per_connection_kib:.2} KiB (goal <= 6)")),
            ("connect rate", format!("{rate:.0} connections/s (goal >= 10000)")),
            ("handshake p50 / p99", format!("{} / {} ms", handshake["p50"], handshake["p99"])),
        ],
    );
    if let Some(path) = &args.json {
        report::write_json(
            path,
            &json!({
                "scenario": "idle", "connections": args.connections, "users": args.users,
                "rss_before_kib": baseline, "rss_holding_kib": held, "rss_per_connection_kib": per_connection_kib,
                "connect_rate_per_s": rate, "handshake_ms": handshake,
            }),
        )?;
    }
    drop(sockets);
    Ok(())
}
