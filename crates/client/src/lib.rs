//! Rust SDK for Tandem.
//!
//! [`Client::connect`] starts a background task that keeps one WebSocket to the server open:
//! it reconnects by itself with exponential backoff (1, 2, 4, 8, 16, 30 s cap, forever, full
//! jitter), gives the server its per-room cursors on every reconnect so missed durable events
//! are replayed, and drops duplicates by `(room, seq)`, so the application sees each durable
//! event once and in order. The application reads [`Event`]s from [`Client::events`] or
//! registers handlers with [`Client::on`], sends frames with [`Client::send`] (resolved by the
//! server's `ack` or `error`), and watches [`ConnectionState`] to show Live / Syncing / Offline.
//!
//! ```no_run
//! use tandem_client::{Client, ClientConfig, ConnectionState};
//!
//! # async fn demo() -> Result<(), tandem_client::ClientError> {
//! let client = Client::connect(ClientConfig::new("http://127.0.0.1:8080", "TOKEN"));
//! client.on("message_created", |event| println!("new message: {}", event.json()));
//! let mut state = client.state();
//! while *state.borrow_and_update() != ConnectionState::Live {
//!     let _ = state.changed().await;
//! }
//! client.send(serde_json::json!({"type": "list_users"})).await?;
//! # Ok(()) }
//! ```

mod backoff;
mod client;
mod config;
mod cursors;
mod driver;
mod event;
mod polling;
pub mod rest;
mod tls;

pub use backoff::{Backoff, full_jitter};
pub use client::{Client, ClientError};
pub use config::{ClientConfig, TokenSource};
pub use cursors::Cursors;
pub use driver::websocket_config;
pub use event::Event;
pub use rest::{Api, RestError};

/// Where the connection stands (seed 003's Live / Syncing / Offline badge, made precise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening a WebSocket (first connect or a retry).
    Connecting,
    /// Connected and caught up: events arrive live.
    Live,
    /// Reachable only through the long-poll fallback.
    Polling,
    /// Not connected; a retry is scheduled unless auto-reconnect is off.
    Offline,
    /// Connected again after a disconnect, and the replay of missed events is complete.
    /// `resync_required` lists rooms whose history no longer reaches the client's cursor:
    /// refetch those objects by REST. `Live` follows.
    Reconnected {
        /// Whether cursors were sent (and missed events replayed).
        resumed: bool,
        /// Rooms to refetch.
        resync_required: Vec<String>,
    },
    /// Stopped for good: [`Client::close`] was called, or the server refused the credentials
    /// (no retry storm: a bad token is not retried).
    Stopped {
        /// Why.
        reason: String,
    },
}
