//! Server-initiated closes reach the client even when the client still has unread data in flight
//! (the server half-closes and drains instead of dropping the socket, which would reset the TCP
//! connection and destroy the close frame), and a text frame that is not UTF-8 is a protocol
//! error (1007), not a lost connection. The server answers a client's ping with its data and a
//! client's close with a close.

mod common;

use std::time::Duration;

use common::{Ended, TestServer, WsClient, id};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// Writes `frames` as text messages at once (one flush), so most of them are still unread in
/// the server's socket when it decides to close.
async fn write_at_once(ws: &mut WsClient, frames: impl IntoIterator<Item = String>) {
    for frame in frames {
        ws.socket.feed(Message::text(frame)).await.expect("queue");
    }
    ws.socket.flush().await.expect("send");
}

/// The value of `ws_disconnects_total{reason="..."}` on `/metrics` (0 before the first one).
async fn disconnects(server: &TestServer, reason: &str) -> u64 {
    let text = server.http.get(server.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    let key = format!("ws_disconnects_total{{reason=\"{reason}\"}} ");
    text.lines().find_map(|line| line.strip_prefix(&key)).map_or(0, |n| n.trim().parse().expect("a count"))
}

both_engines! {
    async fn a_flood_of_1000_frames_still_gets_the_1008_close(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| {
            c.ws_rate_limit = 1;
            c.ws_rate_burst = 3;
        }).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        write_at_once(&mut ws, std::iter::repeat_n(json!({"type": "ping"}).to_string(), 1000)).await;
        let mut limited = 0;
        let ended = loop {
            match ws.next_or_end().await {
                Ok(frame) if frame["code"] == "rate_limited" => limited += 1,
                Ok(_) => {}
                Err(ended) => break ended,
            }
        };
        assert!(limited >= 1, "refused frames were told so");
        assert_eq!(ended, Ended::Closed(1008), "the close frame survived the unread flood");
    }

    async fn an_oversized_message_with_data_behind_it_gets_1009(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.max_frame_size = 1024).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        // 256 KiB: far more than the server reads before it refuses the frame at its header.
        write_at_once(&mut ws, [json!({"type": "ping", "pad": "x".repeat(256 * 1024)}).to_string()]).await;
        assert_eq!(ws.ended().await, Ended::Closed(1009));
    }

    async fn an_oversized_first_frame_gets_the_error_and_the_4401_close(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.max_frame_size = 1024).await else { return };
        let mut ws = WsClient::open(&server.ws_url("")).await.expect("upgrade");
        write_at_once(&mut ws, [json!({"type": "auth", "token": "x".repeat(256 * 1024)}).to_string()]).await;
        assert_eq!(ws.next_or_end().await.expect("the error frame")["code"], "unauthorized");
        assert_eq!(ws.ended().await, Ended::Closed(4401));
    }

    async fn shutdown_with_unread_client_data_still_gets_1001(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| {
            // Every frame is allowed: none of them closes the connection by itself.
            c.ws_rate_limit = 1_000_000;
            c.ws_rate_burst = 1_000_000;
        }).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        ws.assert_nothing_pending().await;
        // Each of these costs the server a store query, so most are still unread at shutdown.
        let subscribe = json!({"type": "subscribe", "room": "canvas:000000000000000000000000"}).to_string();
        write_at_once(&mut ws, std::iter::repeat_n(subscribe, 2000)).await;
        let stopping = tokio::spawn(server.stop());
        let ended = loop {
            match ws.next_or_end().await {
                Ok(_) => {}
                Err(ended) => break ended,
            }
        };
        assert_eq!(ended, Ended::Closed(1001));
        stopping.await.expect("stopped");
    }

    async fn invalid_utf8_closes_with_1007_and_is_announced_at_once(engine: Engine) {
        // A long presence grace: a connection counted as lost would be announced only after it.
        let Some(server) = TestServer::start_with(engine, |c| c.presence_grace = Duration::from_secs(60)).await
        else { return };
        let (alice, alice_token) = server.sign_up("alice").await;
        let (bob, bob_token) = server.sign_up("bob").await;
        server.add_members("thread:t1", &[&id(&alice), &id(&bob)]).await;
        let mut bob_ws = server.connect(&bob_token).await;
        let mut alice_ws = server.connect(&alice_token).await;
        assert_eq!(bob_ws.expect("user_status_changed").await["is_online"], true);
        let before = disconnects(&server, "protocol_error").await;

        let not_utf8 = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
        alice_ws.socket.send(Message::Frame(not_utf8)).await.expect("send");
        assert_eq!(alice_ws.ended().await, Ended::Closed(1007));

        let offline = bob_ws.expect("user_status_changed").await;
        assert_eq!((offline["user_id"].clone(), offline["is_online"].clone()), (alice["id"].clone(), json!(false)));
        // Tests run concurrently in this process and share the counter: it grew, at least by ours.
        assert!(disconnects(&server, "protocol_error").await > before, "counted as a protocol error");
    }

    async fn a_ping_gets_its_pong_and_a_close_gets_its_answer(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        ws.assert_nothing_pending().await;
        let data = tokio_tungstenite::tungstenite::Bytes::from_static(b"\x00\xffsome bytes");
        ws.socket.send(Message::Ping(data.clone())).await.expect("ping");
        let pong = tokio::time::timeout(Duration::from_secs(5), ws.socket.next()).await.expect("in time");
        assert_eq!(pong.expect("open").expect("a frame"), Message::Pong(data), "the ping's data comes back");
        ws.socket.close(None).await.expect("close");
        let answer = tokio::time::timeout(Duration::from_secs(5), ws.socket.next()).await.expect("in time");
        match answer {
            Some(Ok(Message::Close(Some(close)))) => assert_eq!(u16::from(close.code), 1000),
            other => panic!("expected the server's close, got {other:?}"),
        }
    }
}
