//! Operations endpoints: liveness, readiness, Prometheus metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tandem_protocol::rest::{BusHealth, HealthStatus};

use super::AppState;

/// How long `/readyz` waits for the store before answering 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// 200 while the process runs. Never touches the store.
async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus::new("ok"))
}

/// 200 when the store answers a query within 2 s, 503 otherwise. In cluster mode the body
/// also reports the bus; a node whose Redis is down stays ready (it serves its connections).
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthStatus>) {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => {
            let bus = state.hub.bus().map(|bus| BusHealth {
                connected: bus.connected,
                reconnects: bus.reconnects,
                backfilled_events: bus.backfilled,
                gaps: bus.gaps,
                malformed_messages: bus.malformed,
                dropped_publications: bus.dropped,
                dead_nodes: bus.dead_nodes,
            });
            (StatusCode::OK, Json(HealthStatus { status: "ready".into(), bus }))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(HealthStatus::new("store unavailable")))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(HealthStatus::new("store timed out"))),
    }
}

/// Prometheus text exposition of every metric the process records.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
