//! Drafts with a baton (seed 003) end to end over real HTTP and WebSockets, on both engines:
//! every rule with its bad input, one leak test per `collab.*` event type, replay with
//! `subscribe` + `after`, and appends racing a ring pass.

mod common;

use common::{TestServer, User, WsClient, assert_error, is_presence, quiet, recv, recv_any, user};
use futures_util::future::join_all;
use serde_json::{Value, json};

async fn create_draft(server: &TestServer, owner: &User, title: &str) -> String {
    let (status, body) = server.call("POST", "/api/v1/drafts", Some(&owner.token), Some(json!({"title": title}))).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("draft id").to_owned()
}

async fn add(server: &TestServer, by: &User, draft: &str, who: &str) -> (u16, Value) {
    server
        .call("POST", &format!("/api/v1/drafts/{draft}/collaborators"), Some(&by.token), Some(json!({"user_id": who})))
        .await
}

async fn append(server: &TestServer, by: &User, draft: &str, content: &str) -> (u16, Value) {
    server
        .call("POST", &format!("/api/v1/drafts/{draft}/segments"), Some(&by.token), Some(json!({"content": content})))
        .await
}

async fn pass(server: &TestServer, by: &User, draft: &str, to: &str) -> (u16, Value) {
    server.call("POST", &format!("/api/v1/drafts/{draft}/ring"), Some(&by.token), Some(json!({"to_user_id": to}))).await
}

async fn get(server: &TestServer, who: &User, draft: &str) -> (u16, Value) {
    server.call("GET", &format!("/api/v1/drafts/{draft}"), Some(&who.token), None).await
}

/// Sends `subscribe` for `draft:{draft}` with `ref: "sub"` (and `after`, to replay from there).
async fn subscribe(ws: &mut WsClient, draft: &str, after: Option<i64>) {
    let mut frame = json!({"type": "subscribe", "room": format!("draft:{draft}"), "ref": "sub"});
    if let Some(after) = after {
        frame["after"] = json!(after);
    }
    ws.send(frame).await;
}

/// Reads frames until the `ack` of `subscribe`, returning the non-presence frames before it.
async fn subscribe_ok(ws: &mut WsClient) -> Vec<Value> {
    let mut before = Vec::new();
    loop {
        let frame = recv_any(ws).await;
        if frame["type"] == "ack" {
            assert_eq!(frame["ref"], "sub", "{frame}");
            return before;
        }
        before.push(frame);
    }
}

