//! `list_users` → `online_users`.

use tandem_protocol::ws::{OnlineUser, ServerFrame};

use super::Reply;
use crate::clock;
use crate::domain::{DomainError, presence};
use crate::ws::session::Session;

/// The caller's collaborators who are online now.
pub async fn list_users(session: &Session) -> Result<Reply, DomainError> {
    let state = &*session.context;
    let users = presence::collaborators(&state.store, &state.hub, session.connection.user_id(), true).await?;
    let users = users.into_iter().map(|u| OnlineUser { id: u.id, username: u.username, name: u.name }).collect();
    Ok(Reply::Frame(ServerFrame::OnlineUsers { users, timestamp: clock::now_ms() }))
}
