//! A REST object and its room's events meet without a seam: the `seq` a Thread, Draft or Canvas
//! carries is read in the same snapshot as its state, so "snapshot, then the events after its
//! seq" is the current state, never missing a change and never applying one twice. Hammered with
//! concurrent writers on both engines.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{TestServer, User, user};
use serde_json::{Value, json};

/// Tile id → (x, y, data, like_count): what a canvas's tiles say.
type Tiles = BTreeMap<String, (i64, i64, Value, i64)>;

fn tiles_of(canvas: &Value) -> Tiles {
    let tiles = canvas["tiles"].as_array().expect("tiles");
    tiles
        .iter()
        .map(|t| {
            let id = t["id"].as_str().expect("id").to_owned();
            (
                id,
                (
                    t["x"].as_i64().expect("x"),
                    t["y"].as_i64().expect("y"),
                    t["data"].clone(),
                    t["like_count"].as_i64().expect("likes"),
                ),
            )
        })
        .collect()
}

/// Applies the canvas room's tile events to `tiles`: a created tile must be new, an updated or
/// liked one must exist (a torn snapshot would break one of the two).
fn apply(tiles: &mut Tiles, events: &[Value]) {
    for event in events {
        let kind = event["type"].as_str().expect("type");
        let id = event["tile_id"].as_str().unwrap_or_default().to_owned();
        let state = || {
            (
                event["x"].as_i64().expect("x"),
                event["y"].as_i64().expect("y"),
                event["data"].clone(),
                event["like_count"].as_i64().expect("likes"),
            )
        };
        match kind {
            "tile_created" => assert!(tiles.insert(id, state()).is_none(), "seq {}: tile created twice", event["seq"]),
            "tile_updated" | "tile_liked" => {
                assert!(
                    tiles.insert(id, state()).is_some(),
                    "seq {}: {kind} of a tile the snapshot lacks",
                    event["seq"]
                )
            }
            _ => {}
        }
    }
}

/// Every event of `room` after `after`, oldest first (all pages).
async fn events_after(server: &TestServer, token: &str, room: &str, mut after: i64) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let path = format!("/api/v1/rooms/{room}/events?after={after}&limit=1000");
        let (status, page) = server.call("GET", &path, Some(token), None).await;
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().expect("events").clone();
        if batch.is_empty() {
            return events;
        }
        after = batch.last().and_then(|e| e["seq"].as_i64()).expect("seq");
        events.extend(batch);
    }
}

/// `user` creates tiles at its own cells, updates them and likes the others' tiles.
async fn hammer(
    server: Arc<TestServer>,
    canvas: String,
    who: User,
    row: i64,
    others: Arc<tokio::sync::Mutex<Vec<String>>>,
) {
    let tiles = format!("/api/v1/canvases/{canvas}/tiles");
    for x in 0..20 {
        let (status, tile) =
            server.call("POST", &tiles, Some(&who.token), Some(json!({"x": x, "y": row, "data": {"v": 0}}))).await;
        assert_eq!(status, 201, "{tile}");
        let id = tile["id"].as_str().expect("id").to_owned();
        let (status, body) =
            server.call("PUT", &format!("{tiles}/{id}"), Some(&who.token), Some(json!({"data": {"v": x}}))).await;
        assert_eq!(status, 200, "{body}");
        let other = others.lock().await.iter().find(|t| !t.starts_with(&format!("{row}:"))).cloned();
        if let Some(other) = other {
            let other_id = other.split_once(':').map(|(_, id)| id.to_owned()).unwrap_or_default();
            // Each user likes each tile at most once; a repeat is refused (409) and changes nothing.
            let (status, body) = server.call("POST", &format!("{tiles}/{other_id}/like"), Some(&who.token), None).await;
            assert!(status == 200 || status == 409, "{status} {body}");
        }
        others.lock().await.push(format!("{row}:{id}"));
    }
}

