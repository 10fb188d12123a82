//! Client settings.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::Cursors;

/// Produces a token for each connect attempt, so an expired token is replaced before the SDK
/// reconnects. Build one with [`ClientConfig::with_token_provider`].
pub type TokenProvider = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// Where the bearer token comes from.
#[derive(Clone)]
pub enum TokenSource {
    /// The same token every time.
    Static(String),
    /// Asked before every connect attempt (the first connect and each reconnect), and its
    /// answer is what that attempt (and the long polls until the next attempt) use. It has
    /// [`ClientConfig::connect_timeout`] to answer; otherwise the attempt counts as failed and
    /// is retried with the normal backoff.
    Provider(TokenProvider),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Static(_) => "TokenSource::Static(..)",
            Self::Provider(_) => "TokenSource::Provider(..)",
        })
    }
}

impl TokenSource {
    /// The token for the next attempt.
    pub(crate) async fn token(&self) -> String {
        match self {
            Self::Static(token) => token.clone(),
            Self::Provider(provider) => provider().await,
        }
    }
}

/// The heartbeat interval assumed when the server's `connected` frame does not tell one (the
/// server's default `--heartbeat-interval`).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// How a [`crate::Client`] connects and retries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server base URL, `http(s)://host:port` (the WebSocket URL is derived: `ws(s)://…/ws`).
    pub base_url: String,
    /// Token for each connect.
    pub token: TokenSource,
    /// Reconnect automatically after a disconnect (default on).
    pub auto_reconnect: bool,
    /// First retry delay (default 1 s).
    pub backoff_min: Duration,
    /// Longest retry delay (default 30 s).
    pub backoff_max: Duration,
    /// Full jitter on retry delays (default on).
    pub jitter: bool,
    /// A connection that lived this long resets the backoff schedule (default 10 s).
    pub stable_after: Duration,
    /// How long [`crate::Client::send`] (and `subscribe`, `unsubscribe`, `track`) waits for
    /// the `ack`/`error` (default 10 s).
    pub send_timeout: Duration,
    /// How long opening the TCP connection (name resolution included) and, for `https://`,
    /// the TLS handshake may take together (default 10 s). A slower attempt is abandoned and
    /// retried with the normal backoff.
    pub connect_timeout: Duration,
    /// How long the server may take to answer the WebSocket upgrade request, and then again
    /// to send its `connected` frame (default 10 s each). A slower attempt is abandoned and
    /// retried with the normal backoff.
    pub handshake_timeout: Duration,
    /// The watchdog: once connected, a connection on which nothing at all arrives (no text
    /// frame, no WebSocket ping or pong) for the server's heartbeat interval (from
    /// `connected`'s `heartbeat_interval_ms`, else [`DEFAULT_HEARTBEAT_INTERVAL`]) plus this
    /// long is treated as dead and replaced by a new one (default 10 s, the server's default
    /// `--heartbeat-timeout`). A network that stops delivering without closing is therefore
    /// noticed within interval + timeout of its last frame.
    pub heartbeat_timeout: Duration,
    /// Cursors to start from (e.g. from objects loaded by REST). Their rooms count as
    /// tracked, as with [`crate::Client::track`].
    pub cursors: Cursors,
    /// Consecutive failed WebSocket attempts after which events are fetched by long polling
    /// until a WebSocket attempt succeeds again (default 3).
    pub polling_after_failures: u32,
    /// Rooms to long-poll besides the user's own room and every room with a cursor (e.g. the
    /// threads the app shows).
    pub poll_rooms: Vec<String>,
    /// How long one long poll waits on the server (default 25 s, at most 60 s).
    pub poll_wait: Duration,
    /// Extra trusted root certificates (DER) for `https://` / `wss://`, besides the Mozilla
    /// roots, e.g. a development CA or a self-signed server certificate.
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// Capacity of the event stream; when the application falls this far behind, the
    /// connection task waits for it (default 4096).
    pub event_buffer: usize,
}

impl ClientConfig {
    /// Defaults for `base_url` with a fixed token.
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            token: TokenSource::Static(token.into()),
            auto_reconnect: true,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            jitter: true,
            stable_after: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(10),
            cursors: Cursors::default(),
            polling_after_failures: 3,
            poll_rooms: Vec::new(),
            poll_wait: Duration::from_secs(25),
            extra_root_certificates: Vec::new(),
            event_buffer: 4096,
        }
    }

    /// Uses `provider` for a fresh token before every connect attempt (see
    /// [`TokenSource::Provider`]).
    pub fn with_token_provider<F, Fut>(mut self, provider: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        self.token = TokenSource::Provider(Arc::new(move || Box::pin(provider())));
        self
    }

    /// `http(s)://host:port` without a trailing slash.
    pub(crate) fn http_base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// `ws(s)://host:port/ws` for this base URL.
    pub(crate) fn ws_url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        let base = base.strip_prefix("https://").map_or_else(
            || base.strip_prefix("http://").map_or_else(|| base.to_owned(), |rest| format!("ws://{rest}")),
            |rest| format!("wss://{rest}"),
        );
        format!("{base}/ws")
    }
}
