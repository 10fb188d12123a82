//! The storm's own side: publishing through the API, waiting for the server to see the drop,
//! and waiting for and joining the client tasks.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::clients::Progress;
use super::{API_KEY, DEADLINE, SETUP_REQUESTS};

/// A duration in whole microseconds (at least 1, for the histogram).
pub(super) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Runs a client task; if it fails, also tells the scenario so it stops waiting.
pub(super) async fn report_failure<T>(
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
pub(super) async fn wait_for(
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
pub(super) async fn join_all<T>(tasks: Vec<JoinHandle<anyhow::Result<T>>>) -> anyhow::Result<Vec<T>> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        let result = tokio::time::timeout_at(deadline, task).await.context("client tasks did not end")?;
        results.push(result.context("client task panicked")??);
    }
    Ok(results)
}

/// Polls `/metrics` until `ws_connections_active` is 0 (≤ [`DEADLINE`]).
pub(super) async fn wait_until_no_connections(http: &reqwest::Client, addr: SocketAddr) -> anyhow::Result<()> {
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
pub(super) async fn publish(
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
