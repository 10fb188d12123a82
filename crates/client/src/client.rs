//! The application's handle: events, handlers, sending, state, lifecycle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::driver::Driver;
use crate::{ClientConfig, ConnectionState, Event, ReconnectInfo};

/// Why a request to the client failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// There is no live connection right now (the frame was not sent).
    #[error("not connected")]
    NotConnected,
    /// The server did not answer the frame's `ref` in time.
    #[error("no answer within the send timeout")]
    Timeout,
    /// The server answered with an `error` frame.
    #[error("server refused the frame: {code}: {message}")]
    Rejected {
        /// The error `code`.
        code: String,
        /// The human message.
        message: String,
    },
    /// The frame is not a JSON object with a `type`.
    #[error("a frame is a JSON object with a \"type\"")]
    InvalidFrame,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

/// A handler registered with [`Client::on`].
pub(crate) type Handler = Arc<dyn Fn(&Event) + Send + Sync>;
/// Handlers by event type.
pub(crate) type Handlers = Arc<RwLock<HashMap<String, Vec<Handler>>>>;
/// A hook registered with [`Client::on_reconnected`].
pub(crate) type ReconnectHook = Arc<dyn Fn(&ReconnectInfo) + Send + Sync>;
/// Every registered reconnect hook.
pub(crate) type ReconnectHooks = Arc<RwLock<Vec<ReconnectHook>>>;

/// What the handle asks the connection task.
pub(crate) enum Command {
    /// An application frame, answered by its `ack`/`error`.
    Send {
        frame: Value,
        reply: oneshot::Sender<Result<Value, ClientError>>,
    },
    /// Start delivering events to this stream.
    Events(mpsc::Sender<Event>),
    /// View `room` (`subscribe`); with `track`, first set its cursor to that seq.
    Join {
        room: String,
        track: Option<i64>,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    /// Stop viewing `room`.
    Leave {
        room: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    AutoReconnect(bool),
    Disconnect,
    Close,
}

/// A connected (or connecting) Tandem client. Dropping it closes the connection.
pub struct Client {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<ConnectionState>,
    transitions: broadcast::Sender<ConnectionState>,
    handlers: Handlers,
    hooks: ReconnectHooks,
    next_ref: AtomicU64,
    send_timeout: Duration,
    event_buffer: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("state", &*self.state.borrow()).finish_non_exhaustive()
    }
}

impl Client {
    /// Starts connecting in the background (needs a Tokio runtime) and returns at once.
    pub fn connect(config: ClientConfig) -> Self {
        let (commands, command_rx) = mpsc::channel(64);
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let (transitions, _) = broadcast::channel(64);
        let handlers = Handlers::default();
        let hooks = ReconnectHooks::default();
        let client = Self {
            commands,
            state,
            transitions: transitions.clone(),
            handlers: handlers.clone(),
            hooks: hooks.clone(),
            next_ref: AtomicU64::new(1),
            send_timeout: config.send_timeout,
            event_buffer: config.event_buffer.max(1),
        };
        // The task owns the connection and ends when the handle is dropped (its command
        // channel closes) or closed; it is not detached work that outlives the client.
        tokio::spawn(Driver::new(config, command_rx, state_tx, transitions, handlers, hooks).run());
        client
    }

    /// A stream of every event (durable ones deduplicated, in order per room). Call it once,
    /// early: events before the call reach only handlers. The connection task waits when the
    /// stream's buffer is full, so read it.
    pub async fn events(&self) -> mpsc::Receiver<Event> {
        let (sender, receiver) = mpsc::channel(self.event_buffer);
        let _ = self.commands.send(Command::Events(sender)).await;
        receiver
    }

    /// Calls `handler` for every event of type `kind` (seed 000's `registerMessageHandler`).
    /// Handlers run on the connection task: keep them short.
    pub fn on(&self, kind: &str, handler: impl Fn(&Event) + Send + Sync + 'static) {
        let mut handlers = self.handlers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        handlers.entry(kind.to_owned()).or_default().push(Arc::new(handler));
    }

    /// Calls `hook` after each successful reconnect (every WebSocket session after the first),
    /// once the replay of missed events is complete: every replayed event has been delivered
    /// to handlers and the stream before it runs, and the state is `Reconnected` (then `Live`).
    /// This is the place to refetch by REST what a replay cannot restore (seed 000's "data sync
    /// after reconnect"): ephemeral state such as presence, the rooms in
    /// [`ReconnectInfo::resync_required`] and [`ReconnectInfo::rejoined_without_cursor`].
    /// Hooks run on the connection task: keep them short (spawn the refetch).
    pub fn on_reconnected(&self, hook: impl Fn(&ReconnectInfo) + Send + Sync + 'static) {
        let mut hooks = self.hooks.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        hooks.push(Arc::new(hook));
    }

