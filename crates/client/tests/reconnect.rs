//! Reconnecting: a silently cut network, viewed and tracked rooms, the token provider, the
//! reconnect hook and resync after retention pruned a room, against a real server.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{CutProxy, Running, WAIT, live, next_in, seqs_until, transition};
use tandem_client::{Api, Client, ClientConfig, ConnectionState, Event, ReconnectInfo};

/// The server's heartbeat interval in these tests.
const INTERVAL: Duration = Duration::from_millis(400);
/// The client's heartbeat timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(600);
/// Scheduling slack on a busy 2-core machine, on top of interval + timeout.
const MARGIN: Duration = Duration::from_millis(1000);

/// Short timeouts and retries, no polling fallback (so reconnects are WebSocket ones).
fn quick(config: ClientConfig) -> ClientConfig {
    ClientConfig {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        heartbeat_timeout: TIMEOUT,
        handshake_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        polling_after_failures: u32::MAX,
        ..config
    }
}

async fn server() -> Running {
    Running::start(|config| {
        config.heartbeat_interval = INTERVAL;
        config.heartbeat_timeout = Duration::from_secs(2);
    })
    .await
}

/// Records every reconnect hook call.
fn record_reconnects(client: &Client) -> Arc<Mutex<Vec<ReconnectInfo>>> {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorder = calls.clone();
    client.on_reconnected(move |info| recorder.lock().expect("lock").push(info.clone()));
    calls
}

