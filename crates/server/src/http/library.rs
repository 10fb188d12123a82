//! `/api/v1/users/{id}/playlist` and `/api/v1/users/{id}/followed`: the user-owned library.
//! Owner only (`403` for anyone else); every write is idempotent.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::value::RawValue;
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{Playlist, PlaylistItem, PlaylistItemRequest, UserList};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppError, AppState, AuthUser, JsonBody};
use crate::clock;
use crate::domain::{DomainError, library};
use crate::store::{PlaylistItemRecord, Upserted};

/// Routes of this area, relative to `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_playlist, put_playlist_item))
        .routes(routes!(delete_playlist_item))
        .routes(routes!(list_followed))
        .routes(routes!(follow, unfollow))
}

fn item_to_wire(item: PlaylistItemRecord) -> Result<PlaylistItem, AppError> {
    let data = RawValue::from_string(item.data)
        .map_err(|e| DomainError::Internal(format!("stored playlist item {} is not JSON: {e}", item.item_id)))?;
    Ok(PlaylistItem {
        id: item.item_id,
        data,
        created_at: clock::rfc3339_ms(item.created_at),
        updated_at: clock::rfc3339_ms(item.updated_at),
    })
}

/// The user's playlist, oldest first (owner only).
#[utoipa::path(get, path = "/users/{id}/playlist", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id; must be the caller")),
    responses((status = 200, body = Playlist), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_playlist(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Playlist>, AppError> {
    let items = library::playlist(&state.store, &caller.id, &id).await?;
    Ok(Json(Playlist { items: items.into_iter().map(item_to_wire).collect::<Result<_, _>>()? }))
}

/// Store a playlist item (owner only). Idempotent upsert by `id`: `201` when the id was new
/// (or absent: the server picks one), `200` when an item with that id existed and its data was
/// replaced. Either way the body is the stored item.
#[utoipa::path(post, path = "/users/{id}/playlist", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id; must be the caller")),
    request_body = PlaylistItemRequest,
    responses(
        (status = 201, description = "Created", body = PlaylistItem),
        (status = 200, description = "Replaced (the id existed)", body = PlaylistItem),
        (status = 400, description = "Bad item id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 413, description = "data over 64 KiB serialized", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn put_playlist_item(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<PlaylistItemRequest>,
) -> Result<(StatusCode, Json<PlaylistItem>), AppError> {
    let (outcome, item) =
        library::put_playlist_item(&state.store, &caller.id, &id, request.id.as_deref(), &request.data).await?;
    let status = match outcome {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Replaced => StatusCode::OK,
    };
    Ok((status, Json(item_to_wire(item)?)))
}

/// Remove a playlist item (owner only). `204` whether or not it existed.
#[utoipa::path(delete, path = "/users/{id}/playlist/{item_id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id; must be the caller"), ("item_id" = String, Path, description = "Item id")),
    responses(
        (status = 204, description = "Not in the playlist (any more)"),
        (status = 400, description = "Bad item id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
async fn delete_playlist_item(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, item_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    library::delete_playlist_item(&state.store, &caller.id, &id, &item_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The users the user follows, in the order followed (owner only).
#[utoipa::path(get, path = "/users/{id}/followed", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id; must be the caller")),
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_followed(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserList>, AppError> {
    let users = library::followed(&state.store, &caller.id, &id).await?;
    let users = users
        .into_iter()
        .map(|user| {
            let is_online = state.hub.is_online(&user.id);
            super::users::to_wire(user, is_online)
        })
        .collect();
    Ok(Json(UserList { users }))
}

/// Follow a user (owner only). `204`, also when already followed.
#[utoipa::path(put, path = "/users/{id}/followed/{other_id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id; must be the caller"), ("other_id" = String, Path, description = "The user to follow")),
    responses(
        (status = 204, description = "Followed"),
        (status = 400, description = "Following yourself", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
async fn follow(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, other_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    library::follow(&state.store, &caller.id, &id, &other_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop following a user (owner only). `204`, also when not followed.
#[utoipa::path(delete, path = "/users/{id}/followed/{other_id}", tag = "library", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id; must be the caller"), ("other_id" = String, Path, description = "The user to unfollow")),
    responses(
        (status = 204, description = "Not followed (any more)"),
        (status = 400, description = "Yourself", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
async fn unfollow(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, other_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    library::unfollow(&state.store, &caller.id, &id, &other_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
