//! The real-time core over real sockets: the three auth ways, Origin, liveness, slow consumers,
//! bad input, subscriptions, shutdown. Every test runs on both engines. Presence has its own
//! tests (`presence.rs`).

mod common;

use std::time::{Duration, Instant};

use common::{Ended, TestServer, WsClient, id};
use serde_json::json;
use tandem_protocol::room::Room;
use tandem_server::hub::Frame;

both_engines! {
    async fn auth_by_query_token_gets_connected_frame(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        let mut ws = WsClient::open(&server.ws_url(&format!("?token={token}"))).await.expect("upgrade");
        let connected = ws.expect("connected").await;
        assert_eq!(connected["user_id"], alice["id"]);
        assert!(connected["connection_id"].as_str().is_some_and(|c| !c.is_empty()));
        assert_eq!(connected["heartbeat_interval_ms"], 30_000);
    }

    async fn auth_by_authorization_header(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        let bearer = format!("Bearer {token}");
        let mut ws = WsClient::open_with(&server.ws_url(""), &[("authorization", &bearer)]).await.expect("upgrade");
        assert_eq!(ws.expect("connected").await["user_id"], alice["id"]);
    }

    async fn auth_by_first_frame(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        let mut ws = WsClient::open(&server.ws_url("")).await.expect("upgrade");
        ws.send(json!({"type": "auth", "token": token, "ref": "a1"})).await;
        assert_eq!(ws.expect("connected").await["user_id"], alice["id"]);
        assert_eq!(ws.expect("ack").await["ref"], "a1");
        ws.assert_nothing_pending().await;
    }

    async fn bad_token_at_upgrade_is_401(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let error = WsClient::open(&server.ws_url("?token=garbage")).await.err().expect("refused");
        assert_http_status(&error, 401);
        let error = WsClient::open_with(&server.ws_url(""), &[("authorization", "Bearer nope")]).await.err().expect("refused");
        assert_http_status(&error, 401);
    }

    async fn bad_first_frame_auth_gets_error_then_4401(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let mut ws = WsClient::open(&server.ws_url("")).await.expect("upgrade");
        ws.send(json!({"type": "auth", "token": "garbage", "ref": 5})).await;
        let error = ws.expect("error").await;
        assert_eq!((error["code"].clone(), error["ref"].clone()), (json!("unauthorized"), json!(5)));
        assert_eq!(ws.ended().await, Ended::Closed(4401));

        let mut ws = WsClient::open(&server.ws_url("")).await.expect("upgrade");
        ws.send(json!({"type": "list_users"})).await;
        assert_eq!(ws.expect("error").await["code"], "unauthorized");
        assert_eq!(ws.ended().await, Ended::Closed(4401));
    }

    async fn foreign_origin_is_403(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.allowed_origins = vec!["https://app.example".into()]).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let url = server.ws_url(&format!("?token={token}"));
        let error = WsClient::open_with(&url, &[("origin", "https://evil.example")]).await.err().expect("refused");
        assert_http_status(&error, 403);
        let mut ws = WsClient::open_with(&url, &[("origin", "https://app.example")]).await.expect("allowed origin");
        ws.expect("connected").await;
        let mut ws = WsClient::open(&url).await.expect("no Origin: not a browser");
        ws.expect("connected").await;
    }

    async fn plain_http_to_ws_is_426(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        common::assert_error(&server.call("GET", "/ws", None, None).await, 426, "upgrade_required");
    }

    async fn stale_connection_is_dropped_within_interval_plus_timeout(engine: Engine) {
        let heartbeat = Duration::from_millis(200);
        let Some(server) = TestServer::start_with(engine, |c| {
            c.heartbeat_interval = heartbeat;
            c.heartbeat_timeout = heartbeat;
        }).await else { return };
        let (alice, alice_token) = server.sign_up("alice").await;
        let (bob, bob_token) = server.sign_up("bob").await;
        server.add_members("thread:t1", &[&id(&alice), &id(&bob)]).await;
        let mut bob_ws = server.connect(&bob_token).await;
        // Alice's client completes the handshake and then never reads again: it never answers
        // a ping, like a phone that lost its network.
        let _silent = server.connect(&alice_token).await;
        assert_eq!(bob_ws.expect("user_status_changed").await["is_online"], true);
        let went_silent = Instant::now();
        // Bob keeps answering pings (his test client reads), so only Alice goes stale.
        let offline = bob_ws.expect("user_status_changed").await;
        let detected = went_silent.elapsed();
        assert_eq!((offline["user_id"].clone(), offline["is_online"].clone()), (alice["id"].clone(), json!(false)));
        assert!(detected <= heartbeat * 2 + Duration::from_millis(300), "detected after {detected:?}");
        assert!(!server.hub.is_online(&id(&alice)));
        assert!(server.hub.is_online(&id(&bob)), "a reading client is not stale");
    }

    async fn slow_reader_is_disconnected_while_others_keep_receiving(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.ws_queue_capacity = 8).await else { return };
        let (slow, slow_token) = server.sign_up("slow").await;
        let (fast, fast_token) = server.sign_up("fast").await;
        server.add_members("thread:big", &[&id(&slow), &id(&fast)]).await;
        let mut fast_ws = server.connect(&fast_token).await;
        let _slow_ws = server.connect(&slow_token).await; // never read again
        assert_eq!(fast_ws.expect("user_status_changed").await["is_online"], true);

        let padding = "x".repeat(32 * 1024);
        let mut published = 0_u64;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut offline = None;
        while offline.is_none() {
            assert!(Instant::now() < deadline, "slow consumer not disconnected after {published} frames");
            let frame = json!({"type": "bulk", "n": published, "padding": padding}).to_string();
            server.hub.publish("thread:big", Frame::from(frame));
            // Lockstep: the fast reader gets every frame before the next one is published; the
            // slow one's offline status may come in between, once it is disconnected.
            loop {
                let received = fast_ws.next().await;
                if received["type"] == "user_status_changed" {
                    offline = Some(received);
                    continue;
                }
                assert_eq!((received["type"].as_str(), &received["n"]), (Some("bulk"), &json!(published)));
                break;
            }
            published += 1;
        }
        let offline = offline.expect("announced");
        assert_eq!((offline["user_id"].clone(), offline["is_online"].clone()), (slow["id"].clone(), json!(false)));
        // The fast reader was never affected and still receives.
        server.hub.publish("thread:big", Frame::from(json!({"type": "bulk", "n": "after"}).to_string()));
        assert_eq!(fast_ws.expect("bulk").await["n"], "after");
        let metrics = server.http.get(server.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
        assert!(metrics.contains("ws_disconnects_total{reason=\"slow_consumer\"}"), "{metrics}");
    }

    async fn slow_consumer_close_code_is_4008(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.ws_queue_capacity = 4).await else { return };
        let (user, token) = server.sign_up("reader").await;
        let mut ws = server.connect(&token).await;
        // Publish more frames at once than the queue holds, before the writer can drain them.
        let room = Room::user(&id(&user));
        // Far more than the writer can drain while this loop runs (it never yields).
        for n in 0..5000 {
            server.hub.publish(&room, Frame::from(json!({"type": "bulk", "n": n}).to_string()));
        }
        let mut delivered = 0;
        let ended = loop {
            match ws.next_or_end().await {
                Ok(_) => delivered += 1,
                Err(ended) => break ended,
            }
        };
        assert!(delivered < 5000, "the overflow dropped the backlog");
        assert_eq!(ended, Ended::Closed(4008));
    }

    async fn bad_input_gets_error_frames_and_the_connection_stays_open(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        let (bob, _) = server.sign_up("bob").await;
        let mut ws = server.connect(&token).await;
        let cases: Vec<(&str, &str)> = vec![
            ("{not json", "invalid_json"),
            ("[1,2]", "invalid_frame"),
            (r#"{"no_type":1}"#, "invalid_frame"),
            (r#"{"type":"dance"}"#, "unknown_type"),
            (r#"{"type":"subscribe"}"#, "invalid_frame"),
            (r#"{"type":"subscribe","room":42}"#, "invalid_frame"),
            (r#"{"type":"subscribe","room":"lobby"}"#, "validation_failed"),
            (r#"{"type":"subscribe","room":"thread:nope"}"#, "not_found"),
            (r#"{"type":"unsubscribe","room":"canvas:never"}"#, "not_found"),
            (r#"{"type":"auth","token":"again"}"#, "validation_failed"),
        ];
        let own_room = format!(r#"{{"type":"unsubscribe","room":"user:{}"}}"#, id(&alice));
        let cases = cases.into_iter().chain([
            (own_room.as_str(), "validation_failed"),
            (r#"{"type":"unsubscribe","room":"thread:t"}"#, "validation_failed"),
        ]);
        for (text, code) in cases {
            ws.send_text(text).await;
            let error = ws.expect("error").await;
            assert_eq!(error["code"], code, "for {text}: {error}");
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let others_room = format!("user:{}", id(&bob));
        ws.send(json!({"type": "subscribe", "room": others_room, "ref": 9})).await;
        let error = ws.expect("error").await;
        assert_eq!((error["code"].clone(), error["ref"].clone()), (json!("forbidden"), json!(9)));
        ws.send(json!({"type": "dance", "ref": "r"})).await;
        assert_eq!(ws.expect("error").await["ref"], "r");
        ws.send(json!({"type": "ping", "ref": {"any": "json"}})).await;
        ws.expect("pong").await;
        assert_eq!(ws.expect("ack").await["ref"], json!({"any": "json"}));
        use futures_util::SinkExt;
        ws.socket.send(tokio_tungstenite::tungstenite::Message::binary(vec![1, 2, 3])).await.expect("send");
        assert_eq!(ws.expect("error").await["code"], "invalid_frame");
        ws.assert_nothing_pending().await;
    }

    async fn frames_larger_than_the_read_buffer_are_read_whole(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        // Several times the 2 KiB read buffer, then small ones behind it on the same socket.
        for size in [tandem_server::ws::READ_BUFFER_SIZE * 5, 60 * 1024, 10] {
            ws.send(json!({"type": "ping", "ref": size, "pad": "x".repeat(size)})).await;
            ws.expect("pong").await;
            assert_eq!(ws.expect("ack").await["ref"], size);
        }
    }

    async fn oversized_frame_closes_with_1009(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.max_frame_size = 1024).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        ws.send(json!({"type": "ping", "pad": "x".repeat(900)})).await;
        ws.expect("pong").await;
        ws.send(json!({"type": "ping", "pad": "x".repeat(2000)})).await;
        assert_eq!(ws.ended().await, Ended::Closed(1009));
    }

    async fn flooding_gets_rate_limited_then_closed_with_1008(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| {
            c.ws_rate_limit = 1;
            c.ws_rate_burst = 3;
        }).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        // Exactly the burst plus MAX_STRIKES frames, written at once: the last one triggers the
        // close, so the counts below are exact (tests/closing.rs floods with far more).
        use futures_util::SinkExt;
        let flood = 3 + tandem_server::ws::rate_limit::MAX_STRIKES;
        for _ in 0..flood {
            let ping = tokio_tungstenite::tungstenite::Message::text(json!({"type": "ping"}).to_string());
            ws.socket.feed(ping).await.expect("queue");
        }
        ws.socket.flush().await.expect("send");
        let mut pongs = 0;
        let mut limited = 0;
        let ended = loop {
            match ws.next_or_end().await {
                Ok(frame) if frame["type"] == "pong" => pongs += 1,
                Ok(frame) if frame["code"] == "rate_limited" => limited += 1,
                Ok(frame) => panic!("unexpected {frame}"),
                Err(ended) => break ended,
            }
        };
        assert_eq!(pongs, 3, "the burst was served");
        assert!(limited >= 1, "refused frames were told so");
        assert_eq!(ended, Ended::Closed(1008));
    }

    async fn subscribe_and_unsubscribe_viewed_rooms(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        server.add_members("canvas:c1", &[&id(&alice)]).await;
        let mut ws = server.connect(&token).await;
        let event = || Frame::from(json!({"type": "tile_created", "x": 1}).to_string());
        server.hub.publish("canvas:c1", event());
        ws.assert_nothing_pending().await; // viewed rooms are not joined automatically
        ws.send(json!({"type": "subscribe", "room": "canvas:c1", "ref": 1})).await;
        assert_eq!(ws.expect("ack").await["ref"], 1);
        server.hub.publish("canvas:c1", event());
        assert_eq!(ws.expect("tile_created").await["x"], 1);
        ws.send(json!({"type": "unsubscribe", "room": "canvas:c1", "ref": 2})).await;
        assert_eq!(ws.expect("ack").await["ref"], 2);
        server.hub.publish("canvas:c1", event());
        ws.assert_nothing_pending().await;
    }

    async fn thread_rooms_are_joined_on_connect_and_membership_changes_apply_live(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        server.add_members("thread:old", &[&id(&alice)]).await;
        let mut phone = server.connect(&token).await;
        let mut laptop = server.connect(&token).await;
        server.hub.publish("thread:old", Frame::from_static(r#"{"type":"message_created","n":1}"#));
        assert_eq!(phone.expect("message_created").await["n"], 1);
        assert_eq!(laptop.expect("message_created").await["n"], 1);
        // The domain's seam: a new membership subscribes every open connection at once.
        server.hub.join_user(&id(&alice), "thread:new", None);
        server.hub.publish("thread:new", Frame::from_static(r#"{"type":"message_created","n":2}"#));
        assert_eq!(phone.expect("message_created").await["n"], 2);
        assert_eq!(laptop.expect("message_created").await["n"], 2);
        server.hub.leave_user(&id(&alice), "thread:old");
        server.hub.publish("thread:old", Frame::from_static(r#"{"type":"message_created","n":3}"#));
        phone.assert_nothing_pending().await;
        laptop.assert_nothing_pending().await;
    }

    async fn with_a_write_delay_every_frame_arrives_once_and_in_order(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.ws_write_delay = Duration::from_millis(5)).await
        else { return };
        let (alice, token) = server.sign_up("alice").await;
        server.add_members("thread:t", &[&id(&alice)]).await;
        let mut ws = server.connect(&token).await;
        // Bursts that coalesce into one write and single frames that wait out the delay alone.
        for burst in [1, 50, 1, 500, 3] {
            let first = burst * 1000;
            for n in first..first + burst {
                server.hub.publish("thread:t", Frame::from(json!({"type": "message_created", "n": n}).to_string()));
            }
            for n in first..first + burst {
                assert_eq!(ws.expect("message_created").await["n"], n);
            }
        }
        ws.assert_nothing_pending().await;
    }

    async fn json_ping_is_sent_with_every_heartbeat(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.heartbeat_interval = Duration::from_millis(100)).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = WsClient::open(&server.ws_url(&format!("?token={token}"))).await.expect("upgrade");
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let (mut json_pings, mut ws_pings) = (0, 0);
        while json_pings < 2 || ws_pings < 2 {
            match tokio::time::timeout(common::WAIT, ws.socket.next()).await.expect("frame") {
                Some(Ok(Message::Text(text))) if text.as_str() == r#"{"type":"ping"}"# => json_pings += 1,
                Some(Ok(Message::Ping(_))) => ws_pings += 1,
                Some(Ok(_)) => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    async fn binary_floods_are_rate_limited_too(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| {
            c.ws_rate_limit = 1;
            c.ws_rate_burst = 1;
        }).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        use futures_util::SinkExt;
        for _ in 0..30 {
            ws.socket.send(tokio_tungstenite::tungstenite::Message::binary(vec![0u8; 8])).await.expect("send");
        }
        assert_eq!(ws.ended().await, Ended::Closed(1008));
    }

    async fn shutdown_closes_unauthenticated_sockets_with_1001(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let mut ws = WsClient::open(&server.ws_url("")).await.expect("upgrade");
        let stopping = tokio::spawn(server.stop());
        assert_eq!(ws.ended().await, Ended::Closed(1001));
        stopping.await.expect("stopped");
    }

    async fn shutdown_closes_sockets_with_1001(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        let stopping = tokio::spawn(server.stop());
        assert_eq!(ws.ended().await, Ended::Closed(1001));
        stopping.await.expect("stopped");
    }

    async fn websocket_metrics_are_exported(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (_, token) = server.sign_up("alice").await;
        let mut ws = server.connect(&token).await;
        ws.assert_nothing_pending().await;
        let text = server.http.get(server.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
        for name in ["ws_connections_active", "ws_connects_total", "ws_frames_in_total", "ws_frames_out_total", "ws_publish_fanout_seconds_bucket"] {
            assert!(text.contains(name), "{name} missing from /metrics");
        }
    }
}

#[tokio::test]
async fn first_frame_auth_times_out_after_5_s() {
    let Some(server) = TestServer::start(common::Engine::Sqlite).await else {
        return;
    };
    let mut ws = WsClient::open(&server.ws_url("")).await.expect("upgrade");
    let started = Instant::now();
    let error = match tokio::time::timeout(Duration::from_secs(8), ws.socket_next_text()).await {
        Ok(text) => text,
        Err(_) => panic!("no answer within 8 s"),
    };
    assert!(error.contains("unauthorized"), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(4900), "{:?}", started.elapsed());
}

fn assert_http_status(error: &tokio_tungstenite::tungstenite::Error, status: u16) {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status().as_u16(), status)
        }
        other => panic!("expected HTTP {status}, got {other:?}"),
    }
}
