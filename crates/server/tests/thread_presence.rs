//! Presence of thread members end to end over real HTTP and WebSockets, on both engines: the
//! online-status, disconnect, reconnect and stale-connection scenarios of seed 000 and seed 001,
//! and seed 002's checklist items on online status in thread reads.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::threads::{add_member, assert_durable, create_thread, get_thread, invite, post_message, users_of};
use common::{TestServer, WsClient, is_presence, quiet, recv, recv_any, user};
use serde_json::{Value, json};

fn is_online_in(thread: &Value, user_id: &str) -> bool {
    thread["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == user_id)
        .and_then(|u| u["is_online"].as_bool())
        .unwrap_or_else(|| panic!("{user_id} is not in {thread}"))
}

/// Waits for `user_status_changed` about `user_id` (skipping announcements about others) and
/// returns its `is_online`. Any other frame fails the test.
async fn status_of(ws: &mut WsClient, user_id: &str) -> bool {
    loop {
        let frame = ws.next().await;
        assert!(is_presence(&frame), "expected user_status_changed, got {frame}");
        if frame["user_id"] == user_id {
            assert!(frame["timestamp"].as_i64().is_some(), "{frame}");
            return frame["is_online"].as_bool().expect("is_online");
        }
    }
}

fn resume_url(server: &TestServer, token: &str, cursors: Value) -> String {
    let encoded: String = cursors.to_string().bytes().map(|b| format!("%{b:02X}")).collect();
    server.ws_url(&format!("?token={token}&resume={encoded}"))
}

fn short_heartbeats(config: &mut tandem_server::ServeConfig) {
    config.heartbeat_interval = Duration::from_millis(200);
    config.heartbeat_timeout = Duration::from_millis(200);
}

/// Detection bound for a silent peer: interval + timeout, plus scheduling slack.
const STALE_WITHIN: Duration = Duration::from_millis(700);

both_engines! {
    // ---------------------------------------------------------------------------------------
    // Seed 000, "Testing Scenarios"
    // ---------------------------------------------------------------------------------------

    async fn seed000_test3_online_status(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &bob, "Studio").await;
        add_member(&server, &bob, &thread, &alice).await;
        let mut bob_ws = server.connect(&bob.token).await;

        let mut alice_ws = server.connect(&alice.token).await;
        assert!(status_of(&mut bob_ws, &alice.id).await, "green dot");
        assert!(is_online_in(&get_thread(&server, &bob, &thread).await, &alice.id));

        // Alice closes the app.
        alice_ws.socket.close(None).await.expect("close");
        assert!(!status_of(&mut bob_ws, &alice.id).await, "gray dot");
        assert!(!is_online_in(&get_thread(&server, &bob, &thread).await, &alice.id));
    }

    async fn seed000_test4_disconnect_and_reconnect(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &bob, "Session").await;
        let room = format!("thread:{thread}");
        add_member(&server, &bob, &thread, &alice).await; // seq 1
        let mut bob_ws = server.connect(&bob.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        assert!(status_of(&mut bob_ws, &alice.id).await);
        post_message(&server, &bob, &thread, json!({"step": 1})).await;
        let cursor = assert_durable(&recv(&mut alice_ws, "message_created").await, &room);
        assert_eq!(recv(&mut bob_ws, "message_created").await["seq"], cursor);

        // WiFi off: the TCP connection just goes away.
        drop(alice_ws);
        assert!(!status_of(&mut bob_ws, &alice.id).await, "the disconnect is detected");
        for step in 2..=3 {
            post_message(&server, &bob, &thread, json!({"step": step})).await;
            recv(&mut bob_ws, "message_created").await;
        }

        // WiFi on: the client reconnects with its cursor and catches up, then goes live.
        let mut alice_ws = WsClient::open(&resume_url(&server, &alice.token, json!({ room.clone(): cursor }))).await.expect("upgrade");
        alice_ws.expect("connected").await;
        for step in 2..=3 {
            let missed = recv(&mut alice_ws, "message_created").await;
            assert_eq!((missed["seq"].as_i64(), missed["snapshot"]["step"].as_i64()), (Some(cursor + step - 1), Some(step)));
        }
        assert!(status_of(&mut bob_ws, &alice.id).await, "online status is accurate again");
        post_message(&server, &bob, &thread, json!({"step": 4})).await;
        assert_eq!(recv(&mut alice_ws, "message_created").await["snapshot"]["step"], 4);
        quiet(&mut alice_ws).await;
        // The data sync after reconnecting reads fresh data.
        let fresh = get_thread(&server, &alice, &thread).await;
        assert!(is_online_in(&fresh, &alice.id));
        let (_, page) = server.call("GET", &format!("/api/v1/threads/{thread}/messages"), Some(&alice.token), None).await;
        let steps: Vec<i64> = page["messages"].as_array().expect("messages").iter().filter_map(|m| m["snapshot"]["step"].as_i64()).collect();
        assert_eq!(steps, [4, 3, 2, 1]);
    }

    async fn seed000_test5_stale_connection(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, short_heartbeats).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &bob, "Zombies").await;
        add_member(&server, &bob, &thread, &alice).await;
        let mut bob_ws = server.connect(&bob.token).await;
        // A zombie: the handshake completes, then the client never reads or answers again.
        let _zombie = server.connect(&alice.token).await;
        let connected = Instant::now();
        assert!(status_of(&mut bob_ws, &alice.id).await);
        assert!(!status_of(&mut bob_ws, &alice.id).await, "removed at the next heartbeat");
        let detected = connected.elapsed();
        assert!(detected <= STALE_WITHIN, "detected after {detected:?}");
        assert!(!server.hub.is_online(&alice.id));
        let (_, seen) = server.call("GET", &format!("/api/v1/users/{}", alice.id), Some(&bob.token), None).await;
        assert_eq!(seen["is_online"], false);
        assert!(seen["last_online"].is_string(), "last_online updated: {seen}");
        assert!(!is_online_in(&get_thread(&server, &bob, &thread).await, &alice.id));
    }

    // ---------------------------------------------------------------------------------------
    // Seed 001, "Testing Scenarios"
    // ---------------------------------------------------------------------------------------

    async fn seed001_test1_clean_disconnect(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let outsider = user(&server, "outsider").await;
        let thread = create_thread(&server, &device_a, "Both viewing").await;
        add_member(&server, &device_a, &thread, &device_b).await;
        let mut outsider_ws = server.connect(&outsider.token).await;
        let mut a_ws = server.connect(&device_a.token).await;
        let mut b_ws = server.connect(&device_b.token).await;
        assert!(status_of(&mut a_ws, &device_b.id).await);

        // Device B closes the app; with the default 30 s heartbeat, only the close can tell.
        let closed = Instant::now();
        b_ws.socket.close(None).await.expect("close");
        assert!(!status_of(&mut a_ws, &device_b.id).await);
        assert!(closed.elapsed() < Duration::from_secs(2), "immediate, not at a heartbeat");
        assert!(!is_online_in(&get_thread(&server, &device_a, &thread).await, &device_b.id));
        // Thread members only.
        outsider_ws.assert_nothing_pending().await;
    }

    async fn seed001_test2_dirty_disconnect(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, short_heartbeats).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let thread = create_thread(&server, &device_a, "Airplane mode").await;
        add_member(&server, &device_a, &thread, &device_b).await;
        let mut a_ws = server.connect(&device_a.token).await;
        // Device B loses its network: it neither reads nor answers from now on.
        let _b_ws = server.connect(&device_b.token).await;
        let lost = Instant::now();
        assert!(status_of(&mut a_ws, &device_b.id).await);
        assert!(!status_of(&mut a_ws, &device_b.id).await, "the heartbeat finds it");
        assert!(lost.elapsed() <= STALE_WITHIN, "after {:?}", lost.elapsed());
        assert!(server.hub.is_online(&device_a.id), "a reading client is never stale");
        assert!(!is_online_in(&get_thread(&server, &device_a, &thread).await, &device_b.id));
    }

    async fn seed001_test3_auto_reconnect_seen_from_the_other_side(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let thread = create_thread(&server, &device_b, "Backoff").await;
        add_member(&server, &device_b, &thread, &device_a).await;
        let mut b_ws = server.connect(&device_b.token).await;
        let a_ws = server.connect(&device_a.token).await;
        assert!(status_of(&mut b_ws, &device_a.id).await);

        drop(a_ws); // WiFi off
        assert!(!status_of(&mut b_ws, &device_a.id).await, "B sees A go offline");
        assert!(!is_online_in(&get_thread(&server, &device_b, &thread).await, &device_a.id));
        let mut a_ws = server.connect(&device_a.token).await; // the client's reconnect succeeds
        assert!(status_of(&mut b_ws, &device_a.id).await, "then come back online");
        assert!(is_online_in(&get_thread(&server, &device_b, &thread).await, &device_a.id));
        // The reconnected client is in its thread room again.
        post_message(&server, &device_b, &thread, json!("back")).await;
        assert_eq!(recv(&mut a_ws, "message_created").await["snapshot"], "back");
        assert_eq!(recv(&mut b_ws, "message_created").await["snapshot"], "back");
        quiet(&mut a_ws).await;
        quiet(&mut b_ws).await;
    }

    async fn seed001_test4_long_network_outage(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, short_heartbeats).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let carol = user(&server, "carol").await;
        let thread = create_thread(&server, &device_b, "Subway").await;
        let other = create_thread(&server, &carol, "Elsewhere").await;
        let (room, user_room) = (format!("thread:{thread}"), format!("user:{}", device_a.id));
        add_member(&server, &device_b, &thread, &device_a).await;
        let mut b_ws = server.connect(&device_b.token).await;
        let mut a_ws = server.connect(&device_a.token).await;
        assert!(status_of(&mut b_ws, &device_a.id).await);
        post_message(&server, &device_b, &thread, json!({"n": 0})).await;
        let cursor = recv(&mut a_ws, "message_created").await["seq"].as_i64().expect("seq");
        recv(&mut b_ws, "message_created").await;

        // Into the subway: A's connection goes silent and is dropped by the heartbeat. B saw
        // it go, then only uses REST (a socket not read for a while would go stale too).
        let zombie = a_ws;
        assert!(!status_of(&mut b_ws, &device_a.id).await);
        b_ws.socket.close(None).await.expect("close");
        // Meanwhile life goes on: messages in the thread, an invitation to A's user room.
        for n in 1..=3 {
            post_message(&server, &device_b, &thread, json!({"n": n})).await;
        }
        assert_eq!(invite(&server, &carol, &other, &device_a.id).await.0, 201);
        drop(zombie);

        // Out of the subway: reconnect with the cursors it had.
        let url = resume_url(&server, &device_a.token, json!({ room.clone(): cursor, user_room.clone(): 0 }));
        let mut a_ws = WsClient::open(&url).await.expect("upgrade");
        a_ws.expect("connected").await;
        let mut seen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        while seen.values().map(Vec::len).sum::<usize>() < 5 {
            let frame = recv_any(&mut a_ws).await;
            seen.entry(frame["room"].as_str().expect("durable").to_owned()).or_default().push(frame);
        }
        let thread_events: Vec<(i64, i64)> = seen[&room].iter().map(|f| (f["seq"].as_i64().expect("seq"), f["snapshot"]["n"].as_i64().expect("n"))).collect();
        assert_eq!(thread_events, [(cursor + 1, 1), (cursor + 2, 2), (cursor + 3, 3)], "every missed message once, in order");
        // Its user room had never delivered anything to it: from 0, both invitations, in order.
        let invitations: Vec<(i64, &str, &str)> = seen[&user_room].iter().map(|f| (f["seq"].as_i64().expect("seq"), f["type"].as_str().expect("type"), f["thread_id"].as_str().expect("thread"))).collect();
        assert_eq!(invitations, [(1, "thread_invitation", thread.as_str()), (2, "thread_invitation", other.as_str())]);
        assert!(is_online_in(&get_thread(&server, &device_b, &thread).await, &device_a.id), "back online");
        post_message(&server, &device_b, &thread, json!({"n": 4})).await;
        assert_eq!(recv(&mut a_ws, "message_created").await["seq"], cursor + 4, "then live");
        quiet(&mut a_ws).await;
    }

    // ---------------------------------------------------------------------------------------
    // Seed 002, "Testing Checklist" (integration)
    // ---------------------------------------------------------------------------------------

    async fn seed002_user_connects_shows_online_immediately(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &alice, "Now").await;
        add_member(&server, &alice, &thread, &bob).await;
        assert!(!is_online_in(&get_thread(&server, &alice, &thread).await, &bob.id));
        // No waiting for any announcement: once `connected` arrived, reads say online.
        let _bob_ws = server.connect(&bob.token).await;
        assert!(is_online_in(&get_thread(&server, &alice, &thread).await, &bob.id));
        let (_, list) = server.call("GET", "/api/v1/threads", Some(&alice.token), None).await;
        assert!(is_online_in(&list["threads"][0], &bob.id));
    }

    async fn seed002_user_disconnects_shows_offline_immediately(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &alice, "Gone").await;
        add_member(&server, &alice, &thread, &bob).await;
        let mut alice_ws = server.connect(&alice.token).await;
        let mut bob_ws = server.connect(&bob.token).await;
        assert!(status_of(&mut alice_ws, &bob.id).await);
        bob_ws.socket.close(None).await.expect("close");
        assert!(!status_of(&mut alice_ws, &bob.id).await);
        assert!(!is_online_in(&get_thread(&server, &alice, &thread).await, &bob.id));
        let (_, list) = server.call("GET", "/api/v1/threads", Some(&alice.token), None).await;
        assert!(!is_online_in(&list["threads"][0], &bob.id));
    }

    async fn seed002_thread_list_shows_accurate_online_status(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let carol = user(&server, "carol").await;
        let first = create_thread(&server, &alice, "First").await;
        let second = create_thread(&server, &alice, "Second").await;
        add_member(&server, &alice, &first, &bob).await;
        add_member(&server, &alice, &second, &bob).await;
        add_member(&server, &alice, &second, &carol).await;
        let _bob_ws = server.connect(&bob.token).await;
        let (status, list) = server.call("GET", "/api/v1/threads", Some(&alice.token), None).await;
        assert_eq!(status, 200, "{list}");
        let threads = list["threads"].as_array().expect("threads");
        assert_eq!(threads.iter().map(|t| t["name"].as_str().unwrap_or_default()).collect::<Vec<_>>(), ["Second", "First"], "newest first");
        assert_eq!(users_of(&threads[0]), [("alice".to_owned(), false), ("bob".to_owned(), true), ("carol".to_owned(), false)]);
        assert_eq!(users_of(&threads[1]), [("alice".to_owned(), false), ("bob".to_owned(), true)]);
        // Presence never writes while a user stays connected.
        let (_, seen) = server.call("GET", &format!("/api/v1/users/{}", bob.id), Some(&alice.token), None).await;
        assert_eq!(seen["last_online"], Value::Null);
    }
}
