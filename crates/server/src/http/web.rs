//! The browser side the binary serves: the SDK at `/sdk/tandem.js` and its types at
//! `/sdk/tandem.d.ts` (API.md §6), and the web app (API.md §7): its page at `/` and at every deep
//! link (`/threads/{id}`, `/drafts/{id}`, `/canvases/{id}`, `/join/{id}`, `/library`, ...), its
//! modules and styles under `/app/`. The app has no build step: `web/app/src/` is served as is.
//!
//! App responses carry a Content-Security-Policy that allows only the server itself (scripts,
//! styles, fetch and the WebSocket), forbids framing, and `nosniff` / `no-referrer` (invite links
//! carry their code in the query string, which must not leak in a `Referer`).
//!
//! Release builds embed the files of `web/`; debug builds read them from disk on every request, so
//! editing the SDK needs a reload, not a rebuild (rust-embed's default). Responses carry an `ETag`
//! (the file's SHA-256) and `Cache-Control: no-cache`, so browsers revalidate and get a 304 while
//! the file is unchanged; text files are gzipped for clients that accept it ([`gzip`]).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

use super::{AppError, AppState};

mod gzip;

/// The SDK's published files; everything else in `web/sdk/` (tests, tooling) stays out.
#[derive(Embed)]
#[folder = "../../web/sdk/"]
#[include = "tandem.js"]
#[include = "tandem.d.ts"]
struct SdkFiles;

/// The web app: `index.html`, its ES modules and CSS (its tests and tooling live outside `src/`).
#[derive(Embed)]
#[folder = "../../web/app/src/"]
struct AppFiles;

/// The app's page; every client-side route answers with it.
const APP_PAGE: &str = "index.html";

/// Client-side routes of the app that open it on an object (or a list). Any other path outside
/// `/api`, `/sdk`, `/app` keeps the JSON 404.
const APP_ROUTES: [&str; 9] = [
    "/",
    "/threads",
    "/threads/{id}",
    "/drafts",
    "/drafts/{id}",
    "/canvases",
    "/canvases/{id}",
    "/join/{id}",
    "/library",
];

/// What the app may load: only this server (`'self'` covers its `ws:`/`wss:` origin too), no
/// inline script, no plugins, no framing, forms only to itself.
const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /sdk/{file}`, `GET /app/{*path}` and the app's page at its routes.
pub fn router() -> Router<AppState> {
    let router = Router::new().route("/sdk/{file}", get(sdk_file)).route("/app/{*path}", get(app_file));
    APP_ROUTES.iter().fold(router, |router, path| router.route(path, get(app_page)))
}

async fn sdk_file(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    serve::<SdkFiles>(&file, &headers).ok_or(AppError::RouteNotFound)
}

async fn app_file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let response = serve::<AppFiles>(&path, &headers).ok_or(AppError::RouteNotFound)?;
    Ok(with_app_headers(response))
}

async fn app_page(headers: HeaderMap) -> Result<Response, AppError> {
    let response = serve::<AppFiles>(APP_PAGE, &headers).ok_or(AppError::RouteNotFound)?;
    Ok(with_app_headers(response))
}

/// Adds the app's security headers (see the module docs).
fn with_app_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// One embedded file with its content type and validator, gzipped when the client accepts it
/// and it is text worth compressing, or `None` when `E` has no such file. The gzipped variant has
/// its own `ETag` (`Vary: Accept-Encoding`), so a cache never mixes the two.
fn serve<E: Embed>(path: &str, request: &HeaderMap) -> Option<Response> {
    let file = E::get(path)?;
    let hash = file.metadata.sha256_hash();
    let content_type = content_type(path);
    let gzipped = if gzip::accepted(request) && gzip::worth_it(content_type, file.data.len()) {
        gzip::compressed(hash, &file.data)
    } else {
        None
    };
    let etag = format!("\"{}{}\"", hex::encode(hash), if gzipped.is_some() { "-gzip" } else { "" });
    let etag = HeaderValue::from_str(&etag).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::ETAG, etag.clone());
    if gzipped.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if request.get(header::IF_NONE_MATCH) == Some(&etag) {
        return Some((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let body = match gzipped {
        Some(body) => body.to_vec(),
        None => file.data.into_owned(),
    };
    Some((headers, body).into_response())
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
