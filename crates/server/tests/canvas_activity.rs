//! Live activity on canvases (seed 004) end to end over real sockets, on both engines: viewers
//! (`user_joined`/`user_left`), typing and its expiry, `user_presence` and `tile_mention`, with
//! their bad input and their cleanup when a viewer leaves.

mod common;

use common::canvases::{add_member, answer, assert_refused, connect, create_canvas, view};
use common::{TestServer, quiet, recv, recv_any, user};
use serde_json::json;

both_engines! {
    async fn viewers_join_and_leave(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol) = (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await);
        let canvas = create_canvas(&server, &alice, 5, 5).await;
        add_member(&server, &alice, &canvas, &bob).await;
        add_member(&server, &alice, &canvas, &carol).await;
        let room = format!("canvas:{canvas}");
        let (mut a, _) = connect(&server, &alice).await;
        let (mut b1, _) = connect(&server, &bob).await;
        let (mut b2, _) = connect(&server, &bob).await;
        let (mut c, _) = connect(&server, &carol).await; // member, never views

        let viewers = view(&mut a, &canvas).await;
        assert_eq!(viewers["active_users"], 1);
        assert_eq!(viewers["users"][0]["id"], alice.id.as_str());
        let viewers = view(&mut b1, &canvas).await;
        assert_eq!(viewers["active_users"], 2, "{viewers}");
        let joined = recv(&mut a, "user_joined").await;
        assert_eq!((joined["user_id"].as_str(), joined["username"].as_str()), (Some(bob.id.as_str()), Some("bob")));
        assert_eq!((joined["active_users"].as_u64(), joined["room"].as_str()), (Some(2), Some(room.as_str())));
        // Bob's second tab: no news for the others (still 2 distinct users), bob's tabs get nothing.
        let viewers = view(&mut b2, &canvas).await;
        assert_eq!(viewers["active_users"], 2);
        for ws in [&mut a, &mut b1, &mut b2, &mut c] {
            quiet(ws).await;
        }
        // Closing one of bob's tabs: bob still views. Closing the other: user_left.
        b1.socket.close(None).await.expect("close");
        quiet(&mut a).await;
        b2.send(json!({"type": "unsubscribe", "room": room})).await;
        let left = recv(&mut a, "user_left").await;
        assert_eq!((left["user_id"].as_str(), left["active_users"].as_u64()), (Some(bob.id.as_str()), Some(1)));
        // Disconnecting while viewing is a leave too.
        view(&mut b2, &canvas).await;
        recv(&mut a, "user_joined").await;
        drop(b2);
        let left = recv(&mut a, "user_left").await;
        assert_eq!(left["active_users"], 1);
        quiet(&mut c).await;
    }

    async fn typing_presence_and_mentions(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob, carol, dave) =
            (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await, user(&server, "dave").await);
        let canvas = create_canvas(&server, &alice, 8, 6).await;
        add_member(&server, &alice, &canvas, &bob).await;
        add_member(&server, &alice, &canvas, &carol).await;
        let room = format!("canvas:{canvas}");
        let (mut a, _) = connect(&server, &alice).await;
        let (mut b, _) = connect(&server, &bob).await;
        let (mut c, _) = connect(&server, &carol).await;
        let (mut d, _) = connect(&server, &dave).await;
        view(&mut a, &canvas).await;
        view(&mut b, &canvas).await;
        recv(&mut a, "user_joined").await;

        // Bad input.
        assert_refused(&mut c, json!({"type": "typing", "room": room, "is_typing": true}), "not_found").await;
        assert_refused(&mut d, json!({"type": "typing", "room": room, "is_typing": true}), "not_found").await;
        assert_refused(&mut a, json!({"type": "typing", "room": room}), "invalid_frame").await;
        assert_refused(&mut a, json!({"type": "typing", "room": "lobby", "is_typing": true}), "validation_failed").await;
        let presence = |x: i64, y: i64| json!({"type": "user_presence", "room": room, "presence_type": "editing_tile", "tile_x": x, "tile_y": y, "is_editing": true});
        for (x, y) in [(8, 0), (0, 6), (-1, 0)] {
            assert_refused(&mut a, presence(x, y), "validation_failed").await;
        }
        let mut wrong = presence(1, 1);
        wrong["presence_type"] = json!("dancing");
        assert_refused(&mut a, wrong, "validation_failed").await;
        assert_refused(&mut c, presence(1, 1), "not_found").await;
        let mention = |x: i64, y: i64, duration: i64| json!({"type": "tile_mention", "room": room, "tile_x": x, "tile_y": y, "message": "look", "duration": duration});
        for frame in [mention(1, 1, 499), mention(1, 1, 30_001), mention(8, 1, 1000), mention(1, 6, 1000)] {
            assert_refused(&mut a, frame, "validation_failed").await;
        }
        assert_refused(&mut d, mention(1, 1, 1000), "not_found").await;

        // Typing: a flood of keystrokes is one broadcast; the typist gets nothing.
        for _ in 0..20 {
            a.send(json!({"type": "typing", "room": room, "is_typing": true})).await;
        }
        let typing = recv(&mut b, "user_typing").await;
        assert_eq!((typing["user_id"].as_str(), typing["is_typing"].as_bool()), (Some(alice.id.as_str()), Some(true)));
        assert_eq!(typing["username"], "alice");
        // Presence with coordinates.
        assert_eq!(answer(&mut a, presence(7, 5)).await["type"], "ack");
        let update = recv(&mut b, "user_presence_update").await;
        assert_eq!((update["tile_x"].as_i64(), update["tile_y"].as_i64(), update["is_editing"].as_bool()), (Some(7), Some(5), Some(true)));
        assert_eq!(update["presence_type"], "editing_tile");
        assert_eq!(update["canvas_id"], canvas.as_str());
        assert_eq!(update["status"], "online", "seed 004's status: alice views the canvas");
        // Mention: to the others only.
        assert_eq!(answer(&mut a, mention(2, 3, 3000)).await["type"], "ack");
        let mentioned = recv(&mut b, "tile_mention").await;
        assert_eq!((mentioned["tile_x"].as_i64(), mentioned["duration"].as_i64(), mentioned["message"].as_str()), (Some(2), Some(3000), Some("look")));
        assert_eq!(mentioned["highlight_type"], "mention", "the default highlight");
        let mut custom = mention(2, 3, 3000);
        custom["highlight_type"] = json!("question");
        assert_eq!(answer(&mut a, custom.clone()).await["type"], "ack");
        assert_eq!(recv(&mut b, "tile_mention").await["highlight_type"], "question");
        custom["highlight_type"] = json!("Not Valid");
        assert_refused(&mut a, custom, "validation_failed").await;
        for ws in [&mut a, &mut b, &mut c, &mut d] {
            quiet(ws).await;
        }
        // Alice disconnects while typing and editing: cleared for bob at once, then user_left.
        drop(a);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let frame = recv_any(&mut b).await;
            if frame["type"] == "user_presence_update" {
                assert_eq!(frame["status"], "offline", "cleared because alice left: {frame}");
            }
            seen.push((frame["type"].as_str().unwrap().to_owned(), frame["is_typing"].as_bool().or(frame["is_editing"].as_bool())));
        }
        assert!(seen.contains(&("user_typing".into(), Some(false))), "{seen:?}");
        assert!(seen.contains(&("user_presence_update".into(), Some(false))), "{seen:?}");
        assert_eq!(seen[2].0, "user_left", "{seen:?}");
        for ws in [&mut b, &mut c, &mut d] {
            quiet(ws).await;
        }
    }

    async fn typing_expires_without_refresh(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let canvas = create_canvas(&server, &alice, 3, 3).await;
        add_member(&server, &alice, &canvas, &bob).await;
        let (mut a, _) = connect(&server, &alice).await;
        let (mut b, _) = connect(&server, &bob).await;
        view(&mut a, &canvas).await;
        view(&mut b, &canvas).await;
        recv(&mut a, "user_joined").await;
        let started = std::time::Instant::now();
        a.send(json!({"type": "typing", "room": format!("canvas:{canvas}"), "is_typing": true})).await;
        assert_eq!(recv(&mut b, "user_typing").await["is_typing"], true);
        // WsClient waits up to 5 s per frame; the expiry comes ~5 s after the frame.
        tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
        let stopped = recv_any(&mut b).await;
        assert_eq!(stopped["type"], "user_typing", "{stopped}");
        assert_eq!(stopped["is_typing"], false);
        let elapsed = started.elapsed();
        assert!(elapsed >= std::time::Duration::from_millis(4900), "{elapsed:?}");
    }
}
