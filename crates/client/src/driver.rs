//! The connection task: connect, run a session, back off, repeat.
//!
//! * `connect` opens a socket within the connect and handshake timeouts.
//! * `session` runs one connection: the watchdog, rejoining viewed rooms, commands.
//! * `fallback` long-polls while WebSockets keep failing.

mod connect;
mod fallback;
mod session;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::backoff::Backoff;
use crate::client::{ClientError, Command, Handlers, ReconnectHooks};
use crate::rooms::Rooms;
use crate::{ClientConfig, ConnectionState, Event, ReconnectInfo};

use connect::ConnectError;

/// The WebSocket settings every Tandem client uses: a 4 KiB read buffer (the 128 KiB default
/// is zero-filled on every read and dominates client CPU), writes sent as they come.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_message_size(Some(16 << 20))
}

/// How a session ended.
enum End {
    /// The connection broke, went silent or the server closed it: retry per policy.
    Dropped,
    /// The application asked for a disconnect: retry per policy.
    Disconnected,
    /// Stop for good.
    Stop(String),
}

/// Who waits for the answer to a frame sent with a `ref`.
enum Reply {
    /// An application frame: gets the `ack` (or the `error`).
    Frame(oneshot::Sender<Result<Value, ClientError>>),
    /// `subscribe`/`track`/`unsubscribe`: gets done or the refusal.
    Done(oneshot::Sender<Result<(), ClientError>>),
    /// A frame the SDK sent by itself.
    Nobody,
}

/// A frame waiting for its answer.
struct Pending {
    reply: Reply,
    /// The room a `subscribe` joins, to record the server's answer.
    joins: Option<String>,
}

pub(crate) struct Driver {
    config: ClientConfig,
    commands: mpsc::Receiver<Command>,
    state: watch::Sender<ConnectionState>,
    transitions: broadcast::Sender<ConnectionState>,
    handlers: Handlers,
    hooks: ReconnectHooks,
    events: Option<mpsc::Sender<Event>>,
    rooms: Rooms,
    pending: HashMap<String, Pending>,
    /// Counter for the `ref`s of frames the SDK sends by itself.
    next_ref: u64,
    auto_reconnect: bool,
    /// Consecutive failed WebSocket attempts (polling starts at the configured threshold).
    failures: u32,
    /// The user's id, from `connected` or `/users/me`, to poll the user's own room.
    user_id: Option<String>,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
}

impl Driver {
    pub(crate) fn new(
        config: ClientConfig,
        commands: mpsc::Receiver<Command>,
        state: watch::Sender<ConnectionState>,
        transitions: broadcast::Sender<ConnectionState>,
        handlers: Handlers,
        hooks: ReconnectHooks,
    ) -> Self {
        let rooms = Rooms::new(config.cursors.clone());
        let tls = crate::tls::client_config(&config.extra_root_certificates);
        let auto_reconnect = config.auto_reconnect;
        Self {
            config,
            commands,
            state,
            transitions,
            handlers,
            hooks,
            events: None,
            rooms,
            pending: HashMap::new(),
            next_ref: 0,
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
            let attempt = connect::Attempt::new(&self.config, self.tls.clone(), self.rooms.resume_map());
            let (token, result) = match self.serving_commands(attempt.run()).await {
                Ok(attempted) => attempted,
                Err(reason) => return self.stop(reason),
            };
            match result {
                Ok(established) => {
                    self.failures = 0;
                    self.user_id = Some(established.user_id.clone());
                    let opened = Instant::now();
                    let end = self.session(established, reconnecting).await;
                    reconnecting = true;
                    if opened.elapsed() >= self.config.stable_after {
                        backoff.reset();
                    }
                    if let End::Stop(reason) = end {
                        return self.stop(reason);
                    }
                }
                Err(ConnectError::Unauthorized(why)) => {
                    return self.stop(format!("the server refused the credentials ({why})"));
                }
                Err(error) => {
                    self.failures += 1;
                    tracing::debug!(%error, failures = self.failures, "connect failed");
                }
            }
            self.fail_pending(false);
            let retry_at = Instant::now() + backoff.next_delay();
            let waited = match token {
                Some(token) if self.failures >= self.config.polling_after_failures && self.auto_reconnect => {
                    self.set_state(ConnectionState::Polling);
                    self.poll_until(retry_at, &token).await
                }
                _ => {
                    self.set_state(ConnectionState::Offline);
                    self.wait_offline(retry_at).await
                }
            };
            if let Err(reason) = waited {
                return self.stop(reason);
            }
        }
    }

