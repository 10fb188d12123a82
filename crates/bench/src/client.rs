//! Load-generator sockets: the SDK's tuned WebSocket settings, spread over 127.0.0.x source
//! addresses, and REST sign-up.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// A connected client socket.
pub type Socket = WebSocketStream<TcpStream>;

/// Sign-ups in flight at once.
const SIGN_UP_CONCURRENCY: usize = 32;

/// The `index`-th source address: 127.0.0.2, 127.0.0.3, ... cycling over `source_ips`, so
/// the ephemeral port range of one address never runs out.
pub fn source_ip(index: usize, source_ips: usize) -> Ipv4Addr {
    let offset = u8::try_from(index % source_ips.clamp(1, 250)).unwrap_or(0);
    Ipv4Addr::new(127, 0, 0, 2 + offset)
}

/// Opens a TCP connection to the loopback address `server` from `source`.
///
/// The socket is bound with `IP_BIND_ADDRESS_NO_PORT`, so the kernel picks the source port at
/// `connect` time from the whole 4-tuple instead of reserving one per address at `bind`: many
/// more than 28k connections fit on one source address, and binding does not contend on the
/// port table.
pub async fn tcp(server: SocketAddr, source: Ipv4Addr) -> anyhow::Result<TcpStream> {
    if !server.ip().is_loopback() {
        bail!("refusing to load a non-loopback address: {server}");
    }
    let socket = TcpSocket::new_v4()?;
    setsockopt(&socket, IpBindAddressNoPort, &true).context("IP_BIND_ADDRESS_NO_PORT")?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Opens a WebSocket to `ws://{server}{path_and_query}` from `source`, with the SDK's buffer
/// settings; reads nothing.
pub async fn open(server: SocketAddr, source: Ipv4Addr, path_and_query: &str) -> anyhow::Result<Socket> {
    let stream = tcp(server, source).await?;
    let url = format!("ws://{server}{path_and_query}");
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(tandem_client::websocket_config())).await?;
    Ok(ws)
}

/// Opens a Tandem WebSocket to `server` from `source` with `?token=` and reads the `connected` frame.
pub async fn connect(server: SocketAddr, source: Ipv4Addr, token: &str) -> anyhow::Result<Socket> {
    connect_with_query(server, source, &format!("token={token}")).await
}

/// Like [`connect`] with a full query string (e.g. `token=...&resume=...`).
pub async fn connect_with_query(server: SocketAddr, source: Ipv4Addr, query: &str) -> anyhow::Result<Socket> {
    let mut ws = open(server, source, &format!("/ws?{query}")).await?;
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

/// Signs up `count` users (`{prefix}0`, `{prefix}1`, …) over REST, a few at a time, and
/// returns their `(id, token)`s in that order.
pub async fn sign_up_users(server: SocketAddr, count: usize, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
    let http = reqwest::Client::new();
    stream::iter(0..count)
        .map(|i| {
            let http = http.clone();
            async move {
                let body: Value = http
                    .post(format!("http://{server}/api/v1/users"))
                    .json(&serde_json::json!({ "username": format!("{prefix}{i}") }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = body["user"]["id"].as_str().context("user id")?.to_owned();
                anyhow::Ok((id, body["token"].as_str().context("token")?.to_owned()))
            }
        })
        .buffered(SIGN_UP_CONCURRENCY)
        .try_collect()
        .await
}

/// Creates one thread per group, owned by the group's first user, and has the other members
/// join with an invite link, `in_flight` requests at once. Returns the thread ids in group order.
pub async fn create_threads(
    http: &reqwest::Client,
    addr: SocketAddr,
    users: &[(String, String)],
    groups: &[Vec<usize>],
    name: &str,
    in_flight: usize,
) -> anyhow::Result<Vec<String>> {
    let token = |user: usize| users.get(user).map(|(_, token)| token.clone()).context("no such user");
    let created: Vec<anyhow::Result<(String, String)>> = stream::iter(groups.iter().enumerate())
        .map(|(n, group)| {
            let http = http.clone();
            let owner = group.first().context("empty group").and_then(|&owner| token(owner));
            let thread_name = format!("{name} {n}");
            async move {
                let owner = owner?;
                let thread: Value = http
                    .post(format!("http://{addr}/api/v1/threads"))
                    .bearer_auth(&owner)
                    .json(&json!({ "name": thread_name }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = thread["id"].as_str().context("thread id")?.to_owned();
                let link: Value = http
                    .post(format!("http://{addr}/api/v1/threads/{id}/invite-link"))
                    .bearer_auth(&owner)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let code = link["code"].as_str().context("invite code")?.to_owned();
                Ok((id, code))
            }
        })
        .buffered(in_flight.max(1))
        .collect()
        .await;
    let created: Vec<(String, String)> = created.into_iter().collect::<anyhow::Result<_>>()?;

    let joins = groups
        .iter()
        .zip(&created)
        .flat_map(|(group, (id, code))| group.iter().skip(1).map(move |&member| (member, id.as_str(), code.as_str())));
    let mut joining = stream::iter(joins)
        .map(|(member, id, code)| {
            let http = http.clone();
            let member = token(member);
            async move {
                // The answer (the whole thread, every member) is not needed: not parsed.
                http.post(format!("http://{addr}/api/v1/threads/{id}/join"))
                    .bearer_auth(member?)
                    .json(&json!({ "code": code }))
                    .send()
                    .await?
                    .error_for_status()?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(in_flight.max(1));
    while let Some(joined) = joining.next().await {
        joined?;
    }
    drop(joining);
    Ok(created.into_iter().map(|(id, _)| id).collect())
}
