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

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

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

/// The fields of a `user_status_changed` frame the bench needs.
#[derive(Deserialize)]
struct StatusFrame {
    #[serde(rename = "type")]
    kind: String,
    user_id: String,
    is_online: bool,
}

/// One awaited transition: `subject` went offline or online; which co-members saw it, when.
struct Watch {
    /// When the watch was set up; earlier arrivals belong to something else.
    since: Instant,
    /// Co-members who should see the transition.
    expected: usize,
    /// First arrival per observing user.
    arrivals: HashMap<usize, Instant>,
    /// Arrivals beyond the first on the same observer.
    duplicated: u64,
    /// Woken when `arrivals` becomes complete.
    complete: Arc<Notify>,
}

/// What the connection tasks and the cycles share.
struct Shared {
    /// User id → user index.
    index: HashMap<String, usize>,
    /// User index → thread (group) index.
    group_of: Vec<usize>,
    /// Awaited transitions, keyed by (subject, is_online). The lock is never held across an
    /// await.
    watches: Mutex<HashMap<(usize, bool), Watch>>,
    /// Status frames no watch was waiting for (e.g. from the initial connect, or too late).
    unsolicited: AtomicU64,
    /// Woken on every unsolicited status frame (to see the initial connect settle).
    activity: Notify,
}

impl Shared {
    /// Records that `observer`'s connection received the status change `(subject, is_online)`
    /// at `at`.
    fn observe(&self, observer: usize, subject: usize, is_online: bool, at: Instant) {
        let mut wake = None;
        {
            let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
            let same_group = self.group_of.get(observer) == self.group_of.get(subject);
            match watches.get_mut(&(subject, is_online)) {
                Some(watch) if same_group && at >= watch.since => {
                    match watch.arrivals.entry(observer) {
                        Entry::Occupied(_) => watch.duplicated += 1,
                        Entry::Vacant(slot) => {
                            slot.insert(at);
                        }
                    }
                    if watch.arrivals.len() >= watch.expected {
                        wake = Some(watch.complete.clone());
                    }
                }
                _ => {
                    self.unsolicited.fetch_add(1, Ordering::Relaxed);
                    self.activity.notify_one();
                }
            }
        }
        if let Some(complete) = wake {
            complete.notify_one();
        }
    }

    /// Starts waiting for `(subject, is_online)` to reach `expected` co-members.
    fn watch(&self, subject: usize, is_online: bool, expected: usize) -> Arc<Notify> {
        let complete = Arc::new(Notify::new());
        let watch = Watch {
            since: Instant::now(),
            expected,
            arrivals: HashMap::new(),
            duplicated: 0,
            complete: complete.clone(),
        };
        self.watches.lock().unwrap_or_else(PoisonError::into_inner).insert((subject, is_online), watch);
        complete
    }

    /// Whether every expected co-member has seen `(subject, is_online)`.
    fn is_complete(&self, key: (usize, bool)) -> bool {
        let watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        watches.get(&key).is_none_or(|watch| watch.arrivals.len() >= watch.expected)
    }

    /// Waits until the watch is complete or `deadline` passes, then removes and returns it.
    async fn finish(&self, key: (usize, bool), complete: &Notify, deadline: tokio::time::Instant) -> Option<Watch> {
        while !self.is_complete(key) {
            if tokio::time::timeout_at(deadline, complete.notified()).await.is_err() {
                break;
            }
        }
        self.watches.lock().unwrap_or_else(PoisonError::into_inner).remove(&key)
    }
}

/// Asks a connection task to close cleanly; it answers with the instant it sent the close frame.
type CloseRequest = oneshot::Sender<Instant>;

