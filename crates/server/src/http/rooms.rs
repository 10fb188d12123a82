//! `/api/v1/rooms/{room}`: event history with long polling (the polling fallback), and the
//! server publish API.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{EventPage, PublishedEvent};
use tandem_protocol::room::Room;
use tokio::time::{Instant, sleep_until};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiKey, AppError, AppState, AuthUser, JsonBody};
use crate::domain::{DomainError, events, rooms};

/// Longest long poll.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Default and largest page.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// Routes of this area, relative to `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(room_events)).routes(routes!(publish))
}

/// Query of the events endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Return events with a greater seq (default 0: from the oldest kept).
    #[serde(default)]
    after: i64,
    /// Long poll: wait up to this long (`25s`, `500ms`; at most 60 s) for an event when there is
    /// none yet. Without it the answer is immediate.
    wait: Option<String>,
    /// Most events per answer (default 100, at most 1000).
    limit: Option<i64>,
}

/// Durable events of a room after a cursor, oldest first; with `wait`, a long poll that answers
/// as soon as one is published (on this node) or when the wait ends (with no events).
#[utoipa::path(get, path = "/rooms/{room}/events", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path, description = "e.g. thread:abc"), EventsQuery),
    responses(
        (status = 200, body = EventPage),
        (status = 400, description = "Bad room name, wait or limit", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Not a member, or no such room", body = ErrorBody),
    ))]
async fn room_events(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(room): Path<String>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventPage>, AppError> {
    let Query(query) = query?;
    let room = Room::parse(&room).map_err(DomainError::from)?;
    rooms::authorize(&state.store, &caller.id, &room).await?;
    let wait = match query.wait.as_deref() {
        Some(text) => crate::config::parse_duration(text).map_err(DomainError::Invalid)?,
        None => Duration::ZERO,
    };
    if wait > MAX_WAIT {
        return Err(DomainError::Invalid("wait is at most 60s".into()).into());
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(DomainError::Invalid(format!("limit must be 1 to {MAX_LIMIT}")).into());
    }
    let deadline = Instant::now() + wait;
    let metrics = crate::telemetry::events();
    let mut watch = None;
    loop {
        // Armed before reading, so an event published in between still wakes us.
        let woken = state.hub.durable_delivery(&room);
        tokio::pin!(woken);
        woken.as_mut().enable();
        let log = state.store.room_log(&room).await.map_err(DomainError::from)?;
        if query.after > log.last_seq || query.after < log.pruned_through {
            metrics.resyncs.increment(1);
            return Ok(Json(page(room.into(), Vec::new(), log.last_seq, true)));
        }
        let found = state.store.events_after(&room, query.after, limit).await.map_err(DomainError::from)?;
        if !found.is_empty() || Instant::now() >= deadline {
            // An event committed between the two reads is in `found`: the head is never behind it.
            let last_seq = found.last().map_or(log.last_seq, |event| event.seq.max(log.last_seq));
            let events = found
                .into_iter()
                .map(|event| serde_json::value::RawValue::from_string(event.frame))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AppError::Domain(DomainError::Internal(format!("stored event is not JSON: {e}"))))?;
            return Ok(Json(page(room.into(), events, last_seq, false)));
        }
        // From the first park on, this node gets the room's events even with no connection
        // in it (in a cluster, from whichever node commits them).
        watch.get_or_insert_with(|| state.hub.watch(&room, log.last_seq));
        metrics.long_polls_parked.increment(1.0);
        tokio::select! {
            () = &mut woken => {}
            () = sleep_until(deadline) => {}
            () = state.shutdown.cancelled() => {}
        }
        metrics.long_polls_parked.decrement(1.0);
        if state.shutdown.is_cancelled() {
            return Ok(Json(page(room.into(), Vec::new(), log.last_seq, false)));
        }
    }
}

fn page(
    room: String,
    events: Vec<Box<serde_json::value::RawValue>>,
    last_seq: i64,
    resync_required: bool,
) -> EventPage {
    EventPage { room, events, last_seq, resync_required }
}

/// Server publish API: an app backend (authenticated by `--api-key`) publishes its own
/// durable event `{"type": ..., ...}` into a room; it gets the next seq like any other.
#[utoipa::path(post, path = "/rooms/{room}/publish", tag = "rooms", security(("api_key" = [])),
    params(("room" = String, Path, description = "e.g. thread:abc")),
    request_body(content = Object, description = "The event: a JSON object with a string `type`"),
    responses(
        (status = 201, body = PublishedEvent),
        (status = 400, description = "Bad room or type", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 422, description = "Not a JSON object", body = ErrorBody),
    ))]
async fn publish(
    State(state): State<AppState>,
    _key: ApiKey,
    Path(room): Path<String>,
    JsonBody(event): JsonBody<Map<String, Value>>,
) -> Result<(StatusCode, Json<PublishedEvent>), AppError> {
    let room = Room::parse(&room).map_err(DomainError::from)?;
    let published = events::publish_from_backend(&state.store, &state.hub, &room, event).await?;
    Ok((
        StatusCode::CREATED,
        Json(PublishedEvent { room: room.into(), seq: published.seq, timestamp: published.timestamp }),
    ))
}
