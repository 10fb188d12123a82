//! The store conformance suite: every `Store` method, run against SQLite and PostgreSQL.

mod common;

use common::{Engine, TestDb};
use tandem_protocol::room::Room;
use tandem_server::store::{Envelope, NewMessage, Refusal, Store, StoreError, ThreadRecord, Upserted, UserRecord};

/// A room by name, for rooms the tests make up.
fn named(name: &str) -> Room {
    Room::parse(name).expect("a room name")
}

async fn open(engine: Engine) -> Option<(Store, TestDb)> {
    let db = TestDb::new(engine).await?;
    let store = Store::connect(&db.url).await.expect("store opens and migrates");
    Some((store, db))
}

fn user(id: &str, username: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: username.into(),
        name: "N".into(),
        created_at: 1_700_000_000_123,
        last_online: None,
    }
}

const ALICE: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "bbbbbbbbbbbbbbbbbbbbbbbb";
const CAROL: &str = "cccccccccccccccccccccccc";
const T1: &str = "111111111111111111111111";
const T2: &str = "222222222222222222222222";

/// Alice, Bob and Carol, and thread T1 by Alice (created at t=10).
async fn with_thread(store: &Store) {
    for (id, name) in [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")] {
        store.insert_user(&user(id, name)).await.expect("insert");
    }
    store.create_thread(&thread(T1, ALICE, 10)).await.expect("create");
}

fn thread(id: &str, by: &str, at: i64) -> ThreadRecord {
    ThreadRecord { id: id.into(), name: format!("thread {id}"), created_by: by.into(), created_at: at }
}

