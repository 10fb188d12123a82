//! Client frame handlers, one module per concern. Adding a frame type means a variant in
//! `tandem_protocol::ws::ClientFrame`, a function in the module of its concern, and one arm here
//! (live-activity frames are routed to `activity` as a group, so a new one needs no arm).

mod activity;
mod canvas;
mod keepalive;
mod presence;
mod rooms;

use tandem_protocol::room::Room;
use tandem_protocol::ws::{ClientFrame, ServerFrame};

use super::session::Session;
use crate::domain::DomainError;

/// What a handler answers besides the `ack` for a `ref`.
#[derive(Debug)]
pub enum Reply {
    /// Nothing but the ack.
    Done,
    /// A frame for this connection (e.g. `online_users`).
    Frame(ServerFrame),
}

/// Announces this connection as a viewer of `room` after it joined the room through resume
/// cursors, as `subscribe` does: the other users get `user_joined` if this is the user's first
/// connection there, and this connection gets `canvas_viewers`. Rooms other than canvases need
/// nothing. A failure is logged; the room stays joined either way.
pub async fn viewer_resumed(session: &Session, room: &Room) {
    match canvas::after_subscribe(session, room).await {
        Ok(Reply::Frame(frame)) => {
            session.connection.send(crate::hub::encode(&frame));
        }
        Ok(Reply::Done) => {}
        Err(error) => tracing::warn!(%room, %error, "could not announce a resumed viewer"),
    }
}

/// Routes one decoded frame to its handler.
pub async fn dispatch(session: &Session, frame: ClientFrame) -> Result<Reply, DomainError> {
    match frame {
        ClientFrame::Subscribe { room, after } => rooms::subscribe(session, &room, after).await,
        ClientFrame::Resume { rooms: cursors } => rooms::resume(session, &cursors).await,
        ClientFrame::Unsubscribe { room } => rooms::unsubscribe(session, &room),
        ClientFrame::ListUsers => presence::list_users(session).await,
        ClientFrame::Ping => Ok(keepalive::ping()),
        ClientFrame::Pong => Ok(Reply::Done),
        ClientFrame::CanvasChat { room, text } => canvas::chat(session, &room, &text).await,
        frame @ (ClientFrame::Typing { .. } | ClientFrame::Cursor { .. } | ClientFrame::UserPresence { .. }) => {
            activity::handle(session, frame)
        }
        ClientFrame::TileMention { room, tile_x, tile_y, message, duration, highlight_type } => {
            canvas::mention(session, &room, (tile_x, tile_y), &message, duration, &highlight_type)
        }
        ClientFrame::Auth { .. } => Err(DomainError::Invalid("this connection is already authenticated".into())),
    }
}
