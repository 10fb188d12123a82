//! [`ClusterPresence`]: who is online on any node, decided in Redis, announced once.
//!
//! * Each node keeps its own users in a [`NodePresence`] (connection counts, grace, rooms)
//!   and tells Redis when a user gets their first connection on the node or loses the last
//!   one (after the grace). Redis holds, per user, the set of nodes with a connection and
//!   whether co-members were told "online"; one Lua script per batch updates both atomically
//!   and says which changes are news, so two nodes racing for the same user announce once.
//! * The node that made a change publishes it on the presence channel, with the user's rooms
//!   and frame when it is news; every node then delivers the frame to its own connections of
//!   the user's co-members (one bus message per announcement, not one per co-member).
//! * Every node mirrors the other nodes' users (for [`Presence::is_online`]) from those
//!   messages, and reloads the mirror from Redis after an outage and every 30 s.
//! * A node whose registration expired (it lives a little less than `--node-timeout`) is dead
//!   three probes later: one live node (a lease in Redis) takes its users offline and
//!   announces the news, and every node lets its own connections see the dead node's canvas
//!   viewers leave. A node that was only cut off finds the reaper's marker when it is back and
//!   announces its users online again.
//! * A killed node restarted under its name before anyone took it for dead takes its previous
//!   run's users offline itself ([`previous`]); its viewers go the same way (`ViewerMirror`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tandem_protocol::ws::ServerFrame;
use tokio::sync::Notify;

mod previous;
mod watch;

pub(super) use watch::watch;

use super::Database;
use super::status::BusStatus;
use super::viewers::ViewerMirror;
use super::wire::{self, PRESENCE_CHANNEL};
use crate::hub::shards::Shards;
use crate::hub::{Frame, Inbound, NodePresence, Presence, Transition, deliver_to_users};

/// Every node's name is in this set while the node may hold users.
pub(super) const NODES_KEY: &str = "tandem:nodes";
/// Users changed in Redis by one script call at most.
const SYNC_BATCH: usize = 256;
/// How often the mirror of the other nodes is reloaded from Redis in any case.
const RELOAD: Duration = Duration::from_secs(30);
/// Probes a node's registration must be missing before it is dead (besides the grace).
pub(super) const DEAD_AFTER_PROBES: u32 = 3;
/// How long a node's lease to take a dead node's users offline lasts.
const REAP_LEASE_MS: u64 = 60_000;

/// Per user in `KEYS[2i], KEYS[2i+1]` (its nodes set, its "told online" flag) and
/// `ARGV[i+1]` (`j` has a connection here, co-members not told yet; `+` online, to be told;
/// `-` offline; `r` online again without news, after an outage);
/// `KEYS[1]` is the node's user set and `ARGV[1]` the node's name. Returns, per user, 1 when
/// the change is news to co-members.
const SYNC_SCRIPT: &str = r"
local node = ARGV[1]
local news = {}
for i = 2, #ARGV do
  local op, user = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 2)
  local nodes, told = KEYS[2 * i - 2], KEYS[2 * i - 1]
  local result = 0
  if op == '-' then
    redis.call('SREM', nodes, node)
    redis.call('SREM', KEYS[1], user)
    if redis.call('SCARD', nodes) == 0 and redis.call('DEL', told) == 1 then result = 1 end
  elseif op == 'j' then
    redis.call('SADD', nodes, node)
    redis.call('SADD', KEYS[1], user)
  else
    redis.call('SADD', nodes, node)
    redis.call('SADD', KEYS[1], user)
    if redis.call('EXISTS', told) == 0 then
      redis.call('SET', told, '1')
      if op == '+' then result = 1 end
    end
  end
  news[i - 1] = result
end
return news
";

fn users_key(node: &str) -> String {
    format!("tandem:users:{node}")
}

/// Set when `node` was taken for dead and its users offline, until the node (if it was only
/// cut off) is back and announces them online again.
fn reaped_key(node: &str) -> String {
    format!("tandem:reaped:{node}")
}

