//! The browser side the binary serves: the SDK at `/sdk/tandem.js` and its types at
//! `/sdk/tandem.d.ts` (API.md §6).
//!
//! Release builds embed the files of `web/`; debug builds read them from disk on every request, so
//! editing the SDK needs a reload, not a rebuild (rust-embed's default). Responses carry an `ETag`
//! (the file's SHA-256) and `Cache-Control: no-cache`, so browsers revalidate and get a 304 while
//! the file is unchanged.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

use super::{AppError, AppState};

/// The SDK's published files; everything else in `web/sdk/` (tests, tooling) stays out.
#[derive(Embed)]
#[folder = "../../web/sdk/"]
#[include = "tandem.js"]
#[include = "tandem.d.ts"]
struct SdkFiles;

/// `GET /sdk/{file}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/sdk/{file}", get(sdk_file))
}

async fn sdk_file(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    serve::<SdkFiles>(&file, &headers).ok_or(AppError::RouteNotFound)
}

/// One embedded file with its content type and validator, or `None` when `E` has no such file.
fn serve<E: Embed>(path: &str, request: &HeaderMap) -> Option<Response> {
    let file = E::get(path)?;
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let etag = HeaderValue::from_str(&etag).ok()?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type(path))),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag.clone()),
    ];
    if request.get(header::IF_NONE_MATCH) == Some(&etag) {
        return Some((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    Some((headers, file.data.into_owned()).into_response())
}

/// The content type by extension. Set by hand because guessing by extension maps `.ts` to MPEG
/// transport streams.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("ts") => "text/plain; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}