#[tokio::test]
async fn a_silent_cut_is_noticed_within_interval_plus_timeout_and_nothing_is_lost() {
    let server = server().await;
    let api = Api::new(server.base());
    let alice = api.sign_up(Some("alice")).await.expect("alice");
    let alice_api = api.with_token(&alice.token);
    let thread = alice_api.create_thread("plans").await.expect("thread");
    let room = format!("thread:{}", thread.id);
    let proxy = CutProxy::start(server.addr).await;

    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let token = alice.token.clone();
    let config = quick(ClientConfig::new(proxy.base(), "")).with_token_provider(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let token = token.clone();
        async move { token }
    });
    let client = Client::connect(config);
    // What handlers had seen when each reconnect hook ran.
    let handled = Arc::new(Mutex::new(Vec::new()));
    let recorder = handled.clone();
    client.on("message_created", move |event| recorder.lock().expect("lock").push(event.seq().expect("seq")));
    let seen_by_hook = Arc::new(Mutex::new(Vec::new()));
    let (hook_log, handled_then) = (seen_by_hook.clone(), handled.clone());
    client.on_reconnected(move |info| {
        hook_log.lock().expect("lock").push((info.clone(), handled_then.lock().expect("lock").clone()));
    });
    let mut events = client.events().await;
    live(&mut client.state()).await;
    alice_api.post_message(&thread.id, json!({"text": "1"})).await.expect("post");
    assert_eq!(seqs_until(&mut events, &room, 1).await, [1]);

    // Healthy: the server's pings keep the watchdog fed for several intervals.
    let mut changes = client.state_changes();
    let quiet = tokio::time::timeout(INTERVAL * 4, changes.recv()).await;
    assert!(quiet.is_err(), "a healthy connection stayed Live, got {quiet:?}");

    proxy.cut();
    let cut_at = Instant::now();
    for n in 2..=4 {
        alice_api.post_message(&thread.id, json!({"text": n.to_string()})).await.expect("post while cut");
    }
    let bound = INTERVAL + TIMEOUT;
    let state = transition(&mut changes, bound + MARGIN, "not Live", |s| *s != ConnectionState::Live).await;
    let noticed = cut_at.elapsed();
    println!("the cut was noticed after {noticed:?}");
    assert_eq!(state, ConnectionState::Offline);
    assert!(noticed >= TIMEOUT - Duration::from_millis(50), "noticed after {noticed:?}, before the timeout");
    assert!(noticed <= bound + MARGIN, "noticed after {noticed:?}, bound {bound:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one token so far");

    proxy.restore();
    let reconnected =
        transition(&mut changes, WAIT, "Reconnected", |s| matches!(s, ConnectionState::Reconnected { .. })).await;
    assert_eq!(reconnected, ConnectionState::Reconnected { resumed: true, resync_required: Vec::new() });
    assert!(asked.load(Ordering::SeqCst) >= 2, "the provider was asked again before reconnecting");
    alice_api.post_message(&thread.id, json!({"text": "5"})).await.expect("post");
    assert_eq!(seqs_until(&mut events, &room, 5).await, [2, 3, 4, 5], "each event once, in order");
    assert_eq!(*handled.lock().expect("lock"), [1, 2, 3, 4, 5]);

    let hooks = seen_by_hook.lock().expect("lock").clone();
    assert_eq!(hooks.len(), 1, "one reconnect, one hook call");
    let (info, handled_at_hook) = &hooks[0];
    assert_eq!(
        *info,
        ReconnectInfo { resumed: true, resync_required: Vec::new(), rejoined_without_cursor: Vec::new() }
    );
    assert_eq!(*handled_at_hook, [1, 2, 3, 4], "the replay was delivered before the hook ran");
    assert!(proxy.accepted() >= 2, "the reconnect went through a fresh proxy connection");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn viewed_rooms_are_joined_again_after_a_reconnect_even_without_events() {
    let server = server().await;
    let api = Api::new(server.base());
    let alice = api.sign_up(Some("alice")).await.expect("alice");
    let alice_api = api.with_token(&alice.token);
    let draft = alice_api.create_draft("poem").await.expect("draft");
    let draft_room = format!("draft:{}", draft.id);
    let canvas = alice_api.create_canvas("wall", 4, 4).await.expect("canvas");
    let canvas_room = format!("canvas:{}", canvas.id);

    let client = Client::connect(quick(ClientConfig::new(server.base(), alice.token.clone())));
    let reconnects = record_reconnects(&client);
    let mut events = client.events().await;
    live(&mut client.state()).await;
    // Neither room delivers a durable event in this session: the draft has no cursor at all,
    // the canvas only the one tracked from its REST read.
    client.subscribe(&draft_room).await.expect("subscribed");
    client.track(&canvas_room, canvas.seq).await.expect("tracked");
    assert_eq!(next_in(&mut events, &canvas_room).await.kind(), "canvas_viewers");
    let mut changes = client.state_changes();
    client.disconnect().await;
    transition(&mut changes, WAIT, "Reconnected", |s| matches!(s, ConnectionState::Reconnected { .. })).await;
    assert_eq!(
        *reconnects.lock().expect("lock"),
        [ReconnectInfo {
            resumed: true,
            resync_required: Vec::new(),
            rejoined_without_cursor: vec![draft_room.clone()]
        }]
    );
    // The canvas was joined by `subscribe` (with `after`), which makes the server count this
    // connection as a viewer again and say so.
    assert_eq!(next_in(&mut events, &canvas_room).await.kind(), "canvas_viewers");

    // Only a connection in the draft room receives this.
    alice_api.append_segment(&draft.id, "roses are red").await.expect("append");
    let event = next_in(&mut events, &draft_room).await;
    assert_eq!(event.kind(), "collab.segment_added");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn track_from_a_rest_read_delivers_exactly_the_events_after_its_seq_also_across_a_cut() {
    let server = server().await;
    let api = Api::new(server.base());
    let alice = api.sign_up(Some("alice")).await.expect("alice");
    let alice_api = api.with_token(&alice.token);
    let draft = alice_api.create_draft("poem").await.expect("draft");
    let room = format!("draft:{}", draft.id);
    alice_api.append_segment(&draft.id, "one").await.expect("append");
    let read = alice_api.draft(&draft.id).await.expect("read");
    assert_eq!(read.segments.len(), 1);
    // Changed after the read, before the client listens: must still arrive.
    alice_api.append_segment(&draft.id, "two").await.expect("append");

    let proxy = CutProxy::start(server.addr).await;
    let client = Client::connect(quick(ClientConfig::new(proxy.base(), alice.token.clone())));
    let reconnects = record_reconnects(&client);
    let mut events = client.events().await;
    live(&mut client.state()).await;
    client.track(&room, read.seq).await.expect("tracked");
    let replayed = next_in(&mut events, &room).await;
    assert_eq!((replayed.kind(), replayed.seq()), ("collab.segment_added", Some(read.seq + 1)));
    alice_api.append_segment(&draft.id, "three").await.expect("append");
    assert_eq!(next_in(&mut events, &room).await.seq(), Some(read.seq + 2));

    let mut changes = client.state_changes();
    proxy.cut();
    transition(&mut changes, INTERVAL + TIMEOUT + MARGIN, "Offline", |s| *s == ConnectionState::Offline).await;
    alice_api.append_segment(&draft.id, "four").await.expect("append while cut");
    proxy.restore();
    transition(&mut changes, WAIT, "Reconnected", |s| matches!(s, ConnectionState::Reconnected { .. })).await;
    alice_api.append_segment(&draft.id, "five").await.expect("append");
    let last = read.seq + 4;
    assert_eq!(seqs_until(&mut events, &room, last).await, [read.seq + 3, last], "once each, in order");
    let info = reconnects.lock().expect("lock").clone();
    assert_eq!(info.len(), 1);
    assert!(info[0].resumed && info[0].rejoined_without_cursor.is_empty(), "{info:?}");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn the_token_provider_is_asked_before_every_reconnect_and_its_answer_is_used() {
    let server = server().await;
    let alice = Api::new(server.base()).sign_up(Some("alice")).await.expect("alice");
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let token = alice.token.clone();
    let config = quick(ClientConfig::new(server.base(), "")).with_token_provider(move || {
        // The first two connects get a good token, the third an expired one.
        let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let token = if call <= 2 { token.clone() } else { "expired".to_owned() };
        async move { token }
    });
    let client = Client::connect(config);
    live(&mut client.state()).await;
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let mut changes = client.state_changes();
    client.disconnect().await;
    transition(&mut changes, WAIT, "Reconnected", |s| matches!(s, ConnectionState::Reconnected { .. })).await;
    assert_eq!(asked.load(Ordering::SeqCst), 2, "asked again before the reconnect");
    client.disconnect().await;
    let stopped = transition(&mut changes, WAIT, "Stopped", |s| matches!(s, ConnectionState::Stopped { .. })).await;
    assert!(matches!(stopped, ConnectionState::Stopped { ref reason } if reason.contains("401")), "{stopped:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 3, "the third answer was the token used");
    server.stop().await;
}

#[tokio::test]
async fn a_room_pruned_while_away_is_resynced() {
    let server = Running::start(|config| {
        config.retention_events = 2;
        config.retention_interval = Duration::from_millis(50);
    })
    .await;
    let api = Api::new(server.base());
    let alice = api.sign_up(Some("alice")).await.expect("alice");
    let alice_api = api.with_token(&alice.token);
    let thread = alice_api.create_thread("plans").await.expect("thread");
    let room = format!("thread:{}", thread.id);
    let client = Client::connect(quick(ClientConfig::new(server.base(), alice.token.clone())));
    let reconnects = record_reconnects(&client);
    let resynced = Arc::new(Mutex::new(Vec::new()));
    let recorder = resynced.clone();
    client.on(Event::RESYNC_REQUIRED, move |event| {
        recorder.lock().expect("lock").push(event.resynced().map(str::to_owned));
    });
    let mut events = client.events().await;
    live(&mut client.state()).await;
    alice_api.post_message(&thread.id, json!({"text": "1"})).await.expect("post");
    assert_eq!(seqs_until(&mut events, &room, 1).await, [1]);

    let mut changes = client.state_changes();
    client.set_auto_reconnect(false).await;
    client.disconnect().await;
    transition(&mut changes, WAIT, "Offline", |s| *s == ConnectionState::Offline).await;
    for n in 2..=5 {
        alice_api.post_message(&thread.id, json!({"text": n.to_string()})).await.expect("post while away");
    }
    // Wait (bounded) until retention has pruned past the client's cursor.
    tokio::time::timeout(WAIT, async {
        while !alice_api.room_events(&room, 1, 10).await.expect("events").resync_required {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("pruned in time");

    client.set_auto_reconnect(true).await;
    let reconnected =
        transition(&mut changes, WAIT, "Reconnected", |s| matches!(s, ConnectionState::Reconnected { .. })).await;
    assert_eq!(reconnected, ConnectionState::Reconnected { resumed: true, resync_required: vec![room.clone()] });
    let event = next_in(&mut events, &room).await;
    assert_eq!(event.resynced(), Some(room.as_str()), "{:?}", event.json());
    assert_eq!(event.json()["last_seq"], 5);
    assert_eq!(*resynced.lock().expect("lock"), [Some(room.clone())]);
    assert_eq!(reconnects.lock().expect("lock")[0].resync_required, std::slice::from_ref(&room));

    alice_api.post_message(&thread.id, json!({"text": "6"})).await.expect("post");
    assert_eq!(next_in(&mut events, &room).await.seq(), Some(6), "continues after last_seq, nothing pruned");
    client.close().await;
    server.stop().await;
}
