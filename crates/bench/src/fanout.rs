//! `fanout`: R rooms (threads) × M members; a backend publishes at a target rate through the
//! publish API; every member connection measures end-to-end latency from the send timestamp
//! in the payload and checks each room's seqs for loss and duplicates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::server::ServerProcess;
use crate::{client, report};

/// The API key the spawned server accepts for publishing.
const API_KEY: &str = "bench-api-key";

/// Settings of the `fanout` scenario.
#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// The `tandem` binary to start.
    #[arg(long, default_value = "target/release/tandem")]
    server_bin: PathBuf,
    /// Rooms (threads); every member is in every room.
    #[arg(long, default_value_t = 4)]
    rooms: usize,
    /// Members (one connection each).
    #[arg(long, default_value_t = 200)]
    members: usize,
    /// Events published per second, over all rooms.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// How long to publish.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// What one member connection saw.
struct Seen {
    latency: Histogram<u64>,
    delivered: u64,
    duplicated: u64,
}

/// Runs the scenario and prints its table.
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.members >= 1 && args.members <= 15_000, "members must be 1..=15000");
    anyhow::ensure!(args.rooms >= 1 && args.rooms <= 100, "rooms must be 1..=100");
    anyhow::ensure!(args.duration <= Duration::from_secs(120), "duration is at most 120 s");
    let extra = ["--api-key", API_KEY, "--heartbeat-interval", "10m", "--ws-queue-capacity", "8192"].map(String::from);
    let server = ServerProcess::spawn(&args.server_bin, &extra).await?;
    let http = reqwest::Client::new();
    let users = client::sign_up_users(server.addr, args.members, "fan").await?;
    let rooms = create_rooms(&http, server.addr, &users, args.rooms).await?;

    let mut readers = Vec::with_capacity(users.len());
    for (i, (_, token)) in users.iter().enumerate() {
        let socket = client::connect(server.addr, client::source_ip(i, 8), token).await?;
        readers.push(tokio::spawn(read_until_quiet(socket)));
    }

    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut published = 0_u64;
    let mut in_flight = tokio::task::JoinSet::new();
    while started.elapsed() < args.duration {
        ticker.tick().await;
        let room = rooms[usize::try_from(published).unwrap_or(0) % rooms.len()].clone();
        let (http, addr) = (http.clone(), server.addr);
        in_flight.spawn(async move {
            http.post(format!("http://{addr}/api/v1/rooms/thread:{room}/publish"))
                .bearer_auth(API_KEY)
                .json(&json!({"type": "bench.tick", "sent_us": now_us()}))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
        });
        published += 1;
        while in_flight.len() > 64 {
            in_flight.join_next().await.context("publisher")???;
        }
    }
    while let Some(result) = in_flight.join_next().await {
        result??;
    }
    let publish_time = started.elapsed();

    let mut latency = Histogram::<u64>::new(3)?;
    let (mut delivered, mut duplicated) = (0_u64, 0_u64);
    for reader in readers {
        let seen = reader.await??;
        latency.add(&seen.latency)?;
        delivered += seen.delivered;
        duplicated += seen.duplicated;
    }
    let expected = published * u64::try_from(args.members)?;
    let lost = expected.saturating_sub(delivered);
    let rate = delivered as f64 / publish_time.as_secs_f64();
    let percentiles = report::percentiles_ms(&latency);
    report::table(
        &format!(
            "fanout: {} rooms × {} members, {} events/s for {:?}",
            args.rooms, args.members, args.rate, args.duration
        ),
        &[
            ("events published", published.to_string()),
            ("deliveries", format!("{delivered} ({rate:.0}/s)")),
            ("lost / duplicated", format!("{lost} / {duplicated} (must be 0 / 0)")),
            (
                "latency p50 / p90 / p99",
                format!("{} / {} / {} ms", percentiles["p50"], percentiles["p90"], percentiles["p99"]),
            ),
            ("latency p99.9 / max", format!("{} / {} ms", percentiles["p999"], percentiles["max"])),
        ],
    );
    if let Some(path) = &args.json {
        report::write_json(
            path,
            &json!({"scenario": "fanout", "rooms": args.rooms, "members": args.members, "rate": args.rate,
                    "published": published, "delivered": delivered, "deliveries_per_s": rate,
                    "lost": lost, "duplicated": duplicated, "latency_ms": percentiles}),
        )?;
    }
    anyhow::ensure!(lost == 0 && duplicated == 0, "{lost} lost and {duplicated} duplicated deliveries");
    Ok(())
}

/// Creates `count` threads owned by the first user, with every other user joining by link.
async fn create_rooms(
    http: &reqwest::Client,
    addr: SocketAddr,
    users: &[(String, String)],
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let (_, owner) = users.first().context("no users")?;
    let mut rooms = Vec::with_capacity(count);
    for n in 0..count {
        let thread: Value = http
            .post(format!("http://{addr}/api/v1/threads"))
            .bearer_auth(owner)
            .json(&json!({"name": format!("fanout {n}")}))
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
        let code = link["code"].as_str().context("code")?.to_owned();
        for (_, token) in &users[1..] {
            http.post(format!("http://{addr}/api/v1/threads/{id}/join"))
                .bearer_auth(token)
                .json(&json!({"code": code}))
                .send()
                .await?
                .error_for_status()?;
        }
        rooms.push(id);
    }
    Ok(rooms)
}

/// Reads `bench.tick` events until none arrives for 2 s.
async fn read_until_quiet(mut socket: client::Socket) -> anyhow::Result<Seen> {
    let mut seen = Seen { latency: Histogram::new(3)?, delivered: 0, duplicated: 0 };
    let mut last_seq: HashMap<String, i64> = HashMap::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), socket.next()).await {
        let Message::Text(text) = message? else { continue };
        if !text.contains("bench.tick") {
            continue;
        }
        let frame: Value = serde_json::from_str(&text)?;
        let (Some(room), Some(seq), Some(sent)) =
            (frame["room"].as_str(), frame["seq"].as_i64(), frame["sent_us"].as_u64())
        else {
            continue;
        };
        let last = last_seq.entry(room.to_owned()).or_insert(0);
        if seq <= *last {
            seen.duplicated += 1;
            continue;
        }
        *last = seq;
        seen.delivered += 1;
        seen.latency.record(now_us().saturating_sub(sent).max(1))?;
    }
    Ok(seen)
}
