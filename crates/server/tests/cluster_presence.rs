//! Presence across the nodes of a cluster (API.md §5): a user's first connection anywhere and
//! last disconnection everywhere are announced once to co-members on every node, a user who
//! hops nodes does not flap, canvas viewers count across nodes, and a node killed with SIGKILL
//! takes its users offline and its viewers out of canvases within `--node-timeout` on the
//! others; a node cut off from Redis long enough to be taken for dead announces its users
//! online again when it is back, and a killed node restarted under the same name (before
//! anyone took it for dead) takes its previous run's users and viewers away itself.
//!
//! Nodes `a`, `b` are in-process servers; the node that is killed is its own `tandem serve`
//! process. All share one PostgreSQL schema and a private `redis-server`.

mod common;

use std::time::{Duration, Instant};

use common::canvases::{add_member as add_canvas_member, create_canvas, view};
use common::cluster::{node, node_with, services, shared_thread};
use common::node_process::NodeProcess;
use common::proxy::CutProxy;
use common::{TestServer, WAIT, WsClient, user};
use serde_json::{Value, json};

/// The next `user_status_changed` about `user_id`, as its `is_online`, skipping other frames.
async fn status_of(ws: &mut WsClient, user_id: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        assert!(Instant::now() < deadline, "no user_status_changed about {user_id} within {within:?}");
        // Short waits: `next` itself gives up after 5 s without a frame.
        let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await else { continue };
        if frame["type"] == "user_status_changed" && frame["user_id"] == user_id {
            return frame["is_online"].as_bool().expect("is_online");
        }
    }
}

