//! What every request and connection can reach: the application state, built once by
//! [`Server`](crate::server::Server) and shared by the REST surface (`http`) and the WebSocket
//! transport (`ws`), neither of which owns it.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;
use crate::config::ServeConfig;
use crate::hub::Hub;
use crate::store::Store;

/// Store, hub, auth, configuration and lifecycle. Cheap to clone (every field is a handle).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The data store.
    pub store: Store,
    /// Token issue/verify and caller resolution.
    pub auth: Arc<Authenticator>,
    /// The configuration the server started with.
    pub config: Arc<ServeConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Live connections, rooms, fan-out, presence and room activity.
    pub hub: Hub,
    /// Tracks every connection and background task so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Cancelled when the server starts shutting down (sockets close with 1001).
    pub shutdown: CancellationToken,
    /// The WebSocket transport's narrow view of the above (the same store, hub, auth, tasks and
    /// shutdown), handed to every accepted socket.
    pub ws: Arc<crate::ws::Context>,
}

impl AppState {
    /// Assembles the state; the transport's [`Context`](crate::ws::Context) is derived from the
    /// same handles and the configuration's WebSocket settings.
    /// WebSocket connections run on `runtime` (see [`Egress`](crate::ws::Egress)).
    pub fn new(
        store: Store,
        auth: Authenticator,
        config: ServeConfig,
        metrics: PrometheusHandle,
        hub: Hub,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let (auth, tasks, shutdown) = (Arc::new(auth), TaskTracker::new(), CancellationToken::new());
        let ws = Arc::new(crate::ws::Context {
            store: store.clone(),
            hub: hub.clone(),
            auth: auth.clone(),
            settings: crate::ws::Settings::from_config(&config),
            tasks: tasks.clone(),
            shutdown: shutdown.clone(),
            runtime,
        });
        Self { store, auth, config: Arc::new(config), metrics, hub, tasks, shutdown, ws }
    }
}
