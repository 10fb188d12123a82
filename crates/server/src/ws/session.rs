//! One connection's life: authenticate (first frame if needed), register, join rooms, run
//! reader and writer until either ends, unregister, announce presence.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::Either;
use serde_json::Value;
use tandem_protocol::ErrorCode;
use tandem_protocol::room::{Room, RoomKind};
use tandem_protocol::ws::{ClientFrame, Cursors, ServerFrame, close_code};
use tokio::time::timeout;
use tracing::Instrument;
use tungstenite::Message;

use super::context::Context;
use super::socket::{Incoming, Outgoing, Pending, Socket};
use super::writer::{self, WriterSettings};
use super::{closing, handlers, reader, recovery};
use crate::auth::Credentials;
use crate::domain::{DomainError, presence, rooms};
use crate::hub::{CloseReason, Connection, Frame, Transition, encode};
use crate::store::UserRecord;

/// How long an unauthenticated connection may take to send its `auth` frame (API.md §2).
const FIRST_FRAME_AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the writer gets to say goodbye after the reader ended.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// What frame handlers see: the connection, its user and the transport's [`Context`].
pub struct Session {
    /// This connection (its user, queue, rooms).
    pub connection: Arc<Connection>,
    /// The user as it was when the connection opened (what others see in activity frames).
    pub user: Arc<UserRecord>,
    /// Store, hub, settings: what the transport may reach of the server.
    pub context: Arc<Context>,
    /// Width and height of each canvas this connection views, read once at subscribe, so that
    /// ephemeral canvas frames are checked without a store query.
    pub canvases: std::sync::Mutex<Vec<(Room, (i64, i64))>>,
}

/// What the upgrade request read for an authenticated connection.
pub struct Opening {
    /// The user.
    pub user: UserRecord,
    /// The user's rooms, read with it.
    pub rooms: RoomsRead,
}

/// A user's rooms as read from the store, with the user's membership epoch taken before the
/// read ([`Hub::membership_epoch`](crate::hub::Hub::membership_epoch)).
pub struct RoomsRead {
    /// The epoch before the read.
    pub epoch: u64,
    /// The rooms the user was a member of, sorted.
    pub rooms: Vec<Room>,
}

/// Runs a connection to its end. `opening` is set when the upgrade request authenticated;
/// otherwise the first frame must be `auth` (whose `resume` cursors then replace `cursors`).
///
/// Not an `async fn`: an async fn keeps a slot for each argument in every state, so the socket
/// would sit in each connection's task twice (as `run`'s argument and inside `live`), 1.1 KB
/// per connection. The common path returns `live`'s future itself; the first-frame path,
/// rare, is boxed.
pub fn run(
    socket: Socket,
    opening: Option<Box<Opening>>,
    cursors: Cursors,
    context: Arc<Context>,
) -> impl Future<Output = ()> + Send {
    let Socket { incoming, outgoing } = socket;
    match opening {
        Some(opening) => {
            let Opening { user, rooms } = *opening;
            Either::Left(start(incoming, outgoing, user, Some(rooms), None, cursors, context))
        }
        None => Either::Right(Box::pin(authenticate_first(incoming, outgoing, context))),
    }
}

/// A connection that must authenticate with its first frame: refused, or then as any other.
async fn authenticate_first(mut incoming: Incoming, outgoing: Outgoing, context: Arc<Context>) {
    match first_frame_auth(&mut incoming, &context).await {
        Ok((user, auth_ref, cursors)) => start(incoming, outgoing, user, None, auth_ref, cursors, context).await,
        Err(refusal) => {
            refuse(&outgoing, refusal).await;
            closing::finish_within(incoming, outgoing, closing::DRAIN_TIME).await;
        }
    }
}

/// Creates the hub's connection for `user` and returns the rest of its life ([`live`]).
fn start(
    incoming: Incoming,
    outgoing: Outgoing,
    user: UserRecord,
    rooms: Option<RoomsRead>,
    auth_ref: Option<Value>,
    cursors: Cursors,
    context: Arc<Context>,
) -> impl Future<Output = ()> + Send {
    let connection = context.hub.connection(&user.id, context.settings.queue_capacity);
    let span = tracing::info_span!("ws", connection = %connection.id(), user = %user.id);
    let session = Session { connection, user: Arc::new(user), context, canvases: std::sync::Mutex::default() };
    live(incoming, outgoing, session, rooms, auth_ref, cursors).instrument(span)
}

