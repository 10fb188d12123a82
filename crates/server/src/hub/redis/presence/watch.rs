//! The presence watch task: the mirror of the other nodes reloaded, dead nodes found and
//! their users taken offline.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use redis::aio::ConnectionManager;

use super::super::connect::{node_key, reaping_key};
use super::super::pause;
use super::super::viewers::ViewerMirror;
use super::{
    ClusterPresence, DEAD_AFTER_PROBES, NODES_KEY, REAP_LEASE_MS, REAPED_MS, RELOAD, SYNC_BATCH, SYNC_SCRIPT, Tasks,
    Want, apply, publish_changes, reaped_key, status_frame, users_key,
};

/// The watch task: reloads the mirror (after an outage and every 30 s) and takes dead nodes'
/// users offline.
pub async fn watch(tasks: Arc<Tasks>, mut connection: ConnectionManager) {
    let presence = &tasks.presence;
    let mut probe = tokio::time::interval(tasks.probe);
    let mut reloaded: Option<Instant> = None;
    let mut dead_since: HashMap<String, Instant> = HashMap::new();
    loop {
        let outage = tokio::select! {
            () = tasks.closed.cancelled() => return,
            () = presence.resync.notified() => true,
            _ = probe.tick() => false,
        };
        if outage {
            // This node's users told to Redis again; announced online again only if another
            // node took this one for dead meanwhile and announced them offline.
            let reaped: bool =
                match redis::cmd("DEL").arg(reaped_key(&presence.name)).query_async(&mut connection).await {
                    Ok(reaped) => reaped,
                    Err(_) => {
                        // Try the whole resync again shortly (not at once: Redis is failing).
                        if !pause(&tasks.closed, tasks.retry).await {
                            return;
                        }
                        presence.resync();
                        continue;
                    }
                };
            let timestamp = crate::clock::now_ms();
            for user in presence.view.told_online() {
                let want = if reaped {
                    Want { op: '+', frame: Some((presence.view.rooms_of(&user), status_frame(&user, true, timestamp))) }
                } else {
                    Want { op: 'r', frame: None }
                };
                presence.want(&user, want, false);
            }
            if let Err(e) = tasks.viewers.republish(&mut connection).await {
                tracing::debug!(error = %e, "could not write this node's viewers again");
            }
        }
        let nodes: Vec<String> = match redis::cmd("SMEMBERS").arg(NODES_KEY).query_async(&mut connection).await {
            Ok(nodes) => nodes,
            Err(_) => continue,
        };
        if (outage || reloaded.is_none_or(|at| at.elapsed() >= RELOAD))
            && reload(presence, &mut connection, &nodes).await.is_ok()
            && reload_viewers(&tasks.viewers, &mut connection, &presence.name, &nodes).await.is_ok()
        {
            reloaded = Some(Instant::now());
        }
        for node in nodes.iter().filter(|node| **node != presence.name) {
            let alive: bool = match redis::cmd("EXISTS").arg(node_key(node)).query_async(&mut connection).await {
                Ok(alive) => alive,
                Err(_) => break,
            };
            if alive {
                dead_since.remove(node);
                continue;
            }
            let since = *dead_since.entry(node.clone()).or_insert_with(Instant::now);
            // At least a few probes: after Redis lost its data, every node's registration is
            // missing until its keeper writes it again (within a probe).
            // No presence grace on top: the node timeout already gave its users time to
            // reconnect elsewhere, and those who did are not announced offline.
            if since.elapsed() >= DEAD_AFTER_PROBES * tasks.probe {
                // Every node lets its own connections see the dead node's viewers leave.
                tasks.viewers.drop_node(node);
                if let Err(e) = reap(&tasks, &mut connection, node).await {
                    tracing::warn!(node, error = %e, "could not take a dead node's users offline; retrying");
                }
            }
        }
        dead_since.retain(|node, _| nodes.contains(node));
    }
}

/// Loads every other node's users into the mirror.
async fn reload(
    presence: &ClusterPresence,
    connection: &mut ConnectionManager,
    nodes: &[String],
) -> redis::RedisResult<()> {
    for node in nodes.iter().filter(|node| **node != presence.name) {
        let users: HashSet<String> = redis::cmd("SMEMBERS").arg(users_key(node)).query_async(connection).await?;
        presence.replace_node(node, Some(users));
    }
    let known: Vec<String> = presence.by_node.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
    for gone in known.iter().filter(|node| !nodes.contains(node)) {
        presence.replace_node(gone, None);
    }
    Ok(())
}

