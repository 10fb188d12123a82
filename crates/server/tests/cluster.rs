//! Cluster mode (API.md §5): nodes sharing one PostgreSQL schema and a private
//! `redis-server` deliver each other's durable and ephemeral frames, follow membership changes
//! made on another node (also when made while Redis was down), refuse what they cannot do,
//! drop malformed bus messages, and lose nothing through a Redis outage (gaps filled from the
//! log) or a lost tail (the high-water check); a long poll is woken by a write on another node.
//!
//! The nodes are full servers in this test process, each on its own port with its own hub,
//! talking to each other only through Redis and the database.

mod common;

use std::time::{Duration, Instant};

use common::canvases::{add_member as add_canvas_member, create_canvas, view};
use common::cluster::{node, services, shared_thread};
use common::redis::RedisProcess;
use common::threads::{add_member, create_thread, post_message};
use common::{Engine, TestDb, TestServer, WAIT, WsClient, recv, user};
use serde_json::{Value, json};
use tandem_server::{ServeConfig, Server};

/// The next frame of `kind`, skipping others (presence, activity of other users).
async fn next_of(ws: &mut WsClient, kind: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no `{kind}` frame within {WAIT:?}");
        let frame = ws.next().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

async fn readyz(node: &TestServer) -> Value {
    let (status, body) = node.call("GET", "/readyz", None, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn durable_events_reach_members_on_every_node_in_order() {
    let Some((db, redis)) = services().await else { return };
    let (a, b, c) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await, node(&db, &redis, "c").await);
    let alice = user(&a, "alice").await;
    let bob = user(&b, "bob").await;
    let thread = create_thread(&a, &alice, "cross-node").await;
    add_member(&c, &alice, &thread, &bob).await;

    // Bob's socket is on b; the messages are written on a and c, alternately, right after
    // he connected (before b's subscription to the room may have taken effect).
    let mut bob_ws = b.connect(&bob.token).await;
    let mut sent = Vec::new();
    for i in 0..20 {
        let writer = if i % 2 == 0 { &a } else { &c };
        let message = post_message(writer, &alice, &thread, json!({"text": format!("m{i}")})).await;
        sent.push(message["id"].clone());
    }
    let (mut received, mut seqs) = (Vec::new(), Vec::new());
    while received.len() < sent.len() {
        let frame = next_of(&mut bob_ws, "message_created").await;
        received.push(frame["id"].clone());
        seqs.push(frame["seq"].as_i64().expect("seq"));
    }
    assert_eq!(received, sent, "every message once, in the order written");
    assert!(seqs.windows(2).all(|pair| pair[1] == pair[0] + 1), "consecutive seqs: {seqs:?}");
    let bus = &readyz(&b).await["bus"];
    assert_eq!(bus["connected"], true, "{bus}");
}

#[tokio::test]
async fn a_membership_change_on_one_node_moves_connections_on_another() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let alice = user(&a, "alice").await;
    let bob = user(&a, "bob").await;
    let thread = create_thread(&a, &alice, "join me").await;
    // Bob is connected to b before he joins; he joins through a.
    let mut bob_ws = b.connect(&bob.token).await;
    add_member(&a, &alice, &thread, &bob).await;
    let accepted = next_of(&mut bob_ws, "invitation_accepted").await;
    assert_eq!(accepted["user_id"], bob.id.as_str(), "{accepted}");
    post_message(&a, &alice, &thread, json!({"text": "welcome"})).await;
    let message = next_of(&mut bob_ws, "message_created").await;
    assert_eq!(message["snapshot"]["text"], "welcome", "{message}");
}

#[tokio::test]
async fn ephemeral_frames_cross_nodes() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, thread) = shared_thread(&a, "cursors").await;
    let room = format!("thread:{thread}");
    let mut alice_ws = a.connect(&alice.token).await;
    let mut bob_ws = b.connect(&bob.token).await;
    // Ephemeral frames are not in the log: they reach b once its subscription took effect,
    // so alice moves her cursor until bob sees it (each position a new frame).
    let deadline = Instant::now() + WAIT;
    let mut x = 0;
    let seen = loop {
        assert!(Instant::now() < deadline, "no user_cursor reached the other node within {WAIT:?}");
        x += 1;
        alice_ws.send(json!({"type": "cursor", "room": room, "x": x, "y": 1})).await;
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(200), next_of(&mut bob_ws, "user_cursor")).await {
            break frame;
        }
    };
    assert_eq!((seen["user_id"].as_str(), seen["room"].as_str()), (Some(alice.id.as_str()), Some(room.as_str())));
}

