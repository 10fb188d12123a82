//! Thread invitations end to end over real HTTP and WebSockets, on both engines: seed 000's
//! invitation acceptance (by link and by user), seed 002's `is_online` on acceptances, the
//! leak tests of `thread_invitation` and `invitation_accepted`, and 20 concurrent acceptances.

mod common;

use std::collections::BTreeMap;

use common::threads::{answer, assert_durable, create_thread, get_thread, invite, invite_code, rename, users_of};
use common::{TestServer, User, quiet, recv, user};
use serde_json::json;

both_engines! {
    // ---------------------------------------------------------------------------------------
    // Seed 000, "Testing Scenarios"
    // ---------------------------------------------------------------------------------------

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

    // ---------------------------------------------------------------------------------------
    // Seed 002, "Testing Checklist" (integration)
    // ---------------------------------------------------------------------------------------

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

    // ---------------------------------------------------------------------------------------
    // Concurrency
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
}
