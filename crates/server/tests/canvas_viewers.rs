//! A canvas viewer whose connection comes back through resume cursors (at connect, or with a
//! `resume` frame) is announced again like one that subscribes (API.md §4): the others get
//! `user_joined`, the viewer gets `canvas_viewers`, and `user_left` later pairs with it.

mod common;

use common::{TestServer, User, WsClient, quiet, recv, user};
use serde_json::json;

async fn canvas_of(server: &TestServer, owner: &User, member: &User) -> String {
    let body = json!({"name": "Wall", "width": 4, "height": 4});
    let (status, canvas) = server.call("POST", "/api/v1/canvases", Some(&owner.token), Some(body)).await;
    assert_eq!(status, 201, "{canvas}");
    let id = canvas["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/canvases/{id}/members");
    assert_eq!(server.call("POST", &path, Some(&owner.token), Some(json!({"user_id": member.id}))).await.0, 201);
    id
}

both_engines! {
    async fn a_viewer_back_through_resume_is_announced_again(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let canvas = canvas_of(&server, &alice, &bob).await;
        let room = format!("canvas:{canvas}");
        let mut a = server.connect(&alice.token).await;
        a.send(json!({"type": "subscribe", "room": room, "ref": "v"})).await;
        recv(&mut a, "canvas_viewers").await;
        recv(&mut a, "ack").await;

        // Bob comes back with his cursor in the URL: viewers for him, user_joined for alice.
        let cursors = json!({ &room: 0 }).to_string();
        let query = format!("?token={}&resume={}", bob.token, cursors.replace('{', "%7B").replace('}', "%7D").replace('"', "%22"));
        let mut b = WsClient::open(&server.ws_url(&query)).await.expect("upgrade");
        b.expect("connected").await;
        let viewers = recv(&mut b, "canvas_viewers").await;
        assert_eq!(viewers["active_users"], 2, "{viewers}");
        let joined = recv(&mut a, "user_joined").await;
        assert_eq!((joined["user_id"].as_str(), joined["active_users"].as_i64()), (Some(bob.id.as_str()), Some(2)));

        // A second connection of bob's through a resume frame: viewers for it, nothing for alice.
        let mut b2 = server.connect(&bob.token).await;
        b2.send(json!({"type": "resume", "rooms": { &room: 0 }, "ref": "r"})).await;
        recv(&mut b2, "canvas_viewers").await;
        recv(&mut b2, "ack").await;
        quiet(&mut a).await;
        // Resuming a room this connection already views announces nothing again.
        b2.send(json!({"type": "resume", "rooms": { &room: 0 }, "ref": "r2"})).await;
        recv(&mut b2, "ack").await;

        // Bob's last connection leaving is one user_left.
        drop(b);
        quiet(&mut a).await;
        drop(b2);
        assert_eq!(recv(&mut a, "user_left").await["user_id"], bob.id.as_str());
    }
}
