//! What the WebSocket transport needs of the server, and nothing more: the store, the hub,
//! token verification, its own settings and the server's lifecycle. Built once at start and shared by every connection behind one `Arc`, so a connection holds
//! one pointer to it, not a copy of the application state.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;
use crate::config::ServeConfig;
use crate::hub::Hub;
use crate::store::Store;

/// The transport's view of the server. Handlers reach the domain through `store` and `hub`.
#[derive(Debug)]
pub struct Context {
    /// The data store (durable writes, authorization, replay).
    pub store: Store,
    /// Connections, rooms, fan-out, presence and room activity.
    pub hub: Hub,
    /// Verifies first-frame `auth` tokens.
    pub auth: std::sync::Arc<Authenticator>,
    /// Queue, heartbeat, rate limit and presence timings.
    pub settings: Settings,
    /// Tracks the tasks a connection spawns (delayed presence announcements) for shutdown.
    pub tasks: TaskTracker,
    /// Cancelled when the server starts shutting down (sockets close with 1001).
    pub shutdown: CancellationToken,
    /// The connections' runtime ([`Egress`](super::Egress)): every accepted socket runs there.
    pub runtime: tokio::runtime::Handle,
}

/// The configuration a connection runs with, copied out of [`ServeConfig`] once.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Frames a connection's outbound queue holds before it is closed as too slow.
    pub queue_capacity: usize,
    /// How often the server pings; announced to the client in `connected`.
    pub heartbeat_interval: Duration,
    /// How long the server waits for a pong (and for a write) before giving up.
    pub heartbeat_timeout: Duration,
    /// Client frames per second allowed on average.
    pub rate_limit: u32,
    /// Client frames allowed in a burst above the average.
    pub rate_burst: u32,
    /// How long a lost connection's user stays online before collaborators hear otherwise.
    pub presence_grace: Duration,
    /// How long a writer waits for more frames before writing to an idle connection.
    pub write_delay: Duration,
}

impl Settings {
    /// The transport's part of the server configuration.
    pub fn from_config(config: &ServeConfig) -> Self {
        Self {
            queue_capacity: config.ws_queue_capacity,
            heartbeat_interval: config.heartbeat_interval,
            heartbeat_timeout: config.heartbeat_timeout,
            rate_limit: config.ws_rate_limit,
            rate_burst: config.ws_rate_burst,
            presence_grace: config.presence_grace,
            write_delay: config.ws_write_delay,
        }
    }
}
