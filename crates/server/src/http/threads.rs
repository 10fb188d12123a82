//! `/api/v1/threads`: threads, invitations (by user and by link), membership (messages are
//! in `messages`).
//!
//! A caller who is not a member of a thread gets `404` for it and for everything under it,
//! exactly as for a thread that does not exist; the exceptions are answering one's own
//! invitation and joining with an invite link's code.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{
    AnswerInviteRequest, CreateThreadRequest, Invite, InviteAction, InviteLink, InviteRequest, JoinRequest, Thread,
    ThreadList, ThreadUser,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppError, AppState, AuthUser, JsonBody};
use crate::clock;
use crate::domain::threads::{self, Answer};
use crate::hub::Hub;
use crate::store::{InviteRecord, ThreadView};

/// Routes of this area, relative to `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_thread, list_threads))
        .routes(routes!(get_thread))
        .routes(routes!(invite))
        .routes(routes!(answer_invite))
        .routes(routes!(create_invite_link))
        .routes(routes!(join))
        .routes(routes!(remove_member))
}

/// The wire form of a thread; each member's `is_online` is read from the hub (memory only).
pub fn thread_to_wire(view: ThreadView, hub: &Hub) -> Thread {
    let ThreadView { thread, members, invites, seq } = view;
    Thread {
        id: thread.id,
        name: thread.name,
        created_by: thread.created_by,
        created_at: clock::rfc3339_ms(thread.created_at),
        users: members
            .into_iter()
            .map(|member| ThreadUser {
                is_online: hub.is_online(&member.user_id),
                id: member.user_id,
                username: member.username,
                name: member.name,
                joined_at: clock::rfc3339_ms(member.joined_at),
                last_online: member.last_online.map(clock::rfc3339_ms),
            })
            .collect(),
        invites: invites.into_iter().map(invite_to_wire).collect(),
        seq,
    }
}

fn invite_to_wire(invite: InviteRecord) -> Invite {
    Invite {
        thread_id: invite.thread_id,
        user_id: invite.user_id,
        username: invite.username,
        invited_by: invite.invited_by,
        created_at: clock::rfc3339_ms(invite.created_at),
    }
}

/// Create a thread; the caller is its first member.
#[utoipa::path(post, path = "/threads", tag = "threads", security(("bearer" = [])), request_body = CreateThreadRequest,
    responses(
        (status = 201, description = "Thread created", body = Thread),
        (status = 400, description = "Name empty or over 100 characters", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Body of the wrong shape", body = ErrorBody),
    ))]
async fn create_thread(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(request): JsonBody<CreateThreadRequest>,
) -> Result<(StatusCode, Json<Thread>), AppError> {
    let view = threads::create(&state.store, &state.hub, &caller, &request.name).await?;
    Ok((StatusCode::CREATED, Json(thread_to_wire(view, &state.hub))))
}

/// The caller's threads, newest first, with members and pending invitations.
#[utoipa::path(get, path = "/threads", tag = "threads", security(("bearer" = [])),
    responses((status = 200, body = ThreadList), (status = 401, body = ErrorBody)))]
async fn list_threads(State(state): State<AppState>, AuthUser(caller): AuthUser) -> Result<Json<ThreadList>, AppError> {
    let views = threads::list(&state.store, &caller.id).await?;
    Ok(Json(ThreadList { threads: views.into_iter().map(|view| thread_to_wire(view, &state.hub)).collect() }))
}

/// One thread (members only).
#[utoipa::path(get, path = "/threads/{id}", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id (24 hex)")),
    responses(
        (status = 200, body = Thread),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such thread, or not a member", body = ErrorBody),
    ))]
async fn get_thread(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Thread>, AppError> {
    let view = threads::get(&state.store, &caller.id, &id).await?;
    Ok(Json(thread_to_wire(view, &state.hub)))
}

/// Invite a user (members only). The invitee gets `thread_invitation` on the WebSocket.
#[utoipa::path(post, path = "/threads/{id}/invites", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id")),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "Invitation made", body = Invite),
        (status = 400, description = "user_id is not 24 lowercase hex", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such thread / not a member, or no such user", body = ErrorBody),
        (status = 409, description = "Already a member, or already invited", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn invite(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<InviteRequest>,
) -> Result<(StatusCode, Json<Invite>), AppError> {
    let invite = threads::invite(&state.store, &state.hub, &caller, &id, &request.user_id).await?;
    Ok((StatusCode::CREATED, Json(invite_to_wire(invite))))
}

/// Accept or decline an invitation (the invitee only). Accept answers `200` with the thread and
/// sends `invitation_accepted` to the members; decline answers `204`.
#[utoipa::path(put, path = "/threads/{id}/invites/{user_id}", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id"), ("user_id" = String, Path, description = "The invitee; must be the caller")),
    request_body = AnswerInviteRequest,
    responses(
        (status = 200, description = "Accepted: the thread, now with the caller as a member", body = Thread),
        (status = 204, description = "Declined"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A member answering someone else's invitation", body = ErrorBody),
        (status = 404, description = "No such invitation (or thread)", body = ErrorBody),
        (status = 409, description = "Already a member", body = ErrorBody),
        (status = 422, description = "action is not accept or decline", body = ErrorBody),
    ))]
async fn answer_invite(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, user_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<AnswerInviteRequest>,
) -> Result<Response, AppError> {
    let answer = match request.action {
        InviteAction::Accept => Answer::Accept,
        InviteAction::Decline => Answer::Decline,
    };
    match threads::answer_invite(&state.store, &state.hub, &caller, &id, &user_id, answer).await? {
        Some(view) => Ok(Json(thread_to_wire(view, &state.hub)).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Make a shareable invite link (members only): a 128-bit random code and a deep link, absolute
/// when the server runs with `--public-url`, relative otherwise.
#[utoipa::path(post, path = "/threads/{id}/invite-link", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id")),
    responses(
        (status = 201, body = InviteLink),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such thread, or not a member", body = ErrorBody),
    ))]
async fn create_invite_link(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<InviteLink>), AppError> {
    let code = threads::create_invite_link(&state.store, &caller.id, &id).await?;
    let base = state.config.public_url.as_deref().unwrap_or_default();
    let url = format!("{base}/join/{id}?code={code}");
    Ok((StatusCode::CREATED, Json(InviteLink { code, url })))
}

/// Join a thread with an invite link's code. Members get `invitation_accepted`.
#[utoipa::path(post, path = "/threads/{id}/join", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id")),
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Joined: the thread", body = Thread),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Wrong code, or no such thread (the same answer)", body = ErrorBody),
        (status = 409, description = "Already a member", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn join(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<JoinRequest>,
) -> Result<Json<Thread>, AppError> {
    let view = threads::join_with_code(&state.store, &state.hub, &caller, &id, &request.code).await?;
    Ok(Json(thread_to_wire(view, &state.hub)))
}

/// Leave a thread (`user_id` is the caller) or remove a member (the thread's creator only).
/// The remaining members get `participant_left`.
#[utoipa::path(delete, path = "/threads/{id}/users/{user_id}", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id"), ("user_id" = String, Path, description = "The member to remove")),
    responses(
        (status = 204, description = "No longer a member"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Removing someone else without being the creator", body = ErrorBody),
        (status = 404, description = "No such thread / caller not a member, or target not a member", body = ErrorBody),
    ))]
async fn remove_member(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    threads::remove_member(&state.store, &state.hub, &caller.id, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
