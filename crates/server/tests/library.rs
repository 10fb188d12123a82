//! The user-owned library end to end over real HTTP, on both engines: the playlist and the
//! followed users, owner only and idempotent, with their bad input.

mod common;

use common::{TestServer, assert_error, user};
use serde_json::json;

both_engines! {
    // ---------------------------------------------------------------------------------------
    // The user-owned library
    // ---------------------------------------------------------------------------------------

    async fn playlist_is_owner_only_and_idempotent(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let a = Some(alice.token.as_str());
        let playlist = format!("/api/v1/users/{}/playlist", alice.id);
        assert_eq!(server.call("GET", &playlist, a, None).await, (200, json!({"items": []})));

        let (status, created) = server.call("POST", &playlist, a, Some(json!({"id": "render-1", "data": {"bpm": 90}}))).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!((created["id"].as_str(), created["data"].clone()), (Some("render-1"), json!({"bpm": 90})));
        // The same id again is an upsert: 200, one item, new data, same created_at.
        let (status, replaced) = server.call("POST", &playlist, a, Some(json!({"id": "render-1", "data": {"bpm": 95}}))).await;
        assert_eq!(status, 200, "{replaced}");
        assert_eq!((replaced["data"].clone(), replaced["created_at"].clone()), (json!({"bpm": 95}), created["created_at"].clone()));
        let (status, again) = server.call("POST", &playlist, a, Some(json!({"id": "render-1", "data": {"bpm": 95}}))).await;
        assert_eq!((status, again["data"].clone()), (200, json!({"bpm": 95})), "retrying is harmless");
        let (status, generated) = server.call("POST", &playlist, a, Some(json!({"data": [1, 2]}))).await;
        assert_eq!(status, 201, "{generated}");
        let generated_id = generated["id"].as_str().expect("id").to_owned();
        let (_, list) = server.call("GET", &playlist, a, None).await;
        let ids: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|i| i["id"].as_str()).collect();
        assert_eq!(ids, ["render-1", generated_id.as_str()]);

        let item = format!("{playlist}/render-1");
        assert_eq!(server.call("DELETE", &item, a, None).await.0, 204);
        assert_eq!(server.call("DELETE", &item, a, None).await.0, 204, "idempotent");
        let (_, list) = server.call("GET", &playlist, a, None).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

        // Owner only, checked first; bad ids and oversized data are refused.
        let b = Some(bob.token.as_str());
        assert_error(&server.call("GET", &playlist, b, None).await, 403, "forbidden");
        assert_error(&server.call("POST", &playlist, b, Some(json!({"data": 1}))).await, 403, "forbidden");
        assert_error(&server.call("DELETE", &item, b, None).await, 403, "forbidden");
        assert_error(&server.call("GET", &playlist, None, None).await, 401, "unauthorized");
        for bad in ["", "has space", "slash/", &"x".repeat(65)] {
            assert_error(&server.call("POST", &playlist, a, Some(json!({"id": bad, "data": 1}))).await, 400, "validation_failed");
        }
        assert_error(&server.call("DELETE", &format!("{playlist}/{}", "x".repeat(65)), a, None).await, 400, "validation_failed");
        assert_error(&server.call("POST", &playlist, a, Some(json!({"id": "big", "data": "x".repeat(70_000)}))).await, 413, "payload_too_large");
        assert_error(&server.call("POST", &playlist, a, Some(json!({"id": "no-data"}))).await, 422, "invalid_body");
        let (_, list) = server.call("GET", &playlist, a, None).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "nothing stored by refused requests");
    }

    async fn follows_are_owner_only_and_idempotent(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let carol = user(&server, "carol").await;
        let a = Some(alice.token.as_str());
        let followed = format!("/api/v1/users/{}/followed", alice.id);
        assert_eq!(server.call("PUT", &format!("{followed}/{}", bob.id), a, None).await.0, 204);
        assert_eq!(server.call("PUT", &format!("{followed}/{}", bob.id), a, None).await.0, 204, "idempotent");
        assert_eq!(server.call("PUT", &format!("{followed}/{}", carol.id), a, None).await.0, 204);
        let _bob_ws = server.connect(&bob.token).await;
        let (status, list) = server.call("GET", &followed, a, None).await;
        assert_eq!(status, 200, "{list}");
        let users: Vec<(&str, bool)> = list["users"].as_array().expect("users").iter()
            .map(|u| (u["username"].as_str().unwrap_or_default(), u["is_online"].as_bool().unwrap_or_default())).collect();
        assert_eq!(users, [("bob", true), ("carol", false)]);
        assert_eq!(server.call("DELETE", &format!("{followed}/{}", bob.id), a, None).await.0, 204);
        assert_eq!(server.call("DELETE", &format!("{followed}/{}", bob.id), a, None).await.0, 204, "idempotent");
        let (_, list) = server.call("GET", &followed, a, None).await;
        assert_eq!(list["users"].as_array().map(Vec::len), Some(1));

        assert_error(&server.call("PUT", &format!("{followed}/ffffffffffffffffffffffff"), a, None).await, 404, "not_found");
        assert_error(&server.call("PUT", &format!("{followed}/{}", alice.id), a, None).await, 400, "validation_failed");
        assert_error(&server.call("DELETE", &format!("{followed}/{}", alice.id), a, None).await, 400, "validation_failed");
        assert_error(&server.call("GET", &followed, Some(&bob.token), None).await, 403, "forbidden");
        assert_error(&server.call("PUT", &format!("{followed}/{}", bob.id), Some(&bob.token), None).await, 403, "forbidden");
        assert_error(&server.call("DELETE", &format!("{followed}/{}", carol.id), Some(&bob.token), None).await, 403, "forbidden");
        assert_error(&server.call("GET", &followed, None, None).await, 401, "unauthorized");
    }
}