    /// Runs `work` (which does not touch the driver) while serving commands as when offline,
    /// so that `close` or dropping the client is honoured during a long connect. `Err` means
    /// stop.
    async fn serving_commands<T>(&mut self, work: impl Future<Output = T>) -> Result<T, String> {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                result = &mut work => return Ok(result),
                command = self.commands.recv() => self.on_offline_command(command)?,
            }
        }
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

    /// Serves a command while not connected. `Err` means stop.
    fn on_offline_command(&mut self, command: Option<Command>) -> Result<(), String> {
        match command {
            None => return Err("the client was dropped".into()),
            Some(Command::Close) => return Err("closed by the application".into()),
            Some(Command::Send { reply, .. }) => {
                let _ = reply.send(Err(ClientError::NotConnected));
            }
            Some(Command::Events(events)) => self.events = Some(events),
            Some(Command::Join { room, track, reply }) => {
                // Recorded: the next connect resumes or subscribes it.
                match track {
                    Some(seq) => self.rooms.track(&room, seq),
                    None => self.rooms.view(&room),
                }
                let _ = reply.send(Ok(()));
            }
            Some(Command::Leave { room, reply }) => {
                self.rooms.forget(&room);
                let _ = reply.send(Ok(()));
            }
            Some(Command::AutoReconnect(enabled)) => self.auto_reconnect = enabled,
            Some(Command::Disconnect) => {}
        }
        Ok(())
    }

    /// A fresh `ref` for a frame the SDK sends by itself.
    fn internal_ref(&mut self) -> String {
        self.next_ref += 1;
        format!("tandem-{}", self.next_ref)
    }

    /// Answers pending requests, tracks cursors, drops duplicates, delivers the rest.
    /// `resync_required` collects the rooms the server asked to resync.
    async fn on_frame(&mut self, frame: Value, resync_required: &mut Vec<String>) {
        if let Some(reference) = frame["ref"].as_str()
            && let Some(pending) = self.pending.remove(reference)
        {
            let refused = (frame["type"] == "error").then(|| ClientError::Rejected {
                code: frame["code"].as_str().unwrap_or_default().to_owned(),
                message: frame["message"].as_str().unwrap_or_default().to_owned(),
            });
            if let Some(room) = &pending.joins {
                let code = match &refused {
                    Some(ClientError::Rejected { code, .. }) => Some(code.as_str()),
                    _ => None,
                };
                self.rooms.answered(room, reference, code);
            }
            match (pending.reply, refused) {
                (Reply::Frame(reply), None) => drop(reply.send(Ok(frame))),
                (Reply::Frame(reply), Some(error)) => drop(reply.send(Err(error))),
                (Reply::Done(reply), None) => drop(reply.send(Ok(()))),
                (Reply::Done(reply), Some(error)) => drop(reply.send(Err(error))),
                (Reply::Nobody, None) => {}
                (Reply::Nobody, Some(error)) => {
                    tracing::warn!(room = pending.joins.as_deref(), %error, "the server refused a room on rejoin");
                }
            }
            return;
        }
        if frame["type"] == Event::RESYNC_REQUIRED
            && let Some(room) = frame["room"].as_str()
        {
            self.rooms.set(room, frame["last_seq"].as_i64().unwrap_or(0));
            resync_required.push(room.to_owned());
        } else if let (Some(room), Some(seq)) = (frame["room"].as_str(), frame["seq"].as_i64())
            && !self.rooms.accept(room, seq)
        {
            return; // already delivered, or comes again in the replay under way
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

    /// Runs the `on_reconnected` hooks.
    fn reconnected(&self, info: &ReconnectInfo) {
        let hooks = self.hooks.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for hook in hooks {
            hook(info);
        }
    }

    /// Publishes a state to the watch (current value) and the transition stream.
    fn set_state(&self, state: ConnectionState) {
        let _ = self.transitions.send(state.clone());
        self.state.send_replace(state);
    }

    /// The connection is gone: answers everything still waiting. Unless `stopping`, a
    /// `subscribe`/`track` in flight is done (the room is recorded and joined again on the next
    /// connect), as is an `unsubscribe` (the connection that was in the room is gone).
    fn fail_pending(&mut self, stopping: bool) {
        self.rooms.connection_ended();
        for (_, pending) in self.pending.drain() {
            match pending.reply {
                Reply::Frame(reply) => drop(reply.send(Err(ClientError::NotConnected))),
                Reply::Done(reply) => drop(reply.send(if stopping { Err(ClientError::Closed) } else { Ok(()) })),
                Reply::Nobody => {}
            }
        }
    }

    fn stop(&mut self, reason: String) {
        self.fail_pending(true);
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