/// Checks the seed 003 envelope plus `room`/`seq`/`timestamp`; returns the seq.
fn assert_envelope(frame: &Value, kind: &str, draft: &str, user_id: &str) -> i64 {
    assert_eq!(frame["type"], kind, "{frame}");
    assert_eq!(frame["room"], format!("draft:{draft}"), "{frame}");
    assert_eq!(frame["draft_id"], draft, "{frame}");
    assert_eq!(frame["user_id"], user_id, "{frame}");
    assert!(frame["ts"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{frame}");
    assert!(frame["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "{frame}");
    assert!(frame["data"].is_object(), "{frame}");
    frame["seq"].as_i64().unwrap_or_else(|| panic!("no seq in {frame}"))
}

/// The leak-test cast: alice (owner, subscribed), bob (collaborator, connected, not
/// subscribed), eve (not a collaborator, connected, her subscribe refused with `not_found`).
struct Cast {
    alice: User,
    bob: User,
    carol: User,
    draft: String,
    alice_ws: WsClient,
    bob_ws: WsClient,
    eve_ws: WsClient,
}

async fn cast(server: &TestServer) -> Cast {
    let (alice, bob, carol, eve) = (
        user(server, "alice").await,
        user(server, "bob").await,
        user(server, "carol").await,
        user(server, "eve").await,
    );
    let draft = create_draft(server, &alice, "Round robin").await;
    assert_eq!(add(server, &alice, &draft, &bob.id).await.0, 201);
    let mut alice_ws = server.connect(&alice.token).await;
    subscribe(&mut alice_ws, &draft, None).await;
    assert!(subscribe_ok(&mut alice_ws).await.is_empty());
    let bob_ws = server.connect(&bob.token).await;
    let mut eve_ws = server.connect(&eve.token).await;
    subscribe(&mut eve_ws, &draft, Some(0)).await;
    let refused = eve_ws.next().await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("not_found")), "{refused}");
    assert_eq!(refused["ref"], "sub");
    Cast { alice, bob, carol, draft, alice_ws, bob_ws, eve_ws }
}

/// Nobody but the subscribed viewer got anything.
async fn no_leak(cast: &mut Cast) {
    quiet(&mut cast.alice_ws).await;
    quiet(&mut cast.bob_ws).await;
    cast.eve_ws.assert_nothing_pending().await;
}

both_engines! {
    async fn draft_shape_and_read_rules(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, eve) = (user(&server, "alice").await, user(&server, "eve").await);
        let (status, created) =
            server.call("POST", "/api/v1/drafts", Some(&alice.token), Some(json!({"title": "  Ode  "}))).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id").to_owned();
        assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
        assert_eq!(created["title"], "Ode");
        assert_eq!(created["owner_id"], alice.id);
        assert_eq!(created["ring_holder_id"], alice.id);
        assert_eq!(created["collaborators"].as_array().map(Vec::len), Some(1));
        assert_eq!(created["collaborators"][0]["id"], alice.id);
        assert_eq!(created["collaborators"][0]["username"], "alice");
        assert_eq!(created["segments"], json!([]));
        let (status, read) = get(&server, &alice, &id).await;
        assert_eq!(status, 200);
        assert_eq!(read, created);
        // Not a collaborator, unknown, malformed: all 404 alike.
        assert_error(&get(&server, &eve, &id).await, 404, "not_found");
        assert_error(&get(&server, &eve, "0123456789abcdef01234567").await, 404, "not_found");
        assert_error(&get(&server, &alice, "nope").await, 404, "not_found");
        assert_error(&server.call("GET", &format!("/api/v1/drafts/{id}"), None, None).await, 401, "unauthorized");
        // Bad titles and bodies.
        let create = |body: Value| server.call("POST", "/api/v1/drafts", Some(&alice.token), Some(body));
        assert_error(&create(json!({"title": "   "})).await, 400, "validation_failed");
        assert_error(&create(json!({"title": "x".repeat(201)})).await, 400, "validation_failed");
        assert_eq!(create(json!({"title": "x".repeat(200)})).await.0, 201);
        assert_error(&create(json!({})).await, 422, "invalid_body");
        assert_error(&create(json!({"title": 5})).await, 422, "invalid_body");
        assert_error(&create(json!({"title": "a", "extra": 1})).await, 422, "invalid_body");
        assert_error(&server.call("POST", "/api/v1/drafts", None, Some(json!({"title": "a"}))).await, 401, "unauthorized");
    }

    async fn collaborator_rules(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol, eve) =
            (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await, user(&server, "eve").await);
        let draft = create_draft(&server, &alice, "Chain").await;
        let (status, body) = add(&server, &alice, &draft, &bob.id).await;
        assert_eq!(status, 201, "{body}");
        let ids: Vec<&str> = body["collaborators"].as_array().expect("collaborators").iter().map(|c| c["id"].as_str().expect("id")).collect();
        assert_eq!(ids, [alice.id.as_str(), bob.id.as_str()]);
        // Bob can now read it, and (any collaborator may add) add carol.
        assert_eq!(get(&server, &bob, &draft).await.0, 200);
        assert_eq!(add(&server, &bob, &draft, &carol.id).await.0, 201);
        assert_eq!(get(&server, &carol, &draft).await.1["collaborators"].as_array().map(Vec::len), Some(3));
        // Adding does not pass the ring.
        assert_eq!(get(&server, &carol, &draft).await.1["ring_holder_id"], alice.id);
        // A non-collaborator cannot add (404, as if the draft did not exist), not even herself.
        assert_error(&add(&server, &eve, &draft, &eve.id).await, 404, "not_found");
        assert_error(&get(&server, &eve, &draft).await, 404, "not_found");
        assert_error(&add(&server, &alice, &draft, &bob.id).await, 409, "conflict");
        assert_error(&add(&server, &alice, &draft, "not-an-id").await, 400, "validation_failed");
        assert_error(&add(&server, &alice, &draft, "0123456789abcdef01234567").await, 404, "not_found");
        assert_error(&add(&server, &alice, "0123456789abcdef01234567", &eve.id).await, 404, "not_found");
        let path = format!("/api/v1/drafts/{draft}/collaborators");
        assert_error(&server.call("POST", &path, Some(&alice.token), Some(json!({"id": eve.id}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", &path, None, Some(json!({"user_id": eve.id}))).await, 401, "unauthorized");
        assert_error(&get(&server, &eve, &draft).await, 404, "not_found");
    }

    async fn segment_rules(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, eve) = (user(&server, "alice").await, user(&server, "bob").await, user(&server, "eve").await);
        let draft = create_draft(&server, &alice, "Lines").await;
        assert_eq!(add(&server, &alice, &draft, &bob.id).await.0, 201);
        let (status, first) = append(&server, &alice, &draft, "Once upon a time").await;
        assert_eq!(status, 201, "{first}");
        assert_eq!((first["content"].as_str(), first["author_user_id"].as_str(), first["position"].as_i64()), (Some("Once upon a time"), Some(alice.id.as_str()), Some(1)));
        assert!(first["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        // Exactly at the limit is fine (characters, not bytes).
        let (status, second) = append(&server, &alice, &draft, &"é".repeat(10_000)).await;
        assert_eq!((status, second["position"].as_i64()), (201, Some(2)));
        // A collaborator without the ring: 409 not_ring_holder.
        assert_error(&append(&server, &bob, &draft, "mine now").await, 409, "not_ring_holder");
        // Not a collaborator / no such draft: 404.
        assert_error(&append(&server, &eve, &draft, "hi").await, 404, "not_found");
        assert_error(&append(&server, &alice, "0123456789abcdef01234567", "hi").await, 404, "not_found");
        assert_error(&append(&server, &alice, "bad", "hi").await, 404, "not_found");
        // Content rules.
        assert_error(&append(&server, &alice, &draft, "").await, 400, "validation_failed");
        assert_error(&append(&server, &alice, &draft, " \n\t").await, 400, "validation_failed");
        assert_error(&append(&server, &alice, &draft, &"x".repeat(10_001)).await, 413, "payload_too_large");
        let path = format!("/api/v1/drafts/{draft}/segments");
        assert_error(&server.call("POST", &path, Some(&alice.token), Some(json!({"content": 3}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", &path, Some(&alice.token), Some(json!({}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", &path, None, Some(json!({"content": "x"}))).await, 401, "unauthorized");
        // Nothing refused was written.
        let segments = get(&server, &bob, &draft).await.1["segments"].clone();
        let positions: Vec<i64> = segments.as_array().expect("segments").iter().map(|s| s["position"].as_i64().expect("position")).collect();
        assert_eq!(positions, [1, 2]);
        assert_eq!(segments[0]["id"], first["id"]);
    }

    async fn ring_rules(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol, eve) =
            (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await, user(&server, "eve").await);
        let draft = create_draft(&server, &alice, "Baton").await;
        assert_eq!(add(&server, &alice, &draft, &bob.id).await.0, 201);
        assert_eq!(add(&server, &alice, &draft, &carol.id).await.0, 201);
        // Only the holder passes; only to a collaborator; not to oneself.
        assert_error(&pass(&server, &bob, &draft, &carol.id).await, 409, "not_ring_holder");
        assert_error(&pass(&server, &alice, &draft, &eve.id).await, 400, "validation_failed");
        assert_error(&pass(&server, &alice, &draft, "0123456789abcdef01234567").await, 400, "validation_failed");
        assert_error(&pass(&server, &alice, &draft, &alice.id).await, 400, "validation_failed");
        assert_error(&pass(&server, &alice, &draft, "xyz").await, 400, "validation_failed");
        assert_error(&pass(&server, &eve, &draft, &eve.id).await, 404, "not_found");
        assert_error(&pass(&server, &alice, "0123456789abcdef01234567", &bob.id).await, 404, "not_found");
        let path = format!("/api/v1/drafts/{draft}/ring");
        assert_error(&server.call("POST", &path, Some(&alice.token), Some(json!({"to": bob.id}))).await, 422, "invalid_body");
        assert_error(&server.call("POST", &path, None, Some(json!({"to_user_id": bob.id}))).await, 401, "unauthorized");
        assert_eq!(get(&server, &bob, &draft).await.1["ring_holder_id"], alice.id, "refusals changed nothing");
        // The pass itself.
        let (status, passed) = pass(&server, &alice, &draft, &bob.id).await;
        assert_eq!(status, 200, "{passed}");
        assert_eq!(passed["ring_holder_id"], bob.id);
        assert_error(&append(&server, &alice, &draft, "still mine?").await, 409, "not_ring_holder");
        assert_error(&pass(&server, &alice, &draft, &carol.id).await, 409, "not_ring_holder");
        assert_eq!(append(&server, &bob, &draft, "bob writes").await.0, 201);
        assert_eq!(pass(&server, &bob, &draft, &carol.id).await.0, 200);
        assert_eq!(append(&server, &carol, &draft, "carol writes").await.0, 201);
        let read = get(&server, &alice, &draft).await.1;
        assert_eq!(read["ring_holder_id"], carol.id);
        assert_eq!(read["owner_id"], alice.id, "the owner stays the owner");
        let authors: Vec<&str> = read["segments"].as_array().expect("segments").iter().map(|s| s["author_user_id"].as_str().expect("author")).collect();
        assert_eq!(authors, [bob.id.as_str(), carol.id.as_str()]);
    }

    async fn draft_created_does_not_leak(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, eve) = (user(&server, "alice").await, user(&server, "eve").await);
        let mut alice_ws = server.connect(&alice.token).await;
        let mut eve_ws = server.connect(&eve.token).await;
        let draft = create_draft(&server, &alice, "Secret").await;
        // Viewed room: even the creator's open connection gets nothing until it subscribes.
        quiet(&mut alice_ws).await;
        eve_ws.assert_nothing_pending().await;
        subscribe(&mut eve_ws, &draft, Some(0)).await;
        let refused = eve_ws.next().await;
        assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("not_found")), "{refused}");
        eve_ws.assert_nothing_pending().await;
        subscribe(&mut alice_ws, &draft, Some(0)).await;
        let replayed = subscribe_ok(&mut alice_ws).await;
        let created = match replayed.first() { Some(frame) => frame.clone(), None => recv(&mut alice_ws, "collab.draft_created").await };
        assert_eq!(assert_envelope(&created, "collab.draft_created", &draft, &alice.id), 1);
        assert_eq!(created["data"], json!({"title": "Secret", "owner_id": alice.id, "ring_holder_id": alice.id}));
        quiet(&mut alice_ws).await;
        eve_ws.assert_nothing_pending().await;
    }

    async fn collaborator_added_does_not_leak(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let mut c = cast(&server).await;
        assert_eq!(add(&server, &c.bob, &c.draft, &c.carol.id).await.0, 201);
        let frame = recv(&mut c.alice_ws, "collab.collaborator_added").await;
        assert_envelope(&frame, "collab.collaborator_added", &c.draft, &c.bob.id);
        assert_eq!(frame["data"], json!({"user_id": c.carol.id}));
        no_leak(&mut c).await;
    }

    async fn segment_added_does_not_leak(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let mut c = cast(&server).await;
        let (status, segment) = append(&server, &c.alice, &c.draft, "first line").await;
        assert_eq!(status, 201);
        let frame = recv(&mut c.alice_ws, "collab.segment_added").await;
        assert_envelope(&frame, "collab.segment_added", &c.draft, &c.alice.id);
        assert_eq!(frame["data"]["segment_id"], segment["id"]);
        assert_eq!(frame["data"]["content"], "first line");
        assert_eq!(frame["data"]["author_user_id"], c.alice.id);
        assert_eq!(frame["data"]["position"], 1);
        assert_eq!(frame["data"]["created_at"], segment["created_at"]);
        no_leak(&mut c).await;
    }

    async fn ring_passed_does_not_leak(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let mut c = cast(&server).await;
        assert_eq!(pass(&server, &c.alice, &c.draft, &c.bob.id).await.0, 200);
        let frame = recv(&mut c.alice_ws, "collab.ring_passed").await;
        assert_envelope(&frame, "collab.ring_passed", &c.draft, &c.alice.id);
        assert_eq!(frame["data"], json!({"from": c.alice.id, "to": c.bob.id}));
        no_leak(&mut c).await;
        // Once bob subscribes he gets the next one; eve still nothing.
        subscribe(&mut c.bob_ws, &c.draft, None).await;
        assert!(subscribe_ok(&mut c.bob_ws).await.is_empty());
        assert_eq!(pass(&server, &c.bob, &c.draft, &c.alice.id).await.0, 200);
        for ws in [&mut c.alice_ws, &mut c.bob_ws] {
            let frame = recv(ws, "collab.ring_passed").await;
            assert_eq!(frame["data"], json!({"from": c.bob.id, "to": c.alice.id}));
        }
        no_leak(&mut c).await;
        // Unsubscribing stops delivery.
        c.bob_ws.send(json!({"type": "unsubscribe", "room": format!("draft:{}", c.draft)})).await;
        assert_eq!(append(&server, &c.alice, &c.draft, "after unsubscribe").await.0, 201);
        recv(&mut c.alice_ws, "collab.segment_added").await;
        no_leak(&mut c).await;
    }

    async fn subscribe_with_after_replays_collab_events(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let draft = create_draft(&server, &alice, "History").await;
        assert_eq!(add(&server, &alice, &draft, &bob.id).await.0, 201);
        assert_eq!(append(&server, &alice, &draft, "one").await.0, 201);
        assert_eq!(pass(&server, &alice, &draft, &bob.id).await.0, 200);
        let expected = [
            ("collab.draft_created", alice.id.as_str()),
            ("collab.collaborator_added", alice.id.as_str()),
            ("collab.segment_added", alice.id.as_str()),
            ("collab.ring_passed", alice.id.as_str()),
        ];
        // From the start.
        let mut ws = server.connect(&bob.token).await;
        subscribe(&mut ws, &draft, Some(0)).await;
        let mut frames = subscribe_ok(&mut ws).await;
        while frames.len() < expected.len() {
            frames.push(ws.next().await);
        }
        frames.retain(|f| !is_presence(f));
        for (i, (kind, by)) in expected.iter().enumerate() {
            assert_eq!(assert_envelope(&frames[i], kind, &draft, by), i as i64 + 1);
        }
        quiet(&mut ws).await;
        // Then live, with the next seq.
        assert_eq!(append(&server, &bob, &draft, "two").await.0, 201);
        let live = recv(&mut ws, "collab.segment_added").await;
        assert_eq!((live["seq"].as_i64(), live["data"]["position"].as_i64()), (Some(5), Some(2)));
        // From a cursor in the middle, on another connection.
        let mut other = server.connect(&alice.token).await;
        subscribe(&mut other, &draft, Some(3)).await;
        let mut frames = subscribe_ok(&mut other).await;
        while frames.len() < 2 {
            frames.push(other.next().await);
        }
        frames.retain(|f| !is_presence(f));
        let seqs: Vec<i64> = frames.iter().map(|f| f["seq"].as_i64().expect("seq")).collect();
        assert_eq!(seqs, [4, 5]);
        quiet(&mut other).await;
        // The polling fallback sees the same log and the same state.
        let (status, page) = server.call("GET", &format!("/api/v1/rooms/draft:{draft}/events?after=0"), Some(&bob.token), None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["events"].as_array().map(Vec::len), Some(5));
        assert_eq!(page["last_seq"], 5);
        let read = get(&server, &bob, &draft).await.1;
        assert_eq!(read["segments"].as_array().map(Vec::len), Some(2));
        assert_eq!(read["ring_holder_id"], bob.id);
    }

    async fn concurrent_appends_race_a_ring_pass(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let draft = create_draft(&server, &alice, "Race").await;
        assert_eq!(add(&server, &alice, &draft, &bob.id).await.0, 201);
        const APPENDS: usize = 40;
        let contents: Vec<String> = (0..APPENDS).map(|i| format!("line {i}")).collect();
        let appends = join_all(contents.iter().map(|content| append(&server, &alice, &draft, content)));
        let passing = async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            pass(&server, &alice, &draft, &bob.id).await
        };
        // Bob tries too: he may only succeed after the pass.
        let (server_ref, bob_ref, draft_ref) = (&server, &bob, &draft);
        let bob_appends = join_all((0..10).map(|i| async move {
            tokio::time::sleep(std::time::Duration::from_millis(i)).await;
            append(server_ref, bob_ref, draft_ref, "bob").await
        }));
        let (results, passed, bob_results) = tokio::join!(appends, passing, bob_appends);
        assert_eq!(passed.0, 200, "{}", passed.1);
        let mut accepted = 0;
        for (status, body) in results.iter().chain(bob_results.iter()) {
            match status {
                201 => accepted += 1,
                409 => assert_eq!(body["error"]["code"], "not_ring_holder", "{body}"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        // The log: every accepted append was made while its author held the ring.
        let (status, page) =
            server.call("GET", &format!("/api/v1/rooms/draft:{draft}/events?after=0"), Some(&alice.token), None).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events");
        let mut holder = alice.id.clone();
        let mut segments = 0;
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event["seq"].as_i64(), Some(i as i64 + 1), "gap-free seqs");
            match event["type"].as_str() {
                Some("collab.segment_added") => {
                    segments += 1;
                    assert_eq!(event["data"]["author_user_id"], holder.as_str(), "appended without the ring: {event}");
                    assert_eq!(event["data"]["position"].as_i64(), Some(segments));
                }
                Some("collab.ring_passed") => {
                    assert_eq!(event["data"]["from"], holder.as_str());
                    holder = event["data"]["to"].as_str().expect("to").to_owned();
                }
                _ => {}
            }
        }
        assert_eq!(holder, bob.id);
        assert_eq!(segments, accepted, "one event per accepted append");
        let read = get(&server, &alice, &draft).await.1;
        assert_eq!(read["segments"].as_array().map(Vec::len), Some(accepted as usize));
        assert_eq!(read["ring_holder_id"], bob.id);
        // Every alice append the server accepted precedes the pass; every bob append follows it.
        let alice_accepted = results.iter().filter(|r| r.0 == 201).count();
        let first_bob = read["segments"].as_array().expect("segments").iter().position(|s| s["author_user_id"] == bob.id.as_str());
        if let Some(first_bob) = first_bob {
            assert_eq!(first_bob, alice_accepted);
        }
    }

    async fn openapi_documents_drafts(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (status, doc) = server.call("GET", "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        let paths = doc["paths"].as_object().expect("paths");
        for (path, method) in [
            ("/api/v1/drafts", "post"),
            ("/api/v1/drafts/{id}", "get"),
            ("/api/v1/drafts/{id}/segments", "post"),
            ("/api/v1/drafts/{id}/ring", "post"),
            ("/api/v1/drafts/{id}/collaborators", "post"),
        ] {
            assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing");
        }
        for schema in ["Draft", "DraftCollaborator", "Segment", "CreateDraftRequest", "AppendSegmentRequest", "PassRingRequest", "AddCollaboratorRequest"] {
            assert!(doc["components"]["schemas"].get(schema).is_some(), "schema {schema} missing");
        }
        assert!(doc["components"]["schemas"]["ErrorCode"].to_string().contains("not_ring_holder"));
    }
}
