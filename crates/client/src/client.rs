//! The application's handle: events, handlers, sending, state, lifecycle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::driver::Driver;
use crate::{ClientConfig, ConnectionState, Event};

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

/// What the handle asks the connection task.
pub(crate) enum Command {
    Send { frame: Value, reply: oneshot::Sender<Result<Value, ClientError>> },
    Subscribe(mpsc::Sender<Event>),
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
        let client = Self {
            commands,
            state,
            transitions: transitions.clone(),
            handlers: handlers.clone(),
            next_ref: AtomicU64::new(1),
            send_timeout: config.send_timeout,
            event_buffer: config.event_buffer.max(1),
        };
        tokio::spawn(Driver::new(config, command_rx, state_tx, transitions, handlers).run());
        client
    }

    /// A stream of every event (durable ones deduplicated, in order per room). Call it once,
    /// early: events before the call reach only handlers. The connection task waits when the
    /// stream's buffer is full, so read it.
    pub async fn events(&self) -> mpsc::Receiver<Event> {
        let (sender, receiver) = mpsc::channel(self.event_buffer);
        let _ = self.commands.send(Command::Subscribe(sender)).await;
        receiver
    }

    /// Calls `handler` for every event of type `kind` (seed 000's `registerMessageHandler`).
    /// Handlers run on the connection task: keep them short.
    pub fn on(&self, kind: &str, handler: impl Fn(&Event) + Send + Sync + 'static) {
        let mut handlers = self.handlers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        handlers.entry(kind.to_owned()).or_default().push(Arc::new(handler));
    }

    /// Sends a frame (`{"type": ..., ...}`) with a fresh `ref` and waits for the server's
    /// `ack` (returned) or `error` (as [`ClientError::Rejected`]), up to the send timeout.
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
