//! The REST surface: one router per API area, merged under `/api/v1`, plus operations routes.
//!
//! [`router`] is used by the binary and by the tests alike. Every handler follows the same path:
//! extract (auth in [`AuthUser`], body in [`JsonBody`]) → a `domain` function → a wire type.
//! Every failure becomes an [`AppError`], the only place errors turn into HTTP responses.

mod canvases;
mod drafts;
mod error;
mod extract;
pub mod handshake;
mod library;
mod messages;
mod middleware;
mod openapi;
mod ops;
mod rooms;
mod threads;
mod users;
mod web;
mod ws_upgrade;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use error::AppError;
pub use extract::{ApiKey, AuthUser, JsonBody, credentials};

pub use crate::state::AppState;

/// The whole HTTP application: `/api/v1/...`, `/api/v1/openapi.json`, `/api/docs`, `/healthz`,
/// `/readyz`, `/metrics`, the browser SDK under `/sdk/`, the web app at `/` (and its deep links),
/// with request ids, tracing, metrics, panic catching, the body limit and CORS (`--cors-origins`).
pub fn router(state: AppState) -> Router {
    let max_body_size = state.config.max_body_size;
    let (api, openapi) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest(
            "/api/v1",
            users::router()
                .merge(library::router())
                .merge(threads::router())
                .merge(messages::router())
                .merge(drafts::router())
                .merge(canvases::router())
                .merge(rooms::router()),
        )
        .split_for_parts();
    let app = api
        .merge(ops::router())
        .route("/ws", axum::routing::get(ws_upgrade::upgrade))
        .merge(web::router())
        .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_size));
    let app = match middleware::cors(&state.config.cors_origins) {
        Some(cors) => app.layer(cors).layer(axum::middleware::map_response(middleware::strip_unallowed_cors)),
        None => app,
    };
    middleware::wrap(app.with_state(state))
}
