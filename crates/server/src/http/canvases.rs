//! `/api/v1/canvases` (seed 004): canvases, members, tiles, likes, chat history.
//!
//! A caller who is not a member of a canvas gets `404` for it and everything under it. Tile
//! writes accept an optional `X-Connection-Id` header (the `connection_id` of the caller's
//! `connected` frame): that connection does not get the write's event live.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{
    AddCanvasMemberRequest, Canvas, CanvasChatHistory, CanvasChatMessage, CreateCanvasRequest, CreateTileRequest, Tile,
    UpdateTileRequest,
};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppError, AppState, AuthUser, JsonBody};
use crate::clock;
use crate::domain::canvases;
use crate::hub::Except;
use crate::store::{CanvasView, TileRecord};

/// The header naming the caller's own connection, which does not get the event live.
pub const CONNECTION_HEADER: &str = "x-connection-id";

/// Routes of this area, relative to `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_canvas))
        .routes(routes!(get_canvas))
        .routes(routes!(add_member))
        .routes(routes!(create_tile))
        .routes(routes!(update_tile))
        .routes(routes!(like_tile))
        .routes(routes!(chat_history))
}

fn tile_to_wire(tile: TileRecord, seq: Option<i64>) -> Tile {
    Tile {
        data: serde_json::from_str(&tile.data).unwrap_or(serde_json::Value::Null),
        id: tile.id,
        canvas_id: tile.canvas_id,
        x: tile.x,
        y: tile.y,
        creator_id: tile.created_by,
        like_count: tile.like_count,
        created_at: clock::rfc3339_ms(tile.created_at),
        updated_at: clock::rfc3339_ms(tile.updated_at),
        seq,
    }
}

fn canvas_to_wire(view: CanvasView) -> Canvas {
    let CanvasView { canvas, members, tiles, seq } = view;
    Canvas {
        id: canvas.id,
        name: canvas.name,
        width: canvas.width,
        height: canvas.height,
        created_by: canvas.created_by,
        created_at: clock::rfc3339_ms(canvas.created_at),
        members,
        tiles: tiles.into_iter().map(|tile| tile_to_wire(tile, None)).collect(),
        seq,
    }
}

fn except(state: &AppState, caller: &str, headers: &HeaderMap) -> Result<Option<Except>, AppError> {
    let header = headers.get(CONNECTION_HEADER).map(|v| v.to_str().unwrap_or("?"));
    Ok(canvases::author_connection(&state.hub, caller, header)?)
}

/// Create a canvas; the caller is its first member.
#[utoipa::path(post, path = "/canvases", tag = "canvases", security(("bearer" = [])), request_body = CreateCanvasRequest,
    responses(
        (status = 201, description = "Canvas created", body = Canvas),
        (status = 400, description = "Name empty or over 100 characters; width or height outside 1..=1000", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Body of the wrong shape", body = ErrorBody),
    ))]
async fn create_canvas(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(request): JsonBody<CreateCanvasRequest>,
) -> Result<(StatusCode, Json<Canvas>), AppError> {
    let view =
        canvases::create(&state.store, &state.hub, &caller, &request.name, request.width, request.height).await?;
    Ok((StatusCode::CREATED, Json(canvas_to_wire(view))))
}

/// One canvas with its members and tiles (members only).
#[utoipa::path(get, path = "/canvases/{id}", tag = "canvases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Canvas id (24 hex)")),
    responses(
        (status = 200, body = Canvas),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such canvas, or not a member", body = ErrorBody),
    ))]
