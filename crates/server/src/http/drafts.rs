//! `/api/v1/drafts`: drafts with a baton (seed 003).
//!
//! A caller who is not a collaborator of a draft gets `404` for it and everything under it,
//! exactly as for a draft that does not exist. Only the ring holder may append or pass the ring
//! (`409 not_ring_holder` for other collaborators).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{
    AddCollaboratorRequest, AppendSegmentRequest, CreateDraftRequest, Draft, DraftCollaborator, PassRingRequest,
    Segment,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppError, AppState, AuthUser, JsonBody};
use crate::clock;
use crate::domain::drafts;
use crate::store::{DraftView, SegmentRecord};

/// Routes of this area, relative to `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_draft))
        .routes(routes!(get_draft))
        .routes(routes!(append_segment))
        .routes(routes!(pass_ring))
        .routes(routes!(add_collaborator))
}

fn segment_to_wire(segment: SegmentRecord) -> Segment {
    Segment {
        id: segment.id,
        content: segment.content,
        author_user_id: segment.author_id,
        position: segment.position,
        created_at: clock::rfc3339_ms(segment.created_at),
    }
}

/// The wire form of a draft.
pub fn draft_to_wire(view: DraftView) -> Draft {
    let DraftView { draft, collaborators, segments, seq } = view;
    Draft {
        id: draft.id,
        title: draft.title,
        owner_id: draft.owner_id,
        ring_holder_id: draft.ring_holder_id,
        created_at: clock::rfc3339_ms(draft.created_at),
        collaborators: collaborators
            .into_iter()
            .map(|c| DraftCollaborator {
                id: c.user_id,
                username: c.username,
                name: c.name,
                joined_at: clock::rfc3339_ms(c.joined_at),
            })
            .collect(),
        segments: segments.into_iter().map(segment_to_wire).collect(),
        seq,
    }
}

/// Create a draft; the caller is its owner, first collaborator and ring holder. The room
/// `draft:{id}` gets `collab.draft_created`.
#[utoipa::path(post, path = "/drafts", tag = "drafts", security(("bearer" = [])), request_body = CreateDraftRequest,
    responses(
        (status = 201, description = "Draft created", body = Draft),
        (status = 400, description = "Title empty or over 200 characters", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Body of the wrong shape", body = ErrorBody),
    ))]
async fn create_draft(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(request): JsonBody<CreateDraftRequest>,
) -> Result<(StatusCode, Json<Draft>), AppError> {
    let view = drafts::create(&state.store, &state.hub, &caller, &request.title).await?;
    Ok((StatusCode::CREATED, Json(draft_to_wire(view))))
}

/// One draft with collaborators and segments (collaborators only); also the polling
/// fallback's read.
#[utoipa::path(get, path = "/drafts/{id}", tag = "drafts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Draft id (24 hex)")),
    responses(
        (status = 200, body = Draft),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such draft, or not a collaborator", body = ErrorBody),
    ))]
async fn get_draft(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Draft>, AppError> {
    Ok(Json(draft_to_wire(drafts::get(&state.store, &caller.id, &id).await?)))
}

/// Append a segment (ring holder only). Subscribed viewers get `collab.segment_added`.
#[utoipa::path(post, path = "/drafts/{id}/segments", tag = "drafts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Draft id")),
    request_body = AppendSegmentRequest,
    responses(
        (status = 201, description = "Segment appended", body = Segment),
        (status = 400, description = "Content empty or only whitespace", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such draft, or not a collaborator", body = ErrorBody),
        (status = 409, description = "`not_ring_holder`: the caller does not hold the ring", body = ErrorBody),
        (status = 413, description = "Content over 10000 characters", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn append_segment(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<AppendSegmentRequest>,
) -> Result<(StatusCode, Json<Segment>), AppError> {
    let segment = drafts::append_segment(&state.store, &state.hub, &caller.id, &id, &request.content).await?;
    Ok((StatusCode::CREATED, Json(segment_to_wire(segment))))
}

/// Pass the ring (holder only) to another collaborator. Subscribed viewers get
/// `collab.ring_passed`. Answers the draft after the pass.
#[utoipa::path(post, path = "/drafts/{id}/ring", tag = "drafts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Draft id")),
    request_body = PassRingRequest,
    responses(
        (status = 200, description = "Ring passed", body = Draft),
        (status = 400, description = "Target malformed, not a collaborator, or the caller", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such draft, or not a collaborator", body = ErrorBody),
        (status = 409, description = "`not_ring_holder`: the caller does not hold the ring", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn pass_ring(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<PassRingRequest>,
) -> Result<Json<Draft>, AppError> {
    let view = drafts::pass_ring(&state.store, &state.hub, &caller.id, &id, &request.to_user_id).await?;
    Ok(Json(draft_to_wire(view)))
}

/// Add a collaborator (any collaborator may). Subscribed viewers get
/// `collab.collaborator_added`. Answers the draft after the change.
#[utoipa::path(post, path = "/drafts/{id}/collaborators", tag = "drafts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Draft id")),
    request_body = AddCollaboratorRequest,
    responses(
        (status = 201, description = "Collaborator added", body = Draft),
        (status = 400, description = "user_id is not 24 lowercase hex", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such draft / not a collaborator, or no such user", body = ErrorBody),
        (status = 409, description = "Already a collaborator", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn add_collaborator(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<AddCollaboratorRequest>,
) -> Result<(StatusCode, Json<Draft>), AppError> {
    let view = drafts::add_collaborator(&state.store, &state.hub, &caller.id, &id, &request.user_id).await?;
    Ok((StatusCode::CREATED, Json(draft_to_wire(view))))
}
