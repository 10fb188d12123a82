//! Cross-cutting HTTP layers: request ids, a tracing span per request, request metrics,
//! turning panics into the JSON error shape, and CORS for the origins of `--cors-origins`.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::AppError;

/// Wraps the application in the standard layers (outermost first): set `x-request-id` (kept if
/// the client sent one), one `http` span per request carrying it, echo the id in the response,
/// record `http_requests_total` / `http_request_duration_seconds`, catch panics as `500`.
pub fn wrap(app: Router) -> Router {
    app.layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(record_metrics))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id =
                request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for `origins` (API.md §3), or `None` when the list is empty: then no response
/// carries CORS headers. A listed origin's requests get `Access-Control-Allow-Origin` (echoing
/// it, with `Vary: Origin`) and its preflights allow the API's methods and the headers
/// `Authorization`, `Content-Type`, `Idempotency-Key`; any other origin gets no CORS header, so
/// its browser blocks the call. No credentials mode: the API authenticates with bearer tokens,
/// not cookies. Origins that are not valid header values are skipped (the flag's parser already
/// refused malformed ones).
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// Removes every `access-control-*` header from a response that does not allow an origin.
/// tower-http's layer answers any preflight with the allowed methods and headers, only leaving
/// out `Access-Control-Allow-Origin` for an unlisted origin; API.md §3 says such origins get no
/// CORS header at all. Layered outside [`cors`].
pub async fn strip_unallowed_cors(response: Response) -> Response {
    let mut response = response;
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        let names: Vec<HeaderName> =
            headers.keys().filter(|name| name.as_str().starts_with("access-control-")).cloned().collect();
        for name in names {
            headers.remove(name);
        }
    }
    response
}

/// Counts requests and their latency by method, matched route template and status. Only route
/// templates (never raw paths) become labels, so label cardinality stays bounded.
async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    tracing::error!(panic = %message, "handler panicked");
    AppError::Panic.into_response()
}
