//! Threads end to end over real HTTP and WebSockets, on both engines: seed 000's username
//! sync, who learns of a departure or a new name, the thread shape and membership rules, bad
//! input on every endpoint, nothing half-written after a failure, and the OpenAPI document.
//! Invitations, messages and presence in threads have their own test files.

mod common;

use common::threads::{
    add_member, answer, assert_durable, create_thread, get_thread, invite, invite_code, post_message, rename, users_of,
};
use common::{TestServer, User, assert_error, quiet, recv, user};
use serde_json::json;

both_engines! {
    // ---------------------------------------------------------------------------------------
    // Seed 000, "Testing Scenarios"
    // ---------------------------------------------------------------------------------------

    async fn seed000_test1_username_sync(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let eve = user(&server, "eve").await;
        let beat = create_thread(&server, &alice, "Beat").await;
        let remix = create_thread(&server, &alice, "Remix").await;
        add_member(&server, &alice, &beat, &bob).await;
        let code = invite_code(&server, &alice, &remix).await;
        let (status, body) = server.call("POST", &format!("/api/v1/threads/{remix}/join"), Some(&bob.token), Some(json!({"code": code}))).await;
        assert_eq!(status, 200, "{body}");
        // Bob sees "alice" among the participants.
        assert_eq!(users_of(&get_thread(&server, &bob, &beat).await)[0].0, "alice");

        let mut bob_ws = server.connect(&bob.token).await;
        let mut alice_laptop = server.connect(&alice.token).await;
        let mut eve_ws = server.connect(&eve.token).await;
        rename(&server, &alice, "alice_new").await;

        // Bob shares two threads with Alice and hears of it once, in real time.
        let update = recv(&mut bob_ws, "user_profile_updated").await;
        assert_eq!((update["user_id"].as_str(), update["username"].as_str()), (Some(alice.id.as_str()), Some("alice_new")));
        assert!(update["timestamp"].as_i64().is_some() && update.get("seq").is_none(), "ephemeral: {update}");
        quiet(&mut bob_ws).await;
        // Alice's other device hears of it too; an unrelated user does not.
        assert_eq!(recv(&mut alice_laptop, "user_profile_updated").await["username"], "alice_new");
        eve_ws.assert_nothing_pending().await;
        // Reads show the new name everywhere, without any copy to update.
        assert_eq!(users_of(&get_thread(&server, &bob, &beat).await)[0].0, "alice_new");
        let (_, list) = server.call("GET", "/api/v1/threads", Some(&bob.token), None).await;
        for thread in list["threads"].as_array().expect("threads") {
            assert_eq!(users_of(thread)[0].0, "alice_new", "{thread}");
        }
    }

    // ---------------------------------------------------------------------------------------
    // Leak tests: a non-member connected the whole time receives nothing.
    // ---------------------------------------------------------------------------------------

    async fn participant_left_reaches_remaining_members_only(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let carol = user(&server, "carol").await;
        let eve = user(&server, "eve").await;
        let thread = create_thread(&server, &alice, "Leaving").await;
        add_member(&server, &alice, &thread, &bob).await;
        add_member(&server, &alice, &thread, &carol).await;
        let mut eve_ws = server.connect(&eve.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        let mut bob_phone = server.connect(&bob.token).await;
        let mut bob_laptop = server.connect(&bob.token).await;
        let mut carol_ws = server.connect(&carol.token).await;

        // Bob leaves: his connections leave the room at once and do not get the event.
        let path = format!("/api/v1/threads/{thread}/users/{}", bob.id);
        assert_eq!(server.call("DELETE", &path, Some(&bob.token), None).await.0, 204);
        for ws in [&mut alice_ws, &mut carol_ws] {
            let left = recv(ws, "participant_left").await;
            assert_durable(&left, &format!("thread:{thread}"));
            assert_eq!((left["thread_id"].as_str(), left["user_id"].as_str()), (Some(thread.as_str()), Some(bob.id.as_str())));
        }
        post_message(&server, &alice, &thread, json!("after bob left")).await;
        for ws in [&mut alice_ws, &mut carol_ws] {
            recv(ws, "message_created").await;
        }
        quiet(&mut bob_phone).await;
        quiet(&mut bob_laptop).await;
        eve_ws.assert_nothing_pending().await;
        assert_error(&server.call("GET", &format!("/api/v1/threads/{thread}"), Some(&bob.token), None).await, 404, "not_found");

        // The creator removes Carol; Carol's connection is not told, Alice is.
        let path = format!("/api/v1/threads/{thread}/users/{}", carol.id);
        assert_eq!(server.call("DELETE", &path, Some(&alice.token), None).await.0, 204);
        assert_eq!(recv(&mut alice_ws, "participant_left").await["user_id"], carol.id.as_str());
        quiet(&mut carol_ws).await;
        eve_ws.assert_nothing_pending().await;
        assert_eq!(users_of(&get_thread(&server, &alice, &thread).await), [("alice".to_owned(), true)]);
    }

    async fn user_profile_updated_reaches_collaborators_only(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let eve = user(&server, "eve").await;
        let thread = create_thread(&server, &alice, "Names").await;
        add_member(&server, &alice, &thread, &bob).await;
        // Eve was only invited: an invitation does not make her a collaborator.
        assert_eq!(invite(&server, &alice, &thread, &eve.id).await.0, 201);
        let mut eve_ws = server.connect(&eve.token).await;
        let mut bob_ws = server.connect(&bob.token).await;
        rename(&server, &alice, "alicia").await;
        assert_eq!(recv(&mut bob_ws, "user_profile_updated").await["username"], "alicia");
        eve_ws.assert_nothing_pending().await;
    }

    // ---------------------------------------------------------------------------------------
    // Membership rules
    // ---------------------------------------------------------------------------------------

    async fn creating_a_thread_subscribes_the_creators_open_connections(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let mut phone = server.connect(&alice.token).await;
        let mut laptop = server.connect(&alice.token).await;
        let thread = create_thread(&server, &alice, "Fresh").await;
        post_message(&server, &alice, &thread, json!("first")).await;
        for ws in [&mut phone, &mut laptop] {
            let created = recv(ws, "message_created").await;
            assert_eq!((created["seq"].as_i64(), created["snapshot"].as_str()), (Some(1), Some("first")), "no event for the creation itself");
            quiet(ws).await;
        }
    }

    async fn thread_shape_and_membership_rules(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let carol = user(&server, "carol").await;
        let (status, created) = server.call("POST", "/api/v1/threads", Some(&alice.token), Some(json!({"name": "  Beat  "}))).await;
        assert_eq!(status, 201, "{created}");
        let thread = created["id"].as_str().expect("id").to_owned();
        assert!(thread.len() == 24 && thread.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!((created["name"].as_str(), created["created_by"].as_str()), (Some("Beat"), Some(alice.id.as_str())));
        assert!(created["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let creator = &created["users"][0];
        assert_eq!((creator["id"].as_str(), creator["username"].as_str(), creator["is_online"].as_bool()), (Some(alice.id.as_str()), Some("alice"), Some(false)));
        assert!(creator["joined_at"].is_string() && creator.get("name").is_some());
        assert_eq!(created["invites"], json!([]));
        assert_eq!(get_thread(&server, &alice, &thread).await, created);

        add_member(&server, &alice, &thread, &bob).await;
        add_member(&server, &alice, &thread, &carol).await;
        // Members other than the creator cannot remove others; anyone can leave.
        let remove = |who: &User, by: &User| {
            let (path, token) = (format!("/api/v1/threads/{thread}/users/{}", who.id), by.token.clone());
            let server = &server;
            async move { server.call("DELETE", &path, Some(&token), None).await }
        };
        assert_error(&remove(&carol, &bob).await, 403, "forbidden");
        assert_error(&remove(&alice, &bob).await, 403, "forbidden");
        assert_eq!(remove(&carol, &carol).await.0, 204);
        assert_error(&remove(&carol, &alice).await, 404, "not_found");
        assert_error(&remove(&carol, &carol).await, 404, "not_found");
        // Declining removes the invitation; answering twice finds none.
        let dave = user(&server, "dave").await;
        assert_eq!(invite(&server, &bob, &thread, &dave.id).await.0, 201, "any member may invite");
        assert_eq!(answer(&server, &dave, &thread, "decline").await.0, 204);
        assert_eq!(get_thread(&server, &alice, &thread).await["invites"], json!([]));
        assert_error(&answer(&server, &dave, &thread, "decline").await, 404, "not_found");
        assert_error(&answer(&server, &dave, &thread, "accept").await, 404, "not_found");
        // A removed member can be invited again and come back.
        add_member(&server, &alice, &thread, &carol).await;
        let (_, mine) = server.call("GET", "/api/v1/threads", Some(&carol.token), None).await;
        assert_eq!(mine["threads"].as_array().map(Vec::len), Some(1));
        let (_, none) = server.call("GET", "/api/v1/threads", Some(&dave.token), None).await;
        assert_eq!(none, json!({"threads": []}));
    }

    // ---------------------------------------------------------------------------------------
    // Bad input on every endpoint, and nothing half-written after a failure
    // ---------------------------------------------------------------------------------------

    async fn thread_endpoints_refuse_bad_input(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let eve = user(&server, "eve").await;
        let thread = create_thread(&server, &alice, "Guarded").await;
        add_member(&server, &alice, &thread, &bob).await;
        let base = format!("/api/v1/threads/{thread}");
        let missing = "ffffffffffffffffffffffff";
        let a = Some(alice.token.as_str());
        let e = Some(eve.token.as_str());

        // POST /threads
        assert_error(&server.call("POST", "/api/v1/threads", None, Some(json!({"name": "x"}))).await, 401, "unauthorized");
        assert_error(&server.call("POST", "/api/v1/threads", a, Some(json!({}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", "/api/v1/threads", a, Some(json!({"name": 5}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", "/api/v1/threads", a, Some(json!({"name": "   "}))).await, 400, "validation_failed");
        assert_error(&server.call("POST", "/api/v1/threads", a, Some(json!({"name": "x".repeat(101)}))).await, 400, "validation_failed");
        // GET /threads, /threads/{id}
        assert_error(&server.call("GET", "/api/v1/threads", None, None).await, 401, "unauthorized");
        assert_error(&server.call("GET", &base, e, None).await, 404, "not_found");
        assert_error(&server.call("GET", &format!("/api/v1/threads/{missing}"), a, None).await, 404, "not_found");
        assert_error(&server.call("GET", "/api/v1/threads/not-an-id", a, None).await, 404, "not_found");
        // POST invites
        let invites = format!("{base}/invites");
        assert_error(&server.call("POST", &invites, e, Some(json!({"user_id": eve.id}))).await, 404, "not_found");
        assert_error(&server.call("POST", &invites, a, Some(json!({"user_id": "nope"}))).await, 400, "validation_failed");
        assert_error(&server.call("POST", &invites, a, Some(json!({"user_id": missing}))).await, 404, "not_found");
        assert_error(&server.call("POST", &invites, a, Some(json!({"user_id": bob.id}))).await, 409, "conflict");
        assert_error(&server.call("POST", &invites, a, Some(json!({"user_id": alice.id}))).await, 409, "conflict");
        assert_eq!(server.call("POST", &invites, a, Some(json!({"user_id": eve.id}))).await.0, 201);
        assert_error(&server.call("POST", &invites, a, Some(json!({"user_id": eve.id}))).await, 409, "conflict");
        assert_error(&server.call("POST", &invites, a, Some(json!({"user": eve.id}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", &invites, None, Some(json!({"user_id": eve.id}))).await, 401, "unauthorized");
        // PUT invites/{user_id}
        let eves_invite = format!("{base}/invites/{}", eve.id);
        assert_error(&server.call("PUT", &eves_invite, a, Some(json!({"action": "accept"}))).await, 403, "forbidden");
        let carol = user(&server, "carol").await;
        assert_error(&server.call("PUT", &eves_invite, Some(&carol.token), Some(json!({"action": "accept"}))).await, 404, "not_found");
        assert_error(&server.call("PUT", &eves_invite, e, Some(json!({"action": "maybe"}))).await, 422, "invalid_body");
        assert_error(&server.call("PUT", &format!("/api/v1/threads/{missing}/invites/{}", eve.id), e, Some(json!({"action": "accept"}))).await, 404, "not_found");
        // invite-link and join
        assert_error(&server.call("POST", &format!("{base}/invite-link"), e, None).await, 404, "not_found");
        let join = format!("{base}/join");
        assert_error(&server.call("POST", &join, Some(&carol.token), Some(json!({"code": "0".repeat(32)}))).await, 404, "not_found");
        let other = create_thread(&server, &carol, "Other").await;
        let others_code = invite_code(&server, &carol, &other).await;
        assert_error(&server.call("POST", &join, e, Some(json!({"code": others_code}))).await, 404, "not_found");
        let code = invite_code(&server, &alice, &thread).await;
        assert_error(&server.call("POST", &join, Some(&bob.token), Some(json!({"code": code}))).await, 409, "conflict");
        assert_error(&server.call("POST", &format!("/api/v1/threads/{missing}/join"), e, Some(json!({"code": code}))).await, 404, "not_found");
        assert_error(&server.call("POST", &join, e, Some(json!({}))).await, 422, "invalid_body");
        // DELETE users/{user_id}
        assert_error(&server.call("DELETE", &format!("{base}/users/{}", bob.id), e, None).await, 404, "not_found");
        assert_error(&server.call("DELETE", &format!("{base}/users/{missing}"), a, None).await, 404, "not_found");
        // messages
        let messages = format!("{base}/messages");
        assert_error(&server.call("POST", &messages, e, Some(json!({"snapshot": 1}))).await, 404, "not_found");
        assert_error(&server.call("POST", &messages, a, Some(json!({}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", &messages, a, Some(json!({"snapshot": "x".repeat(64 * 1024)}))).await, 413, "payload_too_large");
        assert_eq!(server.call("POST", &messages, a, Some(json!({"snapshot": "x".repeat(64 * 1024 - 2)}))).await.0, 201, "exactly 64 KiB of JSON is fine");
        assert_error(&server.call("POST", &messages, None, Some(json!({"snapshot": 1}))).await, 401, "unauthorized");
        assert_error(&server.call("GET", &messages, e, None).await, 404, "not_found");
        assert_error(&server.call("GET", &format!("{messages}?limit=0"), a, None).await, 400, "validation_failed");
        assert_error(&server.call("GET", &format!("{messages}?limit=101"), a, None).await, 400, "validation_failed");
        assert_error(&server.call("GET", &format!("{messages}?limit=many"), a, None).await, 400, "validation_failed");
        assert_error(&server.call("GET", &format!("{messages}?before={missing}"), a, None).await, 404, "not_found");
        assert_eq!(server.call("GET", &format!("{messages}?limit=100"), a, None).await.0, 200);
    }

    async fn nothing_is_half_written_after_a_failed_request(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let eve = user(&server, "eve").await;
        let thread = create_thread(&server, &alice, "Atomic").await;
        add_member(&server, &alice, &thread, &bob).await;
        let room = format!("thread:{thread}");
        let log = |room: String| {
            let store = server.store.clone();
            async move { store.room_log(&room).await.expect("log").last_seq }
        };
        let before = get_thread(&server, &alice, &thread).await;
        assert_eq!(log(room.clone()).await, 1);

        // A message over the limit, and one by a non-member: no message, no event.
        let messages = format!("/api/v1/threads/{thread}/messages");
        assert_eq!(server.call("POST", &messages, Some(&alice.token), Some(json!({"snapshot": "x".repeat(70_000)}))).await.0, 413);
        assert_eq!(server.call("POST", &messages, Some(&eve.token), Some(json!({"snapshot": 1}))).await.0, 404);
        let (_, page) = server.call("GET", &messages, Some(&alice.token), None).await;
        assert_eq!(page["messages"], json!([]));
        // Refused invitations: no invite row, no event in the invitee's room.
        assert_eq!(invite(&server, &alice, &thread, &bob.id).await.0, 409);
        assert_eq!(invite(&server, &eve, &thread, &eve.id).await.0, 404);
        assert_eq!(log(format!("user:{}", bob.id)).await, 1, "only the invitation that made Bob a member");
        assert_eq!(log(format!("user:{}", eve.id)).await, 0);
        // Refused joins, acceptances and removals change nothing.
        let join = format!("/api/v1/threads/{thread}/join");
        assert_eq!(server.call("POST", &join, Some(&eve.token), Some(json!({"code": "f".repeat(32)}))).await.0, 404);
        assert_eq!(answer(&server, &eve, &thread, "accept").await.0, 404);
        let remove_alice = format!("/api/v1/threads/{thread}/users/{}", alice.id);
        assert_eq!(server.call("DELETE", &remove_alice, Some(&bob.token), None).await.0, 403);
        assert_eq!(get_thread(&server, &alice, &thread).await, before);
        assert_eq!(log(room.clone()).await, 1, "no event for any refused request");

        // A transaction that fails half-way rolls back: Eve is invited and (behind the API's
        // back) already a member, so accepting deletes the invitation, then fails to insert the
        // membership; the deletion is rolled back and no event is appended.
        assert_eq!(invite(&server, &alice, &thread, &eve.id).await.0, 201);
        server.store.add_member(&tandem_protocol::room::Room::parse(&room).expect("room"), &eve.id, 1).await.expect("member behind the API's back");
        assert_error(&answer(&server, &eve, &thread, "accept").await, 409, "conflict");
        let after = get_thread(&server, &alice, &thread).await;
        assert_eq!(after["invites"][0]["user_id"], eve.id.as_str(), "the invitation was not deleted");
        assert_eq!(log(room).await, 1, "and no event was appended");
    }

    // ---------------------------------------------------------------------------------------
    // The OpenAPI document
    // ---------------------------------------------------------------------------------------

    async fn openapi_documents_threads_and_library(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (status, doc) = server.call("GET", "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        let paths = doc["paths"].as_object().expect("paths");
        for (path, methods) in [
            ("/api/v1/threads", &["get", "post"][..]),
            ("/api/v1/threads/{id}", &["get"]),
            ("/api/v1/threads/{id}/invites", &["post"]),
            ("/api/v1/threads/{id}/invites/{user_id}", &["put"]),
            ("/api/v1/threads/{id}/invite-link", &["post"]),
            ("/api/v1/threads/{id}/join", &["post"]),
            ("/api/v1/threads/{id}/users/{user_id}", &["delete"]),
            ("/api/v1/threads/{id}/messages", &["get", "post"]),
            ("/api/v1/users/{id}/playlist", &["get", "post"]),
            ("/api/v1/users/{id}/playlist/{item_id}", &["delete"]),
            ("/api/v1/users/{id}/followed", &["get"]),
            ("/api/v1/users/{id}/followed/{other_id}", &["put", "delete"]),
        ] {
            for method in methods {
                assert!(paths.get(path).and_then(|p| p.get(*method)).is_some(), "{method} {path} missing");
            }
        }
        for schema in ["Thread", "ThreadUser", "Invite", "InviteLink", "Message", "MessageList", "PlaylistItem"] {
            assert!(doc["components"]["schemas"].get(schema).is_some(), "schema {schema} missing");
        }
    }
}