/// How long a reaped marker lasts: a node cut off for longer comes back without announcing.
const REAPED_MS: u64 = 86_400_000;

/// The `user_status_changed` frame announcing `user_id` online or offline at `timestamp`.
fn status_frame(user_id: &str, is_online: bool, timestamp: i64) -> Frame {
    crate::hub::encode(&ServerFrame::UserStatusChanged { user_id: user_id.to_owned(), is_online, timestamp })
}

/// A change of this node's users for Redis.
struct Want {
    op: char,
    /// The announcement, if the change turns out to be news: the user's rooms and frame.
    frame: Option<(Vec<Box<str>>, Frame)>,
}

/// Presence across the nodes of a cluster (see the module docs).
pub struct ClusterPresence {
    name: String,
    view: NodePresence,
    inbound: Inbound,
    /// Users with a connection on other nodes: user → node names.
    remote: Shards<HashSet<Box<str>>>,
    /// The same, by node, to replace a node's users on reload and drop a dead node.
    by_node: Mutex<HashMap<String, HashSet<String>>>,
    /// Changes not yet in Redis, coalesced per user (the latest wins).
    wants: Mutex<HashMap<String, Want>>,
    wants_changed: Notify,
    /// Set after an outage: tell Redis our users again and reload the mirror.
    resync: Notify,
}

