//! `/api/v1/threads/{id}/messages`: post, page through, edit and delete a thread's messages
//! (members only; `404` for everyone else, as for a thread that does not exist).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{Message, MessageList, PostMessageRequest};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppError, AppState, AuthUser, JsonBody};
use crate::clock;
use crate::domain::{DomainError, messages};
use crate::store::MessageRecord;

/// Routes of this area, relative to `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_message, list_messages)).routes(routes!(edit_message, delete_message))
}

fn message_to_wire(message: MessageRecord) -> Result<Message, AppError> {
    let snapshot = RawValue::from_string(message.snapshot)
        .map_err(|e| DomainError::Internal(format!("stored snapshot of message {} is not JSON: {e}", message.id)))?;
    Ok(Message {
        id: message.id,
        thread_id: message.thread_id,
        user_id: message.user_id,
        snapshot,
        created_at: clock::rfc3339_ms(message.created_at),
        updated_at: message.updated_at.map(clock::rfc3339_ms),
    })
}

/// Post a message (members only). Every member connection gets `message_created`.
#[utoipa::path(post, path = "/threads/{id}/messages", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id")),
    request_body = PostMessageRequest,
    responses(
        (status = 201, description = "Posted", body = Message),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such thread, or not a member", body = ErrorBody),
        (status = 413, description = "Snapshot over 64 KiB serialized (or body over --max-body-size)", body = ErrorBody),
        (status = 422, description = "No snapshot", body = ErrorBody),
    ))]
async fn post_message(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<PostMessageRequest>,
) -> Result<(StatusCode, Json<Message>), AppError> {
    let message = messages::post(&state.store, &state.hub, &caller.id, &id, request.snapshot).await?;
    Ok((StatusCode::CREATED, Json(message_to_wire(message)?)))
}

/// Query of the messages endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// Only messages older than this message (its id), for the next page.
    before: Option<String>,
    /// Messages per page, 1..=100 (default 50).
    limit: Option<i64>,
}

/// A page of a thread's messages, newest first (members only).
#[utoipa::path(get, path = "/threads/{id}/messages", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id"), MessagesQuery),
    responses(
        (status = 200, body = MessageList),
        (status = 400, description = "limit outside 1..=100, or not a number", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such thread / not a member, or `before` is not a message of it", body = ErrorBody),
    ))]
async fn list_messages(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<MessageList>, AppError> {
    let Query(query) = query?;
    let page = messages::page(&state.store, &caller.id, &id, query.before.as_deref(), query.limit).await?;
    let messages = page.into_iter().map(message_to_wire).collect::<Result<_, _>>()?;
    Ok(Json(MessageList { messages }))
}

/// Replace a message's snapshot (its author only). Every member connection gets the durable
/// `message_updated`.
#[utoipa::path(patch, path = "/threads/{id}/messages/{message_id}", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id"), ("message_id" = String, Path, description = "Message id")),
    request_body = PostMessageRequest,
    responses(
        (status = 200, description = "Edited", body = Message),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the message's author", body = ErrorBody),
        (status = 404, description = "No such thread / not a member, or no such message in it", body = ErrorBody),
        (status = 413, description = "Snapshot over 64 KiB serialized", body = ErrorBody),
        (status = 422, description = "No snapshot", body = ErrorBody),
    ))]
async fn edit_message(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, message_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<PostMessageRequest>,
) -> Result<Json<Message>, AppError> {
    let message = messages::edit(&state.store, &state.hub, &caller.id, &id, &message_id, request.snapshot).await?;
    Ok(Json(message_to_wire(message)?))
}

/// Delete a message (its author or the thread's creator); it is gone from the history. Every
/// member connection gets the durable `message_deleted`.
#[utoipa::path(delete, path = "/threads/{id}/messages/{message_id}", tag = "threads", security(("bearer" = [])),
    params(("id" = String, Path, description = "Thread id"), ("message_id" = String, Path, description = "Message id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Neither the author nor the thread's creator", body = ErrorBody),
        (status = 404, description = "No such thread / not a member, or no such message in it", body = ErrorBody),
    ))]
async fn delete_message(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    messages::delete(&state.store, &state.hub, &caller.id, &id, &message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
