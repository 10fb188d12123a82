//! The load: every user connected once, then the disconnect/reconnect cycles of one worker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::timeout;

use super::measured::{Measured, micros};
use super::readers::{Shared, Slot, spawn_reader};
use super::{CONNECT_TIMEOUT, EVENT_TIMEOUT, QUIET, SETTLE_LIMIT, SETUP_HANDSHAKES, SOURCE_IPS, World};
use crate::client;

/// Connects every user once (bounded handshakes in flight) and starts its reader.
pub(super) async fn connect_all(context: &Arc<World>) -> anyhow::Result<HashMap<usize, Slot>> {
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
pub(super) async fn settle(shared: &Shared) {
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
pub(super) async fn churn(
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