impl std::fmt::Debug for ClusterPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPresence").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ClusterPresence {
    /// Presence of node `name`, delivering announcements into `inbound`. Its tasks are
    /// [`sync`] and [`watch`], run by the broker.
    pub fn new(name: &str, inbound: Inbound) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            view: NodePresence::default(),
            inbound,
            remote: Shards::default(),
            by_node: Mutex::default(),
            wants: Mutex::default(),
            wants_changed: Notify::new(),
            resync: Notify::new(),
        })
    }

    /// After an outage: this node's users are told to Redis again, and the mirror reloaded.
    pub fn resync(&self) {
        self.resync.notify_one();
    }

    fn want(&self, user_id: &str, want: Want, replace: bool) {
        let mut wants = self.wants.lock().unwrap_or_else(PoisonError::into_inner);
        if replace {
            wants.insert(user_id.to_owned(), want);
        } else {
            wants.entry(user_id.to_owned()).or_insert(want);
        }
        drop(wants);
        self.wants_changed.notify_one();
    }

    /// Queues `j` for `user_id` unless an announcement `+` is already waiting.
    fn want_joined(&self, user_id: &str) {
        let mut wants = self.wants.lock().unwrap_or_else(PoisonError::into_inner);
        let want = wants.entry(user_id.to_owned()).or_insert(Want { op: 'j', frame: None });
        if want.op != '+' {
            *want = Want { op: 'j', frame: None };
        }
        drop(wants);
        self.wants_changed.notify_one();
    }

    /// Queues `want` (going offline) for `user_id` unless the user has a connection here:
    /// checked under the queue's lock, so a connection opening meanwhile queues its `j` after
    /// this and replaces it.
    fn want_offline_unless_here(&self, user_id: &str, want: Want) {
        let mut wants = self.wants.lock().unwrap_or_else(PoisonError::into_inner);
        if self.view.is_online(user_id) {
            return;
        }
        wants.entry(user_id.to_owned()).or_insert(want);
        drop(wants);
        self.wants_changed.notify_one();
    }

    /// One message from the presence channel.
    pub fn on_message(&self, payload: &[u8]) -> Result<(), wire::Malformed> {
        let change = wire::decode_presence(payload)?;
        if change.node == self.name {
            return Ok(());
        }
        self.mirror(&change.node, &change.user_id, change.online);
        if let Some((rooms, frame)) = change.news {
            self.tell_co_members(rooms.iter().map(String::as_str), &change.user_id, &frame);
        }
        Ok(())
    }

    /// Records that `user_id` has (or no longer has) a connection on node `node`.
    fn mirror(&self, node: &str, user_id: &str, online: bool) {
        self.mirror_one(node, user_id, online);
        let mut by_node = self.by_node.lock().unwrap_or_else(PoisonError::into_inner);
        if online {
            by_node.entry(node.to_owned()).or_default().insert(user_id.to_owned());
        } else if let Some(users) = by_node.get_mut(node) {
            users.remove(user_id);
        }
    }

    /// Replaces what the mirror holds of `node` with `users` (`None`: the node is gone).
    fn replace_node(&self, node: &str, users: Option<HashSet<String>>) {
        let old = {
            let mut by_node = self.by_node.lock().unwrap_or_else(PoisonError::into_inner);
            match &users {
                Some(users) => by_node.insert(node.to_owned(), users.clone()),
                None => by_node.remove(node),
            }
            .unwrap_or_default()
        };
        let new = users.unwrap_or_default();
        for gone in old.difference(&new) {
            self.mirror_one(node, gone, false);
        }
        for added in new.difference(&old) {
            self.mirror_one(node, added, true);
        }
    }

    /// [`ClusterPresence::mirror`] without the by-node index (which the caller keeps).
    fn mirror_one(&self, node: &str, user_id: &str, online: bool) {
        let mut remote = self.remote.write(user_id);
        if online {
            remote.entry(user_id.into()).or_default().insert(node.into());
        } else if let Some(nodes) = remote.get_mut(user_id) {
            nodes.remove(node);
            if nodes.is_empty() {
                remote.remove(user_id);
            }
        }
    }

    /// Queues `frame` on the `user:` rooms of this node's users who share one of `rooms` with
    /// `user_id`.
    fn tell_co_members<'a>(&self, rooms: impl IntoIterator<Item = &'a str>, user_id: &str, frame: &Frame) {
        deliver_to_users(&self.inbound, &self.view.online_in(rooms, user_id), frame);
    }

    /// Delivers `frame` to this node's co-members of `user_id` in `rooms`, and has the other
    /// nodes do the same for theirs (as the change of `node`). A change of another node (one
    /// taken for dead) reaches this node's co-members as it reaches everyone's: by the bus.
    fn announce_here_and_publish(
        &self,
        node: &str,
        user_id: &str,
        online: bool,
        news: Option<&(Vec<Box<str>>, Frame)>,
    ) -> Vec<u8> {
        if let Some((rooms, frame)) = news.filter(|_| node == self.name) {
            self.tell_co_members(rooms.iter().map(|room| &**room), user_id, frame);
        }
        wire::encode_presence(node, online, user_id, news.map(|(rooms, frame)| (rooms.as_slice(), frame.as_str())))
    }
}

impl Presence for ClusterPresence {
    fn view(&self) -> &NodePresence {
        &self.view
    }

    fn connect(&self, user_id: &str) -> Transition {
        let transition = self.view.connect(user_id);
        if let Transition::WentOnline { .. } = transition {
            // In Redis at once, before the announcement (which waits for the user's rooms): a
            // user hopping here from another node is never seen with no node at all.
            self.want_joined(user_id);
        }
        transition
    }

    fn is_online(&self, user_id: &str) -> bool {
        self.view.is_online(user_id) || self.remote.read(user_id).contains_key(user_id)
    }

    fn announce(&self, user_id: &str, generation: u64, online: bool, frame: &Frame) -> bool {
        // Read before settling: an offline user's rooms are forgotten by it.
        let rooms = self.view.rooms_of(user_id);
        let settled = self.view.settle(user_id, generation, online, &mut || {});
        if settled {
            let op = if online { '+' } else { '-' };
            self.want(user_id, Want { op, frame: Some((rooms, frame.clone())) }, true);
        }
        settled
    }
}

