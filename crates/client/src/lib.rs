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
//! # Dead connections and timeouts
//!
//! Every step of a connect attempt is bounded, and a step that takes too long fails the
//! attempt, which is retried with the normal backoff: TCP connect plus TLS within
//! [`ClientConfig::connect_timeout`], the answer to the WebSocket upgrade and then the
//! `connected` frame each within [`ClientConfig::handshake_timeout`] (10 s each by default).
//! Once connected, a watchdog treats the connection as dead when nothing at all (no text
//! frame, no WebSocket ping or pong) arrives for the server's heartbeat interval (told by
//! `connected`) plus [`ClientConfig::heartbeat_timeout`] (10 s by default), and reconnects:
//! a network that silently stops delivering is noticed within that bound.
//!
//! # Rooms, cursors and reconnects
//!
//! The client keeps a cursor (the last delivered `seq`) for every room it receives durable
//! events in, and gives them back on each reconnect, so the events missed meanwhile are
//! replayed, exactly once and in order, before live ones. Thread and user rooms are joined by
//! the server automatically; their cursors go in the connect URL (`?resume=`). Rooms that are
//! joined while viewed (`draft:`, `canvas:`) are joined with [`Client::subscribe`], and joined
//! again after every reconnect with `subscribe` and `after` = their cursor (a viewed room
//! without a cursor yet is joined live; see [`ReconnectInfo::rejoined_without_cursor`]).
//! [`Client::track`] records the `seq` of an object read by REST ("I have everything in this
//! room up to `seq`"): the client then delivers exactly the room's events after it, also
//! across reconnects.
//!
//! After each reconnect, once the replay is complete, the state becomes
//! [`ConnectionState::Reconnected`] and the [`Client::on_reconnected`] hooks run with a
//! [`ReconnectInfo`]: the place to refetch by REST what a replay cannot restore. A room whose
//! history no longer reaches the cursor (pruned by retention) is not replayed; the server
//! answers `resync_required`, which reaches the application as an event for which
//! [`Event::resynced`] names the room, and the room's events continue from the server's newest
//! seq.
//!
//! A [`TokenSource::Provider`] (see [`ClientConfig::with_token_provider`]) is asked for a token
//! before every connect attempt, so an expired token is replaced before the client reconnects.
//! A token the server refuses stops the client (no retry storm).
//!
//! ```no_run
//! use tandem_client::{Api, Client, ClientConfig, ConnectionState};
//!
//! # async fn demo(draft_id: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect(ClientConfig::new("http://127.0.0.1:8080", "TOKEN"));
//! client.on("message_created", |event| println!("new message: {}", event.json()));
//! client.on_reconnected(|info| println!("back; refetch {:?}", info.resync_required));
//! let mut state = client.state();
//! while *state.borrow_and_update() != ConnectionState::Live {
//!     let _ = state.changed().await;
//! }
//! client.send(serde_json::json!({"type": "list_users"})).await?;
//!
//! // Show a draft: load it by REST, then receive exactly the changes made since.
//! let draft = Api::new("http://127.0.0.1:8080").with_token("TOKEN").draft(draft_id).await?;
//! client.track(&format!("draft:{}", draft.id), draft.seq).await?;
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
mod rooms;
mod tls;

pub use backoff::{Backoff, full_jitter};
pub use client::{Client, ClientError};
pub use config::{ClientConfig, DEFAULT_HEARTBEAT_INTERVAL, TokenProvider, TokenSource};
pub use cursors::Cursors;
pub use driver::websocket_config;
pub use event::{Event, ReconnectInfo};
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
    /// refetch those objects by REST. The [`Client::on_reconnected`] hooks run right after this
    /// state is published, and `Live` follows.
    Reconnected {
        /// Whether cursors were sent (at connect, or as `subscribe`'s `after` for viewed
        /// rooms) and missed events replayed.
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
