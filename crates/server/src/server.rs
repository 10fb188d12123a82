//! Server lifecycle: start (store, auth, router, listener), run, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::ServeConfig;
use crate::http;
use crate::hub::Hub;
use crate::state::AppState;
use crate::store::{Store, StoreError};
use crate::telemetry;
use crate::ws::Egress;

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;
/// How often the Prometheus recorder's upkeep runs (drains histogram buffers).
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration asks for something this build cannot do.
    #[error("configuration: {0}")]
    Config(String),
    /// The data store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from the configuration.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// A started server: the store is open and migrated and the socket is bound, so
/// [`Server::local_addr`] is final (useful with port 0) before [`Server::run`] is called.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: AppState,
    egress: Egress,
}

impl Server {
    /// Opens the store, loads or creates the token secret and binds `config.addr`.
    pub async fn start(config: ServeConfig) -> Result<Self, StartError> {
        let store = Store::connect(&config.database_url).await?;
        let auth =
            Authenticator::new(store.clone(), config.jwt_secret.as_deref(), config.token_ttl, config.dev_insecure_auth)
                .await?;
        let listener = listen(config.addr).map_err(|source| StartError::Bind { addr: config.addr, source })?;
        let hub = crate::cluster::hub(&config, &store).await?;
        let egress =
            Egress::start().map_err(|e| StartError::Config(format!("cannot start the WebSocket runtime: {e}")))?;
        let state = AppState::new(store, auth, config, telemetry::metrics_handle(), hub, egress.handle());
        Ok(Self { listener, state, egress })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        // A bound TcpListener always has a local address; fall back to the configured one.
        self.listener.local_addr().unwrap_or(self.state.config.addr)
    }

    /// This server's hub, for embedders and tests that publish directly.
    pub fn hub(&self) -> Hub {
        self.state.hub.clone()
    }

    /// This server's store.
    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// Serves until `signal` completes, then shuts down gracefully: stops accepting, lets
    /// in-flight requests finish, stops background tasks and closes the store, all within
    /// `--shutdown-timeout` (whatever is still running then is abandoned). WebSockets are closed
    /// with 1001 so clients reconnect elsewhere.
    pub async fn run(self, signal: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self { listener, state, egress } = self;
        let (tasks, shutdown) = (state.tasks.clone(), state.shutdown.clone());
        let grace = state.config.shutdown_timeout;
        let store = state.store.clone();
        let hub = state.hub.clone();
        tasks.spawn(metrics_upkeep(state.metrics.clone(), shutdown.clone()));
        tasks.spawn(retention(store.clone(), Retention::from(state.config.as_ref()), shutdown.clone()));
        tracing::info!(addr = %listener.local_addr()?, engine = store.engine_name(), "tandem listening");

        let header_read_timeout = state.config.header_read_timeout;
        let app = http::router(state);
        let stop = shutdown.clone();
        let serve = crate::serve::serve(listener, app, header_read_timeout, async move {
            signal.await;
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
            stop.cancel();
        });
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = serve => {}
            () = deadline => tracing::warn!(?grace, "graceful shutdown timed out; abandoning open requests"),
        }
        tasks.close();
        let stopped = async {
            tasks.wait().await;
            hub.close().await;
        };
        if tokio::time::timeout(grace, stopped).await.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
        store.close().await;
        drop(egress);
        tracing::info!("stopped");
        Ok(())
    }
}

/// Binds `addr` with `SO_REUSEADDR` (a restarted server gets its port back at once) and a
/// listen backlog of [`LISTEN_BACKLOG`], so a burst of reconnecting clients is queued rather
/// than left to retransmit their SYN a second later.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What the retention task keeps.
#[derive(Debug, Clone, Copy)]
struct Retention {
    events_per_room: i64,
    max_age: Duration,
    interval: Duration,
}

impl From<&ServeConfig> for Retention {
    fn from(config: &ServeConfig) -> Self {
        Self {
            events_per_room: config.retention_events,
            max_age: config.retention_age,
            interval: config.retention_interval,
        }
    }
}

/// Prunes the event log every `interval` until shutdown: events beyond the newest
/// `events_per_room` of their room, and events older than `max_age`.
async fn retention(store: Store, retention: Retention, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(retention.interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let max_age_ms = i64::try_from(retention.max_age.as_millis()).unwrap_or(i64::MAX);
        let cutoff = crate::clock::now_ms().saturating_sub(max_age_ms);
        match store.prune_events(retention.events_per_room.max(0), cutoff).await {
            Ok(0) => {}
            Ok(removed) => {
                crate::telemetry::events().pruned.increment(removed);
                tracing::debug!(removed, "retention pruned events");
            }
            Err(e) => tracing::warn!(error = %e, "retention failed; will retry"),
        }
    }
}

/// Runs the recorder's upkeep until shutdown, so histograms do not grow without bound.
async fn metrics_upkeep(handle: metrics_exporter_prometheus::PrometheusHandle, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => handle.run_upkeep(),
            () = shutdown.cancelled() => return,
        }
    }
}
