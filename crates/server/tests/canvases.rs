//! Canvases (seed 004) end to end over real HTTP and WebSockets, on both engines: every REST
//! rule with its bad input, durable tile events with exclude-sender, chat, a leak test per event
//! type, and seed 004's multi-user testing procedure. Viewers, typing/presence and `tile_mention`
//! have their own tests (`canvas_activity.rs`).

mod common;

use common::canvases::{add_member, assert_refused, connect, create_canvas, view};
use common::{TestServer, User, assert_error, quiet, recv, user};
use serde_json::{Value, json};

/// A REST call with an optional `X-Connection-Id`.
async fn call_as(
    server: &TestServer,
    method: &str,
    path: &str,
    who: &User,
    connection: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = server.http.request(method, server.url(path)).bearer_auth(&who.token);
    if let Some(connection) = connection {
        request = request.header("X-Connection-Id", connection);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") })
}

both_engines! {
    async fn rest_rules_with_bad_input(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, eve) = (user(&server, "alice").await, user(&server, "bob").await, user(&server, "eve").await);
        for body in [
            json!({"name": " ", "width": 5, "height": 5}),
            json!({"name": "x".repeat(101), "width": 5, "height": 5}),
            json!({"name": "w", "width": 0, "height": 5}),
            json!({"name": "w", "width": 5, "height": 1001}),
            json!({"name": "w", "width": -3, "height": 5}),
        ] {
            let response = server.call("POST", "/api/v1/canvases", Some(&alice.token), Some(body.clone())).await;
            assert_error(&response, 400, "validation_failed");
        }
        let response = server.call("POST", "/api/v1/canvases", Some(&alice.token), Some(json!({"name": "w"}))).await;
        assert_eq!(response.0, 422, "{}", response.1);
        assert_eq!(server.call("POST", "/api/v1/canvases", None, Some(json!({"name": "w", "width": 1, "height": 1}))).await.0, 401);

        let canvas = create_canvas(&server, &alice, 4, 3).await;
        let path = format!("/api/v1/canvases/{canvas}");
        let (status, body) = server.call("GET", &path, Some(&alice.token), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["width"].as_i64(), body["height"].as_i64()), (Some(4), Some(3)));
        assert_eq!(body["members"], json!([alice.id]));
        // Non-members and unknown ids: 404 alike.
        assert_error(&server.call("GET", &path, Some(&bob.token), None).await, 404, "not_found");
        assert_error(&server.call("GET", "/api/v1/canvases/ffffffffffffffffffffffff", Some(&alice.token), None).await, 404, "not_found");
        assert_error(&server.call("GET", "/api/v1/canvases/nope", Some(&alice.token), None).await, 404, "not_found");
        assert_error(&server.call("GET", &format!("{path}/chat"), Some(&bob.token), None).await, 404, "not_found");

        // Members.
        let members = format!("{path}/members");
        assert_error(&server.call("POST", &members, Some(&alice.token), Some(json!({"user_id": "x"}))).await, 400, "validation_failed");
        assert_error(&server.call("POST", &members, Some(&alice.token), Some(json!({"user_id": "ffffffffffffffffffffffff"}))).await, 404, "not_found");
        assert_error(&server.call("POST", &members, Some(&bob.token), Some(json!({"user_id": bob.id}))).await, 404, "not_found");
        add_member(&server, &alice, &canvas, &bob).await;
        assert_error(&server.call("POST", &members, Some(&alice.token), Some(json!({"user_id": bob.id}))).await, 409, "conflict");
        let (_, body) = server.call("GET", &path, Some(&bob.token), None).await;
        assert_eq!(body["members"], json!([alice.id, bob.id]));

        // Tiles: bounds, one per cell, non-members.
        let tiles = format!("{path}/tiles");
        for (x, y) in [(-1, 0), (0, -1), (4, 0), (0, 3), (100, 100)] {
            let response = server.call("POST", &tiles, Some(&alice.token), Some(json!({"x": x, "y": y, "data": {}}))).await;
            assert_error(&response, 400, "validation_failed");
        }
        let (status, tile) = server.call("POST", &tiles, Some(&alice.token), Some(json!({"x": 3, "y": 2, "data": {"c": "red"}}))).await;
        assert_eq!(status, 201, "{tile}");
        assert_eq!((tile["x"].as_i64(), tile["y"].as_i64(), tile["like_count"].as_i64()), (Some(3), Some(2), Some(0)));
        assert_eq!(tile["data"], json!({"c": "red"}));
        assert_eq!(tile["creator_id"], alice.id.as_str());
        let response = server.call("POST", &tiles, Some(&bob.token), Some(json!({"x": 3, "y": 2, "data": 1}))).await;
        assert_error(&response, 409, "conflict");
        let response = server.call("POST", &tiles, Some(&eve.token), Some(json!({"x": 0, "y": 0, "data": 1}))).await;
        assert_error(&response, 404, "not_found");
        let response = server.call("POST", &tiles, Some(&alice.token), Some(json!({"x": 0, "y": 0, "data": "x".repeat(17_000)}))).await;
        assert_error(&response, 413, "payload_too_large");
        let response = server.call("POST", &tiles, Some(&alice.token), Some(json!({"x": 0, "y": 0}))).await;
        assert_eq!(response.0, 422, "{}", response.1);

        // Update: creator only.
        let tile_path = format!("{tiles}/{}", tile["id"].as_str().unwrap());
        assert_error(&server.call("PUT", &tile_path, Some(&bob.token), Some(json!({"data": 2}))).await, 403, "forbidden");
        assert_error(&server.call("PUT", &tile_path, Some(&eve.token), Some(json!({"data": 2}))).await, 404, "not_found");
        assert_error(&server.call("PUT", &format!("{tiles}/ffffffffffffffffffffffff"), Some(&alice.token), Some(json!({"data": 2}))).await, 404, "not_found");
        let (status, updated) = server.call("PUT", &tile_path, Some(&alice.token), Some(json!({"data": {"c": "blue"}}))).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["data"], json!({"c": "blue"}));

        // Likes: once per user.
        let like = format!("{tile_path}/like");
        let (status, liked) = server.call("POST", &like, Some(&bob.token), None).await;
        assert_eq!((status, liked["like_count"].as_i64()), (200, Some(1)), "{liked}");
        assert_error(&server.call("POST", &like, Some(&bob.token), None).await, 409, "conflict");
        let (status, liked) = server.call("POST", &like, Some(&alice.token), None).await;
        assert_eq!((status, liked["like_count"].as_i64()), (200, Some(2)), "{liked}");
        assert_error(&server.call("POST", &like, Some(&eve.token), None).await, 404, "not_found");
        assert_error(&server.call("POST", &format!("{tiles}/ffffffffffffffffffffffff/like"), Some(&alice.token), None).await, 404, "not_found");

        // A malformed X-Connection-Id is refused; a foreign one is ignored.
        let response = call_as(&server, "POST", &tiles, &alice, Some("zz"), Some(json!({"x": 0, "y": 0, "data": 1}))).await;
        assert_error(&response, 400, "validation_failed");

        // Chat history limits.
        for limit in ["0", "201", "abc"] {
            let response = server.call("GET", &format!("{path}/chat?limit={limit}"), Some(&alice.token), None).await;
            assert_eq!(response.0, 400, "limit={limit}: {}", response.1);
        }
        let (status, body) = server.call("GET", &path, Some(&alice.token), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["tiles"].as_array().map(Vec::len), Some(1), "{body}");
        let (status, doc) = server.call("GET", "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        for route in [
            "/api/v1/canvases",
            "/api/v1/canvases/{id}",
            "/api/v1/canvases/{id}/members",
            "/api/v1/canvases/{id}/tiles",
            "/api/v1/canvases/{id}/tiles/{tile_id}",
            "/api/v1/canvases/{id}/tiles/{tile_id}/like",
            "/api/v1/canvases/{id}/chat",
        ] {
            assert!(doc["paths"].get(route).is_some(), "{route} missing from the OpenAPI document");
        }
    }

    async fn tile_events_are_durable_and_skip_the_authors_connection(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol, dave) =
            (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await, user(&server, "dave").await);
        let canvas = create_canvas(&server, &alice, 10, 10).await;
        add_member(&server, &alice, &canvas, &bob).await;
        add_member(&server, &alice, &canvas, &carol).await;
        let (mut a1, a1_id) = connect(&server, &alice).await;
        let (mut a2, _) = connect(&server, &alice).await;
        let (mut b, _) = connect(&server, &bob).await;
        let (mut c, _) = connect(&server, &carol).await; // member, not viewing
        let (mut d, _) = connect(&server, &dave).await; // not a member
        view(&mut a1, &canvas).await;
        view(&mut a2, &canvas).await;
        view(&mut b, &canvas).await;
        recv(&mut a1, "user_joined").await;
        recv(&mut a2, "user_joined").await;
        // Dave cannot view it.
        assert_refused(&mut d, json!({"type": "subscribe", "room": format!("canvas:{canvas}")}), "not_found").await;

        let tiles = format!("/api/v1/canvases/{canvas}/tiles");
        let (status, tile) = call_as(&server, "POST", &tiles, &alice, Some(&a1_id), Some(json!({"x": 1, "y": 2, "data": {"c": "red"}}))).await;
        assert_eq!(status, 201, "{tile}");
        let seq = tile["seq"].as_i64().expect("seq");
        for ws in [&mut a2, &mut b] {
            let event = recv(ws, "tile_created").await;
            assert_eq!(event["seq"].as_i64(), Some(seq));
            assert_eq!(event["room"], format!("canvas:{canvas}"));
            assert_eq!((event["x"].as_i64(), event["y"].as_i64()), (Some(1), Some(2)));
            assert_eq!(event["creator_id"], alice.id.as_str());
            assert_eq!(event["tile_id"], tile["id"]);
            assert_eq!(event["data"], json!({"c": "red"}));
        }
        let tile_path = format!("{tiles}/{}", tile["id"].as_str().unwrap());
        let (status, _) = call_as(&server, "PUT", &tile_path, &alice, Some(&a1_id), Some(json!({"data": {"c": "blue"}}))).await;
        assert_eq!(status, 200);
        for ws in [&mut a2, &mut b] {
            let event = recv(ws, "tile_updated").await;
            assert_eq!(event["seq"].as_i64(), Some(seq + 1));
            assert_eq!(event["data"], json!({"c": "blue"}));
        }
        // Bob likes without naming a connection: every viewer gets it, bob included.
        let (status, liked) = call_as(&server, "POST", &format!("{tile_path}/like"), &bob, None, None).await;
        assert_eq!((status, liked["seq"].as_i64()), (200, Some(seq + 2)));
        for ws in [&mut a1, &mut a2, &mut b] {
            let event = recv(ws, "tile_liked").await;
            assert_eq!((event["like_count"].as_i64(), event["user_id"].as_str()), (Some(1), Some(bob.id.as_str())));
        }
        // Naming someone else's connection does not silence it.
        {
            let (mut b2, b2_id) = connect(&server, &bob).await;
            view(&mut b2, &canvas).await;
            let body = json!({"x": 0, "y": 0, "data": 1});
            let (status, _) = call_as(&server, "POST", &tiles, &alice, Some(&b2_id), Some(body)).await;
            assert_eq!(status, 201);
            recv(&mut b2, "tile_created").await;
        }
        for ws in [&mut a1, &mut a2, &mut b] {
            recv(ws, "tile_created").await;
        }
        for ws in [&mut a1, &mut a2, &mut b, &mut c, &mut d] {
            quiet(ws).await;
        }
        // Stored and replayable, including for the author's silenced connection.
        let (status, page) = server.call("GET", &format!("/api/v1/rooms/canvas:{canvas}/events?after=0"), Some(&alice.token), None).await;
        assert_eq!(status, 200, "{page}");
        let kinds: Vec<&str> = page["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["tile_created", "tile_updated", "tile_liked", "tile_created"]);
        a1.send(json!({"type": "resume", "rooms": {format!("canvas:{canvas}"): 0}})).await;
        for kind in ["tile_created", "tile_updated", "tile_liked", "tile_created"] {
            recv(&mut a1, kind).await;
        }
    }

    async fn chat_is_validated_stored_and_broadcast(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol, dave) =
            (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await, user(&server, "dave").await);
        let canvas = create_canvas(&server, &alice, 5, 5).await;
        add_member(&server, &alice, &canvas, &bob).await;
        add_member(&server, &alice, &canvas, &carol).await;
        let room = format!("canvas:{canvas}");
        let (mut a, _) = connect(&server, &alice).await;
        let (mut b, _) = connect(&server, &bob).await;
        let (mut c, _) = connect(&server, &carol).await;
        let (mut d, _) = connect(&server, &dave).await;
        view(&mut a, &canvas).await;
        view(&mut b, &canvas).await;
        recv(&mut a, "user_joined").await;

        for text in [String::new(), "   \n ".into(), "x".repeat(2001)] {
            assert_refused(&mut a, json!({"type": "canvas_chat", "room": room, "text": text}), "validation_failed").await;
        }
        assert_refused(&mut a, json!({"type": "canvas_chat", "room": room}), "invalid_frame").await;
        assert_refused(&mut a, json!({"type": "canvas_chat", "room": "thread:x", "text": "hi"}), "validation_failed").await;
        assert_refused(&mut d, json!({"type": "canvas_chat", "room": room, "text": "hi"}), "not_found").await;

        a.send(json!({"type": "canvas_chat", "room": room, "text": format!("  {}  ", "é".repeat(2000)), "ref": 1})).await;
        // The sender gets the message before the ack (it is published before the answer).
        let reply = recv(&mut a, "canvas_chat_message").await;
        assert_eq!(reply["message_text"].as_str().map(|t| t.chars().count()), Some(2000));
        recv(&mut a, "ack").await;
        let message = recv(&mut b, "canvas_chat_message").await;
        assert_eq!(message["sender_id"], alice.id.as_str());
        assert_eq!(message["sender_username"], "alice");
        assert_eq!(message["seq"].as_i64(), Some(1));
        b.send(json!({"type": "canvas_chat", "room": room, "text": "hello"})).await;
        for ws in [&mut a, &mut b] {
            let message = recv(ws, "canvas_chat_message").await;
            assert_eq!((message["message_text"].as_str(), message["seq"].as_i64()), (Some("hello"), Some(2)));
        }
        // Carol (member, not viewing) and dave receive nothing.
        for ws in [&mut a, &mut b, &mut c, &mut d] {
            quiet(ws).await;
        }
        let (status, history) = server.call("GET", &format!("/api/v1/canvases/{canvas}/chat?limit=50"), Some(&carol.token), None).await;
        assert_eq!(status, 200, "{history}");
        let texts: Vec<&str> = history["messages"].as_array().unwrap().iter().map(|m| m["message_text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["é".repeat(2000).as_str(), "hello"]);
        let (_, history) = server.call("GET", &format!("/api/v1/canvases/{canvas}/chat?limit=1"), Some(&carol.token), None).await;
        assert_eq!(history["messages"][0]["message_text"], "hello");
        assert_eq!(history["messages"][0]["sender_username"], "bob");
    }

    async fn seed004_multi_user_testing_procedure(engine: Engine) {
        // 1. Open the canvas in several tabs/windows (alice twice, bob, carol).
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol) = (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await);
        let canvas = create_canvas(&server, &alice, 20, 20).await;
        add_member(&server, &alice, &canvas, &bob).await;
        add_member(&server, &alice, &canvas, &carol).await;
        let room = format!("canvas:{canvas}");
        let mut tabs = Vec::new();
        for who in [&alice, &alice, &bob, &carol] {
            let (mut ws, _) = connect(&server, who).await;
            view(&mut ws, &canvas).await;
            tabs.push(ws);
        }
        // Drain the joins: tab 0 saw bob and carol, tab 1 saw bob and carol, bob saw carol.
        for (tab, joins) in [(0, 2), (1, 2), (2, 1)] {
            for _ in 0..joins {
                recv(&mut tabs[tab], "user_joined").await;
            }
        }
        // 2./3. Send a chat message from each connection; every connection receives every one.
        for (sender, tab) in tabs.iter_mut().enumerate() {
            tab.send(json!({"type": "canvas_chat", "room": room, "text": format!("from tab {sender}")})).await;
        }
        for tab in &mut tabs {
            let mut texts = Vec::new();
            for _ in 0..4 {
                texts.push(recv(tab, "canvas_chat_message").await["message_text"].as_str().unwrap().to_owned());
            }
            texts.sort();
            assert_eq!(texts, ["from tab 0", "from tab 1", "from tab 2", "from tab 3"]);
        }
        // 4. Presence updates reach the other users (not the sender's own tabs).
        tabs[2].send(json!({"type": "user_presence", "room": room, "presence_type": "editing_tile", "tile_x": 15, "tile_y": 10, "is_editing": true})).await;
        for tab in [0, 1, 3] {
            let update = recv(&mut tabs[tab], "user_presence_update").await;
            assert_eq!((update["user_id"].as_str(), update["tile_x"].as_i64()), (Some(bob.id.as_str()), Some(15)));
        }
        for tab in &mut tabs {
            quiet(tab).await;
        }
        // 5. Cleanup on tab close: bob's tab closes → his editing ends and he leaves.
        let bob_tab = tabs.remove(2);
        drop(bob_tab);
        for tab in [0, 1, 2] {
            let update = recv(&mut tabs[tab], "user_presence_update").await;
            assert_eq!(update["is_editing"], false);
            let left = recv(&mut tabs[tab], "user_left").await;
            assert_eq!((left["user_id"].as_str(), left["active_users"].as_u64()), (Some(bob.id.as_str()), Some(2)));
        }
        // One of alice's two tabs closes: alice still views, nobody is told.
        let alice_tab = tabs.remove(0);
        drop(alice_tab);
        for tab in &mut tabs {
            quiet(tab).await;
        }
        let (status, history) = server.call("GET", &format!("/api/v1/canvases/{canvas}/chat"), Some(&carol.token), None).await;
        assert_eq!(status, 200);
        assert_eq!(history["messages"].as_array().map(Vec::len), Some(4));
    }
}
