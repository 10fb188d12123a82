//! The WebSocket opening handshake (RFC 6455 §4.2) over hyper's upgrade.
//!
//! Done here rather than with axum's `WebSocketUpgrade`, because that hands out a socket whose TCP
//! stream is out of reach, and a server-initiated close needs the stream: after its close frame
//! the server half-closes the connection and reads what the client still sends (`ws::closing`);
//! dropping a socket with unread data makes the kernel reset the connection, and the reset
//! destroys the close frame before the client reads it; and because the send direction is
//! written without tungstenite (`ws::socket`). The handshake itself is a few header checks and
//! tungstenite's accept key.

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;
use tungstenite::protocol::WebSocketConfig;

use crate::ws::Socket;

/// Why a request to `/ws` is not a WebSocket upgrade (answered with 426).
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// `Connection` does not list `upgrade`.
    #[error("the `Connection` header must contain `upgrade`")]
    ConnectionHeader,
    /// `Upgrade` is not `websocket`.
    #[error("the `Upgrade` header must be `websocket`")]
    UpgradeHeader,
    /// A WebSocket version other than 13.
    #[error("`Sec-WebSocket-Version` must be 13")]
    Version,
    /// No `Sec-WebSocket-Key`.
    #[error("the `Sec-WebSocket-Key` header is missing")]
    KeyMissing,
    /// The connection cannot be taken over (not HTTP/1.1, or already upgraded).
    #[error("this connection cannot be upgraded")]
    NotUpgradable,
}

impl axum::response::IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        super::AppError::from(self).into_response()
    }
}

/// A valid upgrade request, ready to be accepted. The route is `GET` only, so the method is
/// already checked.
#[derive(Debug)]
pub struct Handshake {
    accept_key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = HandshakeError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HandshakeError> {
        let headers = &parts.headers;
        if !lists_token(headers, &CONNECTION, "upgrade") {
            return Err(HandshakeError::ConnectionHeader);
        }
        if !headers.get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket")) {
            return Err(HandshakeError::UpgradeHeader);
        }
        if headers.get(SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
            return Err(HandshakeError::Version);
        }
        let key = headers.get(SEC_WEBSOCKET_KEY).ok_or(HandshakeError::KeyMissing)?;
        let accept_key = tungstenite::handshake::derive_accept_key(key.as_bytes());
        // Base64 text is always a valid header value.
        let accept_key = HeaderValue::try_from(accept_key).map_err(|_| HandshakeError::KeyMissing)?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(HandshakeError::NotUpgradable)?;
        Ok(Self { accept_key, on_upgrade })
    }
}

impl Handshake {
    /// The `101 Switching Protocols` answer. Once hyper has sent it and handed the connection
    /// over, `run` gets the socket (with `config`) in a task on `runtime` tracked by `tasks`;
    /// the socket is registered with that runtime's I/O driver. A client that goes away before
    /// that is simply dropped.
    pub fn accept<F, Fut>(self, config: WebSocketConfig, tasks: &TaskTracker, runtime: &Handle, run: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { accept_key, on_upgrade } = self;
        let session = async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => return tracing::debug!(%error, "WebSocket upgrade did not complete"),
            };
            // `serve` gives hyper plain TCP streams, so the downcast fails only for a
            // connection served some other way (not ours).
            let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
                return tracing::warn!("WebSocket upgrade of a connection that is not TCP; dropped");
            };
            // Moved from the HTTP runtime's I/O driver to this one's.
            let stream = match parts.io.into_inner().into_std().and_then(TcpStream::from_std) {
                Ok(stream) => stream,
                Err(error) => return tracing::debug!(%error, "upgraded connection lost while moving it"),
            };
            run(Socket::new(stream, parts.read_buf, config).await).await;
        };
        tasks.spawn_on(session, runtime);
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept_key);
        response
    }
}

/// Whether the comma-separated header `name` lists `token` (ignoring ASCII case).
fn lists_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    /// The parts of a `GET /ws` with `headers`, and hyper's upgrade handle when `upgradable`.
    fn parts(headers: &[(&str, &str)], upgradable: bool) -> Parts {
        let mut request = Request::get("/ws");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).expect("request").into_parts();
        if upgradable {
            // A handle that never completes; enough to parse the request.
            parts.extensions.insert(hyper::upgrade::on(Request::new(())));
        }
        parts
    }

    const FIREFOX: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[tokio::test]
    async fn a_browser_upgrade_is_accepted_with_the_rfc_accept_key() {
        let handshake = Handshake::from_request_parts(&mut parts(&FIREFOX, true), &()).await.expect("valid");
        // RFC 6455 §1.3's example key and answer.
        assert_eq!(handshake.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[tokio::test]
    async fn each_missing_piece_is_named() {
        let without = |name: &str| FIREFOX.iter().copied().filter(|(n, _)| *n != name).collect::<Vec<_>>();
        let refused = async |headers: &[(&str, &str)], upgradable| {
            Handshake::from_request_parts(&mut parts(headers, upgradable), &()).await.expect_err("refused")
        };
        assert!(matches!(refused(&without("connection"), true).await, HandshakeError::ConnectionHeader));
        assert!(matches!(refused(&without("upgrade"), true).await, HandshakeError::UpgradeHeader));
        assert!(matches!(refused(&without("sec-websocket-version"), true).await, HandshakeError::Version));
        assert!(matches!(refused(&without("sec-websocket-key"), true).await, HandshakeError::KeyMissing));
        assert!(matches!(refused(&FIREFOX, false).await, HandshakeError::NotUpgradable));
        let mut version_8 = without("sec-websocket-version");
        version_8.push(("sec-websocket-version", "8"));
        assert!(matches!(refused(&version_8, true).await, HandshakeError::Version));
    }
}
