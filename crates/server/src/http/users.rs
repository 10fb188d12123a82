//! `/api/v1/users`: sign-up, reading users, changing one's username.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{
    PendingInvite, PendingInviteList, SignUpRequest, SignUpResponse, UpdateUsernameRequest, User, UserList,
};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppError, AppState, AuthUser, JsonBody};
use crate::clock;
use crate::domain::{presence, users};
use crate::store::UserRecord;

/// Routes of this area, relative to `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up, list_collaborators))
        .routes(routes!(me))
        .routes(routes!(search))
        .routes(routes!(my_invites))
        .routes(routes!(get_user))
        .routes(routes!(update_username))
}

/// The wire form of a user. `is_online` comes from live connection state.
pub fn to_wire(user: UserRecord, is_online: bool) -> User {
    User {
        id: user.id,
        username: user.username,
        name: user.name,
        created_at: clock::rfc3339_ms(user.created_at),
        last_online: user.last_online.map(clock::rfc3339_ms),
        is_online,
    }
}

/// Sign up: create a user and get a token for it.
#[utoipa::path(post, path = "/users", tag = "users", request_body = SignUpRequest,
    responses(
        (status = 201, description = "User created", body = SignUpResponse),
        (status = 400, description = "Invalid username or name", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SignUpRequest>,
) -> Result<(StatusCode, Json<SignUpResponse>), AppError> {
    let user = users::sign_up(&state.store, request.username.as_deref(), request.name.as_deref()).await?;
    let token = state.auth.issue(&user.id)?;
    Ok((StatusCode::CREATED, Json(SignUpResponse { user: to_wire(user, false), token })))
}

/// The caller.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<AppState>, AuthUser(user): AuthUser) -> Json<User> {
    let is_online = state.hub.is_online(&user.id);
    Json(to_wire(user, is_online))
}

/// Any user by id.
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (24 hex)")),
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>, AppError> {
    let user = users::get(&state.store, &id).await?;
    let is_online = state.hub.is_online(&user.id);
    Ok(Json(to_wire(user, is_online)))
}

/// Change one's own username (trimmed; 3..=32 of letters, digits, `_ . -`; unique ignoring case).
/// Every collaborator, and the caller's other connections, get `user_profile_updated`.
#[utoipa::path(put, path = "/users/{id}/username", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (24 hex); must be the caller")),
    request_body = UpdateUsernameRequest,
    responses(
        (status = 200, body = User),
        (status = 400, description = "Invalid username", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the caller", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
    ))]
async fn update_username(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateUsernameRequest>,
) -> Result<Json<User>, AppError> {
    let user = users::change_username(&state.store, &state.hub, &caller.id, &id, &request.username).await?;
    let is_online = state.hub.is_online(&user.id);
    Ok(Json(to_wire(user, is_online)))
}

/// Query of `GET /users/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// The start of a username (up to 32 characters, any case). Missing or empty: no match.
    #[serde(default)]
    q: Option<String>,
}

/// Users whose username starts with `q`, ignoring case (at most 10, by username): how the web app
/// finds someone to invite by name.
#[utoipa::path(get, path = "/users/search", tag = "users", security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, body = UserList),
        (status = 400, description = "`q` too long or with characters no username has", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
async fn search(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserList>, AppError> {
    let Query(query) = query?;
    let users = users::search(&state.store, query.q.as_deref().unwrap_or_default()).await?;
    let users = users
        .into_iter()
        .map(|user| {
            let is_online = state.hub.is_online(&user.id);
            to_wire(user, is_online)
        })
        .collect();
    Ok(Json(UserList { users }))
}

/// The caller's pending thread invitations, newest first (what `thread_invitation` announced).
#[utoipa::path(get, path = "/users/me/invites", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = PendingInviteList), (status = 401, body = ErrorBody)))]
async fn my_invites(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<PendingInviteList>, AppError> {
    let invites = users::pending_invites(&state.store, &caller.id).await?;
    let invites = invites
        .into_iter()
        .map(|invite| PendingInvite {
            thread_id: invite.thread_id,
            thread_name: invite.thread_name,
            invited_by: invite.invited_by,
            invited_by_username: invite.invited_by_username,
            created_at: clock::rfc3339_ms(invite.created_at),
        })
        .collect();
    Ok(Json(PendingInviteList { invites }))
}

/// Query of `GET /users`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CollaboratorQuery {
    /// Only collaborators with a live connection.
    #[serde(default)]
    online: bool,
}

/// The caller's collaborators (users sharing a thread, draft or canvas), optionally only the
/// online ones.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    params(CollaboratorQuery),
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody)))]
async fn list_collaborators(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    query: Result<Query<CollaboratorQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserList>, AppError> {
    let Query(query) = query?;
    let users = presence::collaborators(&state.store, &state.hub, &caller.id, query.online).await?;
    let users = users
        .into_iter()
        .map(|user| {
            let is_online = state.hub.is_online(&user.id);
            to_wire(user, is_online)
        })
        .collect();
    Ok(Json(UserList { users }))
}
