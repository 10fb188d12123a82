//! Connecting to Redis: two managed connections (one publishes, one listens) and this node's
//! registration under its name.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo};
use tokio::sync::mpsc;

use super::presence::{DEAD_AFTER_PROBES, NODES_KEY};
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

/// How often Redis is probed (and the node's registration refreshed).
pub(super) const PROBE: Duration = Duration::from_secs(1);

/// How long a node's registration lives without a refresh. The others take the node for dead
/// [`DEAD_AFTER_PROBES`] probes after it is gone, so this leaves room for them and for one
/// missed refresh within `node_timeout`: a node killed is taken for dead within
/// `node_timeout` when that is at least 8 s (the default is 10 s); below, about half of it
/// later.
pub(super) fn registration_ttl(node_timeout: Duration) -> Duration {
    node_timeout.saturating_sub(PROBE * (DEAD_AFTER_PROBES + 1)).max(node_timeout / 2)
}

/// The lease of the node taking node `name`'s users offline, held while it does.
pub(super) fn reaping_key(name: &str) -> String {
    format!("tandem:reaping:{name}")
}

/// How often a starting node looks again whether another node is still taking its previous
/// run's users offline.
const REAPING_POLL: Duration = Duration::from_millis(100);

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
        let timeout_ms = u64::try_from(registration_ttl(node_timeout).as_millis()).unwrap_or(u64::MAX).max(1);
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
        // A previous run under this name may be being taken offline right now: wait for that
        // to finish (the lease expires at the latest), so the two never interleave.
        while redis::cmd("EXISTS").arg(reaping_key(name)).query_async::<bool>(&mut publisher).await.map_err(error)? {
            tokio::time::sleep(REAPING_POLL).await;
            redis::cmd("PEXPIRE")
                .arg(node_key(name))
                .arg(timeout_ms)
                .query_async::<()>(&mut publisher)
                .await
                .map_err(error)?;
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
    use std::time::Duration;

    use super::{redact, registration_ttl};

    #[test]
    fn a_dead_node_is_found_within_the_node_timeout_from_8_s_on() {
        // Expiry, plus the refresh that was due, plus three probes: the node timeout at most.
        assert_eq!(registration_ttl(Duration::from_secs(10)), Duration::from_secs(6));
        assert_eq!(registration_ttl(Duration::from_secs(8)), Duration::from_secs(4));
        assert_eq!(registration_ttl(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(registration_ttl(Duration::from_secs(60)), Duration::from_secs(56));
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("redis://:secret@127.0.0.1:6379/0"), "redis://***@127.0.0.1:6379/0");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
