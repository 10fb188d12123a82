//! Load-generator WebSocket clients: the SDK's tuned socket settings, spread over 127.0.0.x
//! source addresses.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// A connected client socket.
pub type Socket = WebSocketStream<TcpStream>;

/// The `index`-th source address: 127.0.0.2, 127.0.0.3, ... cycling over `source_ips`, so
/// the ephemeral port range of one address never runs out.
pub fn source_ip(index: usize, source_ips: usize) -> Ipv4Addr {
    let offset = u8::try_from(index % source_ips.clamp(1, 250)).unwrap_or(0);
    Ipv4Addr::new(127, 0, 0, 2 + offset)
}

/// Opens a WebSocket to `server` from `source` with `?token=` and reads the `connected` frame.
pub async fn connect(server: SocketAddr, source: Ipv4Addr, token: &str) -> anyhow::Result<Socket> {
    connect_with_query(server, source, &format!("token={token}")).await
}

/// Like [`connect`] with a full query string (e.g. `token=...&resume=...`).
pub async fn connect_with_query(server: SocketAddr, source: Ipv4Addr, query: &str) -> anyhow::Result<Socket> {
    if !server.ip().is_loopback() {
        bail!("refusing to load a non-loopback address: {server}");
    }
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}/ws?{query}");
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(tandem_client::websocket_config())).await?;
    let first = ws.next().await.context("closed before `connected`")??;
    let Message::Text(text) = first else { bail!("first frame is not text") };
    let frame: Value = serde_json::from_str(&text)?;
    if frame["type"] != "connected" {
        bail!("first frame is {frame}");
    }
    Ok(ws)
}

/// Signs up `count` users over REST and returns their tokens.
pub async fn sign_up(server: SocketAddr, count: usize, prefix: &str) -> anyhow::Result<Vec<String>> {
    Ok(sign_up_users(server, count, prefix).await?.into_iter().map(|(_, token)| token).collect())
}

/// Signs up `count` users over REST and returns their `(id, token)`s.
pub async fn sign_up_users(server: SocketAddr, count: usize, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
    let http = reqwest::Client::new();
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let body: Value = http
            .post(format!("http://{server}/api/v1/users"))
            .json(&serde_json::json!({ "username": format!("{prefix}{i}") }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = body["user"]["id"].as_str().context("user id")?.to_owned();
        tokens.push((id, body["token"].as_str().context("token")?.to_owned()));
    }
    Ok(tokens)
}