/// Loads every other node's viewers into the mirror; drops nodes no longer in the cluster.
async fn reload_viewers(
    viewers: &ViewerMirror,
    connection: &mut ConnectionManager,
    own: &str,
    nodes: &[String],
) -> redis::RedisResult<()> {
    for node in nodes.iter().filter(|node| **node != own) {
        viewers.reload(connection, node).await?;
    }
    for gone in viewers.nodes().iter().filter(|node| !nodes.contains(node)) {
        viewers.drop_node(gone);
    }
    Ok(())
}

/// Takes dead `node`'s users offline, if this node wins the lease to: announces the news
/// (the rooms read from the database) and records `last_online`, as the dead node would have.
async fn reap(tasks: &Tasks, connection: &mut ConnectionManager, node: &str) -> Result<(), String> {
    let presence = &tasks.presence;
    let error = |e: redis::RedisError| e.to_string();
    let lease_key = reaping_key(node);
    let lease: Option<String> = redis::cmd("SET")
        .arg(&lease_key)
        .arg(&presence.name)
        .arg("NX")
        .arg("PX")
        .arg(REAP_LEASE_MS)
        .query_async(connection)
        .await
        .map_err(error)?;
    if lease.is_none() {
        return Ok(());
    }
    // A node restarted under the same name since the check is alive: nothing to reap (it
    // waits for this lease before it starts, so it cannot start in the middle of a reap).
    let alive: bool = redis::cmd("EXISTS").arg(node_key(node)).query_async(connection).await.map_err(error)?;
    if alive {
        redis::cmd("DEL").arg(&lease_key).query_async::<()>(connection).await.map_err(error)?;
        return Ok(());
    }
    let users: Vec<String> =
        redis::cmd("SMEMBERS").arg(users_key(node)).query_async(connection).await.map_err(error)?;
    tracing::info!(node, users = users.len(), "a node stopped answering: taking its users offline");
    let script = redis::Script::new(SYNC_SCRIPT);
    for chunk in users.chunks(SYNC_BATCH) {
        let offline: Vec<(String, Want)> =
            chunk.iter().map(|user| (user.clone(), Want { op: '-', frame: None })).collect();
        let news = apply(&script, connection, node, &offline).await.map_err(error)?;
        let timestamp = crate::clock::now_ms();
        let mut batch = Vec::with_capacity(offline.len());
        for ((user, _), news) in offline.into_iter().zip(&news) {
            let mut frame = None;
            if *news == 1 {
                let rooms: Vec<Box<str>> = tasks.database.rooms_of(&user).await?.into_iter().map(Box::from).collect();
                if !presence.is_online_elsewhere(&user, node) {
                    tasks.database.set_last_online(&user, timestamp).await?;
                }
                frame = Some((rooms, status_frame(&user, false, timestamp)));
            }
            batch.push((user, Want { op: '-', frame }));
        }
        let told: Vec<i64> = batch.iter().map(|(_, want)| i64::from(want.frame.is_some())).collect();
        for (user, _) in &batch {
            presence.mirror(node, user, false);
        }
        publish_changes(presence, connection, node, &batch, &told).await;
    }
    redis::pipe()
        .srem(NODES_KEY, node)
        .ignore()
        .del(users_key(node))
        .ignore()
        .del(&lease_key)
        .ignore()
        .cmd("SET")
        .arg(reaped_key(node))
        .arg(&presence.name)
        .arg("PX")
        .arg(REAPED_MS)
        .ignore()
        .query_async::<()>(connection)
        .await
        .map_err(error)?;
    presence.replace_node(node, None);
    tasks.status.dead_node();
    Ok(())
}

impl ClusterPresence {
    /// Whether `user_id` has a connection on a node other than `node`.
    fn is_online_elsewhere(&self, user_id: &str, node: &str) -> bool {
        self.view.is_online(user_id)
            || self.remote.read(user_id).get(user_id).is_some_and(|nodes| nodes.iter().any(|n| &**n != node))
    }
}
