//! Presence over real sockets: `user_status_changed` to co-members of threads, drafts and
//! canvases, once and to nobody else; the presence grace for lost connections; a user online
//! until the last of its connections closes; online collaborators by `list_users` and REST.
//! Every test runs on both engines.

mod common;

use std::time::{Duration, Instant};

use common::{Ended, TestServer, WsClient, id};
use serde_json::{Value, json};

both_engines! {
    async fn presence_reaches_co_members_once_and_nobody_else(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, alice_token) = server.sign_up("alice").await;
        let (bob, bob_token) = server.sign_up("bob").await;
        let (_, eve_token) = server.sign_up("eve").await;
        // Alice and Bob share two rooms: Bob must still hear of Alice once.
        server.add_members("thread:t1", &[&id(&alice), &id(&bob)]).await;
        server.add_members("canvas:c1", &[&id(&alice), &id(&bob)]).await;
        let mut bob_ws = server.connect(&bob_token).await;
        let mut eve_ws = server.connect(&eve_token).await;

        let mut alice_ws = server.connect(&alice_token).await;
        let online = bob_ws.expect("user_status_changed").await;
        assert_eq!((online["user_id"].clone(), online["is_online"].clone()), (alice["id"].clone(), json!(true)));
        assert!(online["timestamp"].as_i64().is_some());
        let (_, me) = server.call("GET", &format!("/api/v1/users/{}", id(&alice)), Some(&bob_token), None).await;
        assert_eq!(me["is_online"], true);

        alice_ws.socket.close(None).await.expect("close");
        let offline = bob_ws.expect("user_status_changed").await;
        assert_eq!((offline["user_id"].clone(), offline["is_online"].clone()), (alice["id"].clone(), json!(false)));
        bob_ws.assert_nothing_pending().await;
        eve_ws.assert_nothing_pending().await;
        let (_, me) = server.call("GET", &format!("/api/v1/users/{}", id(&alice)), Some(&bob_token), None).await;
        assert_eq!(me["is_online"], false);
        assert!(me["last_online"].as_str().is_some(), "last_online written on the last close: {me}");
    }

    async fn presence_reaches_co_members_of_threads_drafts_and_canvases_only(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, alice_token) = server.sign_up("alice").await;
        let (bob, bob_token) = server.sign_up("bob").await;
        let (carol, carol_token) = server.sign_up("carol").await;
        let (dave, dave_token) = server.sign_up("dave").await;
        let (_erin, erin_token) = server.sign_up("erin").await;
        // Bob shares a thread with Alice, Carol a canvas, Dave a draft (neither viewing it);
        // Erin shares nothing.
        server.add_members("thread:t1", &[&id(&alice), &id(&bob)]).await;
        server.add_members("canvas:c1", &[&id(&alice), &id(&carol)]).await;
        server.add_members("draft:d1", &[&id(&alice), &id(&dave)]).await;
        let mut others = Vec::new();
        for token in [&bob_token, &carol_token, &dave_token] {
            others.push(server.connect(token).await);
        }
        let mut erin_ws = server.connect(&erin_token).await;
        let alice_ws = server.connect(&alice_token).await;
        for ws in &mut others {
            let online = ws.expect("user_status_changed").await;
            assert_eq!((online["user_id"].as_str(), &online["is_online"]), (Some(id(&alice).as_str()), &json!(true)));
        }
        drop(alice_ws);
        for ws in &mut others {
            assert_eq!(ws.expect("user_status_changed").await["is_online"], false);
        }
        erin_ws.assert_nothing_pending().await;
        for ws in &mut others {
            ws.assert_nothing_pending().await;
        }
        let (_, body) = server.call("GET", "/api/v1/users", Some(&carol_token), None).await;
        let users: Vec<&str> = body["users"].as_array().expect("users").iter().filter_map(|u| u["id"].as_str()).collect();
        assert_eq!(users, [id(&alice).as_str()], "a shared canvas makes collaborators: {body}");
        let (_, body) = server.call("GET", "/api/v1/users", Some(&erin_token), None).await;
        assert_eq!(body["users"].as_array().map(Vec::len), Some(0), "nothing shared, no collaborator: {body}");
    }

    async fn a_lost_connection_back_within_the_presence_grace_announces_nothing(engine: Engine) {
        let grace = Duration::from_millis(500);
        let Some(GraceSetup { server, alice, alice_token, bob_token, mut bob_ws, alice_ws }) =
            alice_online_to_bob(engine, grace).await
        else {
            return;
        };

        // Lost, not closed: the TCP stream ends without a close frame.
        drop(alice_ws);
        let path = format!("/api/v1/users/{}", id(&alice));
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.call("GET", &path, Some(&bob_token), None).await.1["is_online"] != false {
            assert!(Instant::now() < deadline, "the server never saw the lost connection");
            tokio::task::yield_now().await;
        }
        let mut alice_ws = server.connect(&alice_token).await;
        // Let the grace period pass: the overtaken offline announcement must stay unsaid.
        tokio::time::sleep(grace + Duration::from_millis(300)).await;
        bob_ws.assert_nothing_pending().await;

        // A clean close is announced at once, grace or not.
        alice_ws.socket.close(None).await.expect("close");
        let offline = bob_ws.expect("user_status_changed").await;
        assert_eq!((offline["user_id"].clone(), offline["is_online"].clone()), (alice["id"].clone(), json!(false)));
    }

    async fn a_lost_connection_is_announced_offline_after_the_presence_grace(engine: Engine) {
        let grace = Duration::from_millis(300);
        let Some(GraceSetup { server, alice, bob_token, mut bob_ws, alice_ws, .. }) =
            alice_online_to_bob(engine, grace).await
        else {
            return;
        };
        let lost = Instant::now();
        drop(alice_ws);
        let offline = bob_ws.expect("user_status_changed").await;
        assert_eq!(offline["is_online"], false);
        assert!(lost.elapsed() >= grace, "announced after {:?}, before the {grace:?} grace", lost.elapsed());
        let (_, seen) = server.call("GET", &format!("/api/v1/users/{}", id(&alice)), Some(&bob_token), None).await;
        assert!(seen["last_online"].is_string(), "last_online written when the offline is announced: {seen}");
    }

    async fn two_connections_stay_online_until_the_second_closes(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, alice_token) = server.sign_up("alice").await;
        let (bob, bob_token) = server.sign_up("bob").await;
        server.add_members("thread:t1", &[&id(&alice), &id(&bob)]).await;
        let mut bob_ws = server.connect(&bob_token).await;
        let mut phone = server.connect(&alice_token).await;
        assert_eq!(bob_ws.expect("user_status_changed").await["is_online"], true);
        let mut laptop = server.connect(&alice_token).await;

        phone.socket.close(None).await.expect("close");
        assert!(matches!(phone.ended().await, Ended::Closed(_) | Ended::Dropped));
        // The laptop is still connected: no status change, still online, no last_online yet.
        laptop.assert_nothing_pending().await;
        bob_ws.assert_nothing_pending().await;
        let path = format!("/api/v1/users/{}", id(&alice));
        let (_, seen) = server.call("GET", &path, Some(&bob_token), None).await;
        assert_eq!((seen["is_online"].clone(), seen["last_online"].clone()), (json!(true), Value::Null));

        laptop.socket.close(None).await.expect("close");
        assert_eq!(bob_ws.expect("user_status_changed").await["is_online"], false);
        let (_, seen) = server.call("GET", &path, Some(&bob_token), None).await;
        assert_eq!(seen["is_online"], false);
        assert!(seen["last_online"].is_string());
    }

    async fn list_users_answers_online_collaborators(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, alice_token) = server.sign_up("alice").await;
        let (bob, bob_token) = server.sign_up("bob").await;
        let (carol, _) = server.sign_up("carol").await;
        let (_, eve_token) = server.sign_up("eve").await;
        server.add_members("thread:t1", &[&id(&alice), &id(&bob), &id(&carol)]).await;
        let _bob_ws = server.connect(&bob_token).await;
        let _eve_ws = server.connect(&eve_token).await;
        let mut alice_ws = server.connect(&alice_token).await;
        alice_ws.send(json!({"type": "list_users", "ref": "q1"})).await;
        let online = alice_ws.expect("online_users").await;
        let names: Vec<&str> = online["users"].as_array().expect("users").iter().filter_map(|u| u["username"].as_str()).collect();
        assert_eq!(names, ["bob"], "online collaborators only (carol offline, eve unrelated)");
        assert_eq!(alice_ws.expect("ack").await["ref"], "q1");

        let (status, body) = server.call("GET", "/api/v1/users?online=true", Some(&alice_token), None).await;
        assert_eq!(status, 200, "{body}");
        let names: Vec<&str> = body["users"].as_array().expect("users").iter().filter_map(|u| u["username"].as_str()).collect();
        assert_eq!(names, ["bob"]);
        let (_, body) = server.call("GET", "/api/v1/users", Some(&alice_token), None).await;
        assert_eq!(body["users"].as_array().map(Vec::len), Some(2), "all collaborators: {body}");
    }
}

/// Alice and Bob share a thread on a server with presence grace `grace`; both are connected and
/// Bob has seen Alice come online.
struct GraceSetup {
    server: TestServer,
    alice: Value,
    alice_token: String,
    bob_token: String,
    bob_ws: WsClient,
    alice_ws: WsClient,
}

async fn alice_online_to_bob(engine: common::Engine, grace: Duration) -> Option<GraceSetup> {
    let server = TestServer::start_with(engine, |c| c.presence_grace = grace).await?;
    let (alice, alice_token) = server.sign_up("alice").await;
    let (bob, bob_token) = server.sign_up("bob").await;
    server.add_members("thread:t1", &[&id(&alice), &id(&bob)]).await;
    let mut bob_ws = server.connect(&bob_token).await;
    let alice_ws = server.connect(&alice_token).await;
    assert_eq!(bob_ws.expect("user_status_changed").await["is_online"], true);
    Some(GraceSetup { server, alice, alice_token, bob_token, bob_ws, alice_ws })
}