/// Whether `server` says `user_id` is online (`GET /users/{id}`).
async fn online_on(base: &str, token: &str, user_id: &str) -> bool {
    let body: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/users/{user_id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    body["is_online"].as_bool().unwrap_or_else(|| panic!("is_online in {body}"))
}

/// Polls `online_on` until it says `expected` (the other node's mirror follows the bus).
async fn until_online_is(base: &str, token: &str, user_id: &str, expected: bool) {
    let deadline = Instant::now() + WAIT;
    while online_on(base, token, user_id).await != expected {
        assert!(Instant::now() < deadline, "{user_id} never became is_online={expected} on {base}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next `user_status_changed` (its `is_online`) and `user_left` (its `active_users`) about
/// `user_id`, in either order, before `deadline`.
async fn status_and_left(ws: &mut WsClient, user_id: &str, deadline: Instant) -> (Value, Value) {
    let (mut status, mut left) = (None, None);
    loop {
        if let (Some(status), Some(left)) = (&status, &left) {
            return (Value::clone(status), Value::clone(left));
        }
        assert!(Instant::now() < deadline, "about {user_id}: status {status:?}, user_left {left:?}");
        let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await else { continue };
        if frame["user_id"] != user_id {
            continue;
        }
        match frame["type"].as_str() {
            Some("user_status_changed") => status = Some(frame["is_online"].clone()),
            Some("user_left") => left = Some(frame["active_users"].clone()),
            _ => {}
        }
    }
}

/// Polls `/readyz` until `node` counts `expected` dead nodes (it counts after announcing).
async fn until_dead_nodes_are(node: &TestServer, expected: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let bus = node.call("GET", "/readyz", None, None).await.1["bus"].clone();
        if bus["dead_nodes"] == expected {
            return;
        }
        assert!(Instant::now() < deadline, "dead_nodes never became {expected}: {bus}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn status_changes_are_announced_once_across_nodes() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, _thread) = shared_thread(&a, "presence").await;
    let mut alice_ws = a.connect(&alice.token).await;

    // Bob opens one connection on each node at the same moment: one "online", not two.
    let (bob_on_a, bob_on_b) = tokio::join!(a.connect(&bob.token), b.connect(&bob.token));
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await, "online first");
    until_online_is(&a.base, &alice.token, &bob.id, true).await;

    // Bob closes both; the last close anywhere is the one announced.
    for mut ws in [bob_on_a, bob_on_b] {
        ws.socket.close(None).await.expect("close");
    }
    assert!(!status_of(&mut alice_ws, &bob.id, WAIT).await, "then offline, with no second online between");
    until_online_is(&a.base, &alice.token, &bob.id, false).await;
    let me = a.call("GET", "/api/v1/users/me", Some(&bob.token), None).await.1;
    assert!(me["last_online"].as_str().is_some(), "last_online written: {me}");

    // Bob hops from b to a: opened on a before closing on b, so nobody sees him leave.
    let mut on_b = b.connect(&bob.token).await;
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await);
    let mut on_a = a.connect(&bob.token).await;
    on_b.socket.close(None).await.expect("close");
    until_online_is(&b.base, &bob.token, &bob.id, true).await;
    // The first status frame after the hop is the offline of the final close: no flap.
    on_a.socket.close(None).await.expect("close");
    assert!(!status_of(&mut alice_ws, &bob.id, WAIT).await, "no offline while he hopped");
}

/// Views `canvas` from a new socket at `ws_url` until the viewers list counts `expected`
/// (the node learns of the other nodes' viewers over the bus, a moment after they joined).
async fn view_until(ws_url: &str, canvas: &str, expected: i64) -> WsClient {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut ws = WsClient::open(ws_url).await.expect("upgrade");
        ws.expect("connected").await;
        if view(&mut ws, canvas).await["active_users"] == expected {
            return ws;
        }
        assert!(Instant::now() < deadline, "the other node's viewer never showed up");
        ws.socket.close(None).await.expect("close");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next `user_joined` / `user_left` (`kind`) about `user_id`, skipping other frames.
async fn viewer_frame(ws: &mut WsClient, kind: &str, user_id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} of {user_id} in {within:?}"));
        if frame["type"] == kind && frame["user_id"] == user_id {
            return frame;
        }
    }
}

#[tokio::test]
async fn canvas_viewers_count_across_nodes() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let alice = user(&a, "alice").await;
    let bob = user(&a, "bob").await;
    let canvas = create_canvas(&a, &alice, 4, 4).await;
    add_canvas_member(&a, &alice, &canvas, &bob).await;
    let mut alice_ws = a.connect(&alice.token).await;
    view(&mut alice_ws, &canvas).await;

    let bob_url = b.ws_url(&format!("?token={}", bob.token));
    let mut bob_ws = view_until(&bob_url, &canvas, 2).await;
    // Alice (on a) hears of bob (on b) with both counted.
    loop {
        let joined = viewer_frame(&mut alice_ws, "user_joined", &bob.id, WAIT).await;
        if joined["active_users"] == 2 {
            break;
        }
    }
    // A second tab of bob's, on a: no second user_joined for alice; its list has both.
    let mut bob_on_a = a.connect(&bob.token).await;
    assert_eq!(view(&mut bob_on_a, &canvas).await["active_users"], 2);
    bob_on_a.socket.close(None).await.expect("close");
    // Typing crosses nodes too (a probe: alice sees it only after no user_joined came between).
    bob_ws.send(json!({"type": "typing", "room": format!("canvas:{canvas}"), "is_typing": true})).await;
    loop {
        let frame = alice_ws.next().await;
        assert_ne!(frame["type"], "user_joined", "bob's second tab was announced: {frame}");
        assert_ne!(frame["type"], "user_left", "bob's second tab leaving was announced: {frame}");
        if frame["type"] == "user_typing" {
            break;
        }
    }
    bob_ws.socket.close(None).await.expect("close");
    let left = viewer_frame(&mut alice_ws, "user_left", &bob.id, WAIT).await;
    assert_eq!(left["active_users"], 1, "{left}");
}

#[tokio::test]
async fn a_node_stopped_cleanly_takes_its_users_offline_at_once() {
    let Some((db, redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, _thread) = shared_thread(&a, "goodbye").await;
    let mut alice_ws = a.connect(&alice.token).await;
    let _bob_ws = b.connect(&bob.token).await;
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await, "bob online on b");
    b.stop().await;
    // Long before a could find b dead (its registration lives 6 s).
    assert!(!status_of(&mut alice_ws, &bob.id, Duration::from_secs(3)).await, "bob offline as b stops");
    until_online_is(&a.base, &alice.token, &bob.id, false).await;
}

#[tokio::test]
async fn a_killed_node_takes_its_users_offline_within_the_node_timeout() {
    let Some((db, redis)) = services().await else { return };
    let a = node(&db, &redis, "a").await;
    let mut doomed =
        NodeProcess::start(&db.url, &redis.url(), "doomed", &["--node-timeout", "8s", "--presence-grace", "5s"]).await;
    let (alice, bob, _thread) = shared_thread(&a, "watch bob").await;
    let mut alice_ws = a.connect(&alice.token).await;

    let mut bob_ws = WsClient::open(&doomed.ws_url(&bob.token)).await.expect("upgrade");
    bob_ws.expect("connected").await;
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await, "bob online, from the other process");
    until_online_is(&a.base, &alice.token, &bob.id, true).await;

    // Bob also views a canvas with alice, from the doomed node.
    let canvas = create_canvas(&a, &alice, 4, 4).await;
    add_canvas_member(&a, &alice, &canvas, &bob).await;
    view(&mut alice_ws, &canvas).await;
    let _bob_viewing = view_until(&doomed.ws_url(&bob.token), &canvas, 2).await;
    // And a knows it (the doomed node tells the others a moment after it answered bob).
    let _a_sees_bob = view_until(&a.ws_url(&format!("?token={}", alice.token)), &canvas, 2).await;

    let killed = Instant::now();
    doomed.kill();
    // Within the 8 s node timeout (the registration lives 4 s, then 3 probes of 1 s; the
    // presence grace is not added), plus 1 s of slack for a loaded machine; the offline and
    // the viewer's leaving come in either order.
    let (offline, left) = status_and_left(&mut alice_ws, &bob.id, killed + Duration::from_secs(9)).await;
    assert_eq!(offline, json!(false), "bob offline after the kill");
    assert_eq!(left, json!(1), "the dead node's viewer left the canvas");
    let took = killed.elapsed();
    eprintln!("the killed node's users went offline {took:?} after the kill");
    assert!(took >= Duration::from_secs(3), "not before the node timed out: {took:?}");
    until_online_is(&a.base, &alice.token, &bob.id, false).await;
    let me = a.call("GET", "/api/v1/users/me", Some(&bob.token), None).await.1;
    assert!(me["last_online"].as_str().is_some(), "the dead node's last_online written for it: {me}");
    until_dead_nodes_are(&a, 1).await;
}

