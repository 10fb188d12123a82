//! Threads end to end over real HTTP and WebSockets, on both engines: seed 000's five and seed
//! 001's four testing scenarios, seed 002's integration checklist, one leak test per event type,
//! 20 concurrent acceptances, the user-owned library, and bad input on every endpoint.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{TestServer, User, WsClient, assert_error, is_presence, quiet, recv, recv_any, user};
use serde_json::{Value, json};

async fn create_thread(server: &TestServer, owner: &User, name: &str) -> String {
    let (status, body) = server.call("POST", "/api/v1/threads", Some(&owner.token), Some(json!({"name": name}))).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("thread id").to_owned()
}

async fn invite(server: &TestServer, by: &User, thread: &str, who: &str) -> (u16, Value) {
    server
        .call("POST", &format!("/api/v1/threads/{thread}/invites"), Some(&by.token), Some(json!({"user_id": who})))
        .await
}

async fn answer(server: &TestServer, who: &User, thread: &str, action: &str) -> (u16, Value) {
    let path = format!("/api/v1/threads/{thread}/invites/{}", who.id);
    server.call("PUT", &path, Some(&who.token), Some(json!({"action": action}))).await
}

/// Invites `who` on behalf of `by` and accepts.
async fn add_member(server: &TestServer, by: &User, thread: &str, who: &User) {
    let invited = invite(server, by, thread, &who.id).await;
    assert_eq!(invited.0, 201, "{}", invited.1);
    let accepted = answer(server, who, thread, "accept").await;
    assert_eq!(accepted.0, 200, "{}", accepted.1);
}

async fn invite_code(server: &TestServer, by: &User, thread: &str) -> String {
    let (status, link) =
        server.call("POST", &format!("/api/v1/threads/{thread}/invite-link"), Some(&by.token), None).await;
    assert_eq!(status, 201, "{link}");
    link["code"].as_str().expect("code").to_owned()
}

