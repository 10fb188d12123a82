//! Connecting to Redis: two managed connections (one publishes, one listens) and this node's
//! registration under its name.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo};
use tokio::sync::mpsc;

use super::presence::NODES_KEY;
use super::wire::{MEMBERSHIP_CHANNEL, PRESENCE_CHANNEL, VIEWERS_CHANNEL};
use crate::hub::NodeId;

/// Pushes (pub/sub messages, disconnections) waiting for the receiver task. Full means the
/// receiver fell behind: the pushes are dropped and every room is caught up from the log.
pub(super) const PUSH_QUEUE: usize = 65_536;

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The URL or the connection.
    #[error("cannot connect to Redis at {url}: {source}")]
    Connect {
        /// The `--redis-url`, without a password.
        url: String,
        /// What Redis or the network said.
        source: redis::RedisError,
    },
    /// Another live node has the same name.
    #[error("another live node is registered as `{0}`: give each node its own --node-id")]
    DuplicateNode(String),
}

/// A connected bus, before the broker starts on it.
pub struct Bus {
    pub(super) name: String,
    pub(super) publisher: ConnectionManager,
    pub(super) subscriber: ConnectionManager,
    pub(super) pushes: mpsc::Receiver<PushInfo>,
    pub(super) lost_pushes: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(super) node_timeout: Duration,
}

/// The key a node keeps alive while it runs (value: its process's node id).
pub(super) fn node_key(name: &str) -> String {
    format!("tandem:node:{name}")
}

impl Bus {
    /// Connects to `url` as node `name` (process id `node`), registers the name for
    /// `node_timeout` (refused if another live node holds it) and listens to the membership
    /// presence and viewers channels.
    pub async fn connect(url: &str, name: &str, node: NodeId, node_timeout: Duration) -> Result<Self, BusError> {
        let shown = redact(url);
        let error = |source| BusError::Connect { url: shown.clone(), source };
        let info = url.into_connection_info().map_err(error)?;
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_max_delay(Duration::from_secs(1));
        let mut publisher = client.get_connection_manager_with_config(config.clone()).await.map_err(error)?;

        let (push_tx, pushes) = mpsc::channel(PUSH_QUEUE);
        let lost_pushes = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lost = lost_pushes.clone();
        let sender = move |push: PushInfo| -> Result<(), ()> {
            if push_tx.try_send(push).is_err() {
                lost.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        };
        let config = config.set_push_sender(sender).set_automatic_resubscription();
        let mut subscriber = client.get_connection_manager_with_config(config).await.map_err(error)?;

        let ours = format!("{:x}", node.0);
        let timeout_ms = u64::try_from(node_timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        let registered: bool = redis::cmd("SET")
            .arg(node_key(name))
            .arg(&ours)
            .arg("NX")
            .arg("PX")
            .arg(timeout_ms)
            .query_async::<Option<String>>(&mut publisher)
            .await
            .map_err(error)?
            .is_some();
        if !registered {
            return Err(BusError::DuplicateNode(name.to_owned()));
        }
        redis::cmd("SADD").arg(NODES_KEY).arg(name).query_async::<()>(&mut publisher).await.map_err(error)?;
        subscriber.subscribe(&[MEMBERSHIP_CHANNEL, PRESENCE_CHANNEL, VIEWERS_CHANNEL]).await.map_err(error)?;
        Ok(Self { name: name.to_owned(), publisher, subscriber, pushes, lost_pushes, node_timeout })
    }
}

/// `url` with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("redis://:secret@127.0.0.1:6379/0"), "redis://***@127.0.0.1:6379/0");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