#[tokio::test]
async fn presence_survives_redis_losing_its_data() {
    let Some((db, mut redis)) = services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let (alice, bob, _thread) = shared_thread(&a, "outage").await;
    let mut alice_ws = a.connect(&alice.token).await;
    let mut bob_ws = b.connect(&bob.token).await;
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await);

    // Redis is killed and comes back empty (no persistence): each node writes its users again.
    redis.stop();
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut connection = redis.connection().await;
    loop {
        let nodes: Vec<String> = redis::cmd("SMEMBERS")
            .arg("tandem:online:".to_owned() + &bob.id)
            .query_async(&mut connection)
            .await
            .expect("smembers");
        if nodes == ["b"] {
            break;
        }
        assert!(Instant::now() < deadline, "node b never wrote bob back to Redis: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(online_on(&a.base, &alice.token, &bob.id).await, "still online to a");

    // His going offline is still news, announced once.
    bob_ws.socket.close(None).await.expect("close");
    assert!(!status_of(&mut alice_ws, &bob.id, WAIT).await, "offline after the outage");
}

#[tokio::test]
async fn a_node_taken_for_dead_while_cut_off_announces_its_users_again_when_back() {
    let Some((db, redis)) = services().await else { return };
    let a = node(&db, &redis, "a").await;
    let proxy = CutProxy::start(redis.url().trim_start_matches("redis://")).await;
    let via_proxy = format!("redis://{}", proxy.addr);
    let b = node_with(&db, &via_proxy, "b", |config| config.node_timeout = Duration::from_secs(2)).await;
    let (alice, bob, _thread) = shared_thread(&a, "cut off").await;
    let mut alice_ws = a.connect(&alice.token).await;
    let _bob_ws = b.connect(&bob.token).await;
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await, "bob online on b");

    // b loses Redis; a takes it for dead (2 s timeout, then 3 probes) and bob offline.
    proxy.cut();
    assert!(!status_of(&mut alice_ws, &bob.id, Duration::from_secs(12)).await, "bob offline: b is dead to a");
    until_dead_nodes_are(&a, 1).await;

    // b was alive all along, and bob still connected to it: once b is back, bob is online again.
    proxy.restore();
    assert!(status_of(&mut alice_ws, &bob.id, Duration::from_secs(10)).await, "bob online again");
    until_online_is(&a.base, &alice.token, &bob.id, true).await;
}

#[tokio::test]
async fn a_node_restarted_under_its_name_takes_its_previous_users_and_viewers_away() {
    let Some((db, redis)) = services().await else { return };
    // a would take the killed node for dead 3 probes after its registration (1 s) expired:
    // the new run starts as soon as the name is free, well within that.
    let a = node(&db, &redis, "a").await;
    let flags = ["--node-timeout", "2s", "--presence-grace", "1s"];
    let mut first = NodeProcess::start(&db.url, &redis.url(), "phoenix", &flags).await;
    let (alice, bob, _thread) = shared_thread(&a, "ghosts").await;
    let mut alice_ws = a.connect(&alice.token).await;
    let mut bob_ws = WsClient::open(&first.ws_url(&bob.token)).await.expect("upgrade");
    bob_ws.expect("connected").await;
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await, "bob online on the first run");
    let canvas = create_canvas(&a, &alice, 4, 4).await;
    add_canvas_member(&a, &alice, &canvas, &bob).await;
    view(&mut alice_ws, &canvas).await;
    let _bob_viewing = view_until(&first.ws_url(&bob.token), &canvas, 2).await;
    let _a_sees_bob = view_until(&a.ws_url(&format!("?token={}", alice.token)), &canvas, 2).await;

    first.kill();
    // The name is free again once the first run's registration expires (2 s).
    let mut connection = redis.connection().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("EXISTS").arg("tandem:node:phoenix").query_async::<bool>(&mut connection).await.expect("exists") {
        assert!(Instant::now() < deadline, "the killed run's registration never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _second = NodeProcess::start(&db.url, &redis.url(), "phoenix", &flags).await;
    let (offline, left) = status_and_left(&mut alice_ws, &bob.id, Instant::now() + Duration::from_secs(10)).await;
    assert_eq!(offline, json!(false), "the previous run's user went offline");
    assert_eq!(left, json!(1), "the previous run's viewer left the canvas");
    until_online_is(&a.base, &alice.token, &bob.id, false).await;
    let (_, ready) = a.call("GET", "/readyz", None, None).await;
    assert_eq!(ready["bus"]["dead_nodes"], 0, "the new run did it, not a: {ready}");
}
