//! Command line and environment configuration (API.md §1).
//!
//! Every flag also reads an environment variable of the same name in upper snake case with a
//! `TANDEM_` prefix (`--heartbeat-interval` ↔ `TANDEM_HEARTBEAT_INTERVAL`). Durations accept
//! `500ms`, `2s`, `1m`, `24h`; sizes are plain byte counts or carry a `KiB`/`MiB` suffix.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `tandem`: a self-hosted real-time collaboration server.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `tandem`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: REST API under /api/v1, WebSocket at /ws, metrics at /metrics.
    Serve(Box<ServeConfig>),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (default).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything `tandem serve` can be told. Defaults give a working single node on an embedded
/// SQLite file with nothing else installed.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on. Use port 0 to pick a free port.
    #[arg(long, env = "TANDEM_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Where data lives: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "TANDEM_DATABASE_URL", default_value = "sqlite://tandem.db")]
    pub database_url: String,

    /// Redis URL for cluster mode: nodes sharing one PostgreSQL database and one Redis form
    /// one service (cross-node fan-out). Requires PostgreSQL; Redis must answer at start.
    #[arg(long, env = "TANDEM_REDIS_URL")]
    pub redis_url: Option<String>,

    /// This node's name in cluster mode (default: `node-` and 8 random hex digits). Two live
    /// nodes with the same name are refused.
    #[arg(long, env = "TANDEM_NODE_ID")]
    pub node_id: Option<String>,

    /// Cluster mode: a node that stops refreshing its registration this long is dead.
    #[arg(long, env = "TANDEM_NODE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub node_timeout: Duration,

    /// HS256 secret for signing and checking tokens. Without it a random secret is generated
    /// once and kept in the data store, so tokens survive restarts.
    #[arg(long, env = "TANDEM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// How long tokens issued by sign-up stay valid.
    #[arg(long, env = "TANDEM_TOKEN_TTL", default_value = "30d", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// How often the server pings each WebSocket connection.
    #[arg(long, env = "TANDEM_HEARTBEAT_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// How long after a ping a silent connection is considered dead and closed.
    #[arg(long, env = "TANDEM_HEARTBEAT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub heartbeat_timeout: Duration,

    /// How long a user whose last connection was lost (no close frame, or closed as a slow
    /// consumer) still counts as online to collaborators: a reconnect within it announces
    /// nothing. A clean close or a heartbeat timeout is announced at once. 0 disables it.
    #[arg(long, env = "TANDEM_PRESENCE_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub presence_grace: Duration,

    /// Origins allowed to open WebSockets from a browser (comma-separated or repeated).
    /// Empty means any origin.
    #[arg(long, env = "TANDEM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Browser origins allowed to call the REST API from another origin (comma-separated or
    /// repeated), e.g. `https://app.example`. Their requests get CORS headers and their
    /// preflights allow `Authorization`, `Content-Type` and `Idempotency-Key`; other origins get
    /// none. Empty (the default): no CORS headers at all, only the server's own web app.
    #[arg(long, env = "TANDEM_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// The server's public base URL, e.g. `https://collab.example`. Invite links are absolute
    /// and start with it; without it they are relative (`/join/{id}?code=...`).
    #[arg(long, env = "TANDEM_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Trust an `X-User-Id` header instead of a token. For local development and tests only.
    #[arg(long, env = "TANDEM_DEV_INSECURE_AUTH")]
    pub dev_insecure_auth: bool,

    /// Largest accepted WebSocket message; a bigger one closes the connection with 1009.
    #[arg(long, env = "TANDEM_MAX_FRAME_SIZE", default_value = "64KiB", value_parser = parse_size)]
    pub max_frame_size: usize,

    /// Frames a WebSocket connection may have waiting to be written. A client that falls
    /// this far behind is disconnected (close 4008) and resumes, so it never slows others.
    #[arg(long, env = "TANDEM_WS_QUEUE_CAPACITY", default_value_t = 1024)]
    pub ws_queue_capacity: usize,

    /// How long a WebSocket writer waits, once frames are queued for an idle connection, for
    /// more to join them in one write. Trades latency for fewer writes per delivery under
    /// heavy fan-out (docs/BENCHMARKS.md has figures). 0 (the default) writes at once.
    #[arg(long, env = "TANDEM_WS_WRITE_DELAY", default_value = "0s", value_parser = parse_duration)]
    pub ws_write_delay: Duration,

    /// Sustained frames per second a client may send on one connection.
    #[arg(long, env = "TANDEM_WS_RATE_LIMIT", default_value_t = 100)]
    pub ws_rate_limit: u32,

    /// Size of the token bucket: frames a client may send at once before the sustained rate
    /// applies.
    #[arg(long, env = "TANDEM_WS_RATE_BURST", default_value_t = 200)]
    pub ws_rate_burst: u32,

    /// API key an app backend presents (`Authorization: Bearer KEY`) to publish events into
    /// rooms with `POST /api/v1/rooms/{room}/publish`. Repeat the flag (or comma-separate the
    /// variable) for several keys; without any, the publish API is closed.
    #[arg(long = "api-key", env = "TANDEM_API_KEY", value_delimiter = ',', hide_env_values = true)]
    pub api_keys: Vec<String>,

    /// Durable events kept per room; older ones are pruned (clients behind them resync).
    #[arg(long, env = "TANDEM_RETENTION_EVENTS", default_value_t = 1000)]
    pub retention_events: i64,

    /// Durable events older than this are pruned.
    #[arg(long, env = "TANDEM_RETENTION_AGE", default_value = "24h", value_parser = parse_duration)]
    pub retention_age: Duration,

    /// How often the retention task prunes.
    #[arg(long, env = "TANDEM_RETENTION_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub retention_interval: Duration,

    /// How long a client may take to send a complete HTTP request header, counted from the
    /// connection's accept (or the end of its previous request). A slower one is disconnected,
    /// so clients that trickle headers (slowloris) cannot hold sockets; this is also how long an
    /// idle keep-alive connection stays open. WebSockets are not affected once upgraded.
    /// 0 disables it.
    #[arg(long, env = "TANDEM_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Largest accepted REST request body.
    #[arg(long, env = "TANDEM_MAX_BODY_SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_body_size: usize,

    /// How long a graceful shutdown may take before remaining work is abandoned.
    #[arg(long, env = "TANDEM_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Log line format.
    #[arg(long, env = "TANDEM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl ServeConfig {
    /// The defaults of `tandem serve` with another database URL: what tests and embedders start from.
    pub fn with_database_url(database_url: impl Into<String>) -> Self {
        let mut config = match Cli::try_parse_from(["tandem", "serve"]) {
            Ok(Cli { command: Command::Serve(config) }) => *config,
            // The defaults above are constants; parsing them cannot fail.
            Err(e) => unreachable!("default configuration does not parse: {e}"),
        };
        config.database_url = database_url.into();
        config
    }
}

