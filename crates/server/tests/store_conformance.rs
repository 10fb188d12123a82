//! The store conformance suite: every `Store` method, run against SQLite and PostgreSQL.

mod common;

use common::{Engine, TestDb};
use tandem_server::store::{Store, StoreError, UserRecord};

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
        assert!(store.add_member("thread:1", ALICE, 1).await.expect("add"));
        assert!(!store.add_member("thread:1", ALICE, 2).await.expect("again"), "idempotent");
        store.add_member("thread:1", BOB, 1).await.expect("add");
        store.add_member("canvas:9", ALICE, 1).await.expect("add");
        store.add_member("canvas:9", BOB, 1).await.expect("add");
        store.add_member("draft:3", carol, 1).await.expect("add");
        assert!(store.is_member("thread:1", BOB).await.expect("read"));
        assert!(!store.is_member("thread:1", carol).await.expect("read"));
        assert_eq!(store.rooms_of(ALICE, "thread:").await.expect("read"), ["thread:1"]);
        assert!(store.rooms_of(carol, "thread:").await.expect("read").is_empty());
        let ids = |users: Vec<UserRecord>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(store.collaborators(ALICE).await.expect("read")), [BOB], "once, despite two shared rooms");
        assert!(store.collaborators(carol).await.expect("read").is_empty());
        let stranger = store.add_member("thread:1", "dddddddddddddddddddddddd", 1).await;
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
                store.append_event("thread:busy", 1, move |seq, at| format!(r#"{{"w":{i},"seq":{seq},"timestamp":{at}}}"#)).await
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
        assert_eq!(store.append_event("thread:quiet", 1, |_, _| "{}".into()).await.expect("append").seq, 1);
    }

    async fn events_after_pages_in_order(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        for _ in 0..10 {
            store.append_event("canvas:1", 5, |seq, _| format!("{{\"n\":{seq}}}")).await.expect("append");
        }
        let page = store.events_after("canvas:1", 3, 4).await.expect("read");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6, 7]);
        assert_eq!(page[0].frame, r#"{"n":4}"#);
        assert!(store.events_after("canvas:1", 10, 4).await.expect("read").is_empty());
        assert_eq!(store.room_log("canvas:none").await.expect("log"), tandem_server::store::RoomLog::default());
    }

    async fn retention_prunes_by_count_and_age(engine: Engine) {
        let Some((store, _db)) = open(engine).await else { return };
        for at in 1..=10 {
            store.append_event("draft:a", at, |_, _| "{}".into()).await.expect("append");
        }
        store.append_event("draft:b", 1_000, |_, _| "{}".into()).await.expect("append");
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
        assert_eq!(store.append_event("draft:b", 2_000, |_, _| "{}".into()).await.expect("append").seq, 2);
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
}

#[tokio::test]
async fn unknown_database_scheme_is_refused() {
    let error = Store::connect("mysql://localhost/db").await.expect_err("refused");
    assert!(matches!(error, StoreError::InvalidUrl(_)), "{error:?}");
}