    /// Views `room` (a `draft:` or `canvas:` room, or any room the user may join): sends
    /// `subscribe` (with `after` = the room's cursor when one is known, so nothing after it is
    /// missed) and joins it again on every reconnect. `Ok` once the server acknowledged the join,
    /// or, while not connected, once the room is recorded (it is joined when the connection
    /// is up). `Err(Rejected)` if the server refused it; the room is then forgotten.
    pub async fn subscribe(&self, room: &str) -> Result<(), ClientError> {
        self.join(room, None).await
    }

    /// Records "I have everything in `room` up to `seq`", e.g. the `seq` of a Thread, Draft or
    /// Canvas just read by REST, and views the room: the SDK delivers exactly the room's
    /// durable events after `seq` (each once, in order), now and across reconnects. The cursor
    /// becomes `seq` even when events after it were delivered already (they come again, since
    /// the object the application loaded predates them). When connected, this sends `subscribe`
    /// with `after: seq` and returns once the server acknowledged it, that is once the replay
    /// of the events after `seq` has been delivered; otherwise it returns once recorded and the
    /// next connect resumes from `seq`. `Err(Rejected)` if the server refused the room (it is
    /// then forgotten). `Err(Timeout)` after the send timeout (a long replay) does not undo
    /// the tracking: the replay goes on and its events are delivered.
    pub async fn track(&self, room: &str, seq: i64) -> Result<(), ClientError> {
        self.join(room, Some(seq)).await
    }

    /// Stops viewing `room`: it is no longer joined on reconnect, and for a `draft:` or
    /// `canvas:` room an `unsubscribe` is sent (when connected) and the cursor dropped.
    /// Membership rooms (`user:`, `thread:`) cannot be left and keep delivering. `Ok` once done
    /// (for a viewed room, once the server acknowledged it), `Err(Rejected)` with the server's
    /// answer otherwise (e.g. `not_found` when this connection was not in the room).
    pub async fn unsubscribe(&self, room: &str) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        self.request(Command::Leave { room: room.to_owned(), reply }, answer).await
    }

    async fn join(&self, room: &str, track: Option<i64>) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        self.request(Command::Join { room: room.to_owned(), track, reply }, answer).await
    }

    /// Sends `command` and waits up to the send timeout for its answer.
    async fn request(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<(), ClientError>>,
    ) -> Result<(), ClientError> {
        self.commands.send(command).await.map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(self.send_timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// Sends a frame (`{"type": ..., ...}`) with a fresh `ref` and waits for the server's
    /// `ack` (returned) or `error` (as [`ClientError::Rejected`]), up to the send timeout.
    /// A `subscribe` frame sent this way counts as [`Client::subscribe`] (with its `after`, as
    /// [`Client::track`]), and an `unsubscribe` frame as [`Client::unsubscribe`].
    pub async fn send(&self, mut frame: Value) -> Result<Value, ClientError> {
        let Some(object) = frame.as_object_mut().filter(|o| o.get("type").is_some_and(Value::is_string)) else {
            return Err(ClientError::InvalidFrame);
        };
        let reference = format!("c{}", self.next_ref.fetch_add(1, Ordering::Relaxed));
        object.insert("ref".into(), Value::from(reference));
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Send { frame, reply }).await.map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(self.send_timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::NotConnected),
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// Watches the current connection state (a watch only keeps the latest value: a short
    /// state such as `Reconnected` may be replaced before it is seen; use
    /// [`Client::state_changes`] for every transition).
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Every state transition from now on, in order (a receiver that lags more than 64
    /// transitions behind skips the oldest).
    pub fn state_changes(&self) -> broadcast::Receiver<ConnectionState> {
        self.transitions.subscribe()
    }

    /// Drops the current connection; the client reconnects if auto-reconnect is on (seed's
    /// `disconnect()`).
    pub async fn disconnect(&self) {
        let _ = self.commands.send(Command::Disconnect).await;
    }

    /// Closes for good (seed's `disconnect(permanent: true)`); the state becomes `Stopped`.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }

    /// Turns automatic reconnection on or off; turning it on while offline reconnects.
    pub async fn set_auto_reconnect(&self, enabled: bool) {
        let _ = self.commands.send(Command::AutoReconnect(enabled)).await;
    }
}