/// A live connection: its reading task and the way to ask it to close.
struct Slot {
    close: oneshot::Sender<CloseRequest>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Spawns the task that owns `socket` (user `me`) and reads it until asked to close.
fn spawn_reader(socket: client::Socket, me: usize, shared: Arc<Shared>) -> Slot {
    let (close, requests) = oneshot::channel();
    Slot { close, task: tokio::spawn(read_frames(socket, me, shared, requests)) }
}

/// Reads frames, reporting `user_status_changed` to `shared`, until a close request arrives
/// (close cleanly, wait for the echo) or the request's sender is dropped (end of run: drop).
async fn read_frames(
    mut socket: client::Socket,
    me: usize,
    shared: Arc<Shared>,
    mut requests: oneshot::Receiver<CloseRequest>,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            request = &mut requests => {
                let Ok(reply) = request else { return Ok(()) };
                let sent = Instant::now();
                socket.close(None).await.context("sending the close frame")?;
                let _ = reply.send(sent);
                // Read until the server's close echo ends the stream (bounded).
                while let Ok(Some(Ok(_))) = timeout(EVENT_TIMEOUT, socket.next()).await {}
                return Ok(());
            }
            message = socket.next() => {
                let at = Instant::now();
                match message {
                    None => bail!("user {me}: the server ended the connection"),
                    Some(Err(e)) => return Err(e).with_context(|| format!("user {me}: reading")),
                    Some(Ok(Message::Close(frame))) => bail!("user {me}: the server closed the connection: {frame:?}"),
                    Some(Ok(Message::Text(text))) if text.contains("user_status_changed") => {
                        let Ok(frame) = serde_json::from_str::<StatusFrame>(&text) else { continue };
                        if frame.kind != "user_status_changed" {
                            continue;
                        }
                        if let Some(&subject) = shared.index.get(&frame.user_id) {
                            shared.observe(me, subject, frame.is_online, at);
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}

/// What the cycles of one worker measured.
struct Measured {
    cycles: u64,
    expected: u64,
    received: u64,
    missed_offline: u64,
    missed_online: u64,
    duplicated: u64,
    offline: Histogram<u64>,
    online: Histogram<u64>,
    handshake: Histogram<u64>,
}

impl Measured {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            cycles: 0,
            expected: 0,
            received: 0,
            missed_offline: 0,
            missed_online: 0,
            duplicated: 0,
            offline: Histogram::new(3)?,
            online: Histogram::new(3)?,
            handshake: Histogram::new(3)?,
        })
    }

    fn add(&mut self, other: &Self) -> anyhow::Result<()> {
        self.cycles += other.cycles;
        self.expected += other.expected;
        self.received += other.received;
        self.missed_offline += other.missed_offline;
        self.missed_online += other.missed_online;
        self.duplicated += other.duplicated;
        self.offline.add(&other.offline)?;
        self.online.add(&other.online)?;
        self.handshake.add(&other.handshake)?;
        Ok(())
    }

    /// Records a finished watch whose transition started at `t0`; returns how many were missed.
    fn record(&mut self, watch: Option<Watch>, expected: usize, t0: Instant, is_online: bool) -> anyhow::Result<u64> {
        let (arrivals, duplicated) = watch.map(|w| (w.arrivals, w.duplicated)).unwrap_or_default();
        let histogram = if is_online { &mut self.online } else { &mut self.offline };
        for at in arrivals.values() {
            histogram.record(micros(at.saturating_duration_since(t0)))?;
        }
        let missed = u64::try_from(expected.saturating_sub(arrivals.len()))?;
        self.expected += u64::try_from(expected)?;
        self.received += u64::try_from(arrivals.len())?;
        self.duplicated += duplicated;
        Ok(missed)
    }
}

/// A duration in whole microseconds (at least 1, for the histogram).
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1)
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

/// Connects every user once (bounded handshakes in flight) and starts its reader.
async fn connect_all(context: &Arc<World>) -> anyhow::Result<HashMap<usize, Slot>> {
    let gate = Arc::new(Semaphore::new(SETUP_HANDSHAKES));
    let mut handshakes = Vec::with_capacity(context.tokens.len());
    for user in 0..context.tokens.len() {
        let permit = gate.clone().acquire_owned().await?;
        let context = context.clone();
        handshakes.push(tokio::spawn(async move {
            let socket = connect_user(&context, user).await;
            drop(permit);
            socket.map(|socket| spawn_reader(socket, user, context.shared.clone()))
        }));
    }
    let mut slots = HashMap::with_capacity(handshakes.len());
    for (user, handshake) in handshakes.into_iter().enumerate() {
        slots.insert(user, handshake.await.context("handshake task panicked")??);
    }
    Ok(slots)
}

/// Waits until the initial connect's `is_online: true` announcements have been delivered: no
/// status frame for [`QUIET`] (at most [`SETTLE_LIMIT`]), so they do not compete with the cycles.
async fn settle(shared: &Shared) {
    let started = Instant::now();
    while timeout(QUIET, shared.activity.notified()).await.is_ok() && started.elapsed() < SETTLE_LIMIT {}
}

/// Opens `user`'s connection (bounded by [`CONNECT_TIMEOUT`]).
async fn connect_user(context: &World, user: usize) -> anyhow::Result<client::Socket> {
    let source = client::source_ip(user, SOURCE_IPS);
    timeout(CONNECT_TIMEOUT, client::connect(context.addr, source, &context.tokens[user]))
        .await
        .with_context(|| format!("user {user}: handshake timed out"))?
        .with_context(|| format!("user {user}: handshake failed"))
}

/// Runs `plan`'s cycles one after another; returns the measurements and the live connections.
async fn churn(
    context: Arc<World>,
    plan: Vec<usize>,
    mut slots: HashMap<usize, Slot>,
) -> anyhow::Result<(Measured, HashMap<usize, Slot>)> {
    let mut measured = Measured::new()?;
    let shared = &context.shared;
    for user in plan {
        let co_members = context.members[shared.group_of[user]].len() - 1;

        // Offline: clean close, then every co-member must see `is_online: false`.
        let complete = shared.watch(user, false, co_members);
        let slot = slots.remove(&user).with_context(|| format!("user {user} has no connection"))?;
        let (reply, sent) = oneshot::channel();
        if slot.close.send(reply).is_err() {
            slot.task.await.context("reader panicked")??;
            bail!("user {user}: the connection ended before the bench closed it");
        }
        let t0 = timeout(EVENT_TIMEOUT, sent)
            .await
            .with_context(|| format!("user {user}: close not sent in time"))?
            .map_err(|_| anyhow::anyhow!("user {user}: the reader ended without closing"));
        let t0 = match t0 {
            Ok(t0) => t0,
            Err(e) => {
                slot.task.await.context("reader panicked")??;
                return Err(e);
            }
        };
        let watch = shared.finish((user, false), &complete, (t0 + EVENT_TIMEOUT).into()).await;
        measured.missed_offline += measured.record(watch, co_members, t0, false)?;
        timeout(EVENT_TIMEOUT * 2, slot.task)
            .await
            .with_context(|| format!("user {user}: the old connection did not end"))?
            .context("reader panicked")??;

        // Online: reconnect, then every co-member must see `is_online: true`.
        let complete = shared.watch(user, true, co_members);
        let t0 = Instant::now();
        let socket = connect_user(&context, user).await?;
        measured.handshake.record(micros(t0.elapsed()))?;
        slots.insert(user, spawn_reader(socket, user, shared.clone()));
        let watch = shared.finish((user, true), &complete, (t0 + EVENT_TIMEOUT).into()).await;
        measured.missed_online += measured.record(watch, co_members, t0, true)?;
        measured.cycles += 1;
    }
    Ok((measured, slots))
}
