//! [`ViewerMirror`]: who views which room on the other nodes of a cluster.
//!
//! Each node keeps its own viewers in its activity service and tells the others when a user
//! becomes, or stops being, a viewer of a room on it: a hash per node in Redis (room and user
//! → username and name, so a node that starts or comes back after an outage can load it) and
//! a message on the viewers channel. Every node mirrors the others' viewers from those, and
//! drops a dead node's viewers (its activity then tells its own connections they left).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock, PoisonError};

use redis::aio::ConnectionManager;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::wire::{self, VIEWERS_CHANNEL};
use crate::hub::activity::{RemoteViewers, ViewerGone as Gone};
use crate::hub::shards::Shards;

/// A viewer on other nodes.
#[derive(Debug, Clone)]
struct Remote {
    username: String,
    name: String,
    nodes: HashSet<String>,
}

/// A change of this node's viewers, for Redis and the other nodes.
struct Change {
    room: String,
    user_id: String,
    username: String,
    name: String,
    viewing: bool,
}

/// The other nodes' viewers, by room (see the module docs).
pub struct ViewerMirror {
    name: String,
    rooms: Shards<HashMap<String, Remote>>,
    /// `(room, user)` per node, to replace or drop a node's viewers.
    by_node: Mutex<HashMap<String, HashSet<(String, String)>>>,
    /// This node's own viewers, `(room, user)` → `(username, name)`, to write again after an
    /// outage.
    own: Mutex<HashMap<(String, String), (String, String)>>,
    changes: Mutex<Vec<Change>>,
    changed: Notify,
    gone: OnceLock<Gone>,
}

fn views_key(node: &str) -> String {
    format!("tandem:views:{node}")
}

impl ViewerMirror {
    /// The mirror of node `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            rooms: Shards::default(),
            by_node: Mutex::default(),
            own: Mutex::default(),
            changes: Mutex::default(),
            changed: Notify::new(),
            gone: OnceLock::new(),
        }
    }

    /// Records (or removes) `node`'s viewer; true if the user no longer views the room on
    /// any other node.
    fn mirror(&self, node: &str, room: &str, user_id: &str, info: Option<(&str, &str)>) -> bool {
        let mut last = false;
        {
            let mut rooms = self.rooms.write(room);
            match info {
                Some((username, name)) => {
                    let viewers = rooms.entry(room.into()).or_default();
                    let entry = viewers.entry(user_id.to_owned()).or_insert_with(|| Remote {
                        username: username.to_owned(),
                        name: name.to_owned(),
                        nodes: HashSet::new(),
                    });
                    entry.nodes.insert(node.to_owned());
                }
                None => {
                    if let Some(viewers) = rooms.get_mut(room)
                        && let Some(entry) = viewers.get_mut(user_id)
                    {
                        entry.nodes.remove(node);
                        if entry.nodes.is_empty() {
                            viewers.remove(user_id);
                            last = true;
                        }
                        if viewers.is_empty() {
                            rooms.remove(room);
                        }
                    }
                }
            }
        }
        let mut by_node = self.by_node.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (room.to_owned(), user_id.to_owned());
        if info.is_some() {
            by_node.entry(node.to_owned()).or_default().insert(key);
        } else if let Some(views) = by_node.get_mut(node) {
            views.remove(&key);
        }
        last
    }

    /// One message from the viewers channel.
    pub fn on_message(&self, payload: &[u8]) -> Result<(), wire::Malformed> {
        if let Some(node) = wire::decode_viewers_reset(payload) {
            if node != self.name {
                self.drop_node(node);
            }
            return Ok(());
        }
        let change = wire::decode_viewer(payload)?;
        if change.node != self.name {
            let info = change.viewing.then_some((change.username.as_str(), change.name.as_str()));
            self.mirror(&change.node, &change.room, &change.user_id, info);
        }
        Ok(())
    }

    /// Drops every viewer of `node` (dead, or gone from the cluster); those who view nowhere
    /// else are reported to the activity service as gone.
    pub fn drop_node(&self, node: &str) {
        let views = self.by_node.lock().unwrap_or_else(PoisonError::into_inner).remove(node).unwrap_or_default();
        for (room, user_id) in views {
            let info = self.rooms.read(&room).get(room.as_str()).and_then(|v| v.get(&user_id)).cloned();
            if self.mirror(node, &room, &user_id, None)
                && let (Some(info), Some(gone)) = (info, self.gone.get())
            {
                gone(&room, &user_id, &info.username, &info.name);
            }
        }
    }

    /// Loads `node`'s viewers from Redis, replacing what the mirror held of it.
    pub async fn reload(&self, connection: &mut ConnectionManager, node: &str) -> redis::RedisResult<()> {
        let stored: HashMap<String, String> =
            redis::cmd("HGETALL").arg(views_key(node)).query_async(connection).await?;
        let mut fresh = HashSet::new();
        for (field, value) in &stored {
            let (Some((room, user_id)), Some((username, name))) = (field.split_once(' '), value.split_once('\n'))
            else {
                continue;
            };
            fresh.insert((room.to_owned(), user_id.to_owned()));
            self.mirror(node, room, user_id, Some((username, name)));
        }
        let old = self.by_node.lock().unwrap_or_else(PoisonError::into_inner).get(node).cloned().unwrap_or_default();
        for (room, user_id) in old.difference(&fresh) {
            self.mirror(node, room, user_id, None);
        }
        Ok(())
    }

    /// The nodes the mirror holds viewers of.
    pub fn nodes(&self) -> Vec<String> {
        self.by_node.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }
}