async fn get_thread(server: &TestServer, who: &User, thread: &str) -> Value {
    let (status, body) = server.call("GET", &format!("/api/v1/threads/{thread}"), Some(&who.token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn post_message(server: &TestServer, who: &User, thread: &str, snapshot: Value) -> Value {
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

async fn rename(server: &TestServer, who: &User, username: &str) {
    let path = format!("/api/v1/users/{}/username", who.id);
    let (status, body) = server.call("PUT", &path, Some(&who.token), Some(json!({"username": username}))).await;
    assert_eq!(status, 200, "{body}");
}

/// `(username, is_online)` of a thread's users, in join order.
fn users_of(thread: &Value) -> Vec<(String, bool)> {
    thread["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| (u["username"].as_str().expect("username").to_owned(), u["is_online"].as_bool().expect("is_online")))
        .collect()
}

fn is_online_in(thread: &Value, user_id: &str) -> bool {
    thread["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == user_id)
        .and_then(|u| u["is_online"].as_bool())
        .unwrap_or_else(|| panic!("{user_id} is not in {thread}"))
}

/// Waits for `user_status_changed` about `user_id` (skipping announcements about others) and
/// returns its `is_online`. Any other frame fails the test.
async fn status_of(ws: &mut WsClient, user_id: &str) -> bool {
    loop {
        let frame = ws.next().await;
        assert!(is_presence(&frame), "expected user_status_changed, got {frame}");
        if frame["user_id"] == user_id {
            assert!(frame["timestamp"].as_i64().is_some(), "{frame}");
            return frame["is_online"].as_bool().expect("is_online");
        }
    }
}

fn assert_durable(frame: &Value, room: &str) -> i64 {
    assert_eq!(frame["room"], room, "{frame}");
    assert!(frame["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "{frame}");
    frame["seq"].as_i64().unwrap_or_else(|| panic!("no seq in {frame}"))
}

fn resume_url(server: &TestServer, token: &str, cursors: Value) -> String {
    let encoded: String = cursors.to_string().bytes().map(|b| format!("%{b:02X}")).collect();
    server.ws_url(&format!("?token={token}&resume={encoded}"))
}

fn short_heartbeats(config: &mut tandem_server::ServeConfig) {
    config.heartbeat_interval = Duration::from_millis(200);
    config.heartbeat_timeout = Duration::from_millis(200);
}

/// Detection bound for a silent peer: interval + timeout, plus scheduling slack.
const STALE_WITHIN: Duration = Duration::from_millis(700);

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

    async fn seed000_test2_invitation_acceptance(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let thread = create_thread(&server, &alice, "Jam").await;
        let (status, link) = server.call("POST", &format!("/api/v1/threads/{thread}/invite-link"), Some(&alice.token), None).await;
        assert_eq!(status, 201, "{link}");
        let code = link["code"].as_str().expect("code").to_owned();
        assert!(code.len() == 32 && code.bytes().all(|b| b.is_ascii_hexdigit()), "128-bit code: {code}");
        assert!(link["url"].as_str().is_some_and(|u| u.contains(&code) && u.contains(&thread)), "{link}");
        let mut alice_ws = server.connect(&alice.token).await;

        // Bob follows the link: signs up without a username, creates one, then joins.
        let (status, signed_up) = server.call("POST", "/api/v1/users", None, Some(json!({}))).await;
        assert_eq!(status, 201);
        let bob = User { id: signed_up["user"]["id"].as_str().expect("id").into(), token: signed_up["token"].as_str().expect("token").into() };
        assert!(signed_up["user"]["username"].as_str().is_some_and(|u| u.starts_with("user_")));
        rename(&server, &bob, "bob").await;
        let mut bob_ws = server.connect(&bob.token).await;
        let (status, joined) = server.call("POST", &format!("/api/v1/threads/{thread}/join"), Some(&bob.token), Some(json!({"code": code}))).await;
        assert_eq!(status, 200, "{joined}");
        assert_eq!(users_of(&joined), [("alice".to_owned(), true), ("bob".to_owned(), true)]);

        // Alice sees Bob appear at once, no refresh needed.
        let accepted = recv(&mut alice_ws, "invitation_accepted").await;
        assert_eq!(assert_durable(&accepted, &format!("thread:{thread}")), 1);
        assert_eq!((accepted["thread_id"].as_str(), accepted["user_id"].as_str(), accepted["user_name"].as_str()), (Some(thread.as_str()), Some(bob.id.as_str()), Some("bob")));
        assert_eq!(accepted["is_online"], true);
        let seen = get_thread(&server, &alice, &thread).await;
        assert_eq!(users_of(&seen).len(), 2);
        // Bob's own connection joined the room before the event went out: it carries his cursor.
        assert_eq!(recv(&mut bob_ws, "invitation_accepted").await["seq"], 1);

        // The invitation-by-user path: Carol is invited, gets told, accepts.
        let carol = user(&server, "carol").await;
        let mut carol_ws = server.connect(&carol.token).await;
        let (status, invite_body) = invite(&server, &alice, &thread, &carol.id).await;
        assert_eq!(status, 201, "{invite_body}");
        assert_eq!((invite_body["user_id"].as_str(), invite_body["username"].as_str(), invite_body["invited_by"].as_str()), (Some(carol.id.as_str()), Some("carol"), Some(alice.id.as_str())));
        let invitation = recv(&mut carol_ws, "thread_invitation").await;
        assert_eq!(assert_durable(&invitation, &format!("user:{}", carol.id)), 1);
        assert_eq!((invitation["thread_id"].as_str(), invitation["thread_name"].as_str()), (Some(thread.as_str()), Some("Jam")));
        assert_eq!((invitation["invited_by"].as_str(), invitation["invited_by_username"].as_str()), (Some(alice.id.as_str()), Some("alice")));
        assert_eq!(get_thread(&server, &alice, &thread).await["invites"][0]["user_id"], carol.id.as_str());

        let (status, after) = answer(&server, &carol, &thread, "accept").await;
        assert_eq!(status, 200, "{after}");
        assert_eq!(after["invites"], json!([]), "moved from invites…");
        assert_eq!(users_of(&after).last().map(|u| u.0.as_str()), Some("carol"), "…to users");
        for ws in [&mut alice_ws, &mut bob_ws, &mut carol_ws] {
            let accepted = recv(ws, "invitation_accepted").await;
            assert_eq!((accepted["user_id"].as_str(), accepted["seq"].as_i64()), (Some(carol.id.as_str()), Some(2)));
        }
    }

    async fn seed000_test3_online_status(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &bob, "Studio").await;
        add_member(&server, &bob, &thread, &alice).await;
        let mut bob_ws = server.connect(&bob.token).await;

        let mut alice_ws = server.connect(&alice.token).await;
        assert!(status_of(&mut bob_ws, &alice.id).await, "green dot");
        assert!(is_online_in(&get_thread(&server, &bob, &thread).await, &alice.id));

        // Alice closes the app.
        alice_ws.socket.close(None).await.expect("close");
        assert!(!status_of(&mut bob_ws, &alice.id).await, "gray dot");
        assert!(!is_online_in(&get_thread(&server, &bob, &thread).await, &alice.id));
    }

    async fn seed000_test4_disconnect_and_reconnect(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &bob, "Session").await;
        let room = format!("thread:{thread}");
        add_member(&server, &bob, &thread, &alice).await; // seq 1
        let mut bob_ws = server.connect(&bob.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        assert!(status_of(&mut bob_ws, &alice.id).await);
        post_message(&server, &bob, &thread, json!({"step": 1})).await;
        let cursor = assert_durable(&recv(&mut alice_ws, "message_created").await, &room);
        assert_eq!(recv(&mut bob_ws, "message_created").await["seq"], cursor);

        // WiFi off: the TCP connection just goes away.
        drop(alice_ws);
        assert!(!status_of(&mut bob_ws, &alice.id).await, "the disconnect is detected");
        for step in 2..=3 {
            post_message(&server, &bob, &thread, json!({"step": step})).await;
            recv(&mut bob_ws, "message_created").await;
        }

        // WiFi on: the client reconnects with its cursor and catches up, then goes live.
        let mut alice_ws = WsClient::open(&resume_url(&server, &alice.token, json!({ room.clone(): cursor }))).await.expect("upgrade");
        alice_ws.expect("connected").await;
        for step in 2..=3 {
            let missed = recv(&mut alice_ws, "message_created").await;
            assert_eq!((missed["seq"].as_i64(), missed["snapshot"]["step"].as_i64()), (Some(cursor + step - 1), Some(step)));
        }
        assert!(status_of(&mut bob_ws, &alice.id).await, "online status is accurate again");
        post_message(&server, &bob, &thread, json!({"step": 4})).await;
        assert_eq!(recv(&mut alice_ws, "message_created").await["snapshot"]["step"], 4);
        quiet(&mut alice_ws).await;
        // The data sync after reconnecting reads fresh data.
        let fresh = get_thread(&server, &alice, &thread).await;
        assert!(is_online_in(&fresh, &alice.id));
        let (_, page) = server.call("GET", &format!("/api/v1/threads/{thread}/messages"), Some(&alice.token), None).await;
        let steps: Vec<i64> = page["messages"].as_array().expect("messages").iter().filter_map(|m| m["snapshot"]["step"].as_i64()).collect();
        assert_eq!(steps, [4, 3, 2, 1]);
    }

    async fn seed000_test5_stale_connection(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, short_heartbeats).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &bob, "Zombies").await;
        add_member(&server, &bob, &thread, &alice).await;
        let mut bob_ws = server.connect(&bob.token).await;
        // A zombie: the handshake completes, then the client never reads or answers again.
        let _zombie = server.connect(&alice.token).await;
        let connected = Instant::now();
        assert!(status_of(&mut bob_ws, &alice.id).await);
        assert!(!status_of(&mut bob_ws, &alice.id).await, "removed at the next heartbeat");
        let detected = connected.elapsed();
        assert!(detected <= STALE_WITHIN, "detected after {detected:?}");
        assert!(!server.hub.is_online(&alice.id));
        let (_, seen) = server.call("GET", &format!("/api/v1/users/{}", alice.id), Some(&bob.token), None).await;
        assert_eq!(seen["is_online"], false);
        assert!(seen["last_online"].is_string(), "last_online updated: {seen}");
        assert!(!is_online_in(&get_thread(&server, &bob, &thread).await, &alice.id));
    }

    // ---------------------------------------------------------------------------------------
    // Seed 001, "Testing Scenarios"
    // ---------------------------------------------------------------------------------------

    async fn seed001_test1_clean_disconnect(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let outsider = user(&server, "outsider").await;
        let thread = create_thread(&server, &device_a, "Both viewing").await;
        add_member(&server, &device_a, &thread, &device_b).await;
        let mut outsider_ws = server.connect(&outsider.token).await;
        let mut a_ws = server.connect(&device_a.token).await;
        let mut b_ws = server.connect(&device_b.token).await;
        assert!(status_of(&mut a_ws, &device_b.id).await);

        // Device B closes the app; with the default 30 s heartbeat, only the close can tell.
        let closed = Instant::now();
        b_ws.socket.close(None).await.expect("close");
        assert!(!status_of(&mut a_ws, &device_b.id).await);
        assert!(closed.elapsed() < Duration::from_secs(2), "immediate, not at a heartbeat");
        assert!(!is_online_in(&get_thread(&server, &device_a, &thread).await, &device_b.id));
        // Thread members only.
        outsider_ws.assert_nothing_pending().await;
    }

    async fn seed001_test2_dirty_disconnect(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, short_heartbeats).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let thread = create_thread(&server, &device_a, "Airplane mode").await;
        add_member(&server, &device_a, &thread, &device_b).await;
        let mut a_ws = server.connect(&device_a.token).await;
        // Device B loses its network: it neither reads nor answers from now on.
        let _b_ws = server.connect(&device_b.token).await;
        let lost = Instant::now();
        assert!(status_of(&mut a_ws, &device_b.id).await);
        assert!(!status_of(&mut a_ws, &device_b.id).await, "the heartbeat finds it");
        assert!(lost.elapsed() <= STALE_WITHIN, "after {:?}", lost.elapsed());
        assert!(server.hub.is_online(&device_a.id), "a reading client is never stale");
        assert!(!is_online_in(&get_thread(&server, &device_a, &thread).await, &device_b.id));
    }

    async fn seed001_test3_auto_reconnect_seen_from_the_other_side(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let thread = create_thread(&server, &device_b, "Backoff").await;
        add_member(&server, &device_b, &thread, &device_a).await;
        let mut b_ws = server.connect(&device_b.token).await;
        let a_ws = server.connect(&device_a.token).await;
        assert!(status_of(&mut b_ws, &device_a.id).await);

        drop(a_ws); // WiFi off
        assert!(!status_of(&mut b_ws, &device_a.id).await, "B sees A go offline");
        assert!(!is_online_in(&get_thread(&server, &device_b, &thread).await, &device_a.id));
        let mut a_ws = server.connect(&device_a.token).await; // the client's reconnect succeeds
        assert!(status_of(&mut b_ws, &device_a.id).await, "then come back online");
        assert!(is_online_in(&get_thread(&server, &device_b, &thread).await, &device_a.id));
        // The reconnected client is in its thread room again.
        post_message(&server, &device_b, &thread, json!("back")).await;
        assert_eq!(recv(&mut a_ws, "message_created").await["snapshot"], "back");
        assert_eq!(recv(&mut b_ws, "message_created").await["snapshot"], "back");
        quiet(&mut a_ws).await;
        quiet(&mut b_ws).await;
    }

    async fn seed001_test4_long_network_outage(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, short_heartbeats).await else { return };
        let device_a = user(&server, "device_a").await;
        let device_b = user(&server, "device_b").await;
        let carol = user(&server, "carol").await;
        let thread = create_thread(&server, &device_b, "Subway").await;
        let other = create_thread(&server, &carol, "Elsewhere").await;
        let (room, user_room) = (format!("thread:{thread}"), format!("user:{}", device_a.id));
        add_member(&server, &device_b, &thread, &device_a).await;
        let mut b_ws = server.connect(&device_b.token).await;
        let mut a_ws = server.connect(&device_a.token).await;
        assert!(status_of(&mut b_ws, &device_a.id).await);
        post_message(&server, &device_b, &thread, json!({"n": 0})).await;
        let cursor = recv(&mut a_ws, "message_created").await["seq"].as_i64().expect("seq");
        recv(&mut b_ws, "message_created").await;

        // Into the subway: A's connection goes silent and is dropped by the heartbeat. B saw
        // it go, then only uses REST (a socket not read for a while would go stale too).
        let zombie = a_ws;
        assert!(!status_of(&mut b_ws, &device_a.id).await);
        b_ws.socket.close(None).await.expect("close");
        // Meanwhile life goes on: messages in the thread, an invitation to A's user room.
        for n in 1..=3 {
            post_message(&server, &device_b, &thread, json!({"n": n})).await;
        }
        assert_eq!(invite(&server, &carol, &other, &device_a.id).await.0, 201);
        drop(zombie);

        // Out of the subway: reconnect with the cursors it had.
        let url = resume_url(&server, &device_a.token, json!({ room.clone(): cursor, user_room.clone(): 0 }));
        let mut a_ws = WsClient::open(&url).await.expect("upgrade");
        a_ws.expect("connected").await;
        let mut seen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        while seen.values().map(Vec::len).sum::<usize>() < 5 {
            let frame = recv_any(&mut a_ws).await;
            seen.entry(frame["room"].as_str().expect("durable").to_owned()).or_default().push(frame);
        }
        let thread_events: Vec<(i64, i64)> = seen[&room].iter().map(|f| (f["seq"].as_i64().expect("seq"), f["snapshot"]["n"].as_i64().expect("n"))).collect();
        assert_eq!(thread_events, [(cursor + 1, 1), (cursor + 2, 2), (cursor + 3, 3)], "every missed message once, in order");
        // Its user room had never delivered anything to it: from 0, both invitations, in order.
        let invitations: Vec<(i64, &str, &str)> = seen[&user_room].iter().map(|f| (f["seq"].as_i64().expect("seq"), f["type"].as_str().expect("type"), f["thread_id"].as_str().expect("thread"))).collect();
        assert_eq!(invitations, [(1, "thread_invitation", thread.as_str()), (2, "thread_invitation", other.as_str())]);
        assert!(is_online_in(&get_thread(&server, &device_b, &thread).await, &device_a.id), "back online");
        post_message(&server, &device_b, &thread, json!({"n": 4})).await;
        assert_eq!(recv(&mut a_ws, "message_created").await["seq"], cursor + 4, "then live");
        quiet(&mut a_ws).await;
    }

    // ---------------------------------------------------------------------------------------
    // Seed 002, "Testing Checklist" (integration)
    // ---------------------------------------------------------------------------------------

    async fn seed002_user_connects_shows_online_immediately(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &alice, "Now").await;
        add_member(&server, &alice, &thread, &bob).await;
        assert!(!is_online_in(&get_thread(&server, &alice, &thread).await, &bob.id));
        // No waiting for any announcement: once `connected` arrived, reads say online.
        let _bob_ws = server.connect(&bob.token).await;
        assert!(is_online_in(&get_thread(&server, &alice, &thread).await, &bob.id));
        let (_, list) = server.call("GET", "/api/v1/threads", Some(&alice.token), None).await;
        assert!(is_online_in(&list["threads"][0], &bob.id));
    }

    async fn seed002_user_disconnects_shows_offline_immediately(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let thread = create_thread(&server, &alice, "Gone").await;
        add_member(&server, &alice, &thread, &bob).await;
        let mut alice_ws = server.connect(&alice.token).await;
        let mut bob_ws = server.connect(&bob.token).await;
        assert!(status_of(&mut alice_ws, &bob.id).await);
        bob_ws.socket.close(None).await.expect("close");
        assert!(!status_of(&mut alice_ws, &bob.id).await);
        assert!(!is_online_in(&get_thread(&server, &alice, &thread).await, &bob.id));
        let (_, list) = server.call("GET", "/api/v1/threads", Some(&alice.token), None).await;
        assert!(!is_online_in(&list["threads"][0], &bob.id));
    }

    async fn seed002_invitation_accepted_carries_is_online(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let carol = user(&server, "carol").await;
        let thread = create_thread(&server, &alice, "Status").await;
        for guest in [&bob, &carol] {
            assert_eq!(invite(&server, &alice, &thread, &guest.id).await.0, 201);
        }
        let mut alice_ws = server.connect(&alice.token).await;
        let _bob_ws = server.connect(&bob.token).await; // Bob accepts from the app, connected
        assert_eq!(answer(&server, &bob, &thread, "accept").await.0, 200);
        let accepted = recv(&mut alice_ws, "invitation_accepted").await;
        assert_eq!((accepted["user_id"].as_str(), accepted["is_online"].as_bool()), (Some(bob.id.as_str()), Some(true)));
        // Carol accepts over plain REST with no connection open.
        assert_eq!(answer(&server, &carol, &thread, "accept").await.0, 200);
        let accepted = recv(&mut alice_ws, "invitation_accepted").await;
        assert_eq!((accepted["user_id"].as_str(), accepted["is_online"].as_bool()), (Some(carol.id.as_str()), Some(false)));
    }

    async fn seed002_thread_list_shows_accurate_online_status(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let carol = user(&server, "carol").await;
        let first = create_thread(&server, &alice, "First").await;
        let second = create_thread(&server, &alice, "Second").await;
        add_member(&server, &alice, &first, &bob).await;
        add_member(&server, &alice, &second, &bob).await;
        add_member(&server, &alice, &second, &carol).await;
        let _bob_ws = server.connect(&bob.token).await;
        let (status, list) = server.call("GET", "/api/v1/threads", Some(&alice.token), None).await;
        assert_eq!(status, 200, "{list}");
        let threads = list["threads"].as_array().expect("threads");
        assert_eq!(threads.iter().map(|t| t["name"].as_str().unwrap_or_default()).collect::<Vec<_>>(), ["Second", "First"], "newest first");
        assert_eq!(users_of(&threads[0]), [("alice".to_owned(), false), ("bob".to_owned(), true), ("carol".to_owned(), false)]);
        assert_eq!(users_of(&threads[1]), [("alice".to_owned(), false), ("bob".to_owned(), true)]);
        // Presence never writes while a user stays connected.
        let (_, seen) = server.call("GET", &format!("/api/v1/users/{}", bob.id), Some(&alice.token), None).await;
        assert_eq!(seen["last_online"], Value::Null);
    }

    // ---------------------------------------------------------------------------------------
    // Leak tests: a non-member connected the whole time receives nothing.
    // ---------------------------------------------------------------------------------------

    async fn thread_invitation_reaches_only_the_invitee(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let eve = user(&server, "eve").await;
        let thread = create_thread(&server, &alice, "Secret").await;
        let mut eve_ws = server.connect(&eve.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        let mut bob_ws = server.connect(&bob.token).await;
        assert_eq!(invite(&server, &alice, &thread, &bob.id).await.0, 201);
        assert_eq!(recv(&mut bob_ws, "thread_invitation").await["thread_id"], thread.as_str());
        quiet(&mut alice_ws).await;
        eve_ws.assert_nothing_pending().await;
    }

    async fn invitation_accepted_does_not_leak(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let alice = user(&server, "alice").await;
        let bob = user(&server, "bob").await;
        let eve = user(&server, "eve").await;
        let thread = create_thread(&server, &alice, "Secret").await;
        assert_eq!(invite(&server, &alice, &thread, &bob.id).await.0, 201);
        let mut eve_ws = server.connect(&eve.token).await;
        let mut alice_ws = server.connect(&alice.token).await;
        assert_eq!(answer(&server, &bob, &thread, "accept").await.0, 200);
        assert_eq!(recv(&mut alice_ws, "invitation_accepted").await["user_id"], bob.id.as_str());
        // Joining by link as well.
        let carol = user(&server, "carol").await;
        let code = invite_code(&server, &alice, &thread).await;
        let path = format!("/api/v1/threads/{thread}/join");
        assert_eq!(server.call("POST", &path, Some(&carol.token), Some(json!({"code": code}))).await.0, 200);
        assert_eq!(recv(&mut alice_ws, "invitation_accepted").await["user_id"], carol.id.as_str());
        eve_ws.assert_nothing_pending().await;
    }

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
    // Concurrency, pagination, membership rules
    // ---------------------------------------------------------------------------------------

    async fn twenty_concurrent_acceptances(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let owner = user(&server, "owner").await;
        let thread = create_thread(&server, &owner, "Crowd").await;
        let room = format!("thread:{thread}");
        let mut owner_ws = server.connect(&owner.token).await;
        let mut guests = Vec::new();
        for i in 0..20 {
            let guest = user(&server, &format!("guest{i}")).await;
            assert_eq!(invite(&server, &owner, &thread, &guest.id).await.0, 201);
            let ws = server.connect(&guest.token).await;
            guests.push((guest, ws));
        }
        let accepts: Vec<_> = guests.iter().map(|(guest, _)| {
            let request = server.http.put(server.url(&format!("/api/v1/threads/{thread}/invites/{}", guest.id)))
                .bearer_auth(&guest.token).json(&json!({"action": "accept"}));
            tokio::spawn(async move { request.send().await.expect("accept").status().as_u16() })
        }).collect();
        for accept in accepts {
            assert_eq!(accept.await.expect("join"), 200);
        }

        // The owner saw every acceptance exactly once, in seq order 1..=20.
        let mut seen = Vec::new();
        while seen.len() < 20 {
            let frame = recv(&mut owner_ws, "invitation_accepted").await;
            seen.push((assert_durable(&frame, &room), frame["user_id"].as_str().expect("user_id").to_owned()));
        }
        assert_eq!(seen.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>(), "gap-free, in order");
        let mut users: Vec<&str> = seen.iter().map(|(_, user)| user.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        assert_eq!(users.len(), 20, "each user once");
        quiet(&mut owner_ws).await;

        // Each guest got every acceptance from its own on, once each, gap-free.
        for (guest, ws) in &mut guests {
            let mut seqs = Vec::new();
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            while seqs.last() != Some(&20) {
                let frame = recv(ws, "invitation_accepted").await;
                if seqs.is_empty() {
                    assert_eq!(frame["user_id"], guest.id.as_str(), "its own acceptance comes first");
                }
                seqs.push(frame["seq"].as_i64().expect("seq"));
                *counts.entry(frame["user_id"].as_str().expect("user").to_owned()).or_default() += 1;
            }
            let first = seqs[0];
            assert_eq!(seqs, (first..=20).collect::<Vec<_>>(), "gap-free for {}", guest.id);
            assert!(counts.values().all(|&n| n == 1), "exactly once: {counts:?}");
            quiet(ws).await;
        }
        let crowd = get_thread(&server, &owner, &thread).await;
        assert_eq!((users_of(&crowd).len(), crowd["invites"].as_array().map(Vec::len)), (21, Some(0)));
        assert_eq!(server.store.room_log(&room).await.expect("log").last_seq, 20);
    }

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
        server.store.add_member(&tandem_server::room::Room::parse(&room).expect("room"), &eve.id, 1).await.expect("member behind the API's back");
        assert_error(&answer(&server, &eve, &thread, "accept").await, 409, "conflict");
        let after = get_thread(&server, &alice, &thread).await;
        assert_eq!(after["invites"][0]["user_id"], eve.id.as_str(), "the invitation was not deleted");
        assert_eq!(log(room).await, 1, "and no event was appended");
    }

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
