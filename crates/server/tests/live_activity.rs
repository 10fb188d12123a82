//! Live activity in every room (API.md §4 "Live activity"): `typing` (and seed 004's
//! `user_presence` form of it) in threads and drafts, `cursor` → `user_cursor` with its 20 a
//! second throttle, and activity ending when its user leaves. Canvases have their own tests.

mod common;

use std::time::{Duration, Instant};

use common::{Engine, TestServer, User, WsClient, quiet, recv, user};
use serde_json::{Value, json};

/// A thread of `owner` with `member` added (before anyone connects): `thread:{id}`.
async fn shared_thread(server: &TestServer, owner: &User, member: &User) -> String {
    let (status, body) = server.call("POST", "/api/v1/threads", Some(&owner.token), Some(json!({"name": "t"}))).await;
    assert_eq!(status, 201, "{body}");
    let room = format!("thread:{}", body["id"].as_str().expect("id"));
    server.add_members(&room, &[&member.id]).await;
    room
}

/// Sends `frame` with a `ref` and returns the answer to it.
async fn call(ws: &mut WsClient, mut frame: Value) -> Value {
    frame["ref"] = json!("r");
    ws.send(frame).await;
    loop {
        let answer = ws.next().await;
        if answer["ref"] == "r" {
            return answer;
        }
    }
}

fn refused(answer: &Value, code: &str) {
    assert_eq!((answer["type"].as_str(), answer["code"].as_str()), (Some("error"), Some(code)), "{answer}");
}

/// The next `user_cursor` frame (other frames are skipped).
async fn next_cursor(ws: &mut WsClient) -> Value {
    recv(ws, "user_cursor").await
}