impl RemoteViewers for ViewerMirror {
    fn of(&self, room: &str) -> Vec<(String, String, String)> {
        self.rooms
            .read(room)
            .get(room)
            .map(|viewers| viewers.iter().map(|(id, v)| (id.clone(), v.username.clone(), v.name.clone())).collect())
            .unwrap_or_default()
    }

    fn changed(&self, room: &str, user_id: &str, username: &str, name: &str, viewing: bool) {
        {
            let mut own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (room.to_owned(), user_id.to_owned());
            if viewing {
                own.insert(key, (username.to_owned(), name.to_owned()));
            } else {
                own.remove(&key);
            }
        }
        let change = Change {
            room: room.to_owned(),
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            name: name.to_owned(),
            viewing,
        };
        self.changes.lock().unwrap_or_else(PoisonError::into_inner).push(change);
        self.changed.notify_one();
    }

    fn on_gone(&self, gone: Gone) {
        // Set once, by the activity service of the hub this mirror belongs to.
        let _ = self.gone.set(gone);
    }
}

/// The viewers task: this node's viewer changes to Redis and the other nodes, in order.
/// A change that fails is dropped (with the bus down, no node hears it anyway); the hash is
/// rewritten whole after an outage by [`republish`].
pub async fn sync(mirror: std::sync::Arc<ViewerMirror>, mut connection: ConnectionManager, closed: CancellationToken) {
    if !forget_previous_run(&mirror, &mut connection, &closed).await {
        return;
    }
    loop {
        tokio::select! {
            () = closed.cancelled() => return,
            () = mirror.changed.notified() => {}
        }
        let changes = std::mem::take(&mut *mirror.changes.lock().unwrap_or_else(PoisonError::into_inner));
        let key = views_key(&mirror.name);
        let mut pipe = redis::pipe();
        for change in &changes {
            let field = format!("{} {}", change.room, change.user_id);
            if change.viewing {
                pipe.hset(&key, field, format!("{}\n{}", change.username, change.name)).ignore();
            } else {
                pipe.hdel(&key, field).ignore();
            }
            let payload = wire::encode_viewer(
                &mirror.name,
                change.viewing,
                &change.room,
                &change.user_id,
                &change.username,
                &change.name,
            );
            pipe.publish(VIEWERS_CHANNEL, payload).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut connection).await {
            tracing::debug!(error = %e, "could not publish viewer changes");
        }
    }
}

/// Before this run writes any viewer: if a previous run of this node (killed, and not yet
/// taken for dead) left viewers in Redis, they are deleted and the other nodes told to let
/// them leave. False if the node closed first.
async fn forget_previous_run(
    mirror: &ViewerMirror,
    connection: &mut ConnectionManager,
    closed: &CancellationToken,
) -> bool {
    let key = views_key(&mirror.name);
    loop {
        let forgotten = async {
            let deleted: i64 = redis::cmd("DEL").arg(&key).query_async(&mut *connection).await?;
            if deleted > 0 {
                let reset = wire::encode_viewers_reset(&mirror.name);
                redis::cmd("PUBLISH").arg(VIEWERS_CHANNEL).arg(reset).query_async::<()>(&mut *connection).await?;
            }
            Ok::<_, redis::RedisError>(())
        };
        match forgotten.await {
            Ok(()) => return true,
            Err(e) => tracing::debug!(error = %e, "could not forget this node's previous viewers; retrying"),
        }
        if !super::pause(closed, super::RETRY).await {
            return false;
        }
    }
}

impl ViewerMirror {
    /// After an outage: this node's viewers written to Redis again, in case Redis lost them.
    pub async fn republish(&self, connection: &mut ConnectionManager) -> redis::RedisResult<()> {
        let own: Vec<_> = self.own.lock().unwrap_or_else(PoisonError::into_inner).clone().into_iter().collect();
        let key = views_key(&self.name);
        let mut pipe = redis::pipe();
        pipe.del(&key).ignore();
        for ((room, user_id), (username, name)) in own {
            pipe.hset(&key, format!("{room} {user_id}"), format!("{username}\n{name}")).ignore();
        }
        pipe.query_async(connection).await
    }

    /// Forgets this node's own viewers in Redis (the node is closing).
    pub async fn unpublish(&self, connection: &mut ConnectionManager) {
        let _ = redis::cmd("DEL").arg(views_key(&self.name)).query_async::<()>(connection).await;
    }
}
