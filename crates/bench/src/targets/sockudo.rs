//! Sockudo as a fan-out target: the Pusher protocol. Members subscribe to public channels
//! `r{room}`; ticks go through Pusher's HTTP events API, signed with the app secret
//! (HMAC-SHA256 over `POST\n{path}\n{sorted query}` with the body's MD5 in the query).
//!
//! Sockudo's defaults cap an app at 100 connections and 100 backend events/s and rate-limit
//! connects and API calls; the bench raises or disables them so that only its speed is measured.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::SinkExt;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

use super::{Member, Protocol};
use crate::client;
use crate::server::{Ready, ServerProcess, free_loopback_addr};

const APP_ID: &str = "bench-app";
const APP_KEY: &str = "bench-key";
const APP_SECRET: &str = "bench-secret";

/// A running Sockudo.
pub struct Sockudo {
    /// The child process.
    pub server: ServerProcess,
}

impl Sockudo {
    /// Starts `binary` with one in-memory app and its limits lifted.
    pub async fn start(binary: &Path) -> anyhow::Result<Self> {
        let addr = free_loopback_addr()?;
        let dir = tempfile::tempdir()?;
        let mut command = Command::new(binary);
        command
            // No config/config.json in an empty working directory: environment only.
            .current_dir(dir.path())
            .envs([
                ("HOST", "127.0.0.1"),
                ("PORT", &addr.port().to_string()),
                ("DEBUG", "false"),
                ("SOCKUDO_LOG_PROD", "warn"),
                ("ADAPTER_DRIVER", "local"),
                ("APP_MANAGER_DRIVER", "memory"),
                ("CACHE_DRIVER", "memory"),
                ("QUEUE_DRIVER", "memory"),
                ("METRICS_ENABLED", "false"),
                ("RATE_LIMITER_ENABLED", "false"),
                ("ACTIVITY_TIMEOUT", "600"),
                ("SOCKUDO_DEFAULT_APP_ID", APP_ID),
                ("SOCKUDO_DEFAULT_APP_KEY", APP_KEY),
                ("SOCKUDO_DEFAULT_APP_SECRET", APP_SECRET),
                ("SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS", "1000000"),
                ("SOCKUDO_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SECOND", "1000000"),
                ("SOCKUDO_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SECOND", "1000000"),
                ("SOCKUDO_DEFAULT_APP_MAX_READ_REQUESTS_PER_SECOND", "1000000"),
            ]);
        Ok(Self { server: ServerProcess::launch(command, addr, Ready::Http("/up"), Some(dir)).await? })
    }

    /// Connects and subscribes to channel `r{room}`.
    pub async fn connect(&self, room: usize, source: Ipv4Addr) -> anyhow::Result<Member> {
        let path = format!("/app/{APP_KEY}?protocol=7&client=tandem-bench&version=1.0&flash=false");
        let mut socket = client::open(self.server.addr, source, &path).await?;
        expect_event(&mut socket, "pusher:connection_established").await?;
        let subscribe = format!(r#"{{"event":"pusher:subscribe","data":{{"channel":"r{room}"}}}}"#);
        socket.send(Message::text(subscribe)).await?;
        expect_event(&mut socket, "pusher_internal:subscription_succeeded").await?;
        Ok(Member::Ws(socket, Protocol::Pusher))
    }

    /// A publisher for this server.
    pub fn publisher(&self) -> Publisher {
        Publisher { http: reqwest::Client::new(), base: format!("http://{}", self.server.addr) }
    }
}

/// Reads frames until the Pusher event `name` arrives; fails on `pusher:error`.
async fn expect_event(socket: &mut client::Socket, name: &str) -> anyhow::Result<()> {
    super::read_until(socket, Protocol::Pusher, |text| {
        anyhow::ensure!(!text.contains("pusher:error"), "{text}");
        Ok(text.contains(name))
    })
    .await
}

/// Publishes through Pusher's signed events API.
#[derive(Clone)]
pub struct Publisher {
    http: reqwest::Client,
    base: String,
}

impl Publisher {
    /// Triggers event `tick` with `body` as its data on channel `r{room}`.
    pub async fn publish(&self, room: usize, body: &str) -> anyhow::Result<()> {
        let event = serde_json::json!({"name": "tick", "channel": format!("r{room}"), "data": body}).to_string();
        let path = format!("/apps/{APP_ID}/events");
        let query = signed_query("POST", &path, &event)?;
        self.http
            .post(format!("{}{path}?{query}", self.base))
            .header("content-type", "application/json")
            .body(event)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// Pusher's request signature: the auth query parameters for `method path` with `body`.
fn signed_query(method: &str, path: &str, body: &str) -> anyhow::Result<String> {
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let body_md5 = hex::encode(Md5::digest(body.as_bytes()));
    // Keys in alphabetical order, as the signature requires.
    let query = format!("auth_key={APP_KEY}&auth_timestamp={timestamp}&auth_version=1.0&body_md5={body_md5}");
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes())?;
    mac.update(format!("{method}\n{path}\n{query}").as_bytes());
    Ok(format!("{query}&auth_signature={}", hex::encode(mac.finalize().into_bytes())))
}
