//! Thread helpers shared by the thread test binaries (`threads`, `thread_invites`,
//! `thread_messages`, `thread_presence`): REST calls that assert success, and readers of
//! thread JSON.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use serde_json::{Value, json};

use super::{TestServer, User};

pub async fn create_thread(server: &TestServer, owner: &User, name: &str) -> String {
    let (status, body) = server.call("POST", "/api/v1/threads", Some(&owner.token), Some(json!({"name": name}))).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("thread id").to_owned()
}

pub async fn invite(server: &TestServer, by: &User, thread: &str, who: &str) -> (u16, Value) {
    server
        .call("POST", &format!("/api/v1/threads/{thread}/invites"), Some(&by.token), Some(json!({"user_id": who})))
        .await
}

pub async fn answer(server: &TestServer, who: &User, thread: &str, action: &str) -> (u16, Value) {
    let path = format!("/api/v1/threads/{thread}/invites/{}", who.id);
    server.call("PUT", &path, Some(&who.token), Some(json!({"action": action}))).await
}

/// Invites `who` on behalf of `by` and accepts.
pub async fn add_member(server: &TestServer, by: &User, thread: &str, who: &User) {
    let invited = invite(server, by, thread, &who.id).await;
    assert_eq!(invited.0, 201, "{}", invited.1);
    let accepted = answer(server, who, thread, "accept").await;
    assert_eq!(accepted.0, 200, "{}", accepted.1);
}

pub async fn invite_code(server: &TestServer, by: &User, thread: &str) -> String {
    let (status, link) =
        server.call("POST", &format!("/api/v1/threads/{thread}/invite-link"), Some(&by.token), None).await;
    assert_eq!(status, 201, "{link}");
    link["code"].as_str().expect("code").to_owned()
}

pub async fn get_thread(server: &TestServer, who: &User, thread: &str) -> Value {
    let (status, body) = server.call("GET", &format!("/api/v1/threads/{thread}"), Some(&who.token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn post_message(server: &TestServer, who: &User, thread: &str, snapshot: Value) -> Value {
    let (status, body) = server
        .call(
            "POST",
            &format!("/api/v1/threads/{thread}/messages"),
            Some(&who.token),
            Some(json!({"snapshot": snapshot})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

pub async fn rename(server: &TestServer, who: &User, username: &str) {
    let path = format!("/api/v1/users/{}/username", who.id);
    let (status, body) = server.call("PUT", &path, Some(&who.token), Some(json!({"username": username}))).await;
    assert_eq!(status, 200, "{body}");
}

/// `(username, is_online)` of a thread's users, in join order.
pub fn users_of(thread: &Value) -> Vec<(String, bool)> {
    thread["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| (u["username"].as_str().expect("username").to_owned(), u["is_online"].as_bool().expect("is_online")))
        .collect()
}

pub fn assert_durable(frame: &Value, room: &str) -> i64 {
    assert_eq!(frame["room"], room, "{frame}");
    assert!(frame["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "{frame}");
    frame["seq"].as_i64().unwrap_or_else(|| panic!("no seq in {frame}"))
}
