//! Gzip for the files the server embeds (app modules, styles, the SDK): they are text and
//! compress to about a quarter, which keeps the app's first load small without a build step.
//! Each file is compressed once per process, keyed by its SHA-256, so a debug build that reads
//! edited files from disk gets a fresh entry and a release build compresses each file once.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use axum::http::{HeaderMap, header};
use flate2::Compression;
use flate2::write::GzEncoder;

/// Smaller files are sent as they are: the gzip header would eat the gain.
const MIN_SIZE: usize = 1024;

/// Compressed bodies by the SHA-256 of their source.
type Cache = Mutex<HashMap<[u8; 32], Arc<[u8]>>>;

/// Every file compressed so far (a handful: the app's and the SDK's files).
static CACHE: LazyLock<Cache> = LazyLock::new(Default::default);

/// Whether the request's `Accept-Encoding` accepts gzip (a `q=0` refuses it).
pub fn accepted(request: &HeaderMap) -> bool {
    let Some(value) = request.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q == 0.0)));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// Whether a file of this content type and size is worth compressing.
pub fn worth_it(content_type: &str, len: usize) -> bool {
    len >= MIN_SIZE
        && (content_type.starts_with("text/")
            || content_type.starts_with("application/json")
            || content_type == "image/svg+xml")
}

/// `data` gzipped (from the cache when this `hash` was compressed before), or `None` if the
/// encoder failed (the caller then sends the file as it is).
pub fn compressed(hash: [u8; 32], data: &[u8]) -> Option<Arc<[u8]>> {
    if let Some(hit) = CACHE.lock().unwrap_or_else(PoisonError::into_inner).get(&hash) {
        return Some(Arc::clone(hit));
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::best());
    encoder.write_all(data).ok()?;
    let body: Arc<[u8]> = encoder.finish().ok()?.into();
    CACHE.lock().unwrap_or_else(PoisonError::into_inner).insert(hash, Arc::clone(&body));
    Some(body)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).expect("header value"));
        headers
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepted(&with("gzip, deflate, br, zstd")));
        assert!(accepted(&with("br;q=1.0, gzip;q=0.8")));
        assert!(accepted(&with("*")));
        assert!(!accepted(&with("gzip;q=0")));
        assert!(!accepted(&with("br, identity")));
        assert!(!accepted(&HeaderMap::new()));
    }

    #[test]
    fn text_is_compressed_once_and_round_trips() {
        use std::io::Read;
        let text = "export const x = 1;\n".repeat(200);
        assert!(worth_it("text/javascript; charset=utf-8", text.len()));
        assert!(!worth_it("image/png", text.len()));
        assert!(!worth_it("text/css", 10));
        let first = compressed([7; 32], text.as_bytes()).expect("gzip");
        let again = compressed([7; 32], b"ignored: served from the cache").expect("gzip");
        assert!(Arc::ptr_eq(&first, &again));
        let mut back = String::new();
        flate2::read::GzDecoder::new(&first[..]).read_to_string(&mut back).expect("gunzip");
        assert_eq!(back, text);
        assert!(first.len() < text.len() / 4);
    }
}
