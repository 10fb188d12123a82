//! `fanout` (and `raw`): R rooms × M members on one or more targets, one after the other, with
//! the same clients, payloads and publish schedule.
//!
//! Each target is started fresh and prepared (Tandem: users joined to threads by link); the
//! R × M members connect (spread over 127.0.0.x), a warm-up tick per room is published and
//! awaited by every member, so setup traffic (Tandem's presence frames, for instance) is
//! drained before measuring. Then a backend publishes ticks at `--rate` events/s round-robin
//! over the rooms for `--duration`; every member records each tick's end-to-end latency from
//! the send timestamp in its payload and checks the per-room numbers for loss and duplicates.
//!
//! The `cluster` target runs once per `--nodes` value (N Tandem nodes on PostgreSQL + a
//! private Redis, publishes to node 1, members round-robin over the nodes); server CPU is then
//! summed over every node and Redis, and also shown per process and for PostgreSQL.

mod outcome;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::server::{cpu_seconds, rss_kib};
use crate::targets::{ClusterArgs, Member, Programs, Received, Target, TargetKind};
use crate::tick::Seen;
use crate::{client, cpu, plot, report};
use outcome::{Outcome, Run};

/// Publish requests in flight at once.
const PUBLISH_CONCURRENCY: usize = 64;

/// How long members keep reading after the last publish before missing ticks count as lost.
const DRAIN: Duration = Duration::from_secs(15);

/// How long every member has to receive the warm-up tick.
const WARM_UP: Duration = Duration::from_secs(60);

/// Settings of the `fanout` scenario.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    programs: Programs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Servers to load, one after the other, with the same scenario.
    #[arg(long, value_delimiter = ',', default_value = "tandem")]
    targets: Vec<TargetKind>,
    /// Rooms.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Members per room, one connection each: connections = rooms × members.
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// Events published per second over all rooms; offered deliveries/s = rate × members.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// How long to publish.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Source addresses 127.0.0.2.. to spread client sockets over.
    #[arg(long, default_value_t = 8)]
    source_ips: usize,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a latency-CDF and throughput chart (SVG) here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Fail if Tandem's server CPU per delivery is more than this multiple of the raw target's
    /// in the same run (needs `--targets tandem,raw`): a regression check that does not depend
    /// on how fast the machine is.
    #[arg(long)]
    max_cpu_ratio: Option<f64>,
}

/// Runs `fanout` on every requested target and prints the comparison.
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let connections = args.rooms * args.members;
    anyhow::ensure!(args.rooms >= 1 && args.members >= 1, "rooms and members must be at least 1");
    anyhow::ensure!(connections <= 15_000, "rooms × members is at most 15000 (one process's file limit)");
    anyhow::ensure!(args.duration <= Duration::from_secs(120), "duration is at most 120 s");
    anyhow::ensure!((1..=100_000).contains(&args.rate), "rate must be 1..=100000 events/s");
    anyhow::ensure!(!args.targets.is_empty(), "name at least one target");
    let runs = plan(&args)?;
    let mut outcomes = Vec::with_capacity(runs.len());
    for &run in &runs {
        outcomes.push(run_one(run, &args).await.with_context(|| format!("fanout on {}", run.label()))?);
    }
    outcome::print(&title(&args), args.rate, &outcomes);
    if let Some(path) = &args.json {
        let results: Vec<Value> = outcomes.iter().map(|o| o.json(args.rate)).collect();
        report::write_json(
            path,
            &json!({"scenario": "fanout", "rooms": args.rooms, "members": args.members, "rate": args.rate,
                    "duration_s": args.duration.as_secs_f64(), "results": results,
                    "ratios": outcome::ratios(&outcomes)}),
        )?;
    }
    if let Some(path) = &args.plot {
        let series: Vec<plot::Series> = outcomes
            .iter()
            .map(|o| plot::Series { name: o.run.label(), latency: o.latency.clone(), throughput: o.throughput.clone() })
            .collect();
        plot::write_svg(path, &title(&args), &series)?;
    }
    if let Some(limit) = args.max_cpu_ratio {
        check_cpu_ratio(&outcomes, limit)?;
    }
    for outcome in &outcomes {
        // Peers are reported as they are; Tandem and the ceiling must not lose anything.
        if outcome.run.kind.is_tandem() || outcome.run.kind == TargetKind::Raw {
            anyhow::ensure!(
                outcome.clean(),
                "{}: {} lost, {} duplicated, {} misrouted deliveries",
                outcome.run.label(),
                outcome.lost(),
                outcome.duplicated,
                outcome.foreign
            );
        }
    }
    Ok(())
}

