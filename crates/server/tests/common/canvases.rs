//! Canvas helpers shared by the canvas test binaries (`canvases`, `canvas_activity`): a canvas
//! with its members by REST, sockets with their `connection_id`, viewing a canvas, and frames
//! answered by `ack` or `error`.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use serde_json::{Value, json};

use super::{TestServer, User, WsClient, recv};

pub async fn create_canvas(server: &TestServer, owner: &User, width: i64, height: i64) -> String {
    let body = json!({"name": "Wall", "width": width, "height": height});
    let (status, canvas) = server.call("POST", "/api/v1/canvases", Some(&owner.token), Some(body)).await;
    assert_eq!(status, 201, "{canvas}");
    canvas["id"].as_str().expect("id").to_owned()
}

pub async fn add_member(server: &TestServer, by: &User, canvas: &str, who: &User) {
    let path = format!("/api/v1/canvases/{canvas}/members");
    let (status, body) = server.call("POST", &path, Some(&by.token), Some(json!({"user_id": who.id}))).await;
    assert_eq!(status, 201, "{body}");
}

/// Opens a socket and returns it with its `connection_id`.
pub async fn connect(server: &TestServer, who: &User) -> (WsClient, String) {
    let mut ws = WsClient::open(&server.ws_url(&format!("?token={}", who.token))).await.expect("upgrade");
    let connected = ws.expect("connected").await;
    (ws, connected["connection_id"].as_str().expect("connection_id").to_owned())
}

/// Subscribes to the canvas: answered with `canvas_viewers`, then the `ack`.
pub async fn view(ws: &mut WsClient, canvas: &str) -> Value {
    ws.send(json!({"type": "subscribe", "room": format!("canvas:{canvas}"), "ref": "v"})).await;
    let viewers = recv(ws, "canvas_viewers").await;
    recv(ws, "ack").await;
    viewers
}

/// Sends a frame with a `ref` and returns the answer (`ack` or `error`).
pub async fn answer(ws: &mut WsClient, mut frame: Value) -> Value {
    frame["ref"] = json!("r");
    ws.send(frame).await;
    loop {
        let reply = ws.next().await;
        if reply["type"] == "ack" || reply["type"] == "error" {
            assert_eq!(reply["ref"], "r", "{reply}");
            return reply;
        }
        assert_eq!(reply["type"], "user_status_changed", "unexpected {reply}");
    }
}

pub async fn assert_refused(ws: &mut WsClient, frame: Value, code: &str) {
    let reply = answer(ws, frame.clone()).await;
    assert_eq!(reply["type"], "error", "{frame} → {reply}");
    assert_eq!(reply["code"], code, "{frame} → {reply}");
}
