//! `presence`: connect/disconnect churn. Users are members of threads of `group` users each
//! and all connected; then, `churn` times, one user closes its connection cleanly (WebSocket
//! close frame) and reconnects. For each cycle the bench measures, per co-member, the time from
//! the close frame (resp. the start of the reconnect) until that co-member's connection
//! receives `user_status_changed` `is_online: false` (resp. `true`) for the user.
//!
//! Every connection is owned by a task that reads frames continuously and reports the status
//! changes it sees into a shared table of "watches" (one per awaited transition). A cycle waits
//! on its watch with a timeout; a notification that does not arrive within it counts as missed,
//! and the run fails unless nothing was missed or repeated.

mod load;
mod measured;
mod readers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tokio::sync::Notify;

use load::{churn, connect_all, settle};
use measured::Measured;
use readers::{Shared, Slot};

use crate::server::ServerProcess;
use crate::{client, report};

/// How long a co-member's notification may take before it counts as missed.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one WebSocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in flight while every user connects for the first time.
const SETUP_HANDSHAKES: usize = 256;
/// REST requests in flight during setup (sign-ups, threads, joins).
const SETUP_REQUESTS: usize = 64;
/// Source addresses 127.0.0.2.. the client sockets are spread over.
const SOURCE_IPS: usize = 8;
/// The initial connect has settled once no status frame arrived for this long.
const QUIET: Duration = Duration::from_millis(300);
/// How long the bench waits at most for the initial connect to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// Settings of the `presence` scenario.
#[derive(Debug, Args)]
pub struct PresenceArgs {
    /// The `tandem` binary to start.
    #[arg(long, default_value = "target/release/tandem")]
    tandem_bin: PathBuf,
    /// Users (one connection each), at most 15000.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Members per thread; every user is in exactly one thread (the remainder of
    /// `users / group` is spread over the threads).
    #[arg(long, default_value_t = 10)]
    group: usize,
    /// Disconnect/reconnect cycles, at most 100000 (users are taken round-robin over threads).
    #[arg(long, default_value_t = 500)]
    churn: usize,
    /// Cycles in flight at once (never two in the same thread; at most the number of threads).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What every worker needs to reconnect users.
struct World {
    addr: SocketAddr,
    tokens: Vec<String>,
    members: Vec<Vec<usize>>,
    shared: Arc<Shared>,
}

/// Runs the scenario and prints its table.
pub async fn run(args: PresenceArgs) -> anyhow::Result<()> {
    anyhow::ensure!((2..=15_000).contains(&args.users), "users must be 2..=15000");
    anyhow::ensure!((2..=args.users).contains(&args.group), "group must be 2..=users");
    anyhow::ensure!((1..=100_000).contains(&args.churn), "churn must be 1..=100000");
    anyhow::ensure!((1..=1_000).contains(&args.concurrency), "concurrency must be 1..=1000");
    let threads = args.users / args.group;
    let workers = args.concurrency.min(threads);

    // Idle connections are not polled by a ping-answering client loop: no heartbeat kills.
    let extra = ["--heartbeat-interval", "10m"].map(String::from);
    let server = ServerProcess::spawn(&args.tandem_bin, &extra).await?;
    let http = reqwest::Client::new();
    let setup = Instant::now();
    let users = client::sign_up_users(server.addr, args.users, "pres").await?;
    let mut members = vec![Vec::new(); threads];
    let mut group_of = Vec::with_capacity(args.users);
    for user in 0..args.users {
        members[user % threads].push(user);
        group_of.push(user % threads);
    }
    client::create_threads(&http, server.addr, &users, &members, "presence", SETUP_REQUESTS).await?;

    let shared = Arc::new(Shared {
        index: users.iter().enumerate().map(|(i, (id, _))| (id.clone(), i)).collect(),
        group_of,
        watches: Mutex::new(HashMap::new()),
        unsolicited: AtomicU64::new(0),
        activity: Notify::new(),
    });
    let tokens: Vec<String> = users.into_iter().map(|(_, token)| token).collect();
    let context = Arc::new(World { addr: server.addr, tokens, members, shared });
    let mut slots = connect_all(&context).await?;
    settle(&context.shared).await;
    let setup_time = setup.elapsed();

    // Cycle c churns thread c % threads, its members in turn; thread t belongs to worker
    // t % workers, so no two cycles of one thread are ever in flight together.
    let mut plans = vec![Vec::new(); workers];
    for cycle in 0..args.churn {
        let thread = cycle % threads;
        let group = &context.members[thread];
        plans[thread % workers].push(group[(cycle / threads) % group.len()]);
    }
    let mut owned: Vec<HashMap<usize, Slot>> = (0..workers).map(|_| HashMap::new()).collect();
    for (user, slot) in slots.drain() {
        owned[context.shared.group_of[user] % workers].insert(user, slot);
    }

    let unsolicited_before = context.shared.unsolicited.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut running = Vec::with_capacity(workers);
    for (plan, slots) in plans.into_iter().zip(owned) {
        running.push(tokio::spawn(churn(context.clone(), plan, slots)));
    }
    let mut measured = Measured::new()?;
    let mut remaining = Vec::new();
    for worker in running {
        let (part, slots) = worker.await.context("churn worker panicked")??;
        measured.add(&part)?;
        remaining.push(slots);
    }
    let churn_time = started.elapsed();
    let unsolicited = context.shared.unsolicited.load(Ordering::Relaxed) - unsolicited_before;

    // End of run: dropping the close senders makes every reader drop its socket.
    for slots in remaining {
        for (user, slot) in slots {
            drop(slot.close);
            slot.task.await.with_context(|| format!("reader of user {user} panicked"))??;
        }
    }

    let missed = measured.missed_offline + measured.missed_online;
    let offline = report::percentiles_ms(&measured.offline);
    let online = report::percentiles_ms(&measured.online);
    let handshake = report::percentiles_ms(&measured.handshake);
    let cycles_per_s = measured.cycles as f64 / churn_time.as_secs_f64();
    let quantiles =
        |p: &serde_json::Value| format!("{} / {} / {} / {} / {} ms", p["p50"], p["p90"], p["p99"], p["p999"], p["max"]);
    report::table(
        &format!(
            "presence: {} users in {threads} threads of ~{}, {} cycles, {workers} in flight",
            args.users, args.group, args.churn
        ),
        &[
            ("setup (sign-up, threads, connect)", format!("{:.1} s", setup_time.as_secs_f64())),
            ("cycles", format!("{} in {:.1} s ({cycles_per_s:.0}/s)", measured.cycles, churn_time.as_secs_f64())),
            ("notifications expected", measured.expected.to_string()),
            ("notifications received", measured.received.to_string()),
            (
                "missed (offline + online)",
                format!("{missed} ({} + {}) (must be 0)", measured.missed_offline, measured.missed_online),
            ),
            ("duplicated", format!("{} (must be 0)", measured.duplicated)),
            ("unsolicited status frames", unsolicited.to_string()),
            ("offline p50/p90/p99/p99.9/max", format!("{} (goal p99 <= 10 ms)", quantiles(&offline))),
            ("online p50/p90/p99/p99.9/max", quantiles(&online)),
            ("reconnect handshake p50 / p99", format!("{} / {} ms", handshake["p50"], handshake["p99"])),
        ],
    );
    if let Some(path) = &args.json {
        report::write_json(
            path,
            &json!({
                "scenario": "presence", "users": args.users, "group": args.group, "threads": threads,
                "churn": args.churn, "concurrency": workers, "cycles": measured.cycles,
                "cycles_per_s": cycles_per_s, "setup_s": setup_time.as_secs_f64(),
                "expected": measured.expected, "received": measured.received, "missed": missed,
                "missed_offline": measured.missed_offline, "missed_online": measured.missed_online,
                "duplicated": measured.duplicated, "unsolicited": unsolicited,
                "offline_ms": offline, "online_ms": online, "reconnect_handshake_ms": handshake,
            }),
        )?;
    }
    anyhow::ensure!(
        missed == 0 && measured.duplicated == 0,
        "{missed} missed and {} duplicated status notifications",
        measured.duplicated
    );
    Ok(())
}