/// Fails unless Tandem's server CPU per delivery is at most `limit` × the raw target's.
fn check_cpu_ratio(outcomes: &[outcome::Outcome], limit: f64) -> anyhow::Result<()> {
    let find = |wanted: TargetKind| {
        outcomes.iter().find(|o| o.run.kind == wanted).map(outcome::Outcome::server_us_per_delivery)
    };
    let (Some(tandem), Some(raw)) = (find(TargetKind::Tandem), find(TargetKind::Raw)) else {
        anyhow::bail!("--max-cpu-ratio needs --targets tandem,raw");
    };
    let ratio = tandem / raw.max(f64::MIN_POSITIVE);
    println!("server CPU per delivery: tandem {tandem:.2} µs, raw {raw:.2} µs, ratio {ratio:.2} (limit {limit:.2})");
    anyhow::ensure!(ratio <= limit, "tandem costs {ratio:.2}× raw's CPU per delivery, over the limit of {limit:.2}×");
    Ok(())
}

/// The runs `args` asks for, in order: each target once, `cluster` once per `--nodes` value.
fn plan(args: &FanoutArgs) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for &kind in &args.targets {
        if kind != TargetKind::Cluster {
            runs.push(Run { kind, nodes: 1 });
            continue;
        }
        anyhow::ensure!(!args.cluster.nodes.is_empty(), "--nodes needs at least one count");
        for &nodes in &args.cluster.nodes {
            anyhow::ensure!((1..=4).contains(&nodes), "--nodes values must be 1..=4, not {nodes}");
            runs.push(Run { kind, nodes });
        }
    }
    Ok(runs)
}

fn title(args: &FanoutArgs) -> String {
    format!(
        "fanout: {} rooms × {} members = {} connections, {} events/s ({} deliveries/s offered) for {:?}",
        args.rooms,
        args.members,
        args.rooms * args.members,
        args.rate,
        args.rate * u64::try_from(args.members).unwrap_or(0),
        args.duration
    )
}

/// Resident memory of all of `target`'s processes, KiB.
fn rss_total_kib(target: &Target) -> anyhow::Result<u64> {
    target.processes().into_iter().map(|(_, pid)| rss_kib(pid)).sum()
}

