//! Presence across the nodes of a cluster (API.md §5): a user's first connection anywhere and
//! last disconnection everywhere are announced once to co-members on every node, a user who
//! hops nodes does not flap, and a node killed with SIGKILL takes its users offline within
//! `--node-timeout` on the others.
//!
//! Nodes `a`, `b` are in-process servers; the node that is killed is its own `tandem serve`
//! process. All share one PostgreSQL schema and a private `redis-server`.

mod common;

use std::time::{Duration, Instant};

use common::node_process::NodeProcess;
use common::redis::RedisProcess;
use common::threads::{add_member, create_thread};
use common::{Engine, TestDb, TestServer, WAIT, WsClient, user};
use serde_json::Value;

async fn cluster_services() -> Option<(TestDb, RedisProcess)> {
    let db = TestDb::new(Engine::Postgres).await?;
    let redis = RedisProcess::start().await?;
    redis.ready().await;
    Some((db, redis))
}

async fn node(db: &TestDb, redis: &RedisProcess, name: &str) -> TestServer {
    let (url, name) = (redis.url(), name.to_owned());
    TestServer::start_on(&db.url, move |config| {
        config.jwt_secret = Some(common::TEST_SECRET.into());
        config.redis_url = Some(url);
        config.node_id = Some(name);
    })
    .await
}

/// The next `user_status_changed` about `user_id`, as its `is_online`, skipping other frames.
async fn status_of(ws: &mut WsClient, user_id: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no user_status_changed about {user_id} within {within:?}"));
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

#[tokio::test]
async fn status_changes_are_announced_once_across_nodes() {
    let Some((db, redis)) = cluster_services().await else { return };
    let (a, b) = (node(&db, &redis, "a").await, node(&db, &redis, "b").await);
    let alice = user(&a, "alice").await;
    let bob = user(&a, "bob").await;
    let thread = create_thread(&a, &alice, "presence").await;
    add_member(&a, &alice, &thread, &bob).await;
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

#[tokio::test]
async fn a_killed_node_takes_its_users_offline_within_the_node_timeout() {
    let Some((db, redis)) = cluster_services().await else { return };
    let a = node(&db, &redis, "a").await;
    let mut doomed =
        NodeProcess::start(&db.url, &redis.url(), "doomed", &["--node-timeout", "2s", "--presence-grace", "0s"]).await;
    let alice = user(&a, "alice").await;
    let bob = user(&a, "bob").await;
    let thread = create_thread(&a, &alice, "watch bob").await;
    add_member(&a, &alice, &thread, &bob).await;
    let mut alice_ws = a.connect(&alice.token).await;

    let mut bob_ws = WsClient::open(&doomed.ws_url(&bob.token)).await.expect("upgrade");
    bob_ws.expect("connected").await;
    assert!(status_of(&mut alice_ws, &bob.id, WAIT).await, "bob online, from the other process");
    until_online_is(&a.base, &alice.token, &bob.id, true).await;

    let killed = Instant::now();
    doomed.kill();
    // 2 s node timeout + 1 s probe, with no grace (the test nodes announce at once), plus
    // slack for a loaded machine.
    assert!(!status_of(&mut alice_ws, &bob.id, Duration::from_secs(10)).await, "bob offline after the kill");
    let took = killed.elapsed();
    assert!(took >= Duration::from_secs(1), "not before the node timed out: {took:?}");
    until_online_is(&a.base, &alice.token, &bob.id, false).await;
    let me = a.call("GET", "/api/v1/users/me", Some(&bob.token), None).await.1;
    assert!(me["last_online"].as_str().is_some(), "the dead node's last_online written for it: {me}");
    let (_, ready) = a.call("GET", "/readyz", None, None).await;
    assert_eq!(ready["bus"]["dead_nodes"], 1, "{ready}");
}