both_engines! {
    async fn typing_reaches_the_others_in_a_thread_and_ends_when_the_typist_leaves(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let room = shared_thread(&server, &alice, &bob).await;
        let mut bob_ws = server.connect(&bob.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        assert_eq!(call(&mut alice_ws, json!({"type": "typing", "room": room, "is_typing": true})).await["type"], "ack");
        let typing = recv(&mut bob_ws, "user_typing").await;
        assert_eq!(
            (typing["room"].as_str(), typing["user_id"].as_str(), typing["username"].as_str(), &typing["is_typing"]),
            (Some(room.as_str()), Some(alice.id.as_str()), Some("alice"), &json!(true))
        );
        drop(alice_ws);
        let stopped = recv(&mut bob_ws, "user_typing").await;
        assert_eq!((stopped["user_id"].as_str(), &stopped["is_typing"]), (Some(alice.id.as_str()), &json!(false)));
    }

    async fn seed_004s_user_presence_typing_means_typing_in_a_draft(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let (status, draft) =
            server.call("POST", "/api/v1/drafts", Some(&alice.token), Some(json!({"title": "poem"}))).await;
        assert_eq!(status, 201, "{draft}");
        let id = draft["id"].as_str().expect("id");
        let path = format!("/api/v1/drafts/{id}/collaborators");
        assert_eq!(server.call("POST", &path, Some(&alice.token), Some(json!({"user_id": bob.id}))).await.0, 201);
        let room = format!("draft:{id}");
        let (mut alice_ws, mut bob_ws) = (server.connect(&alice.token).await, server.connect(&bob.token).await);
        let typing = json!({"type": "user_presence", "room": room, "presence_type": "typing", "is_typing": true});
        refused(&call(&mut alice_ws, typing.clone()).await, "not_found");
        for ws in [&mut alice_ws, &mut bob_ws] {
            assert_eq!(call(ws, json!({"type": "subscribe", "room": room})).await["type"], "ack");
        }
        assert_eq!(call(&mut alice_ws, typing).await["type"], "ack");
        let frame = recv(&mut bob_ws, "user_typing").await;
        assert_eq!((frame["room"].as_str(), &frame["is_typing"]), (Some(room.as_str()), &json!(true)));
        let no_state = json!({"type": "user_presence", "room": room, "presence_type": "typing"});
        refused(&call(&mut alice_ws, no_state).await, "validation_failed");
        let unknown = json!({"type": "user_presence", "room": room, "presence_type": "dancing", "is_typing": true});
        refused(&call(&mut alice_ws, unknown).await, "validation_failed");
        let no_tiles = json!({"type": "user_presence", "room": room, "presence_type": "editing_tile",
                              "tile_x": 0, "tile_y": 0, "is_editing": true});
        refused(&call(&mut alice_ws, no_tiles).await, "validation_failed");
        // Leaving the draft ends the typing for the others at once.
        assert_eq!(call(&mut alice_ws, json!({"type": "unsubscribe", "room": room})).await["type"], "ack");
        assert_eq!(recv(&mut bob_ws, "user_typing").await["is_typing"], false);
    }

    async fn cursors_are_throttled_to_20_a_second_and_the_last_one_wins(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let room = shared_thread(&server, &alice, &bob).await;
        let mut bob_ws = server.connect(&bob.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        let started = Instant::now();
        for i in 0..100 {
            alice_ws.send(json!({"type": "cursor", "room": room, "x": i, "y": 2.5})).await;
        }
        let mut received = 0;
        loop {
            let cursor = next_cursor(&mut bob_ws).await;
            received += 1;
            assert_eq!((cursor["user_id"].as_str(), cursor["username"].as_str()), (Some(alice.id.as_str()), Some("alice")));
            assert_eq!(cursor["y"], 2.5);
            if cursor["x"] == 99.0 {
                break;
            }
        }
        let allowed = (started.elapsed().as_secs_f64() * 20.0).ceil() as usize + 1;
        assert!(received <= allowed, "{received} cursor frames in {:?}", started.elapsed());
        assert_eq!(call(&mut alice_ws, json!({"type": "cursor", "room": room, "x": null, "y": null})).await["type"], "ack");
        let hidden = next_cursor(&mut bob_ws).await;
        assert_eq!((hidden["x"].clone(), hidden["y"].clone()), (Value::Null, Value::Null));
        for bad in [json!({"x": 1, "y": null}), json!({"x": "1", "y": 2}), json!({"x": 1e12, "y": 0})] {
            let mut frame = json!({"type": "cursor", "room": room});
            frame.as_object_mut().expect("object").extend(bad.as_object().expect("object").clone());
            let answer = call(&mut alice_ws, frame).await;
            assert!(answer["code"] == "validation_failed" || answer["code"] == "invalid_frame", "{answer}");
        }
        let elsewhere = json!({"type": "cursor", "room": "thread:000000000000000000000000", "x": 1, "y": 1});
        refused(&call(&mut alice_ws, elsewhere).await, "not_found");
    }

    async fn activity_is_not_echoed_and_stays_in_its_room(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol) = (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await);
        let room = shared_thread(&server, &alice, &bob).await;
        let mut carol_ws = server.connect(&carol.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        let mut alice_phone = server.connect(&alice.token).await;
        let mut bob_ws = server.connect(&bob.token).await;
        alice_ws.send(json!({"type": "typing", "room": room, "is_typing": true})).await;
        alice_ws.send(json!({"type": "cursor", "room": room, "x": 1, "y": 1})).await;
        recv(&mut bob_ws, "user_typing").await;
        next_cursor(&mut bob_ws).await;
        // The typist's own devices and users outside the room hear nothing.
        for ws in [&mut alice_ws, &mut alice_phone, &mut carol_ws] {
            quiet(ws).await;
        }
    }
}

/// A cursor not moved for 10 s is hidden (one engine: activity never touches the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_left_alone_for_ten_seconds_is_hidden() {
    // Pings every second keep the test client's 5 s frame wait alive through the silence.
    let server = TestServer::start_with(Engine::Sqlite, |c| c.heartbeat_interval = Duration::from_secs(1)).await;
    let Some(server) = server else { return };
    let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
    let room = shared_thread(&server, &alice, &bob).await;
    let mut bob_ws = server.connect(&bob.token).await;
    let mut alice_ws = server.connect(&alice.token).await;
    alice_ws.send(json!({"type": "cursor", "room": room, "x": 3, "y": 4})).await;
    let shown = next_cursor(&mut bob_ws).await;
    assert_eq!((shown["x"].clone(), shown["y"].clone()), (json!(3.0), json!(4.0)));
    let moved = Instant::now();
    let hidden =
        tokio::time::timeout(Duration::from_secs(12), next_cursor(&mut bob_ws)).await.expect("hidden within 12 s");
    assert_eq!(hidden["x"], Value::Null);
    let after = moved.elapsed();
    assert!(after >= Duration::from_millis(9_900) && after < Duration::from_secs(12), "hidden after {after:?}");
}
