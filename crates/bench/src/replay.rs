//! `replay`: a client that missed N durable events resumes; how fast do they arrive?

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::server::ServerProcess;
use crate::{client, report};

/// The API key the spawned server accepts for publishing.
const API_KEY: &str = "bench-api-key";

/// Settings of the `replay` scenario.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The `tandem` binary to start.
    #[arg(long, default_value = "target/release/tandem")]
    tandem_bin: PathBuf,
    /// Events published before the client resumes (retention keeps at least this many).
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Bytes of padding per event, to vary the payload.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Resumes to time (each from seq 0).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs the scenario and prints its table.
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.events > 0 && args.events <= 100_000, "events must be 1..=100000");
    let retention = (args.events + 10).to_string();
    let extra = ["--api-key", API_KEY, "--retention-events", &retention].map(String::from);
    let server = ServerProcess::spawn(&args.tandem_bin, &extra).await?;
    let (user_id, token) = client::sign_up_users(server.addr, 1, "replay").await?.remove(0);
    let room = format!("user:{user_id}");

    let http = reqwest::Client::new();
    let padding = "x".repeat(args.payload);
    for n in 0..args.events {
        http.post(format!("http://{}/api/v1/rooms/{room}/publish", server.addr))
            .bearer_auth(API_KEY)
            .json(&json!({"type": "bench.note", "n": n, "padding": padding}))
            .send()
            .await?
            .error_for_status()?;
    }

    let cursors = json!({ &room: 0 }).to_string();
    let encoded: String = cursors.bytes().map(|b| format!("%{b:02X}")).collect();
    let query = format!("token={token}&resume={encoded}");
    let mut durations = Histogram::<u64>::new(3)?;
    for _ in 0..args.runs {
        let started = Instant::now();
        let mut socket = client::connect_with_query(server.addr, Ipv4Addr::new(127, 0, 0, 2), &query).await?;
        let mut expected = 1_i64;
        let last = i64::try_from(args.events)?;
        while expected <= last {
            let message = socket.next().await.context("closed during replay")??;
            let Message::Text(text) = message else { continue };
            let frame: Value = serde_json::from_str(&text)?;
            if frame["type"] != "bench.note" {
                continue;
            }
            if frame["seq"] != expected {
                bail!("expected seq {expected}, got {}", frame["seq"]);
            }
            expected += 1;
        }
        durations.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))?;
    }

    let median_s = durations.value_at_quantile(0.5) as f64 / 1e6;
    let rate = args.events as f64 / median_s;
    let timing = report::percentiles_ms(&durations);
    report::table(
        &format!(
            "replay: resume from seq 0 over {} events of ~{} B, {} runs",
            args.events,
            args.payload + 90,
            args.runs
        ),
        &[
            ("connect + full replay p50", format!("{} ms", timing["p50"])),
            ("connect + full replay max", format!("{} ms", timing["max"])),
            ("replay throughput (p50)", format!("{rate:.0} events/s")),
        ],
    );
    if let Some(path) = &args.json {
        report::write_json(
            path,
            &json!({"scenario": "replay", "events": args.events, "runs": args.runs,
                    "replay_ms": timing, "events_per_s_p50": rate}),
        )?;
    }
    Ok(())
}
