//! Cluster mode wiring: the hub of a node that shares its PostgreSQL database and its Redis
//! with other nodes (API.md §5). The Redis broker fills gaps from this store's event log.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::config::ServeConfig;
use crate::hub::redis::{Bus, Log, RedisBroker};
use crate::hub::{Frame, Hub, LocalPresence, NodeId};
use crate::server::StartError;
use crate::store::Store;

/// The event log as the broker reads it.
struct StoreLog(Store);

impl Log for StoreLog {
    fn head<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<i64, String>> {
        Box::pin(async move { self.0.room_log(room).await.map(|log| log.last_seq).map_err(|e| e.to_string()) })
    }

    fn after<'a>(&'a self, room: &'a str, after: i64, limit: i64) -> BoxFuture<'a, Result<Vec<(i64, Frame)>, String>> {
        Box::pin(async move {
            let events = self.0.events_after(room, after, limit).await.map_err(|e| e.to_string())?;
            Ok(events.into_iter().map(|event| (event.seq, Frame::from(event.frame))).collect())
        })
    }
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
    let bus =
        Bus::connect(url, &name, node, config.node_timeout).await.map_err(|e| StartError::Config(e.to_string()))?;
    tracing::info!(node = %name, "cluster mode: Redis connected");
    let log: Arc<dyn Log> = Arc::new(StoreLog(store.clone()));
    Ok(Hub::new(node, |inbound| RedisBroker::start(bus, node, inbound, log), Arc::new(LocalPresence::default())))
}
