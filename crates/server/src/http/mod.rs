//! The REST surface: one router per API area, merged under `/api/v1`, plus operations routes.
//!
//! [`router`] is used by the binary and by the tests alike. Every handler follows the same path:
//! extract (auth in [`AuthUser`], body in [`JsonBody`]) → a `domain` function → a wire type.
//! Every failure becomes an [`AppError`], the only place errors turn into HTTP responses.

mod canvases;
mod drafts;
mod error;
mod extract;
mod library;
mod middleware;
mod openapi;
mod ops;
mod rooms;
mod threads;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use error::AppError;
pub use extract::{ApiKey, AuthUser, JsonBody, credentials};

use crate::auth::Authenticator;
use crate::config::ServeConfig;
use crate::hub::Hub;
use crate::store::Store;

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The data store.
    pub store: Store,
    /// Token issue/verify and caller resolution.
    pub auth: Arc<Authenticator>,
    /// The configuration the server started with.
    pub config: Arc<ServeConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Live connections, rooms and fan-out.
    pub hub: Hub,
    /// Tracks every connection and background task so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// This node's canvas viewers and their typing/editing state (seed 004).
    pub canvas_activity: Arc<crate::domain::canvas_activity::Activity>,
    /// Cancelled when the server starts shutting down (sockets close with 1001).
    pub shutdown: CancellationToken,
}

/// The whole HTTP application: `/api/v1/...`, `/api/v1/openapi.json`, `/api/docs`, `/healthz`,
/// `/readyz`, `/metrics`, with request ids, tracing, metrics, panic catching and the body limit.
pub fn router(state: AppState) -> Router {
    let max_body_size = state.config.max_body_size;
    let (api, openapi) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest(
            "/api/v1",
            users::router()
                .merge(library::router())
                .merge(threads::router())
                .merge(drafts::router())
                .merge(canvases::router())
                .merge(rooms::router()),
        )
        .split_for_parts();
    let app = api
        .merge(ops::router())
        .merge(crate::ws::router())
        .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_size))
        .with_state(state);
    middleware::wrap(app)
}
