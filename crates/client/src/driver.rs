//! The connection task: connect, run a session, back off, repeat.

use std::collections::HashMap;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backoff::Backoff;
use crate::client::{ClientError, Command, Handlers};
use crate::polling::{self, Page, PollError};
use crate::{ClientConfig, ConnectionState, Cursors, Event};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Close code the server uses for refused credentials: do not retry.
const UNAUTHORIZED: u16 = 4401;
/// The `ref` of the ping sent after connecting; its `ack` marks the end of the replay.
const SYNC_REF: &str = "tandem-sync";

/// The WebSocket settings every Tandem client uses: a 4 KiB read buffer (the 128 KiB default
/// is zero-filled on every read and dominates client CPU), writes sent as they come.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_message_size(Some(16 << 20))
}

/// How a session ended.
enum End {
    /// The connection broke or the server closed it: retry per policy.
    Dropped,
    /// The application asked for a disconnect: retry per policy.
    Disconnected,
    /// Stop for good.
    Stop(String),
}

pub(crate) struct Driver {
    config: ClientConfig,
    commands: mpsc::Receiver<Command>,
    state: watch::Sender<ConnectionState>,
    transitions: broadcast::Sender<ConnectionState>,
    handlers: Handlers,
    events: Option<mpsc::Sender<Event>>,
    cursors: Cursors,
    pending: HashMap<String, oneshot::Sender<Result<Value, ClientError>>>,
    auto_reconnect: bool,
    /// Consecutive failed WebSocket attempts (polling starts at the configured threshold).
    failures: u32,
    /// The user's id, from `connected` or `/users/me`, to poll the user's own room.
    user_id: Option<String>,
    http: reqwest::Client,
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl Driver {
    pub(crate) fn new(
        config: ClientConfig,
        commands: mpsc::Receiver<Command>,
        state: watch::Sender<ConnectionState>,
        transitions: broadcast::Sender<ConnectionState>,
        handlers: Handlers,
    ) -> Self {
        let cursors = config.cursors.clone();
        let tls = crate::tls::client_config(&config.extra_root_certificates);
        let auto_reconnect = config.auto_reconnect;
        Self {
            config,
            commands,
            state,
            transitions,
            handlers,
            events: None,
            cursors,
            pending: HashMap::new(),
            auto_reconnect,
            failures: 0,
            user_id: None,
            http: crate::tls::http_client(&tls),
            tls,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max, self.config.jitter);
        let mut reconnecting = false;
        loop {
            self.set_state(ConnectionState::Connecting);
            let token = self.config.token.token().await;
            match self.open(&token).await {
                Ok(socket) => {
                    self.failures = 0;
                    let opened = Instant::now();
                    let end = self.session(socket, reconnecting).await;
                    reconnecting = true;
                    if opened.elapsed() >= self.config.stable_after {
                        backoff.reset();
                    }
                    if let End::Stop(reason) = end {
                        return self.stop(reason);
                    }
                }
                Err(WsError::Http(response)) if matches!(response.status().as_u16(), 401 | 403) => {
                    return self.stop(format!("the server refused the credentials ({})", response.status()));
                }
                Err(error) => {
                    self.failures += 1;
                    tracing::debug!(%error, failures = self.failures, "connect failed");
                }
            }
            self.fail_pending();
            let retry_at = Instant::now() + backoff.next_delay();
            let waited = if self.failures >= self.config.polling_after_failures && self.auto_reconnect {
                self.set_state(ConnectionState::Polling);
                self.poll_until(retry_at, &token).await
            } else {
                self.set_state(ConnectionState::Offline);
                self.wait_offline(retry_at).await
            };
            if let Err(reason) = waited {
                return self.stop(reason);
            }
        }
    }

    async fn open(&self, token: &str) -> Result<Socket, WsError> {
        let mut url = format!("{}?token={}", self.config.ws_url(), percent_encode(token));
        if !self.cursors.is_empty() {
            let cursors = serde_json::to_string(self.cursors.as_map()).unwrap_or_default();
            url.push_str(&format!("&resume={}", percent_encode(&cursors)));
        }
        let connector = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(url, Some(websocket_config()), true, Some(connector))
                .await?;
        Ok(socket)
    }

    /// Waits until `retry_at` (or, with auto-reconnect off, until it is turned on), serving
    /// commands meanwhile. `Err` means stop.
    async fn wait_offline(&mut self, retry_at: Instant) -> Result<(), String> {
        loop {
            let command = if self.auto_reconnect {
                tokio::select! {
                    () = sleep_until(retry_at) => return Ok(()),
                    command = self.commands.recv() => command,
                }
            } else {
                self.commands.recv().await
            };
            let turned_on = matches!(command, Some(Command::AutoReconnect(true)));
            self.on_offline_command(command)?;
            if turned_on {
                return Ok(());
            }
        }
    }

    /// Long-polls the user's rooms until `retry_at`, delivering events through the same path
    /// as the socket (cursors, dedupe, handlers, stream). `Err` means stop.
    async fn poll_until(&mut self, retry_at: Instant, token: &str) -> Result<(), String> {
        while Instant::now() < retry_at {
            if self.user_id.is_none() {
                match polling::me(&self.http, self.config.http_base(), token).await {
                    Ok(id) => self.user_id = Some(id),
                    Err(PollError::Unauthorized) => return Err("the server refused the credentials (401)".into()),
                    Err(PollError::Other(_)) => return self.wait_offline(retry_at).await,
                }
            }
            let mut rooms: Vec<String> = self.cursors.as_map().keys().cloned().collect();
            rooms.extend(self.config.poll_rooms.iter().cloned());
            rooms.extend(self.user_id.iter().map(|id| format!("user:{id}")));
            rooms.sort();
            rooms.dedup();
            let wait = self.config.poll_wait.min(retry_at.saturating_duration_since(Instant::now()));
            let (http, base, cursors) = (&self.http, self.config.http_base(), &self.cursors);
            let polls = futures_util::future::join_all(rooms.iter().map(|room| {
                // A room without a cursor is first asked where it stands, without waiting.
                let (after, wait) = cursors.get(room).map_or((0, Duration::ZERO), |seq| (seq, wait));
                polling::poll(http, base, token, room, after, wait)
            }));
            let pages = tokio::select! {
                pages = polls => pages,
                () = sleep_until(retry_at) => return Ok(()),
                command = self.commands.recv() => {
                    self.on_offline_command(command)?;
                    continue;
                }
            };
            let mut progressed = false;
            for page in pages {
                match page {
                    Ok(page) => progressed |= self.on_page(page).await,
                    Err(PollError::Unauthorized) => return Err("the server refused the credentials (401)".into()),
                    Err(PollError::Other(error)) => tracing::debug!(%error, "poll failed"),
                }
            }
            if !progressed {
                // Every poll failed or returned at once with nothing: do not spin.
                tokio::select! {
                    () = sleep_until((Instant::now() + Duration::from_millis(500)).min(retry_at)) => {}
                    command = self.commands.recv() => self.on_offline_command(command)?,
                }
            }
        }
        Ok(())
    }

    /// Delivers a polled page. Returns whether the poll made progress (events, or a cursor
    /// learnt), i.e. whether polling again at once is useful.
    async fn on_page(&mut self, page: Page) -> bool {
        let Some(cursor) = self.cursors.get(&page.room) else {
            self.cursors.set(&page.room, page.last_seq);
            return true;
        };
        if page.resync_required {
            let frame = serde_json::json!({"type": "resync_required", "room": page.room, "last_seq": page.last_seq});
            self.on_frame(frame, &mut Vec::new()).await;
            return true;
        }
        let progressed = !page.events.is_empty() || page.last_seq > cursor;
        for event in page.events {
            self.on_frame(event, &mut Vec::new()).await;
        }
        progressed
    }

    /// Serves a command while not connected. `Err` means stop.
    fn on_offline_command(&mut self, command: Option<Command>) -> Result<(), String> {
        match command {
            None => Err("the client was dropped".into()),
            Some(Command::Close) => Err("closed by the application".into()),
            Some(Command::Send { reply, .. }) => {
                let _ = reply.send(Err(ClientError::NotConnected));
                Ok(())
            }
            Some(Command::Subscribe(events)) => {
                self.events = Some(events);
                Ok(())
            }
            Some(Command::AutoReconnect(enabled)) => {
                self.auto_reconnect = enabled;
                Ok(())
            }
            Some(Command::Disconnect) => Ok(()),
        }
    }

    async fn session(&mut self, socket: Socket, reconnecting: bool) -> End {
        let (mut sink, mut stream) = socket.split();
        let resumed = !self.cursors.is_empty();
        let mut resync_required = Vec::new();
        let mut synced = false;
        if sink.send(Message::text(json!({"type": "ping", "ref": SYNC_REF}).to_string())).await.is_err() {
            return End::Dropped;
        }
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                        if frame["type"] == "connected" {
                            self.user_id = frame["user_id"].as_str().map(str::to_owned);
                        }
                        if frame["type"] == "ping" {
                            let _ = sink.send(Message::text(r#"{"type":"pong"}"#)).await;
                            continue;
                        }
                        if !synced && frame["type"] == "ack" && frame["ref"] == SYNC_REF {
                            synced = true;
                            if reconnecting {
                                let rooms = std::mem::take(&mut resync_required);
                                self.set_state(ConnectionState::Reconnected { resumed, resync_required: rooms });
                            }
                            self.set_state(ConnectionState::Live);
                            continue;
                        }
                        if !synced && frame["type"] == "pong" {
                            continue; // the answer to the sync ping
                        }
                        self.on_frame(frame, &mut resync_required).await;
                    }
                    Some(Ok(Message::Close(close))) => {
                        return match close.map(|c| u16::from(c.code)) {
                            Some(UNAUTHORIZED) => End::Stop("the server refused the credentials (4401)".into()),
                            _ => End::Dropped,
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return End::Dropped,
                },
                command = self.commands.recv() => match command {
                    Some(Command::Send { frame, reply }) => {
                        let reference = frame["ref"].as_str().unwrap_or_default().to_owned();
                        if sink.send(Message::text(frame.to_string())).await.is_err() {
                            let _ = reply.send(Err(ClientError::NotConnected));
                            return End::Dropped;
                        }
                        self.pending.insert(reference, reply);
                    }
                    Some(Command::Subscribe(events)) => self.events = Some(events),
                    Some(Command::AutoReconnect(enabled)) => self.auto_reconnect = enabled,
                    Some(Command::Disconnect) => {
                        let _ = sink.close().await;
                        return End::Disconnected;
                    }
                    Some(Command::Close) => {
                        let _ = sink.close().await;
                        return End::Stop("closed by the application".into());
                    }
                    None => {
                        let _ = sink.close().await;
                        return End::Stop("the client was dropped".into());
                    }
                },
            }
        }
    }

    /// Answers pending `send`s, tracks cursors, drops duplicates, delivers the rest.
    async fn on_frame(&mut self, frame: Value, resync_required: &mut Vec<String>) {
        if let Some(reference) = frame["ref"].as_str()
            && let Some(reply) = self.pending.remove(reference)
        {
            let result = if frame["type"] == "error" {
                Err(ClientError::Rejected {
                    code: frame["code"].as_str().unwrap_or_default().to_owned(),
                    message: frame["message"].as_str().unwrap_or_default().to_owned(),
                })
            } else {
                Ok(frame)
            };
            let _ = reply.send(result);
            return;
        }
        if frame["type"] == "resync_required"
            && let Some(room) = frame["room"].as_str()
        {
            self.cursors.set(room, frame["last_seq"].as_i64().unwrap_or(0));
            resync_required.push(room.to_owned());
        } else if let (Some(room), Some(seq)) = (frame["room"].as_str(), frame["seq"].as_i64())
            && !self.cursors.accept(room, seq)
        {
            return; // already delivered
        }
        self.deliver(Event::new(frame)).await;
    }

    async fn deliver(&mut self, event: Event) {
        let handlers = {
            let handlers = self.handlers.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            handlers.get(event.kind()).cloned().unwrap_or_default()
        };
        for handler in handlers {
            handler(&event);
        }
        if let Some(events) = &self.events
            && events.send(event).await.is_err()
        {
            self.events = None;
        }
    }

    /// Publishes a state to the watch (current value) and the transition stream.
    fn set_state(&self, state: ConnectionState) {
        let _ = self.transitions.send(state.clone());
        self.state.send_replace(state);
    }

    fn fail_pending(&mut self) {
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(ClientError::NotConnected));
        }
    }

    fn stop(&mut self, reason: String) {
        self.fail_pending();
        tracing::debug!(%reason, "client stopped");
        self.set_state(ConnectionState::Stopped { reason });
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