/// Parses `500ms`, `2s`, `1m`, `24h`, `30d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}` is not a duration ({e}); try 500ms, 2s, 1m"))
}

/// Accepts an absolute `http(s)://host[:port][/path]` URL and drops trailing slashes, so links
/// can be built as `{public_url}/join/...`.
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("`{text}` is not an absolute http(s) URL; try https://collab.example"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || text.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
        return Err(format!("`{text}` is not a base URL; try https://collab.example"));
    }
    Ok(text.to_owned())
}

/// Accepts a browser origin, `scheme://host[:port]` (no path, no trailing slash), as browsers
/// send it in `Origin`.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    let rest = text.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
    if rest.is_empty() || rest.contains('/') || text.chars().any(|c| c.is_whitespace()) {
        return Err(format!("`{text}` is not an origin; try https://app.example"));
    }
    Ok(text.to_owned())
}

/// Parses `1048576`, `64KiB`, `1MiB`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().map_err(|_| format!("`{text}` is not a size; try 65536, 64KiB, 1MiB"))?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1024,
        "MiB" | "M" | "MB" => 1024 * 1024,
        other => return Err(format!("unknown size unit `{other}`; use B, KiB or MiB")),
    };
    number.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_api_md_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("1GiB").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn defaults_are_the_embedded_single_node() {
        let config = ServeConfig::with_database_url("sqlite://x.db");
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.heartbeat_interval, Duration::from_secs(30));
        assert_eq!(config.heartbeat_timeout, Duration::from_secs(10));
        assert_eq!(config.max_body_size, 1 << 20);
        assert_eq!(config.max_frame_size, 64 << 10);
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert!(!config.dev_insecure_auth);
        assert!(config.redis_url.is_none());
    }

    #[test]
    fn public_urls_and_origins_parse() {
        assert_eq!(parse_public_url("https://collab.example/"), Ok("https://collab.example".into()));
        assert_eq!(parse_public_url("http://127.0.0.1:8080/tandem"), Ok("http://127.0.0.1:8080/tandem".into()));
        assert!(parse_public_url("collab.example").is_err());
        assert!(parse_public_url("https://").is_err());
        assert!(parse_public_url("https://a.example/?x=1").is_err());
        assert_eq!(parse_origin("https://app.example"), Ok("https://app.example".into()));
        assert!(parse_origin("https://app.example/").is_err());
        assert!(parse_origin("app.example").is_err());
    }

    #[test]
    fn every_flag_documents_itself() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