#[tokio::test]
async fn redis_with_sqlite_and_a_taken_node_name_are_refused() {
    let Some(redis) = RedisProcess::start().await else { return };
    redis.ready().await;
    let sqlite = TestDb::new(Engine::Sqlite).await.expect("SQLite always runs");
    let mut config = ServeConfig::with_database_url(&sqlite.url);
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.redis_url = Some(redis.url());
    let error = Server::start(config).await.expect_err("SQLite + Redis is refused").to_string();
    assert!(error.contains("PostgreSQL"), "{error}");

    let Some(db) = TestDb::new(Engine::Postgres).await else { return };
    let _first = node(&db, &redis, "same").await;
    let mut config = ServeConfig::with_database_url(&db.url);
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.redis_url = Some(redis.url());
    config.node_id = Some("same".into());
    let error = Server::start(config).await.expect_err("a taken node name is refused").to_string();
    assert!(error.contains("same") && error.contains("--node-id"), "{error}");

    let mut config = ServeConfig::with_database_url(&db.url);
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.redis_url = Some("redis://127.0.0.1:1".into());
    let error = Server::start(config).await.expect_err("an unreachable Redis is refused").to_string();
    assert!(error.contains("cannot connect to Redis"), "{error}");
}

#[tokio::test]
async fn malformed_bus_messages_are_counted_and_dropped() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, thread) = shared_thread(&a, "noise").await;
    let mut bob_ws = b.connect(&bob.token).await;
    // Wait until b listens to the thread's channel: a message written on a arrives.
    post_message(&a, &alice, &thread, json!({"text": "first"})).await;
    next_of(&mut bob_ws, "message_created").await;

    let mut redis_cli = redis.connection().await;
    for (channel, payload) in [
        ("tandem:members".to_owned(), "not a membership change".to_owned()),
        (format!("tandem:room:thread:{thread}"), "P1\nzz\n\n\n{}".to_owned()),
        (format!("tandem:room:thread:{thread}"), "{\"type\":\"message_created\",\"forged\":true}".to_owned()),
    ] {
        let _: i64 =
            redis::cmd("PUBLISH").arg(channel).arg(payload).query_async(&mut redis_cli).await.expect("publish");
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let bus = readyz(&b).await["bus"].clone();
        if bus["malformed_messages"].as_u64() >= Some(3) {
            break;
        }
        assert!(Instant::now() < deadline, "malformed messages not counted: {bus}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing forged was delivered, and the node still works.
    post_message(&a, &alice, &thread, json!({"text": "second"})).await;
    let message = next_of(&mut bob_ws, "message_created").await;
    assert_eq!(message["snapshot"]["text"], "second", "{message}");
    assert!(message.get("forged").is_none());
}

#[tokio::test]
async fn events_written_while_redis_is_down_arrive_once_in_order_after_it_returns() {
    let Some((db, mut redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, thread) = shared_thread(&a, "outage").await;
    let mut bob_ws = b.connect(&bob.token).await;
    let first = post_message(&a, &alice, &thread, json!({"text": "before"})).await;
    assert_eq!(recv(&mut bob_ws, "message_created").await["id"], first["id"]);

    redis.stop();
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(post_message(&a, &alice, &thread, json!({"text": format!("during {i}")})).await["id"].clone());
    }
    let outage_over = Instant::now();
    redis.restart().await;
    let mut received = Vec::new();
    while received.len() < sent.len() {
        received.push(next_of(&mut bob_ws, "message_created").await["id"].clone());
    }
    let caught_up = outage_over.elapsed();
    assert_eq!(received, sent, "every event written during the outage, once, in order");
    assert!(caught_up < Duration::from_secs(5), "caught up {caught_up:?} after Redis returned");
    eprintln!("caught up {caught_up:?} after Redis returned");
    // And live cross-node fan-out works again.
    let after = post_message(&a, &alice, &thread, json!({"text": "after"})).await;
    assert_eq!(next_of(&mut bob_ws, "message_created").await["id"], after["id"]);
}

#[tokio::test]
async fn membership_changes_made_while_redis_is_down_reach_the_other_nodes_afterwards() {
    let Some((db, mut redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, thread) = shared_thread(&a, "confidential").await;
    let carol = user(&a, "carol").await;
    let elsewhere = create_thread(&a, &alice, "elsewhere").await;
    add_member(&a, &alice, &elsewhere, &bob).await;
    let (mut bob_ws, mut carol_ws) = (b.connect(&bob.token).await, b.connect(&carol.token).await);
    post_message(&a, &alice, &thread, json!({"text": "bob may read this"})).await;
    next_of(&mut bob_ws, "message_created").await;

    // While Redis is down, bob is removed and carol joins, both on a: b hears of neither (a
    // publishes nothing while it knows Redis is lost).
    redis.stop();
    let deadline = Instant::now() + WAIT;
    while readyz(&a).await["bus"]["connected"] != false {
        assert!(Instant::now() < deadline, "a never noticed that Redis is down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let removal = format!("/api/v1/threads/{thread}/users/{}", bob.id);
    let (status, body) = a.call("DELETE", &removal, Some(&alice.token), None).await;
    assert_eq!(status, 204, "{body}");
    add_member(&a, &alice, &thread, &carol).await;
    post_message(&a, &alice, &thread, json!({"text": "during"})).await;
    // A write on b shows b the gap (the removal among it) before Redis returns.
    post_message(&b, &alice, &thread, json!({"text": "written on b"})).await;
    redis.restart().await;

    // Carol's connection on b joins the thread once b is back: write until one reaches her.
    let deadline = Instant::now() + WAIT;
    let mut written = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "carol's connection on b never joined the thread");
        let text = format!("after {}", written.len());
        written.push(post_message(&a, &alice, &thread, json!({"text": text})).await["id"].clone());
        let heard = tokio::time::timeout(Duration::from_millis(300), next_of(&mut carol_ws, "message_created")).await;
        if heard.is_ok_and(|message| message["room"] == format!("thread:{thread}")) {
            break;
        }
    }
    // b delivers each event to all its subscribers of the room at once, so a frame sent to bob
    // afterwards (in a room he is still in) comes after anything of the thread he could get.
    let barrier = post_message(&a, &alice, &elsewhere, json!({"text": "barrier"})).await;
    loop {
        let frame = next_of(&mut bob_ws, "message_created").await;
        assert_ne!(frame["room"], format!("thread:{thread}"), "bob still receives the thread he left: {frame}");
        if frame["id"] == barrier["id"] {
            break;
        }
    }
}

#[tokio::test]
async fn a_node_stops_promptly_while_redis_is_down() {
    let Some((db, mut redis)) = services().await else { return };
    let a = node(&db, &redis, "a").await;
    let alice = user(&a, "alice").await;
    let thread = create_thread(&a, &alice, "busy").await;
    let mut alice_ws = a.connect(&alice.token).await;
    redis.stop();
    let deadline = Instant::now() + WAIT;
    while readyz(&a).await["bus"]["connected"] != false {
        assert!(Instant::now() < deadline, "a never noticed that Redis is down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Work that would go to Redis is pending: a message, alice leaving.
    post_message(&a, &alice, &thread, json!({"text": "unheard"})).await;
    recv(&mut alice_ws, "message_created").await;
    alice_ws.socket.close(None).await.expect("close");
    let stopping = Instant::now();
    a.stop().await;
    let took = stopping.elapsed();
    // The test nodes' --shutdown-timeout is 5 s: nothing may wait for Redis that long.
    assert!(took < Duration::from_secs(3), "stopping took {took:?} with Redis down");
}

#[tokio::test]
async fn a_long_poll_on_one_node_is_woken_by_a_write_on_another() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let alice = user(&a, "alice").await;
    let thread = create_thread(&a, &alice, "poll me").await;
    let room = format!("thread:{thread}");
    let (_, page) = b.call("GET", &format!("/api/v1/rooms/{room}/events?after=0"), Some(&alice.token), None).await;
    let head = page["last_seq"].as_i64().expect("last_seq");

    // Nobody is connected anywhere: only the poll keeps b interested in the room.
    let path = format!("/api/v1/rooms/{room}/events?after={head}&wait=30s");
    let poll = b.call("GET", &path, Some(&alice.token), None);
    let write = async {
        // The poll parks right after reading the log; writes before that are found by the
        // read, writes after it wake the poll: both must end with the event in the page.
        post_message(&a, &alice, &thread, json!({"text": "wake up"})).await
    };
    let started = Instant::now();
    let ((status, page), message) = tokio::join!(poll, write);
    assert_eq!(status, 200, "{page}");
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the write, not by the 30 s wait");
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["id"], message["id"], "{page}");

    // Once more with the write certainly after the park: the poll's interest is its own.
    let head = page["last_seq"].as_i64().expect("last_seq");
    let path = format!("/api/v1/rooms/{room}/events?after={head}&wait=30s");
    let poll = b.call("GET", &path, Some(&alice.token), None);
    let write = async {
        let deadline = Instant::now() + WAIT;
        // The gauge is process-wide (both nodes are in this process); only b has polls.
        while !b
            .http
            .get(b.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
            .lines()
            .any(|line| line.starts_with("long_polls_parked ") && !line.ends_with(" 0"))
        {
            assert!(Instant::now() < deadline, "the poll never parked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        post_message(&a, &alice, &thread, json!({"text": "again"})).await
    };
    let started = Instant::now();
    let ((status, page), message) = tokio::join!(poll, write);
    assert_eq!(status, 200, "{page}");
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the write on a");
    assert_eq!(page["events"][0]["id"], message["id"], "{page}");
}

#[tokio::test]
async fn a_lost_tail_is_found_by_the_high_water_check() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, thread) = shared_thread(&a, "tail").await;
    let mut bob_ws = b.connect(&bob.token).await;
    post_message(&a, &alice, &thread, json!({"text": "through the bus"})).await;
    next_of(&mut bob_ws, "message_created").await;

    // The room's last event is committed but never published (as if lost on the bus), and
    // nothing follows it that would reveal the gap.
    let room = format!("thread:{thread}");
    let stored = a
        .store
        .append_event(&room, 1, |e: &tandem_server::store::Envelope<'_>| {
            format!(r#"{{"type":"custom","room":"{}","seq":{}}}"#, e.room, e.seq)
        })
        .await
        .expect("append");
    // Two check periods (2 s each) and the fill, with slack for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(12);
    let frame = loop {
        assert!(Instant::now() < deadline, "the lost tail never arrived");
        // Short reads (cancelled in between frames) so the deadline is ours, not `next`'s.
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), bob_ws.next()).await
            && frame["type"] == "custom"
        {
            break frame;
        }
    };
    assert_eq!(frame["seq"], stored.seq, "{frame}");
    let bus = &readyz(&b).await["bus"];
    assert!(bus["gaps"].as_u64() >= Some(1), "{bus}");
}

#[tokio::test]
async fn except_skips_the_same_recipients_on_every_node() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let alice = user(&a, "alice").await;
    let bob = user(&a, "bob").await;
    let canvas = create_canvas(&a, &alice, 4, 4).await;
    add_canvas_member(&a, &alice, &canvas, &bob).await;
    let room = format!("canvas:{canvas}");
    let mut alice_on_a = WsClient::open(&a.ws_url(&format!("?token={}", alice.token))).await.expect("upgrade");
    let connection_id = alice_on_a.expect("connected").await["connection_id"].as_str().expect("id").to_owned();
    let mut alice_on_b = b.connect(&alice.token).await;
    let mut bob_on_b = b.connect(&bob.token).await;
    for ws in [&mut alice_on_a, &mut alice_on_b, &mut bob_on_b] {
        view(ws, &canvas).await;
    }
    let tiles = format!("/api/v1/canvases/{canvas}/tiles");
    let tile = |x: i64, from: Option<&str>| {
        let mut request =
            a.http.post(a.url(&tiles)).bearer_auth(&alice.token).json(&json!({"x": x, "y": 0, "data": {}}));
        if let Some(connection) = from {
            request = request.header("X-Connection-Id", connection);
        }
        async move { assert_eq!(request.send().await.expect("request").status(), 201) }
    };
    // Both nodes deliver the canvas before anything is measured.
    tile(0, None).await;
    for ws in [&mut alice_on_a, &mut alice_on_b, &mut bob_on_b] {
        assert_eq!(next_of(ws, "tile_created").await["x"], 0);
    }

    // A tile placed "from" alice's tab on a: that tab alone is skipped live.
    tile(1, Some(&connection_id)).await;
    for ws in [&mut alice_on_b, &mut bob_on_b] {
        assert_eq!(next_of(ws, "tile_created").await["x"], 1);
    }
    // Typing skips every connection of alice's, on both nodes; bob on b sees it.
    alice_on_a.send(json!({"type": "typing", "room": room, "is_typing": true})).await;
    assert_eq!(next_of(&mut bob_on_b, "user_typing").await["user_id"], alice.id.as_str());
    // A marker published after both, by node a: what alice's tabs saw before it is all.
    tile(2, None).await;
    for (tab, ws) in [("a", &mut alice_on_a), ("b", &mut alice_on_b)] {
        loop {
            let frame = ws.next().await;
            assert_ne!(frame["type"], "user_typing", "alice's tab on {tab} saw her own typing: {frame}");
            if frame["type"] == "tile_created" {
                assert_eq!(frame["x"], 2, "tab {tab}: {frame}");
                break;
            }
        }
    }
}
