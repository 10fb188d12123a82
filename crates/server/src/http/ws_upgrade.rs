//! `GET /ws`: Origin check, authentication, tuned upgrade; then the connection is the
//! WebSocket transport's (`ws::run`).

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::ORIGIN;
use axum::response::Response;
use serde::Deserialize;
use tandem_protocol::ws::Cursors;

use super::handshake::{Handshake, HandshakeError};
use super::{AppError, AppState, credentials};
use crate::domain::{DomainError, users};
use crate::ws::{Opening, RoomsRead};

/// Query parameters of `/ws`.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    /// Bearer token, for browsers (which cannot set headers on a WebSocket).
    token: Option<String>,
    /// Resume cursors: URL-encoded JSON `{"room": last_seq, ...}`.
    resume: Option<String>,
}

/// Refuses foreign browser origins (403) and bad credentials (401) before upgrading; without
/// credentials the connection must authenticate with its first frame. With them, the user and
/// its rooms are read here, in one query.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<WsQuery>,
    upgrade: Result<Handshake, HandshakeError>,
) -> Result<Response, AppError> {
    check_origin(&state.config.allowed_origins, &headers)?;
    let upgrade = upgrade?;
    let cursors: Cursors = match query.resume.as_deref() {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| DomainError::Invalid(format!("`resume` must be a JSON object of room → seq: {e}")))?,
        None => Cursors::new(),
    };
    let opening = match credentials(&headers, query.token.as_deref())? {
        Some(credentials) => {
            let (user_id, name) = state.auth.identify(credentials)?;
            // Taken before the read, so that a membership change racing it is noticed.
            let epoch = state.hub.membership_epoch(&user_id);
            let (user, rooms) = users::provision_with_rooms(&state.store, &user_id, name.as_deref()).await?;
            // Boxed: it waits inside every connection's task until the upgrade completes
            // (inline it cost 1.1 KiB of RSS per idle connection, docs/BENCHMARKS.md).
            Some(Box::new(Opening { user, rooms: RoomsRead { epoch, rooms } }))
        }
        None => None,
    };
    let config = crate::ws::socket_config(state.config.max_frame_size);
    let context = state.ws.clone();
    Ok(upgrade.accept(config, &state.tasks, &state.ws.runtime, move |socket| {
        crate::ws::run(socket, opening, cursors, context)
    }))
}

/// With `--allowed-origins` set, a request carrying an `Origin` (every browser does) must match
/// one of them exactly (ignoring ASCII case). Requests without `Origin` are not from browsers
/// and pass.
fn check_origin(allowed: &[String], headers: &HeaderMap) -> Result<(), AppError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    if allowed.is_empty() {
        return Ok(());
    }
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    if allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(format!("origin `{origin}` is not allowed to open WebSockets")).into())
    }
}