/// The authenticated part of a connection's life.
async fn live(
    mut incoming: Incoming,
    outgoing: Outgoing,
    session: Session,
    rooms: Option<RoomsRead>,
    auth_ref: Option<Value>,
    cursors: Cursors,
) {
    // Borrowed, not cloned: every byte here is in each connection's task (docs/BENCHMARKS.md).
    let (connection, ctx) = (&session.connection, &*session.context);
    let user_id = connection.user_id().to_owned();
    connection.send(encode(&ServerFrame::Connected {
        user_id: user_id.clone(),
        connection_id: connection.id().to_string(),
        heartbeat_interval_ms: u64::try_from(ctx.settings.heartbeat_interval.as_millis()).unwrap_or(u64::MAX),
    }));
    if let Some(reference) = auth_ref {
        connection.send(encode(&ServerFrame::Ack { reference }));
    }
    let metrics = crate::telemetry::ws();
    metrics.connects.increment(1);
    metrics.active.increment(1.0);
    tracing::debug!("connected");

    let came_online = ctx.hub.connect(connection);
    let cursors = Box::pin(prepare_resume(ctx, connection, cursors)).await;
    if let Err(e) = Box::pin(join_rooms(ctx, connection, rooms)).await {
        // Running without its rooms would silently miss their events: close, and let the
        // client reconnect and resume once the store answers again.
        tracing::warn!(error = %e, "could not load the user's rooms; closing with 1013");
        connection.queue().close(CloseReason::Unavailable);
    }
    for (room, after) in &cursors {
        // Viewed rooms given with a cursor are joined too (user: and thread: ones already are).
        ctx.hub.subscribe_after(connection, room, Some(*after));
    }
    if came_online != Transition::Unchanged {
        let (store, hub, user_id) = (ctx.store.clone(), ctx.hub.clone(), user_id.clone());
        ctx.tasks.spawn(async move { presence::announce(&store, &hub, &user_id, came_online).await });
    }

    let settings = WriterSettings {
        heartbeat_interval: ctx.settings.heartbeat_interval,
        heartbeat_timeout: ctx.settings.heartbeat_timeout,
        write_timeout: ctx.settings.heartbeat_timeout.max(Duration::from_secs(1)),
        write_delay: ctx.settings.write_delay,
    };
    let reason = {
        // The cursors' history is replayed before the first client frame is read; the writer
        // runs meanwhile, so live events wait (held back per room) only while their room replays.
        let mut reader = pin!(async {
            for (room, after) in &cursors {
                Box::pin(recovery::replay(&ctx.store, &ctx.hub, &session.connection, room, *after)).await;
                // A viewer that comes back is announced again (API.md §4).
                if let Ok(room) = Room::parse(room) {
                    Box::pin(handlers::viewer_resumed(&session, &room)).await;
                }
            }
            reader::run(&mut incoming, &session).await
        });
        let mut writer = pin!(writer::run(&outgoing, connection, settings, &ctx.shutdown));
        tokio::select! {
            reason = &mut reader => {
                connection.queue().close(reason);
                let _ = timeout(WRITER_GRACE, &mut writer).await;
                reason
            }
            reason = &mut writer => reason,
        }
    };

    let rooms = connection.rooms();
    let went_offline = ctx.hub.disconnect(connection);
    for room in rooms.iter().filter_map(|room| Room::parse(room).ok()) {
        // The others see this user's activity end (and the viewer leave, if it was their last
        // connection there) at once.
        ctx.hub.activity().left(&room, &user_id);
    }
    crate::telemetry::ws_disconnected(reason.as_str());
    tracing::debug!(reason = reason.as_str(), "disconnected");
    let grace = ctx.settings.presence_grace;
    if went_offline != Transition::Unchanged && reason.is_lost() && !grace.is_zero() {
        // A lost connection is often back within seconds (network change, server restart,
        // reconnect storm): tell collaborators only if it stays away for the grace period.
        // A reconnect meanwhile overtakes this announcement, and then nothing is said at all.
        let ctx = session.context.clone();
        ctx.tasks.clone().spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(grace) => {}
                () = ctx.shutdown.cancelled() => {}
            }
            presence::announce(&ctx.store, &ctx.hub, &user_id, went_offline).await;
        });
    } else {
        Box::pin(presence::announce(&ctx.store, &ctx.hub, &user_id, went_offline)).await;
    }
    // Last, so that presence is not held up by a client that takes its time to close.
    Box::pin(closing::finish(incoming, outgoing, reason)).await;
}

/// Why a connection was not admitted: the message for the `error` frame, the frame's `ref`,
/// and the close code.
struct Refusal {
    message: String,
    reference: Option<Value>,
    close_code: u16,
}

impl Refusal {
    fn unauthorized(message: impl Into<String>, reference: Option<Value>) -> Self {
        Self { message: message.into(), reference, close_code: close_code::UNAUTHORIZED }
    }
}

