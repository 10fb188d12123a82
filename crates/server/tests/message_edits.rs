//! Editing and deleting thread messages (API.md §3), end to end on both engines: who may,
//! the durable `message_updated` / `message_deleted` events live and in replay, and the history
//! afterwards.

mod common;

use common::{TestServer, User, assert_error, recv, user};
use serde_json::{Value, json};

/// A thread of `owner` with `members` added (before anyone connects).
async fn thread_with(server: &TestServer, owner: &User, members: &[&User]) -> String {
    let (status, body) = server.call("POST", "/api/v1/threads", Some(&owner.token), Some(json!({"name": "t"}))).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    server.add_members(&format!("thread:{id}"), &ids).await;
    id
}

async fn post(server: &TestServer, who: &User, thread: &str, snapshot: Value) -> Value {
    let path = format!("/api/v1/threads/{thread}/messages");
    let (status, body) = server.call("POST", &path, Some(&who.token), Some(json!({"snapshot": snapshot}))).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn edit(server: &TestServer, who: &User, thread: &str, message: &str, snapshot: Value) -> (u16, Value) {
    let path = format!("/api/v1/threads/{thread}/messages/{message}");
    server.call("PATCH", &path, Some(&who.token), Some(json!({"snapshot": snapshot}))).await
}

async fn delete(server: &TestServer, who: &User, thread: &str, message: &str) -> (u16, Value) {
    server.call("DELETE", &format!("/api/v1/threads/{thread}/messages/{message}"), Some(&who.token), None).await
}

async fn history(server: &TestServer, who: &User, thread: &str) -> Vec<Value> {
    let (status, body) =
        server.call("GET", &format!("/api/v1/threads/{thread}/messages"), Some(&who.token), None).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().expect("messages").clone()
}

both_engines! {
    async fn the_author_edits_and_every_member_gets_message_updated(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let thread = thread_with(&server, &alice, &[&bob]).await;
        let mut bob_ws = server.connect(&bob.token).await;
        let message = post(&server, &alice, &thread, json!({"text": "helo"})).await;
        let id = message["id"].as_str().expect("id");
        let created = recv(&mut bob_ws, "message_created").await;

        let (status, edited) = edit(&server, &alice, &thread, id, json!({"text": "hello"})).await;
        assert_eq!(status, 200, "{edited}");
        assert_eq!((edited["snapshot"].clone(), edited["id"].clone()), (json!({"text": "hello"}), json!(id)));
        assert!(edited["updated_at"].is_string(), "{edited}");
        assert_eq!(edited["created_at"], message["created_at"]);
        let updated = recv(&mut bob_ws, "message_updated").await;
        assert_eq!(updated["seq"], created["seq"].as_i64().expect("seq") + 1);
        assert_eq!(updated["room"], format!("thread:{thread}"));
        assert_eq!(
            (updated["id"].as_str(), updated["parent_thread"].as_str(), updated["user_id"].as_str()),
            (Some(id), Some(thread.as_str()), Some(alice.id.as_str()))
        );
        assert_eq!(updated["snapshot"], json!({"text": "hello"}));
        assert!(updated["updated_at"].is_i64() && updated["timestamp"].is_i64(), "{updated}");

        let messages = history(&server, &bob, &thread).await;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["snapshot"], json!({"text": "hello"}));
        assert_eq!(messages[0]["updated_at"], edited["updated_at"]);
    }

    async fn only_the_author_edits(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, eve) = (user(&server, "alice").await, user(&server, "bob").await, user(&server, "eve").await);
        let thread = thread_with(&server, &alice, &[&bob]).await;
        let id = post(&server, &bob, &thread, json!(1)).await["id"].as_str().expect("id").to_owned();
        assert_error(&edit(&server, &alice, &thread, &id, json!(2)).await, 403, "forbidden");
        assert_error(&edit(&server, &eve, &thread, &id, json!(2)).await, 404, "not_found");
        assert_error(&edit(&server, &bob, &thread, "000000000000000000000000", json!(2)).await, 404, "not_found");
        assert_error(&edit(&server, &bob, &thread, "not-an-id", json!(2)).await, 404, "not_found");
        let big = json!({"blob": "x".repeat(70 * 1024)});
        assert_error(&edit(&server, &bob, &thread, &id, big).await, 413, "payload_too_large");
        let path = format!("/api/v1/threads/{thread}/messages/{id}");
        assert_error(&server.call("PATCH", &path, Some(&bob.token), Some(json!({}))).await, 422, "invalid_body");
        assert_eq!(history(&server, &bob, &thread).await[0]["snapshot"], json!(1), "nothing refused changed it");
        let log = server.store.room_log(&format!("thread:{thread}")).await.expect("log");
        assert_eq!(log.last_seq, 1, "no event for a refused edit");
    }

    async fn the_author_or_the_creator_deletes_and_it_is_gone(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol) =
            (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await);
        let thread = thread_with(&server, &alice, &[&bob, &carol]).await;
        let mut carol_ws = server.connect(&carol.token).await;
        let by_bob = post(&server, &bob, &thread, json!("bob's")).await["id"].as_str().expect("id").to_owned();
        let kept = post(&server, &bob, &thread, json!("kept")).await["id"].as_str().expect("id").to_owned();
        let by_carol = post(&server, &carol, &thread, json!("carol's")).await["id"].as_str().expect("id").to_owned();
        for _ in 0..3 {
            recv(&mut carol_ws, "message_created").await;
        }

        assert_error(&delete(&server, &carol, &thread, &by_bob).await, 403, "forbidden");
        assert_eq!(delete(&server, &bob, &thread, &by_bob).await.0, 204, "the author");
        let deleted = recv(&mut carol_ws, "message_deleted").await;
        assert_eq!((deleted["id"].as_str(), deleted["parent_thread"].as_str()), (Some(by_bob.as_str()), Some(thread.as_str())));
        assert_eq!(deleted["seq"], 4);
        assert_eq!(delete(&server, &alice, &thread, &by_carol).await.0, 204, "the thread's creator");
        assert_eq!(recv(&mut carol_ws, "message_deleted").await["id"], by_carol.as_str());
        assert_error(&delete(&server, &bob, &thread, &by_bob).await, 404, "not_found");

        let remaining: Vec<Value> = history(&server, &carol, &thread).await.iter().map(|m| m["id"].clone()).collect();
        assert_eq!(remaining, [json!(kept)], "deleted messages are gone from the history");
        // The log keeps what happened, in order, for a client that resumes from before.
        let events = server.store.events_after(&format!("thread:{thread}"), 0, 100).await.expect("events");
        let kinds: Vec<String> = events
            .iter()
            .map(|e| serde_json::from_str::<Value>(&e.frame).expect("json")["type"].as_str().expect("type").to_owned())
            .collect();
        assert_eq!(kinds, ["message_created", "message_created", "message_created", "message_deleted", "message_deleted"]);
    }

    async fn a_client_resuming_gets_the_edits_and_deletes_it_missed(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let thread = thread_with(&server, &alice, &[&bob]).await;
        let id = post(&server, &alice, &thread, json!("v1")).await["id"].as_str().expect("id").to_owned();
        assert_eq!(edit(&server, &alice, &thread, &id, json!("v2")).await.0, 200);
        assert_eq!(delete(&server, &alice, &thread, &id).await.0, 204);
        let resume = serde_json::to_string(&json!({ format!("thread:{thread}"): 1 })).expect("json");
        let query = format!("?token={}&resume={}", bob.token, url_encode(&resume));
        let mut bob_ws = common::WsClient::open(&server.ws_url(&query)).await.expect("upgrade");
        bob_ws.expect("connected").await;
        let updated = recv(&mut bob_ws, "message_updated").await;
        assert_eq!((updated["seq"].clone(), updated["snapshot"].clone()), (json!(2), json!("v2")));
        assert_eq!(recv(&mut bob_ws, "message_deleted").await["seq"], 3);
    }
}

/// Percent-encodes everything but unreserved characters (for the `resume` query parameter).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