/// A frame builder for store tests: records the seq and timestamp it was given.
fn frame(kind: &'static str) -> impl FnOnce(&Envelope<'_>) -> String + Send {
    move |e| format!(r#"{{"type":"{kind}","seq":{},"timestamp":{}}}"#, e.seq, e.timestamp)
}

fn message<'a>(id: &'a str, by: &'a str, at: i64) -> NewMessage<'a> {
    NewMessage { id, thread_id: T1, user_id: by, snapshot: r#"{"n":1}"#, created_at: at }
}

both_engines! {
    async fn ping_answers(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        store.ping().await.expect("ping");
    }

    async fn migrations_are_idempotent(engine: Engine) {
        let Some((store, db)) = open(engine).await else { return };
        store.insert_user(&user(ALICE, "alice")).await.expect("insert");
        store.close().await;
        let reopened = Store::connect(&db.url).await.expect("reopen runs migrations again");
        assert_eq!(reopened.user(ALICE).await.expect("read").map(|u| u.username), Some("alice".into()));
    }

    async fn user_round_trips(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        let alice = user(ALICE, "alice");
        store.insert_user(&alice).await.expect("insert");
        assert_eq!(store.user(ALICE).await.expect("read"), Some(alice));
        assert_eq!(store.user(BOB).await.expect("read"), None);
    }

    async fn username_is_unique_ignoring_case(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        store.insert_user(&user(ALICE, "alice")).await.expect("insert");
        let clash = store.insert_user(&user(BOB, "ALICE")).await;
        assert!(matches!(clash, Err(StoreError::Conflict)), "{clash:?}");
        assert_eq!(store.user(BOB).await.expect("read"), None, "failed insert leaves nothing");
    }

    async fn duplicate_id_conflicts(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        store.insert_user(&user(ALICE, "alice")).await.expect("insert");
        let clash = store.insert_user(&user(ALICE, "other")).await;
        assert!(matches!(clash, Err(StoreError::Conflict)), "{clash:?}");
    }

    async fn set_username_updates_and_detects_conflicts(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        store.insert_user(&user(ALICE, "alice")).await.expect("insert");
        store.insert_user(&user(BOB, "bob")).await.expect("insert");
        let renamed = store.set_username(ALICE, "Alice2").await.expect("rename").expect("exists");
        assert_eq!(renamed.username, "Alice2");
        assert_eq!(store.user(ALICE).await.expect("read").map(|u| u.username), Some("Alice2".into()));
        // Same name in another case, for the same user: allowed.
        assert!(store.set_username(ALICE, "alice2").await.expect("recase").is_some());
        let clash = store.set_username(BOB, "ALICE2").await;
        assert!(matches!(clash, Err(StoreError::Conflict)), "{clash:?}");
        assert_eq!(store.user(BOB).await.expect("read").map(|u| u.username), Some("bob".into()), "unchanged");
        assert_eq!(store.set_username("cccccccccccccccccccccccc", "carol").await.expect("no row"), None);
    }

    async fn membership_and_collaborators(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        let carol = "cccccccccccccccccccccccc";
        for (id, name) in [(ALICE, "alice"), (BOB, "bob"), (carol, "carol")] {
            store.insert_user(&user(id, name)).await.expect("insert");
        }
        assert!(store.add_member(&named("thread:1"), ALICE, 1).await.expect("add"));
        assert!(!store.add_member(&named("thread:1"), ALICE, 2).await.expect("again"), "idempotent");
        store.add_member(&named("thread:1"), BOB, 1).await.expect("add");
        store.add_member(&named("canvas:9"), ALICE, 1).await.expect("add");
        store.add_member(&named("canvas:9"), BOB, 1).await.expect("add");
        store.add_member(&named("draft:3"), carol, 1).await.expect("add");
        assert!(store.is_member(&named("thread:1"), BOB).await.expect("read"));
        assert!(!store.is_member(&named("thread:1"), carol).await.expect("read"));
        assert_eq!(store.member_rooms(ALICE).await.expect("read"), [named("canvas:9"), named("thread:1")]);
        assert_eq!(store.member_rooms(carol).await.expect("read"), [named("draft:3")]);
        // The connect read: the user and the same rooms in one query; a user in no room, none.
        let (alice, rooms) = store.user_with_rooms(ALICE).await.expect("read").expect("alice exists");
        assert_eq!((alice, rooms), (user(ALICE, "alice"), vec![named("canvas:9"), named("thread:1")]));
        store.insert_user(&user("eeeeeeeeeeeeeeeeeeeeeeee", "erin")).await.expect("insert");
        let erin = store.user_with_rooms("eeeeeeeeeeeeeeeeeeeeeeee").await.expect("read");
        assert_eq!(erin, Some((user("eeeeeeeeeeeeeeeeeeeeeeee", "erin"), vec![])));
        assert_eq!(store.user_with_rooms("ffffffffffffffffffffffff").await.expect("read"), None);
        assert_eq!(store.members_of(&named("thread:1")).await.expect("read"), [ALICE, BOB]);
        assert!(store.members_of(&named("thread:2")).await.expect("read").is_empty());
        let ids = |users: Vec<UserRecord>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(store.collaborators(ALICE).await.expect("read")), [BOB], "once, despite two shared rooms");
        assert!(store.collaborators(carol).await.expect("read").is_empty());
        store.add_member(&named("draft:3"), BOB, 1).await.expect("add");
        assert_eq!(ids(store.collaborators(carol).await.expect("read")), [BOB], "a shared draft makes collaborators too");
        let stranger = store.add_member(&named("thread:1"), "dddddddddddddddddddddddd", 1).await;
        assert!(stranger.is_err(), "members must be users");
    }

    async fn last_online_is_recorded(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        store.insert_user(&user(ALICE, "alice")).await.expect("insert");
        store.set_last_online(ALICE, 1_800_000_000_000).await.expect("write");
        assert_eq!(store.user(ALICE).await.expect("read").and_then(|u| u.last_online), Some(1_800_000_000_000));
    }

    async fn concurrent_writers_get_gap_free_seqs(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        let writers = (0..64).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.append_event("thread:busy", 1, move |e: &Envelope<'_>| format!(r#"{{"w":{i},"seq":{},"timestamp":{}}}"#, e.seq, e.timestamp)).await
            })
        });
        let mut seqs = Vec::new();
        for writer in writers {
            seqs.push(writer.await.expect("join").expect("append").seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=64).collect::<Vec<i64>>(), "1..=64, no gap, no duplicate");
        let stored = store.events_after("thread:busy", 0, 1000).await.expect("read");
        assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=64).collect::<Vec<i64>>());
        assert!(stored.iter().all(|e| e.frame.contains(&format!("\"seq\":{}", e.seq))), "frame built with its seq");
        assert_eq!(store.room_log("thread:busy").await.expect("log"), tandem_server::store::RoomLog { last_seq: 64, pruned_through: 0 });
        // Another room has its own sequence.
        assert_eq!(store.append_event("thread:quiet", 1, |_: &Envelope<'_>| "{}".into()).await.expect("append").seq, 1);
    }

    async fn events_after_pages_in_order(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        for _ in 0..10 {
            store.append_event("canvas:1", 5, |e: &Envelope<'_>| format!("{{\"n\":{}}}", e.seq)).await.expect("append");
        }
        let page = store.events_after("canvas:1", 3, 4).await.expect("read");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6, 7]);
        assert_eq!(page[0].frame, r#"{"n":4}"#);
        assert!(store.events_after("canvas:1", 10, 4).await.expect("read").is_empty());
        assert_eq!(store.room_log("canvas:none").await.expect("log"), tandem_server::store::RoomLog::default());
        store.append_event("canvas:2", 5, |_: &Envelope<'_>| "{}".into()).await.expect("append");
        let rooms: Vec<String> = ["canvas:1", "canvas:none", "canvas:2"].map(String::from).into();
        let mut heads = store.room_heads(&rooms).await.expect("heads");
        heads.sort();
        assert_eq!(heads, [("canvas:1".to_owned(), 10), ("canvas:2".to_owned(), 1)], "rooms without events left out");
        assert!(store.room_heads(&[]).await.expect("heads").is_empty());
    }

    async fn retention_prunes_by_count_and_age(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        for at in 1..=10 {
            store.append_event("draft:a", at, |_: &Envelope<'_>| "{}".into()).await.expect("append");
        }
        store.append_event("draft:b", 1_000, |_: &Envelope<'_>| "{}".into()).await.expect("append");
        // Keep the last 4 per room; nothing is old enough to go by age.
        assert_eq!(store.prune_events(4, 0).await.expect("prune"), 6);
        let log = store.room_log("draft:a").await.expect("log");
        assert_eq!((log.last_seq, log.pruned_through), (10, 6));
        assert_eq!(store.events_after("draft:a", 0, 100).await.expect("read").first().map(|e| e.seq), Some(7));
        assert_eq!(store.room_log("draft:b").await.expect("log").pruned_through, 0, "untouched");
        // By age: everything written before t=9 goes; draft:b's only event too.
        assert_eq!(store.prune_events(1000, 1_001).await.expect("prune"), 5);
        assert_eq!(store.room_log("draft:a").await.expect("log").pruned_through, 10);
        assert_eq!(store.room_log("draft:b").await.expect("log"), tandem_server::store::RoomLog { last_seq: 1, pruned_through: 1 });
        // New events continue the sequence after pruning.
        assert_eq!(store.append_event("draft:b", 2_000, |_: &Envelope<'_>| "{}".into()).await.expect("append").seq, 2);
    }

    async fn setting_keeps_the_first_value(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        assert_eq!(store.setting_or_insert("k", "first").await.expect("insert"), "first");
        assert_eq!(store.setting_or_insert("k", "second").await.expect("read"), "first");
    }

    async fn concurrent_setting_writers_agree(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        let writers = (0..16).map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.setting_or_insert("race", &format!("v{i}")).await })
        });
        let mut values = Vec::new();
        for writer in writers {
            values.push(writer.await.expect("join").expect("write"));
        }
        values.dedup();
        assert_eq!(values.len(), 1, "all writers see one value: {values:?}");
    }

    async fn threads_are_created_with_their_creator_and_read_by_members_only(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        assert_eq!(store.thread(T1).await.expect("read"), Some(thread(T1, ALICE, 10)));
        assert!(store.is_member(&Room::thread(T1), ALICE).await.expect("read"), "creator is the first member");
        let view = store.thread_view(T1, ALICE).await.expect("read").expect("visible to a member");
        assert_eq!(view.members.iter().map(|m| (m.user_id.as_str(), m.joined_at)).collect::<Vec<_>>(), [(ALICE, 10)]);
        assert!(view.invites.is_empty());
        assert_eq!(store.thread_view(T1, BOB).await.expect("read"), None, "not to a non-member");
        assert_eq!(store.thread_view(T2, ALICE).await.expect("read"), None);
        let duplicate = store.create_thread(&thread(T1, BOB, 11)).await;
        assert!(matches!(duplicate, Err(StoreError::Conflict)), "{duplicate:?}");
        assert!(!store.is_member(&Room::thread(T1), BOB).await.expect("read"), "the failed create wrote nothing");
    }

    async fn thread_views_of_group_members_and_invites_and_show_current_names(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        store.create_thread(&thread(T2, BOB, 20)).await.expect("create");
        store.join_with_code(T2, "never", ALICE, 21, frame("x")).await.expect("query").expect_err("no such code");
        store.create_invite_link(T2, "code2", BOB, 21).await.expect("link");
        store.join_with_code(T2, "code2", ALICE, 22, frame("invitation_accepted")).await.expect("query").expect("joined");
        store.invite_to_thread(T1, CAROL, ALICE, "user:c", 23, frame("thread_invitation")).await.expect("query").expect("invited");
        store.set_username(BOB, "bobby").await.expect("rename");
        // A membership of a thread: room without a thread row (other tests do that) is ignored.
        store.add_member(&named("thread:orphan"), ALICE, 1).await.expect("add");

        let views = store.thread_views_of(ALICE).await.expect("read");
        assert_eq!(views.iter().map(|v| v.thread.id.as_str()).collect::<Vec<_>>(), [T2, T1], "newest first");
        let members = |i: usize| views[i].members.iter().map(|m| m.username.as_str()).collect::<Vec<_>>();
        assert_eq!(members(0), ["bobby", "alice"], "join order, current username");
        assert_eq!(members(1), ["alice"]);
        assert!(views[0].invites.is_empty());
        assert_eq!(views[1].invites.iter().map(|i| (i.user_id.as_str(), i.username.as_str(), i.invited_by.as_str())).collect::<Vec<_>>(), [(CAROL, "carol", ALICE)]);
        assert_eq!(store.thread_views_of(BOB).await.expect("read").len(), 1);
        assert!(store.thread_views_of(CAROL).await.expect("read").is_empty(), "an invitation is not a membership");
    }

    async fn invitations_are_checked_in_their_transaction(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        let invite = |thread: &'static str, who: &'static str, by: &'static str| {
            let store = store.clone();
            async move { store.invite_to_thread(thread, who, by, &format!("user:{who}"), 30, frame("thread_invitation")).await.expect("query") }
        };
        assert_eq!(invite(T2, BOB, ALICE).await, Err(Refusal::NotFound("thread")));
        assert_eq!(invite(T1, CAROL, BOB).await, Err(Refusal::NotFound("thread")));
        assert_eq!(invite(T1, "dddddddddddddddddddddddd", ALICE).await, Err(Refusal::NotFound("user")));
        assert_eq!(invite(T1, ALICE, ALICE).await, Err(Refusal::Conflict("the user is already a member of this thread")));
        let event = invite(T1, BOB, ALICE).await.expect("invited");
        assert_eq!((event.seq, event.created_at), (1, 30));
        assert!(event.frame.contains(r#""type":"thread_invitation","seq":1"#), "{}", event.frame);
        assert_eq!(invite(T1, BOB, ALICE).await, Err(Refusal::Conflict("the user is already invited to this thread")));
        let log = store.room_log(&format!("user:{BOB}")).await.expect("log");
        assert_eq!(log.last_seq, 1, "refusals appended nothing");
        assert_eq!(store.events_after(&format!("user:{BOB}"), 0, 10).await.expect("read")[0].frame, event.frame);
    }

    async fn accepting_moves_the_user_and_appends_the_event_atomically(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        let room = Room::thread(T1);
        assert_eq!(store.accept_invite(T1, BOB, 40, frame("invitation_accepted")).await.expect("query"), Err(Refusal::NotFound("invitation")));
        store.invite_to_thread(T1, BOB, ALICE, "user:b", 39, frame("x")).await.expect("query").expect("invited");
        let event = store.accept_invite(T1, BOB, 40, frame("invitation_accepted")).await.expect("query").expect("accepted");
        assert_eq!(event.seq, 1);
        assert!(store.is_member(&room, BOB).await.expect("read"));
        let view = store.thread_view(T1, BOB).await.expect("read").expect("member");
        assert!(view.invites.is_empty(), "the invitation is gone");
        assert_eq!(view.members.iter().find(|m| m.user_id == BOB).map(|m| m.joined_at), Some(40));
        assert_eq!(store.events_after(&room, 0, 10).await.expect("read").len(), 1);

        // Already a member with an invitation (possible only behind the API's back): the
        // membership insert fails after the invitation was deleted; all of it rolls back.
        store.invite_to_thread(T1, CAROL, ALICE, "user:c", 41, frame("x")).await.expect("query").expect("invited");
        store.add_member(&room, CAROL, 42).await.expect("add");
        assert_eq!(store.accept_invite(T1, CAROL, 43, frame("invitation_accepted")).await.expect("query"), Err(Refusal::Conflict("the user is already a member of this thread")));
        let view = store.thread_view(T1, ALICE).await.expect("read").expect("member");
        assert_eq!(view.invites.iter().map(|i| i.user_id.as_str()).collect::<Vec<_>>(), [CAROL], "deletion rolled back");
        assert_eq!(store.room_log(&room).await.expect("log").last_seq, 1, "no event");

        assert!(store.decline_invite(T1, CAROL).await.expect("decline"));
        assert!(!store.decline_invite(T1, CAROL).await.expect("decline"), "nothing left to decline");
    }

    async fn joining_by_code_needs_this_threads_code(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        store.create_thread(&thread(T2, CAROL, 11)).await.expect("create");
        store.create_invite_link(T1, "c1", ALICE, 12).await.expect("link");
        store.create_invite_link(T2, "c2", CAROL, 12).await.expect("link");
        let join = |thread: &'static str, code: &'static str, who: &'static str| {
            let store = store.clone();
            async move { store.join_with_code(thread, code, who, 50, frame("invitation_accepted")).await.expect("query") }
        };
        assert_eq!(join(T1, "c2", BOB).await, Err(Refusal::NotFound("invite link")), "another thread's code");
        assert_eq!(join(T1, "nope", BOB).await, Err(Refusal::NotFound("invite link")));
        assert_eq!(join("333333333333333333333333", "c1", BOB).await, Err(Refusal::NotFound("invite link")));
        store.invite_to_thread(T1, BOB, ALICE, "user:b", 49, frame("x")).await.expect("query").expect("invited");
        assert_eq!(join(T1, "c1", BOB).await.expect("joined").seq, 1);
        assert!(store.thread_view(T1, BOB).await.expect("read").expect("member").invites.is_empty(), "pending invitation dropped");
        assert_eq!(join(T1, "c1", BOB).await, Err(Refusal::Conflict("the user is already a member of this thread")));
        assert_eq!(store.room_log(&Room::thread(T1)).await.expect("log").last_seq, 1);
        let duplicate = store.create_invite_link(T2, "c1", CAROL, 13).await;
        assert!(matches!(duplicate, Err(StoreError::Conflict)), "codes are unique: {duplicate:?}");
    }

    async fn removing_a_member_appends_participant_left(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        let room = Room::thread(T1);
        assert_eq!(store.remove_thread_member(T1, BOB, 60, frame("participant_left")).await.expect("query"), Err(Refusal::NotFound("member")));
        assert_eq!(store.remove_thread_member(T2, BOB, 60, frame("participant_left")).await.expect("query"), Err(Refusal::NotFound("thread")));
        store.add_member(&room, BOB, 55).await.expect("add");
        let event = store.remove_thread_member(T1, BOB, 60, frame("participant_left")).await.expect("query").expect("removed");
        assert_eq!((event.seq, event.created_at), (1, 60));
        assert!(!store.is_member(&room, BOB).await.expect("read"));
        assert_eq!(store.thread_view(T1, BOB).await.expect("read"), None);
    }

    async fn messages_take_their_events_seq_and_page_newest_first(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        assert_eq!(store.insert_message(message("m0", BOB, 70), frame("message_created")).await.expect("query"), Err(Refusal::NotFound("thread")));
        assert_eq!(store.message(T1, "m0").await.expect("read"), None, "refused: not stored");
        let writers = (0..32).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("m{i:02}");
                store.insert_message(message(&id, ALICE, 100 + i), frame("message_created")).await.expect("query").expect("stored").seq
            })
        });
        let mut seqs = Vec::new();
        for writer in writers {
            seqs.push(writer.await.expect("join"));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=32).collect::<Vec<i64>>(), "one event per message, gap-free");
        let page = store.messages_before(T1, i64::MAX, 10).await.expect("read");
        assert_eq!(page.len(), 10);
        assert!(page.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
        assert_eq!(page[0].seq, 32);
        let newest = store.message(T1, &page[0].id).await.expect("read").expect("exists");
        assert_eq!((newest.snapshot.as_str(), newest.user_id.as_str()), (r#"{"n":1}"#, ALICE));
        let older = store.messages_before(T1, page[9].seq, 100).await.expect("read");
        assert_eq!(older.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=22).rev().collect::<Vec<i64>>());
        assert_eq!(store.message(T2, &page[0].id).await.expect("read"), None, "scoped to its thread");
        // Each message's event is in the log under the message's seq.
        let events = store.events_after(&Room::thread(T1), 0, 100).await.expect("read");
        assert!(events.iter().all(|e| e.frame.contains(&format!("\"seq\":{}", e.seq))));
    }

    async fn playlist_upserts_are_idempotent(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        let (outcome, item) = store.upsert_playlist_item(ALICE, "a", "1", 100).await.expect("upsert");
        assert_eq!((outcome, item.created_at, item.updated_at, item.data.as_str()), (Upserted::Created, 100, 100, "1"));
        let (outcome, item) = store.upsert_playlist_item(ALICE, "a", "2", 200).await.expect("upsert");
        assert_eq!((outcome, item.created_at, item.updated_at, item.data.as_str()), (Upserted::Replaced, 100, 200, "2"));
        store.upsert_playlist_item(ALICE, "b", "3", 150).await.expect("upsert");
        store.upsert_playlist_item(BOB, "a", "4", 50).await.expect("upsert");
        let ids = |items: Vec<tandem_server::store::PlaylistItemRecord>| items.into_iter().map(|i| i.item_id).collect::<Vec<_>>();
        assert_eq!(ids(store.playlist(ALICE).await.expect("read")), ["a", "b"], "oldest first, one per id");
        assert_eq!(ids(store.playlist(BOB).await.expect("read")), ["a"], "per owner");
        assert!(store.delete_playlist_item(ALICE, "a").await.expect("delete"));
        assert!(!store.delete_playlist_item(ALICE, "a").await.expect("delete"), "already gone");
        assert_eq!(ids(store.playlist(ALICE).await.expect("read")), ["b"]);
    }

    async fn follows_are_idempotent_and_reference_users(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        with_thread(&store).await;
        assert!(store.follow(ALICE, CAROL, 2).await.expect("follow"));
        assert!(store.follow(ALICE, BOB, 3).await.expect("follow"));
        assert!(!store.follow(ALICE, BOB, 4).await.expect("follow"), "already followed");
        let ids = |users: Vec<UserRecord>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(store.followed(ALICE).await.expect("read")), [CAROL, BOB], "in the order followed");
        assert!(store.followed(BOB).await.expect("read").is_empty());
        assert!(store.unfollow(ALICE, CAROL).await.expect("unfollow"));
        assert!(!store.unfollow(ALICE, CAROL).await.expect("unfollow"));
        assert_eq!(ids(store.followed(ALICE).await.expect("read")), [BOB]);
        assert!(store.follow(ALICE, "dddddddddddddddddddddddd", 5).await.is_err(), "only existing users");
    }
}

#[tokio::test]
async fn unknown_database_scheme_is_refused() {
    let error = Store::connect("mysql://localhost/db").await.expect_err("refused");
    assert!(matches!(error, StoreError::InvalidUrl(_)), "{error:?}");
}