/// Sends the refusal's `error` frame (not for a shutdown) and its close frame.
async fn refuse(outgoing: &Outgoing, refusal: Refusal) {
    let mut pending = Pending::default();
    let unauthorized = refusal.close_code == close_code::UNAUTHORIZED;
    if unauthorized {
        let error = ServerFrame::Error {
            code: ErrorCode::Unauthorized,
            message: refusal.message,
            reference: refusal.reference,
        };
        pending.frames.push_back(encode(&error));
    }
    let reason = if unauthorized { "unauthorized" } else { "server shutting down" };
    pending.frames.push_back(Frame::close(refusal.close_code, reason));
    outgoing.write_within(&mut pending, WRITER_GRACE).await;
}

/// Keeps the cursors of rooms the user may receive and starts their recovery (before the
/// connection joins them); each refused room gets an `error` frame naming it.
async fn prepare_resume(ctx: &Context, connection: &Connection, cursors: Cursors) -> Cursors {
    let mut allowed = Cursors::new();
    for (room, after) in cursors {
        let authorized = match Room::parse(&room) {
            Ok(parsed) => rooms::authorize(&ctx.store, connection.user_id(), &parsed).await,
            Err(e) => Err(e.into()),
        };
        match authorized {
            Ok(()) => {
                connection.begin_recovery(&room);
                allowed.insert(room, after);
            }
            Err(e) => {
                let message = format!("cannot resume `{room}`: {e}");
                connection.send(encode(&ServerFrame::Error { code: e.code(), message, reference: None }));
            }
        }
    }
    allowed
}

/// Waits (at most 5 s, and not past shutdown) for `{"type":"auth","token":...}` and
/// authenticates it. Returns the user, the frame's `ref` and its resume cursors.
async fn first_frame_auth(
    stream: &mut Incoming,
    ctx: &Context,
) -> Result<(UserRecord, Option<Value>, Cursors), Refusal> {
    let first = async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => {
                    return Err("frames are JSON text; send {\"type\":\"auth\",\"token\":...}");
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err("connection closed before authenticating");
                }
                Some(Err(_)) => {
                    return Err("unreadable or oversized first frame; send {\"type\":\"auth\",\"token\":...}");
                }
            }
        }
    };
    let text = tokio::select! {
        first = timeout(FIRST_FRAME_AUTH_TIMEOUT, first) => match first {
            Ok(Ok(text)) => text,
            Ok(Err(message)) => return Err(Refusal::unauthorized(message, None)),
            Err(_) => return Err(Refusal::unauthorized("no auth frame within 5 s; send {\"type\":\"auth\",\"token\":...} first", None)),
        },
        () = ctx.shutdown.cancelled() => {
            return Err(Refusal { message: String::new(), reference: None, close_code: close_code::GOING_AWAY });
        }
    };
    let message = reader::decode(&text).map_err(|(_, message, reference)| Refusal::unauthorized(message, reference))?;
    let ClientFrame::Auth { token, resume } = message.frame else {
        return Err(Refusal::unauthorized(
            "the first frame must be {\"type\":\"auth\",\"token\":...}",
            message.reference,
        ));
    };
    match ctx.auth.authenticate(Credentials::Token(&token)).await {
        Ok(user) => Ok((user, message.reference, resume.unwrap_or_default())),
        Err(e) => Err(Refusal::unauthorized(e.to_string(), message.reference)),
    }
}

/// Subscribes a new connection to its `user:` room and its threads, and tells presence all
/// the user's rooms. If a membership change races the store read (the user's membership epoch
/// moved), the read is repeated and threads no longer listed are left, so the connection ends
/// up exactly in its rooms. `read` is a first read made with the user (the upgrade's); without
/// it the rooms are read here. Fails if the store cannot list the rooms.
async fn join_rooms(
    ctx: &Context,
    connection: &Arc<Connection>,
    mut read: Option<RoomsRead>,
) -> Result<(), DomainError> {
    let hub = &ctx.hub;
    let user_id = connection.user_id();
    rooms::subscribe(&ctx.store, hub, connection, &Room::user(user_id)).await?;
    loop {
        let (epoch, member_of) = match read.take() {
            Some(RoomsRead { epoch, rooms }) => (epoch, rooms),
            None => (hub.membership_epoch(user_id), rooms::member_rooms(&ctx.store, user_id).await?),
        };
        let threads: Vec<&Room> = member_of.iter().filter(|room| room.kind() == RoomKind::Thread).collect();
        for stale in connection.rooms() {
            let is_thread = Room::parse(&stale).is_ok_and(|room| room.kind() == RoomKind::Thread);
            if is_thread && !threads.iter().any(|room| room.as_str() == &*stale) {
                hub.unsubscribe(connection, &stale);
            }
        }
        for room in &threads {
            rooms::subscribe(&ctx.store, hub, connection, room).await?;
        }
        if hub.membership_epoch(user_id) == epoch {
            let names: Vec<Box<str>> = member_of.iter().map(|room| Box::from(room.as_str())).collect();
            hub.presence().set_rooms(user_id, &names);
            return Ok(());
        }
    }
}