both_engines! {
    async fn canvas_snapshot_plus_events_after_its_seq_is_the_final_state(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let server = Arc::new(server);
        let (alice, bob, carol) = (user(&server, "alice").await, user(&server, "bob").await, user(&server, "carol").await);
        let body = json!({"name": "Wall", "width": 20, "height": 3});
        let (status, canvas) = server.call("POST", "/api/v1/canvases", Some(&alice.token), Some(body)).await;
        assert_eq!((status, canvas["seq"].as_i64()), (201, Some(0)), "{canvas}");
        let id = canvas["id"].as_str().expect("id").to_owned();
        for other in [&bob, &carol] {
            let path = format!("/api/v1/canvases/{id}/members");
            assert_eq!(server.call("POST", &path, Some(&alice.token), Some(json!({"user_id": other.id}))).await.0, 201);
        }
        let room = format!("canvas:{id}");
        let reader_token = alice.token.clone();

        let tiles = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let writers: Vec<_> = [alice, bob, carol]
            .into_iter()
            .enumerate()
            .map(|(row, who)| tokio::spawn(hammer(server.clone(), id.clone(), who, row as i64, tiles.clone())))
            .collect();
        // Read snapshots while they write.
        let mut snapshots = Vec::new();
        while !writers.iter().all(|w| w.is_finished()) {
            let (status, snapshot) = server.call("GET", &format!("/api/v1/canvases/{id}"), Some(&reader_token), None).await;
            assert_eq!(status, 200, "{snapshot}");
            snapshots.push(snapshot);
        }
        for writer in writers {
            writer.await.expect("writer");
        }
        let (_, last) = server.call("GET", &format!("/api/v1/canvases/{id}"), Some(&reader_token), None).await;
        let final_tiles = tiles_of(&last);
        assert_eq!(final_tiles.len(), 60, "every tile is there");
        let all = events_after(&server, &reader_token, &room, 0).await;
        assert_eq!(all.last().and_then(|e| e["seq"].as_i64()), last["seq"].as_i64(), "the final seq is the newest event");

        let distinct: std::collections::BTreeSet<_> = snapshots.iter().map(|s| s["seq"].as_i64()).collect();
        assert!(distinct.len() > 3, "snapshots were taken during the writes: seqs {distinct:?}");
        for snapshot in &snapshots {
            let seq = snapshot["seq"].as_i64().expect("seq");
            let mut state = tiles_of(snapshot);
            let after: Vec<Value> = all.iter().filter(|e| e["seq"].as_i64() > Some(seq)).cloned().collect();
            apply(&mut state, &after);
            assert_eq!(state, final_tiles, "snapshot at seq {seq} plus the events after it");
        }
    }

    async fn thread_and_draft_reads_carry_their_rooms_seq(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, bob) = (user(&server, "alice").await, user(&server, "bob").await);
        let (status, thread) = server.call("POST", "/api/v1/threads", Some(&alice.token), Some(json!({"name": "t"}))).await;
        assert_eq!((status, thread["seq"].as_i64()), (201, Some(0)), "{thread}");
        let id = thread["id"].as_str().expect("id").to_owned();
        for n in 0..3 {
            let body = json!({"snapshot": {"n": n}});
            assert_eq!(server.call("POST", &format!("/api/v1/threads/{id}/messages"), Some(&alice.token), Some(body)).await.0, 201);
        }
        let (_, read) = server.call("GET", &format!("/api/v1/threads/{id}"), Some(&alice.token), None).await;
        assert_eq!(read["seq"], 3, "{read}");
        let (_, list) = server.call("GET", "/api/v1/threads", Some(&alice.token), None).await;
        assert_eq!(list["threads"][0]["seq"], 3, "{list}");
        assert!(read["users"][0].get("last_online").is_some(), "participants carry last_online: {read}");

        let (status, draft) = server.call("POST", "/api/v1/drafts", Some(&alice.token), Some(json!({"title": "d"}))).await;
        assert_eq!(status, 201, "{draft}");
        let draft_id = draft["id"].as_str().expect("id").to_owned();
        let created_seq = draft["seq"].as_i64().expect("seq");
        let path = format!("/api/v1/drafts/{draft_id}/collaborators");
        assert_eq!(server.call("POST", &path, Some(&alice.token), Some(json!({"user_id": bob.id}))).await.0, 201);
        let (_, read) = server.call("GET", &format!("/api/v1/drafts/{draft_id}"), Some(&alice.token), None).await;
        let events = events_after(&server, &alice.token, &format!("draft:{draft_id}"), created_seq).await;
        assert!(!events.is_empty(), "adding a collaborator is an event");
        assert_eq!(read["seq"].as_i64(), events.last().and_then(|e| e["seq"].as_i64()), "{read}");
    }
}