async fn get_canvas(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Canvas>, AppError> {
    Ok(Json(canvas_to_wire(canvases::get(&state.store, &caller.id, &id).await?)))
}

/// Add a member (members only). Only members may read the canvas or subscribe to its room.
#[utoipa::path(post, path = "/canvases/{id}/members", tag = "canvases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Canvas id")),
    request_body = AddCanvasMemberRequest,
    responses(
        (status = 201, description = "Member added; the canvas", body = Canvas),
        (status = 400, description = "user_id is not 24 lowercase hex", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such canvas / not a member, or no such user", body = ErrorBody),
        (status = 409, description = "Already a member", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn add_member(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<AddCanvasMemberRequest>,
) -> Result<(StatusCode, Json<Canvas>), AppError> {
    let view = canvases::add_member(&state.store, &state.hub, &caller.id, &id, &request.user_id).await?;
    Ok((StatusCode::CREATED, Json(canvas_to_wire(view))))
}

/// Create a tile in a free cell. Viewers get `tile_created` (durable), except the connection
/// named in `X-Connection-Id`.
#[utoipa::path(post, path = "/canvases/{id}/tiles", tag = "canvases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Canvas id"),
        ("X-Connection-Id" = Option<String>, Header, description = "The caller's connection_id: it does not get the event live")),
    request_body = CreateTileRequest,
    responses(
        (status = 201, description = "Tile created (with the event's seq)", body = Tile),
        (status = 400, description = "Outside the canvas (0 <= x < width, 0 <= y < height), or a malformed X-Connection-Id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such canvas, or not a member", body = ErrorBody),
        (status = 409, description = "The cell already has a tile", body = ErrorBody),
        (status = 413, description = "Data over 16 KiB serialized", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_tile(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CreateTileRequest>,
) -> Result<(StatusCode, Json<Tile>), AppError> {
    let except = except(&state, &caller.id, &headers)?;
    let (tile, seq) =
        canvases::create_tile(&state.store, &state.hub, &caller.id, &id, (request.x, request.y), &request.data, except)
            .await?;
    Ok((StatusCode::CREATED, Json(tile_to_wire(tile, Some(seq)))))
}

/// Replace a tile's data (its creator only). Viewers get `tile_updated`, except the connection
/// named in `X-Connection-Id`.
#[utoipa::path(put, path = "/canvases/{id}/tiles/{tile_id}", tag = "canvases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Canvas id"), ("tile_id" = String, Path, description = "Tile id"),
        ("X-Connection-Id" = Option<String>, Header, description = "The caller's connection_id")),
    request_body = UpdateTileRequest,
    responses(
        (status = 200, description = "Tile updated (with the event's seq)", body = Tile),
        (status = 400, description = "Malformed X-Connection-Id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the tile's creator", body = ErrorBody),
        (status = 404, description = "No such canvas / not a member, or no such tile", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn update_tile(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, tile_id)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<UpdateTileRequest>,
) -> Result<Json<Tile>, AppError> {
    let except = except(&state, &caller.id, &headers)?;
    let (tile, seq) =
        canvases::update_tile(&state.store, &state.hub, &caller.id, &id, &tile_id, &request.data, except).await?;
    Ok(Json(tile_to_wire(tile, Some(seq))))
}

/// Like a tile (once per user). Viewers get `tile_liked` with `like_count`, except the
/// connection named in `X-Connection-Id`.
#[utoipa::path(post, path = "/canvases/{id}/tiles/{tile_id}/like", tag = "canvases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Canvas id"), ("tile_id" = String, Path, description = "Tile id"),
        ("X-Connection-Id" = Option<String>, Header, description = "The caller's connection_id")),
    responses(
        (status = 200, description = "Liked; the tile with its new like_count", body = Tile),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such canvas / not a member, or no such tile", body = ErrorBody),
        (status = 409, description = "Already liked by the caller", body = ErrorBody),
    ))]
async fn like_tile(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path((id, tile_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Tile>, AppError> {
    let except = except(&state, &caller.id, &headers)?;
    let (tile, seq) = canvases::like_tile(&state.store, &state.hub, &caller.id, &id, &tile_id, except).await?;
    Ok(Json(tile_to_wire(tile, Some(seq))))
}

/// Query of the chat history endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ChatQuery {
    /// Messages, 1..=200 (default 50).
    limit: Option<i64>,
}

/// The newest chat messages, oldest first (members only).
#[utoipa::path(get, path = "/canvases/{id}/chat", tag = "canvases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Canvas id"), ChatQuery),
    responses(
        (status = 200, body = CanvasChatHistory),
        (status = 400, description = "limit outside 1..=200", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such canvas, or not a member", body = ErrorBody),
    ))]
async fn chat_history(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    query: Result<Query<ChatQuery>, QueryRejection>,
) -> Result<Json<CanvasChatHistory>, AppError> {
    let Query(query) = query?;
    let messages = canvases::chat_history(&state.store, &caller.id, &id, query.limit).await?;
    Ok(Json(CanvasChatHistory {
        messages: messages
            .into_iter()
            .map(|m| CanvasChatMessage {
                id: m.id,
                canvas_id: m.canvas_id,
                sender_id: m.user_id,
                sender_username: m.username,
                message_text: m.text,
                created_at: clock::rfc3339_ms(m.created_at),
                seq: m.seq,
            })
            .collect(),
    }))
}