/// What the tasks need besides the presence itself.
pub(super) struct Tasks {
    pub presence: Arc<ClusterPresence>,
    pub viewers: Arc<ViewerMirror>,
    pub status: Arc<BusStatus>,
    pub database: Arc<dyn Database>,
    pub grace: Duration,
    pub closed: tokio_util::sync::CancellationToken,
    pub retry: Duration,
    pub probe: Duration,
}

/// The sync task: this node's user changes to Redis, in order, batched; the news announced.
pub(super) async fn sync(tasks: Arc<Tasks>, mut connection: ConnectionManager) {
    let Some(previous) = previous::users(&tasks, &mut connection).await else { return };
    tokio::join!(previous::forget(&tasks, previous), sync_wants(&tasks, connection));
}

/// Applies this node's queued user changes until the node closes.
async fn sync_wants(tasks: &Tasks, mut connection: ConnectionManager) {
    let presence = &tasks.presence;
    let script = redis::Script::new(SYNC_SCRIPT);
    loop {
        tokio::select! {
            () = tasks.closed.cancelled() => return,
            () = presence.wants_changed.notified() => {}
        }
        let wants: Vec<(String, Want)> =
            std::mem::take(&mut *presence.wants.lock().unwrap_or_else(PoisonError::into_inner)).into_iter().collect();
        let mut wants = wants.into_iter().peekable();
        while wants.peek().is_some() {
            let batch: Vec<(String, Want)> = wants.by_ref().take(SYNC_BATCH).collect();
            match apply(&script, &mut connection, &presence.name, &batch).await {
                Ok(news) => {
                    publish_changes(presence, &mut connection, &presence.name, &batch, &news).await;
                    record_last_online(tasks, &batch, &news).await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "could not update presence in Redis; retrying");
                    tasks.status.lost();
                    for (user, want) in batch.into_iter().chain(wants.by_ref()) {
                        presence.want(&user, want, false);
                    }
                    tokio::select! {
                        () = tasks.closed.cancelled() => return,
                        () = tokio::time::sleep(tasks.retry) => {}
                    }
                }
            }
        }
    }
}

/// Writes `last_online` of the users of `batch` whose going offline was news: only this node
/// knows that they left the last node.
async fn record_last_online(tasks: &Tasks, batch: &[(String, Want)], news: &[i64]) {
    let at = crate::clock::now_ms();
    for ((user, want), news) in batch.iter().zip(news) {
        if want.op == '-'
            && *news == 1
            && let Err(e) = tasks.database.set_last_online(user, at).await
        {
            tracing::warn!(error = %e, user_id = user, "could not record last_online");
        }
    }
}

/// Runs the sync script for `batch` as node `node`; returns the news flags.
async fn apply(
    script: &redis::Script,
    connection: &mut ConnectionManager,
    node: &str,
    batch: &[(String, Want)],
) -> redis::RedisResult<Vec<i64>> {
    let mut invocation = script.prepare_invoke();
    invocation.key(users_key(node)).arg(node);
    for (user, want) in batch {
        invocation.key(format!("tandem:online:{user}")).key(format!("tandem:told:{user}"));
        invocation.arg(format!("{}{user}", want.op));
    }
    invocation.invoke_async(connection).await
}

/// Announces the news of `batch` here and publishes every change (as node `node`).
async fn publish_changes(
    presence: &ClusterPresence,
    connection: &mut ConnectionManager,
    node: &str,
    batch: &[(String, Want)],
    news: &[i64],
) {
    let mut pipe = redis::pipe();
    for ((user, want), news) in batch.iter().zip(news) {
        let online = want.op != '-';
        let told = if *news == 1 { want.frame.as_ref() } else { None };
        pipe.publish(PRESENCE_CHANNEL, presence.announce_here_and_publish(node, user, online, told)).ignore();
    }
    if let Err(e) = pipe.query_async::<()>(connection).await {
        // The changes are in Redis: the other nodes' mirrors catch up on their next reload.
        tracing::debug!(error = %e, "could not publish presence changes");
    }
}
