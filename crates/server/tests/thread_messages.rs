//! Thread messages end to end over real HTTP and WebSockets, on both engines: the leak test of
//! `message_created` and the newest-first paging of a thread's messages.

mod common;

use common::threads::{add_member, assert_durable, create_thread, post_message};
use common::{TestServer, quiet, recv, user};
use serde_json::json;

both_engines! {
    // ---------------------------------------------------------------------------------------
    // Leak tests: a non-member connected the whole time receives nothing.
    // ---------------------------------------------------------------------------------------

    async fn message_created_reaches_every_member_device_and_nobody_else(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let eve = user(&server, "eve").await;
        let thread = create_thread(&server, &alice, "Chat").await;
        add_member(&server, &alice, &thread, &bob).await;
        let mut eve_ws = server.connect(&eve.token).await;
        let mut alice_phone = server.connect(&alice.token).await;
        let mut alice_laptop = server.connect(&alice.token).await;
        let mut bob_ws = server.connect(&bob.token).await;
        let posted = post_message(&server, &alice, &thread, json!({"pattern": [1, 0, 1, 1], "bpm": 120})).await;
        assert_eq!((posted["thread_id"].as_str(), posted["user_id"].as_str()), (Some(thread.as_str()), Some(alice.id.as_str())));
        for ws in [&mut alice_phone, &mut alice_laptop, &mut bob_ws] {
            let created = recv(ws, "message_created").await;
            assert_eq!(assert_durable(&created, &format!("thread:{thread}")), 2, "after bob's invitation_accepted");
            assert_eq!(created["id"], posted["id"]);
            assert_eq!(created["parent_thread"], thread.as_str());
            assert_eq!(created["user_id"], alice.id.as_str());
            assert_eq!(created["snapshot"], json!({"pattern": [1, 0, 1, 1], "bpm": 120}));
            quiet(ws).await;
        }
        eve_ws.assert_nothing_pending().await;
        // Nor can she ask for it.
        eve_ws.send(json!({"type": "subscribe", "room": format!("thread:{thread}"), "ref": 1})).await;
        assert_eq!(eve_ws.expect("error").await["code"], "not_found");
        eve_ws.send(json!({"type": "resume", "rooms": {format!("thread:{thread}"): 0}, "ref": 2})).await;
        assert_eq!(eve_ws.expect("error").await["code"], "not_found");
        let (status, _) = server.call("GET", &format!("/api/v1/rooms/thread:{thread}/events"), Some(&eve.token), None).await;
        assert_eq!(status, 404);
    }

    // ---------------------------------------------------------------------------------------
    // Pagination
    // ---------------------------------------------------------------------------------------

    async fn messages_are_paginated_newest_first(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let thread = create_thread(&server, &alice, "Long").await;
        let mut ids = Vec::new();
        for n in 1..=7 {
            ids.push(post_message(&server, &alice, &thread, json!({"n": n})).await["id"].as_str().expect("id").to_owned());
        }
        let page = |query: String| {
            let (server, token, thread) = (&server, alice.token.clone(), thread.clone());
            async move {
                let (status, body) = server.call("GET", &format!("/api/v1/threads/{thread}/messages{query}"), Some(&token), None).await;
                assert_eq!(status, 200, "{body}");
                body["messages"].as_array().expect("messages").iter().map(|m| m["snapshot"]["n"].as_i64().expect("n")).collect::<Vec<_>>()
            }
        };
        assert_eq!(page(String::new()).await, [7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(page("?limit=3".into()).await, [7, 6, 5]);
        assert_eq!(page(format!("?limit=3&before={}", ids[4])).await, [4, 3, 2]);
        assert_eq!(page(format!("?limit=3&before={}", ids[1])).await, [1]);
        assert_eq!(page(format!("?before={}", ids[0])).await, Vec::<i64>::new());
        let (_, body) = server.call("GET", &format!("/api/v1/threads/{thread}/messages?limit=1"), Some(&alice.token), None).await;
        let message = &body["messages"][0];
        assert_eq!((message["id"].as_str(), message["thread_id"].as_str(), message["user_id"].as_str()), (Some(ids[6].as_str()), Some(thread.as_str()), Some(alice.id.as_str())));
        assert!(message["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let id = message["id"].as_str().expect("id");
        assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
    }
}
