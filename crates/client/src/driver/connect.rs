//! One connect attempt, each step bounded: the token, TCP and TLS (connect timeout), the
//! WebSocket upgrade (handshake timeout), the `connected` frame (handshake timeout again).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tandem_protocol::ws::close_code::UNAUTHORIZED;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{percent_encode, websocket_config};
use crate::config::DEFAULT_HEARTBEAT_INTERVAL;
use crate::{ClientConfig, TokenSource};

/// A WebSocket to the server, over TLS or not.
pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    /// The token provider took longer than the connect timeout.
    #[error("the token provider did not answer within {0:?}")]
    TokenTimeout(Duration),
    /// The base URL does not give a usable WebSocket URL.
    #[error("bad server URL: {0}")]
    Url(String),
    /// TCP connect (with name resolution) and TLS did not finish in time.
    #[error("TCP/TLS connect did not complete within {0:?}")]
    ConnectTimeout(Duration),
    /// TCP connect or TLS failed.
    #[error("connect failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server did not answer the upgrade request in time.
    #[error("the server did not answer the WebSocket upgrade within {0:?}")]
    UpgradeTimeout(Duration),
    /// The upgrade succeeded but `connected` did not come in time.
    #[error("no `connected` frame within {0:?} of the upgrade")]
    ConnectedTimeout(Duration),
    /// The server refused the credentials (HTTP 401/403 or close 4401): stop.
    #[error("the server refused the credentials ({0})")]
    Unauthorized(String),
    /// The upgrade was refused otherwise, or the socket failed before `connected`.
    #[error("WebSocket: {0}")]
    WebSocket(Box<WsError>),
    /// The server closed before `connected`.
    #[error("the connection ended before `connected`")]
    Closed,
    /// Something other than `connected` came first.
    #[error("the first frame was not `connected`: {0}")]
    Unexpected(String),
}

/// Everything an attempt needs, owned, so it runs while the driver serves commands.
pub(super) struct Attempt {
    ws_url: String,
    token: TokenSource,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    resume: BTreeMap<String, i64>,
}

/// An open connection that said `connected`.
pub(super) struct Established {
    pub socket: Socket,
    /// From `connected`.
    pub user_id: String,
    /// From `connected` (or the server default when it names none).
    pub heartbeat_interval: Duration,
    /// The cursors given at connect.
    pub resumed_with: BTreeMap<String, i64>,
}

impl Attempt {
    /// An attempt for `config`, resuming from `resume`.
    pub(super) fn new(config: &ClientConfig, tls: Arc<rustls::ClientConfig>, resume: BTreeMap<String, i64>) -> Self {
        Self {
            ws_url: config.ws_url(),
            token: config.token.clone(),
            tls,
            connect_timeout: config.connect_timeout,
            handshake_timeout: config.handshake_timeout,
            resume,
        }
    }

    /// Asks for the token, then connects. Returns the token (for long polls, when it came)
    /// and the outcome.
    pub(super) async fn run(self) -> (Option<String>, Result<Established, ConnectError>) {
        let Ok(token) = timeout(self.connect_timeout, self.token.token()).await else {
            return (None, Err(ConnectError::TokenTimeout(self.connect_timeout)));
        };
        let result = self.open(&token).await;
        (Some(token), result)
    }

    async fn open(self, token: &str) -> Result<Established, ConnectError> {
        let mut url = format!("{}?token={}", self.ws_url, percent_encode(token));
        if !self.resume.is_empty() {
            let cursors = serde_json::to_string(&self.resume).unwrap_or_default();
            url.push_str(&format!("&resume={}", percent_encode(&cursors)));
        }
        let request = url.as_str().into_client_request().map_err(|e| ConnectError::Url(e.to_string()))?;
        let uri = request.uri();
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(ConnectError::Url(format!("`{}` is not http(s)://host[:port]", self.ws_url))),
        };
        let host = uri.host().ok_or_else(|| ConnectError::Url("no host".into()))?;
        // IPv6 literals come bracketed in URLs, not in socket addresses or TLS names.
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });

        let transport = transport(self.tls.clone(), &host, port, tls);
        let stream = timeout(self.connect_timeout, transport)
            .await
            .map_err(|_| ConnectError::ConnectTimeout(self.connect_timeout))??;
        let upgrade = tokio_tungstenite::client_async_with_config(request, stream, Some(websocket_config()));
        let (mut socket, _) = match timeout(self.handshake_timeout, upgrade).await {
            Err(_) => return Err(ConnectError::UpgradeTimeout(self.handshake_timeout)),
            Ok(Err(WsError::Http(response))) if matches!(response.status().as_u16(), 401 | 403) => {
                return Err(ConnectError::Unauthorized(response.status().to_string()));
            }
            Ok(Err(error)) => return Err(ConnectError::WebSocket(Box::new(error))),
            Ok(Ok(upgraded)) => upgraded,
        };
        let connected = timeout(self.handshake_timeout, first_frame(&mut socket))
            .await
            .map_err(|_| ConnectError::ConnectedTimeout(self.handshake_timeout))??;
        let heartbeat_interval = connected["heartbeat_interval_ms"]
            .as_u64()
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_HEARTBEAT_INTERVAL, Duration::from_millis);
        Ok(Established {
            socket,
            user_id: connected["user_id"].as_str().unwrap_or_default().to_owned(),
            heartbeat_interval,
            resumed_with: self.resume,
        })
    }
}

/// TCP to `host:port`, then TLS when `tls`.
async fn transport(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    tls: bool,
) -> Result<MaybeTlsStream<TcpStream>, ConnectError> {
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    if !tls {
        return Ok(MaybeTlsStream::Plain(tcp));
    }
    let name = ServerName::try_from(host.to_owned()).map_err(|e| ConnectError::Url(format!("`{host}`: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
    Ok(MaybeTlsStream::Rustls(stream))
}

/// Reads until the first text frame, which must be `connected`.
async fn first_frame(socket: &mut Socket) -> Result<Value, ConnectError> {
    while let Some(message) = socket.next().await {
        match message.map_err(|e| ConnectError::WebSocket(Box::new(e)))? {
            Message::Text(text) => {
                let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if frame["type"] == "connected" {
                    return Ok(frame);
                }
                return Err(ConnectError::Unexpected(text.chars().take(200).collect()));
            }
            Message::Close(close) => {
                if close.is_some_and(|c| u16::from(c.code) == UNAUTHORIZED) {
                    return Err(ConnectError::Unauthorized(UNAUTHORIZED.to_string()));
                }
                return Err(ConnectError::Closed);
            }
            _ => {} // pings before `connected`
        }
    }
    Err(ConnectError::Closed)
}
