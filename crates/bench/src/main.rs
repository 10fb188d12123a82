//! `tandem-bench`: a bounded load generator that only ever targets loopback addresses.
//!
//! Every scenario has a fixed count of connections and a fixed duration and stops by itself.
//! Scenarios:
//! * `idle`: open N WebSocket connections, hold them, report the server's RSS growth per
//!   connection and the connect rate / handshake latency.
//! * `replay`: publish N durable events, then resume from seq 0 and time the replay.
//! * `fanout`: R rooms × M members, publishes at a target rate; deliveries/s, end-to-end
//!   latency percentiles, lost and duplicated deliveries (must be 0). `--targets` runs the same
//!   scenario on socket.io, Sockudo and the raw TCP ceiling too, and prints tandem/peer ratios;
//!   `--targets tandem,tandem-pg,cluster --nodes 1,2,3` compares one node on SQLite, one on
//!   PostgreSQL, and clusters of 1–3 nodes on PostgreSQL + a private Redis.
//! * `raw`: `fanout` against the bench's own length-prefixed TCP server: the ceiling.
//! * `overload-chart`: offered vs published vs delivered from several `fanout --json` runs.
//!
//! Every server it starts is a child process killed when the scenario ends, also on an error,
//! Ctrl-C or SIGTERM (the scenario is dropped, and with it the children).

mod client;
mod cpu;
mod fanout;
mod idle;
mod overload_chart;
mod plot;
mod presence;
mod replay;
mod report;
mod server;
mod services;
mod storm;
mod targets;
mod tick;

use clap::{Parser, Subcommand};

/// Loopback-only load generator for Tandem.
#[derive(Debug, Parser)]
#[command(name = "tandem-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Hold N idle connections; report RSS per connection and connect rate.
    Idle(idle::IdleArgs),
    /// Fan-out: rooms × members, publishes at a rate; deliveries/s, latency, loss.
    Fanout(fanout::FanoutArgs),
    /// Resume throughput: how fast a reconnecting client receives N missed events.
    Replay(replay::ReplayArgs),
    /// `fanout` over plain TCP with the bench's own trivial server: this machine's ceiling.
    Raw(fanout::FanoutArgs),
    /// Presence churn: disconnect/reconnect cycles; latency until co-members see the status change.
    Presence(presence::PresenceArgs),
    /// Reconnect storm: every client drops at once and resumes; time until all caught up, loss.
    Storm(storm::StormArgs),
    /// One chart of offered vs published vs delivered events/s from `fanout --json` files.
    OverloadChart(overload_chart::OverloadChartArgs),
    /// The raw fan-out server itself (started by `raw` as a child process).
    #[command(hide = true)]
    RawServer {
        /// Loopback address to listen on.
        #[arg(long)]
        addr: std::net::SocketAddr,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scenario = async {
        match Cli::parse().scenario {
            Scenario::Idle(args) => idle::run(args).await,
            Scenario::Replay(args) => replay::run(args).await,
            Scenario::Fanout(args) => fanout::run(args).await,
            Scenario::Raw(args) => fanout::run_raw(args).await,
            Scenario::Presence(args) => presence::run(args).await,
            Scenario::Storm(args) => storm::run(args).await,
            Scenario::OverloadChart(args) => overload_chart::run(args),
            Scenario::RawServer { addr } => targets::raw::serve(addr).await,
        }
    };
    // Returning drops the scenario (and, with the runtime, its tasks): child servers are killed.
    tokio::select! {
        result = scenario => result,
        signal = stop_signal() => {
            signal?;
            anyhow::bail!("interrupted; child servers stopped")
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => Ok(interrupted?),
        _ = terminate.recv() => Ok(()),
    }
}
