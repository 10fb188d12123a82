//! Cluster mode wiring: the hub of a node that shares its PostgreSQL database and its Redis
//! with other nodes (API.md §5). The Redis broker fills gaps from this store's event log and
//! takes dead nodes' users offline with it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tandem_protocol::room::Room;

use crate::config::ServeConfig;
use crate::hub::redis::{Bus, Database, RedisBroker};
use crate::hub::{Frame, Hub, NodeId, Seams};
use crate::server::StartError;
use crate::store::Store;

/// The store as the cluster reads it.
struct StoreDatabase(Store);

impl Database for StoreDatabase {
    fn head<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<i64, String>> {
        Box::pin(async move { self.0.room_log(room).await.map(|log| log.last_seq).map_err(|e| e.to_string()) })
    }

    fn after<'a>(&'a self, room: &'a str, after: i64, limit: i64) -> BoxFuture<'a, Result<Vec<(i64, Frame)>, String>> {
        Box::pin(async move {
            let events = self.0.events_after(room, after, limit).await.map_err(|e| e.to_string())?;
            Ok(events.into_iter().map(|event| (event.seq, Frame::from(event.frame))).collect())
        })
    }

    fn heads<'a>(&'a self, rooms: &'a [String]) -> BoxFuture<'a, Result<Vec<(String, i64)>, String>> {
        Box::pin(async move { self.0.room_heads(rooms).await.map_err(|e| e.to_string()) })
    }

    fn members_of<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let room = Room::parse(room).map_err(|e| e.to_string())?;
            self.0.members_of(&room).await.map_err(|e| e.to_string())
        })
    }

    fn rooms_of<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let rooms = self.0.member_rooms(user_id).await.map_err(|e| e.to_string())?;
            Ok(rooms.into_iter().map(String::from).collect())
        })
    }

    fn set_last_online<'a>(&'a self, user_id: &'a str, at: i64) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.0.set_last_online(user_id, at).await.map_err(|e| e.to_string()) })
    }
}

/// Whether `name` can name a node: 1 to 64 ASCII letters, digits, `.`, `_` or `-` (it goes
/// into Redis keys and bus messages as is).
fn is_node_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The hub for `config`: in-process on one node; over Redis with `--redis-url`, which needs
/// PostgreSQL (every node must read the same log) and a Redis that answers now.
pub async fn hub(config: &ServeConfig, store: &Store) -> Result<Hub, StartError> {
    let Some(url) = &config.redis_url else { return Ok(Hub::local()) };
    if !config.database_url.starts_with("postgres") {
        return Err(StartError::Config(
            "--redis-url (cluster mode) needs a PostgreSQL --database-url: every node reads and writes the same \
             database, and SQLite is a file on one machine"
                .into(),
        ));
    }
    let node = NodeId::random();
    let name = config.node_id.clone().unwrap_or_else(|| format!("node-{:08x}", node.0 >> 32));
    if !is_node_name(&name) {
        return Err(StartError::Config(format!(
            "--node-id `{name}` is not a node name: use 1 to 64 ASCII letters, digits, '.', '_' or '-'"
        )));
    }
    let bus =
        Bus::connect(url, &name, node, config.node_timeout).await.map_err(|e| StartError::Config(e.to_string()))?;
    tracing::info!(node = %name, "cluster mode: Redis connected");
    let database: Arc<dyn Database> = Arc::new(StoreDatabase(store.clone()));
    let grace = config.presence_grace;
    Ok(Hub::new(node, |inbound| {
        let (broker, presence, viewers) = RedisBroker::start(bus, node, inbound, database, grace);
        Seams { broker, presence, remote_viewers: Some(viewers) }
    }))
}
