//! One connection's life: authenticate (first frame if needed), register, join rooms, run
//! reader and writer until either ends, unregister, announce presence.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tandem_protocol::ErrorCode;
use tandem_protocol::ws::{ClientFrame, ServerFrame, close_code};
use tokio::time::timeout;

use super::reader;
use super::writer::{self, WriterSettings};
use crate::auth::Credentials;
use crate::domain::{presence, rooms};
use crate::http::AppState;
use crate::hub::{self, Connection, Presence, encode};
use crate::store::UserRecord;

/// How long an unauthenticated connection may take to send its `auth` frame (API.md §2).
const FIRST_FRAME_AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the writer gets to say goodbye after the reader ended.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// What frame handlers see: the connection and the server's state.
pub struct Session {
    /// This connection (its user, queue, rooms).
    pub connection: Arc<Connection>,
    /// Store, hub, configuration.
    pub state: AppState,
}

/// Runs a connection to its end. `user` is set when the upgrade request authenticated.
pub async fn run(socket: WebSocket, user: Option<UserRecord>, state: AppState) {
    let (mut sink, mut stream) = socket.split();
    let user = match user {
        Some(user) => user,
        None => match first_frame_auth(&mut stream, &state).await {
            Ok(user) => user,
            Err(message) => {
                let error = ServerFrame::Error {
                    code: ErrorCode::Unauthorized,
                    message,
                    reference: None,
                };
                let close = CloseFrame {
                    code: close_code::UNAUTHORIZED,
                    reason: Utf8Bytes::from_static("unauthorized"),
                };
                let _ = timeout(WRITER_GRACE, async {
                    let _ = sink.send(Message::Text(encode(&error))).await;
                    let _ = sink.send(Message::Close(Some(close))).await;
                })
                .await;
                return;
            }
        },
    };

    let connection = Arc::new(Connection::new(&user.id, state.config.ws_queue_capacity));
    connection.send(encode(&ServerFrame::Connected {
        user_id: user.id.clone(),
        connection_id: connection.id().to_string(),
        heartbeat_interval_ms: u64::try_from(state.config.heartbeat_interval.as_millis())
            .unwrap_or(u64::MAX),
    }));
    let span = tracing::info_span!("ws", connection = %connection.id(), user = %user.id);
    let _entered = span.enter();
    let metrics = crate::telemetry::ws();
    metrics.connects.increment(1);
    metrics.active.increment(1.0);
    tracing::debug!("connected");

    let came_online = state.hub.registry().register(&connection);
    join_rooms(&state, &connection).await;
    if came_online != Presence::Unchanged {
        let (store, hub, user_id) = (state.store.clone(), state.hub.clone(), user.id.clone());
        state
            .tasks
            .spawn(async move { presence::announce(&store, &hub, &user_id, came_online).await });
    }

    let session = Session {
        connection: connection.clone(),
        state: state.clone(),
    };
    let settings = WriterSettings {
        heartbeat_interval: state.config.heartbeat_interval,
        heartbeat_timeout: state.config.heartbeat_timeout,
        write_timeout: state.config.heartbeat_timeout.max(Duration::from_secs(1)),
    };
    let mut reader = pin!(reader::run(stream, &session));
    let mut writer = pin!(writer::run(sink, &connection, settings, &state.shutdown));
    let reason = tokio::select! {
        reason = &mut reader => {
            connection.queue().close(reason);
            let _ = timeout(WRITER_GRACE, &mut writer).await;
            reason
        }
        reason = &mut writer => reason,
    };

    let went_offline = state.hub.registry().unregister(&connection);
    crate::telemetry::ws_disconnected(reason.as_str());
    tracing::debug!(reason = reason.as_str(), "disconnected");
    presence::announce(&state.store, &state.hub, &user.id, went_offline).await;
}

/// Waits for a first frame `{"type":"auth","token":...}` and authenticates it.
async fn first_frame_auth<S>(stream: &mut S, state: &AppState) -> Result<UserRecord, String>
where
    S: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let first = async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => return Some(text),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    };
    let text = match timeout(FIRST_FRAME_AUTH_TIMEOUT, first).await {
        Ok(Some(text)) => text,
        Ok(None) => return Err("connection closed before authenticating".into()),
        Err(_) => {
            return Err(
                "no auth frame within 5 s; send {\"type\":\"auth\",\"token\":...} first".into(),
            );
        }
    };
    match reader::decode(&text) {
        Ok(message) => match message.frame {
            ClientFrame::Auth { token } => state
                .auth
                .authenticate(Credentials::Token(&token))
                .await
                .map_err(|e| e.to_string()),
            _ => Err("the first frame must be {\"type\":\"auth\",\"token\":...}".into()),
        },
        Err((_, message, _)) => Err(message),
    }
}

/// Subscribes a new connection to its `user:` room and its auto-joined rooms. If a membership
/// change races the store read (the user's membership epoch moved), the read is repeated and
/// auto-joined rooms no longer listed are left, so the connection ends up exactly in its rooms.
async fn join_rooms(state: &AppState, connection: &Arc<Connection>) {
    let registry = state.hub.registry();
    let user_id = connection.user_id();
    registry.subscribe(connection, &hub::user_room(user_id));
    loop {
        let epoch = registry.membership_epoch(user_id);
        match rooms::auto_joined(&state.store, user_id).await {
            Ok(joined) => {
                for stale in connection.rooms_with_prefix(rooms::AUTO_JOINED_PREFIX) {
                    if !joined.iter().any(|room| *room == *stale) {
                        registry.unsubscribe(connection, &stale);
                    }
                }
                for room in &joined {
                    registry.subscribe(connection, room);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the user's rooms; connection joins only its user room")
            }
        }
        if registry.membership_epoch(user_id) == epoch {
            break;
        }
    }
}