/// Starts `run`'s target, connects every member, publishes, and collects what the members saw.
async fn run_one(run: Run, args: &FanoutArgs) -> anyhow::Result<Outcome> {
    let connections = args.rooms * args.members;
    let target = Target::start(run.kind, run.nodes, &args.programs, &args.cluster, args.rooms, args.members).await?;
    let target = Arc::new(target);
    let rss_before = rss_total_kib(&target)?;
    let epoch = Instant::now();
    let (finals_tx, finals_rx) = watch::channel(None);
    let (warm_tx, mut warm_rx) = mpsc::channel(connections);

    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let connect_started = Instant::now();
    let mut handshakes = Vec::with_capacity(connections);
    for member in 0..connections {
        let room = member / args.members;
        let permit = gate.clone().acquire_owned().await?;
        let (target, source) = (target.clone(), client::source_ip(member, args.source_ips));
        handshakes.push(tokio::spawn(async move {
            let socket = target.connect(member, room, source).await;
            drop(permit);
            socket
        }));
    }
    let mut readers = Vec::with_capacity(connections);
    for (member, handshake) in handshakes.into_iter().enumerate() {
        let socket = handshake.await?.with_context(|| format!("member {member} did not connect"))?;
        let room = member / args.members;
        readers.push(tokio::spawn(read_ticks(socket, room, epoch, warm_tx.clone(), finals_rx.clone())));
    }
    drop((warm_tx, finals_rx));
    let connect_rate = connections as f64 / connect_started.elapsed().as_secs_f64();
    let rss_per_connection_kib = rss_total_kib(&target)?.saturating_sub(rss_before) as f64 / connections as f64;

    let publisher = target.publisher().await?;
    for room in 0..args.rooms {
        publisher.publish(room, 0).await?;
    }
    for _ in 0..connections {
        tokio::time::timeout(WARM_UP, warm_rx.recv())
            .await
            .context("not every member received the warm-up tick")?
            .context("a member ended before the warm-up tick")?;
    }

    let cpu_before = cpu::sample(&target)?;
    let generator_before = cpu_seconds(std::process::id())?;
    let machine_before = cpu::machine_busy_seconds()?;
    let publish_started = Instant::now();
    let mut counts = vec![0_u64; args.rooms];
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight = JoinSet::new();
    let mut published = 0_u64;
    while publish_started.elapsed() < args.duration {
        ticker.tick().await;
        let room = usize::try_from(published % args.rooms as u64)?;
        counts[room] += 1;
        let (publisher, n) = (publisher.clone(), counts[room]);
        in_flight.spawn(async move { publisher.publish(room, n).await });
        published += 1;
        while in_flight.len() >= PUBLISH_CONCURRENCY {
            in_flight.join_next().await.context("publisher")??.context("publish failed")?;
        }
    }
    while let Some(result) = in_flight.join_next().await {
        result?.context("publish failed")?;
    }
    let publish_rate = published as f64 / publish_started.elapsed().as_secs_f64();
    let expected = counts.iter().sum::<u64>() * u64::try_from(args.members)?;
    finals_tx.send(Some(Arc::new(counts)))?;

    let mut samples = Vec::new();
    let (mut delivered, mut duplicated, mut foreign) = (0, 0, 0);
    for reader in readers {
        let seen = reader.await??;
        delivered += seen.distinct;
        duplicated += seen.duplicated;
        foreign += seen.foreign;
        samples.extend(seen.samples);
    }
    let cpu = cpu::sample(&target)?.since(&cpu_before);
    let generator_cpu_s = cpu_seconds(std::process::id())? - generator_before;
    let machine_cpu_s = cpu::machine_busy_seconds()? - machine_before;
    drop(target);

    let start_ms = u32::try_from(publish_started.duration_since(epoch).as_millis())?;
    let mut latency = Histogram::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut per_second: Vec<u64> = Vec::new();
    let mut last_ms = start_ms;
    for &(at_ms, latency_us) in &samples {
        latency.record(u64::from(latency_us))?;
        let second = usize::try_from(at_ms.saturating_sub(start_ms) / 1000)?;
        if second >= per_second.len() {
            per_second.resize(second + 1, 0);
        }
        per_second[second] += 1;
        last_ms = last_ms.max(at_ms);
    }
    let span_s = (f64::from(last_ms - start_ms) / 1000.0).max(args.duration.as_secs_f64());
    Ok(Outcome {
        run,
        connect_rate,
        rss_per_connection_kib,
        published,
        publish_rate,
        expected,
        delivered,
        duplicated,
        foreign,
        deliveries_per_s: delivered as f64 / span_s,
        cpu,
        generator_cpu_s,
        machine_cpu_s,
        latency,
        throughput: per_second.iter().enumerate().map(|(s, &n)| (s as f64, n as f64)).collect(),
    })
}

/// One member: answers the warm-up tick, then records ticks until it has all of its room's
/// (known once publishing ends) or the drain time is over.
async fn read_ticks(
    mut member: Member,
    room: usize,
    epoch: Instant,
    warm: mpsc::Sender<()>,
    mut finals: watch::Receiver<Option<Arc<Vec<u64>>>>,
) -> anyhow::Result<Seen> {
    let mut seen = Seen::default();
    let mut warm = Some(warm);
    let mut wanted: Option<(u64, tokio::time::Instant)> = None;
    loop {
        let received = match wanted {
            Some((count, _)) if seen.distinct >= count => break,
            Some((_, deadline)) => match tokio::time::timeout_at(deadline, member.next()).await {
                Ok(received) => received?,
                Err(_) => break,
            },
            None => tokio::select! {
                received = member.next() => received?,
                changed = finals.changed() => {
                    changed.context("the run ended")?;
                    let count = finals.borrow().as_ref().and_then(|counts| counts.get(room).copied());
                    wanted = count.map(|count| (count, tokio::time::Instant::now() + DRAIN));
                    continue;
                }
            },
        };
        match received {
            Received::Tick(tick) if tick.room != room => seen.foreign += 1,
            Received::Tick(tick) if tick.n == 0 => {
                if let Some(warm) = warm.take() {
                    warm.send(()).await.ok().context("the run ended")?;
                }
            }
            Received::Tick(tick) => {
                seen.record(tick, epoch, Instant::now());
            }
            Received::Other => {}
            Received::Closed => break,
        }
    }
    Ok(seen)
}

/// The `raw` scenario: `fanout` against the bench's own TCP server only.
pub async fn run_raw(mut args: FanoutArgs) -> anyhow::Result<()> {
    args.targets = vec![TargetKind::Raw];
    run(args).await
}
