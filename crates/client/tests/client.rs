//! The SDK against a real server on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tandem_client::{Client, ClientConfig, ClientError, ConnectionState, Event};
use tandem_server::store::Store;
use tandem_server::{ServeConfig, Server};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// A server on `addr` (port 0 for a fresh one) over the SQLite file `db`.
struct Running {
    addr: SocketAddr,
    store: Store,
    hub: tandem_server::hub::Hub,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(addr: SocketAddr, db: &str) -> Running {
    let mut config = ServeConfig::with_database_url(db);
    config.addr = addr;
    config.jwt_secret = Some("client-tests".into());
    let server = Server::start(config).await.expect("server starts");
    let (addr, store, hub) = (server.local_addr(), server.store(), server.hub());
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone().cancelled_owned()));
    Running { addr, store, hub, stop, task }
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(WAIT, self.task).await.expect("stops");
    }

    async fn sign_up(&self) -> (String, String) {
        let body: Value = reqwest::Client::new()
            .post(format!("http://{}/api/v1/users", self.addr))
            .json(&json!({}))
            .send()
            .await
            .expect("sign up")
            .json()
            .await
            .expect("json");
        (body["user"]["id"].as_str().expect("id").to_owned(), body["token"].as_str().expect("token").to_owned())
    }
}

async fn publish(store: &Store, hub: Option<&tandem_server::hub::Hub>, room: &str, n: i64) {
    let room_owned = room.to_owned();
    let build = move |e: &tandem_server::store::Envelope<'_>| {
        json!({"type": "note", "n": n, "room": room_owned, "seq": e.seq, "timestamp": e.timestamp}).to_string()
    };
    match hub {
        Some(hub) => {
            tandem_server::domain::events::append_and_publish(
                store,
                hub,
                &tandem_protocol::room::Room::parse(room).expect("room"),
                build,
            )
            .await
            .expect("publish");
        }
        None => {
            let now = tandem_server::clock::now_ms();
            store.append_event(room, now, build).await.expect("append while no server runs");
        }
    }
}

async fn wait_for(
    state: &mut watch::Receiver<ConnectionState>,
    wanted: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    tokio::time::timeout(WAIT, async {
        loop {
            let current = state.borrow_and_update().clone();
            if wanted(&current) {
                return current;
            }
            state.changed().await.expect("client alive");
        }
    })
    .await
    .expect("state reached in time")
}

async fn next_note(events: &mut mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("stream open");
            if event.kind() == "note" {
                return event;
            }
        }
    })
    .await
    .expect("an event in time")
}

fn fast(config: ClientConfig) -> ClientConfig {
    ClientConfig { backoff_min: Duration::from_millis(50), backoff_max: Duration::from_millis(400), ..config }
}

#[tokio::test]
async fn events_arrive_and_send_resolves_by_ack_or_error() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = start("127.0.0.1:0".parse().expect("addr"), &db).await;
    let (user_id, token) = server.sign_up().await;
    let client = Client::connect(ClientConfig::new(format!("http://{}", server.addr), token));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handled = seen.clone();
    client.on("note", move |event| handled.lock().expect("lock").push(event.seq()));
    let mut events = client.events().await;
    wait_for(&mut client.state(), |s| *s == ConnectionState::Live).await;

    let room = format!("user:{user_id}");
    publish(&server.store, Some(&server.hub), &room, 1).await;
    let event = next_note(&mut events).await;
    assert_eq!((event.room(), event.seq()), (Some(room.as_str()), Some(1)));
    assert_eq!(*seen.lock().expect("lock"), [Some(1)], "handler ran too");

    let ack = client.send(json!({"type": "list_users"})).await.expect("acked");
    assert_eq!(ack["type"], "ack");
    let refused = client.send(json!({"type": "dance"})).await;
    assert!(matches!(refused, Err(ClientError::Rejected { ref code, .. }) if code == "unknown_type"), "{refused:?}");
    assert_eq!(client.send(json!("not a frame")).await, Err(ClientError::InvalidFrame));
    client.close().await;
    wait_for(&mut client.state(), |s| matches!(s, ConnectionState::Stopped { .. })).await;
    server.stop().await;
}

#[tokio::test]
async fn server_restart_on_the_same_port_is_survived_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let first = start("127.0.0.1:0".parse().expect("addr"), &db).await;
    let addr = first.addr;
    let (user_id, token) = first.sign_up().await;
    let room = format!("user:{user_id}");
    let client = Client::connect(fast(ClientConfig::new(format!("http://{addr}"), token)));
    let mut events = client.events().await;
    let mut state = client.state();
    let mut transitions = client.state_changes();
    wait_for(&mut state, |s| *s == ConnectionState::Live).await;
    for n in 1..=3 {
        publish(&first.store, Some(&first.hub), &room, n).await;
    }
    let mut seqs = Vec::new();
    for _ in 1..=3 {
        seqs.push(next_note(&mut events).await.seq().expect("seq"));
    }

    first.stop().await;
    wait_for(&mut state, |s| *s == ConnectionState::Offline).await;
    // Published while the client is away (and no server runs): straight into the log.
    let store = Store::connect(&db).await.expect("store");
    for n in 4..=10 {
        publish(&store, None, &room, n).await;
    }
    store.close().await;

    let second = start(addr, &db).await;
    let reconnected = tokio::time::timeout(WAIT, async {
        loop {
            match transitions.recv().await.expect("transitions") {
                state @ ConnectionState::Reconnected { .. } => return state,
                _ => continue,
            }
        }
    })
    .await
    .expect("reconnected in time");
    assert_eq!(reconnected, ConnectionState::Reconnected { resumed: true, resync_required: Vec::new() });
    publish(&second.store, Some(&second.hub), &room, 11).await;
    while seqs.last() != Some(&11) {
        seqs.push(next_note(&mut events).await.seq().expect("seq"));
    }
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>(), "every event once, in order");
    client.close().await;
    second.stop().await;
}

#[tokio::test]
async fn a_bad_token_stops_the_client_instead_of_retrying() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = start("127.0.0.1:0".parse().expect("addr"), &db).await;
    let attempts = Arc::new(Mutex::new(0));
    let counter = attempts.clone();
    let config = fast(ClientConfig::new(format!("http://{}", server.addr), "")).with_token_provider(move || {
        *counter.lock().expect("lock") += 1;
        async { "not-a-token".to_owned() }
    });
    let client = Client::connect(config);
    let stopped = wait_for(&mut client.state(), |s| matches!(s, ConnectionState::Stopped { .. })).await;
    assert!(matches!(stopped, ConnectionState::Stopped { ref reason } if reason.contains("401")), "{stopped:?}");
    assert_eq!(*attempts.lock().expect("lock"), 1, "one attempt, no retry storm");
    assert_eq!(client.send(json!({"type": "ping"})).await, Err(ClientError::Closed));
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retries_follow_1_2_4_8_16_30_30_on_a_paused_clock() {
    // Nothing listens on this port: every attempt is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let recorder = attempts.clone();
    let config = ClientConfig { jitter: false, ..ClientConfig::new(format!("http://127.0.0.1:{port}"), "") }
        .with_token_provider(move || {
            recorder.lock().expect("lock").push(tokio::time::Instant::now());
            async { "t".to_owned() }
        });
    let client = Client::connect(config);
    while attempts.lock().expect("lock").len() < 9 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.close().await;
    let times = attempts.lock().expect("lock").clone();
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1].duration_since(w[0]).as_secs()).collect();
    assert_eq!(gaps, [1, 2, 4, 8, 16, 30, 30, 30]);
}

#[tokio::test(start_paused = true)]
async fn jittered_retries_stay_within_the_schedule() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let recorder = attempts.clone();
    let config = ClientConfig::new(format!("http://127.0.0.1:{port}"), "").with_token_provider(move || {
        recorder.lock().expect("lock").push(tokio::time::Instant::now());
        async { "t".to_owned() }
    });
    let client = Client::connect(config);
    while attempts.lock().expect("lock").len() < 9 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.close().await;
    let times = attempts.lock().expect("lock").clone();
    let bases = [1, 2, 4, 8, 16, 30, 30, 30];
    for (gap, base) in times.windows(2).map(|w| w[1].duration_since(w[0])).zip(bases) {
        assert!(gap <= Duration::from_secs(base) + Duration::from_millis(1), "{gap:?} > {base}s");
    }
}

/// A TCP proxy in front of the server that can refuse WebSocket upgrades (`/ws`), like a
/// corporate proxy that blocks them, while passing every other request.
struct UpgradeBlockingProxy {
    addr: SocketAddr,
    blocked: Arc<std::sync::atomic::AtomicBool>,
}

impl UpgradeBlockingProxy {
    async fn start(upstream: SocketAddr) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let blocked = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = blocked.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let is_upgrade = head.starts_with(b"GET /ws");
                    if is_upgrade && flag.load(std::sync::atomic::Ordering::SeqCst) {
                        let _ = client
                            .write_all(
                                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                            )
                            .await;
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else { return };
                    if server.write_all(&head).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { addr, blocked }
    }

    fn allow_websockets(&self) {
        self.blocked.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn transition(changes: &mut tokio::sync::broadcast::Receiver<ConnectionState>, wanted: ConnectionState) {
    tokio::time::timeout(WAIT, async { while changes.recv().await.expect("transitions") != wanted {} })
        .await
        .unwrap_or_else(|_| panic!("no transition to {wanted:?}"));
}

#[tokio::test]
async fn websocket_refused_falls_back_to_polling_then_returns_to_live() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = start("127.0.0.1:0".parse().expect("addr"), &db).await;
    let (user_id, token) = server.sign_up().await;
    let room = format!("user:{user_id}");
    let proxy = UpgradeBlockingProxy::start(server.addr).await;
    // The app loaded the user's state at seq 0 (e.g. by REST), so it starts from there.
    let mut cursors = tandem_client::Cursors::default();
    cursors.set(&room, 0);
    let config = ClientConfig {
        cursors,
        polling_after_failures: 1,
        backoff_min: Duration::from_millis(300),
        backoff_max: Duration::from_millis(600),
        jitter: false,
        ..ClientConfig::new(format!("http://{}", proxy.addr), token)
    };
    let client = Client::connect(config);
    let mut changes = client.state_changes();
    let mut events = client.events().await;
    transition(&mut changes, ConnectionState::Polling).await;

    publish(&server.store, Some(&server.hub), &room, 1).await;
    publish(&server.store, Some(&server.hub), &room, 2).await;
    let mut seqs = Vec::new();
    for _ in 1..=2 {
        seqs.push(next_note(&mut events).await.seq().expect("seq"));
    }
    // `/ws` is still refused by the proxy: these two came by long polling.

    proxy.allow_websockets();
    transition(&mut changes, ConnectionState::Live).await;
    publish(&server.store, Some(&server.hub), &room, 3).await;
    seqs.push(next_note(&mut events).await.seq().expect("seq"));
    assert_eq!(seqs, [1, 2, 3], "each event once, in order, across the switch");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn rest_client_drives_a_thread_and_the_socket_delivers_it() {
    use tandem_client::{Api, RestError};
    use tandem_protocol::rest::InviteAction;
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = start("127.0.0.1:0".parse().expect("addr"), &db).await;
    let base = format!("http://{}", server.addr);
    let api = Api::new(&base);
    let alice = api.sign_up(Some("alice")).await.expect("alice");
    let bob = api.sign_up(Some("bob")).await.expect("bob");
    let (alice_api, bob_api) = (api.with_token(&alice.token), api.with_token(&bob.token));

    let thread = alice_api.create_thread("plans").await.expect("thread");
    alice_api.invite(&thread.id, &bob.user.id).await.expect("invite");
    let duplicate = alice_api.invite(&thread.id, &bob.user.id).await;
    assert!(matches!(duplicate, Err(RestError::Api { status: 409, .. })), "{duplicate:?}");
    bob_api.answer_invite(&thread.id, &bob.user.id, InviteAction::Accept).await.expect("accept");
    assert_eq!(bob_api.thread(&thread.id).await.expect("thread").users.len(), 2);

    let client = Client::connect(ClientConfig::new(&base, alice.token.clone()));
    let mut events = client.events().await;
    wait_for(&mut client.state(), |s| *s == ConnectionState::Live).await;
    let posted = bob_api.post_message(&thread.id, json!({"text": "hi"})).await.expect("post");
    let received = tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("stream");
            if event.kind() == "message_created" {
                return event;
            }
        }
    })
    .await
    .expect("message in time");
    assert_eq!(received.json()["id"], posted.id.as_str());
    assert_eq!(received.room(), Some(format!("thread:{}", thread.id).as_str()));
    let page = alice_api.messages(&thread.id, None, 10).await.expect("messages");
    assert_eq!(page.messages.len(), 1);
    let not_member = api.with_token(&api.sign_up(None).await.expect("eve").token).thread(&thread.id).await;
    assert!(
        matches!(not_member, Err(RestError::Api { status: 404, ref code, .. }) if code == "not_found"),
        "{not_member:?}"
    );
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn rest_client_drives_a_draft_and_a_subscribed_socket_follows_it() {
    use tandem_client::{Api, RestError};
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = start("127.0.0.1:0".parse().expect("addr"), &db).await;
    let base = format!("http://{}", server.addr);
    let api = Api::new(&base);
    let alice = api.sign_up(Some("alice")).await.expect("alice");
    let bob = api.sign_up(Some("bob")).await.expect("bob");
    let (alice_api, bob_api) = (api.with_token(&alice.token), api.with_token(&bob.token));
    let draft = alice_api.create_draft("poem").await.expect("draft");
    alice_api.add_collaborator(&draft.id, &bob.user.id).await.expect("collaborator");

    let client = Client::connect(ClientConfig::new(&base, alice.token.clone()));
    let mut events = client.events().await;
    wait_for(&mut client.state(), |s| *s == ConnectionState::Live).await;
    let room = format!("draft:{}", draft.id);
    client.send(json!({"type": "subscribe", "room": room, "after": 0})).await.expect("subscribed");

    alice_api.append_segment(&draft.id, "roses are red").await.expect("holder appends");
    let refused = bob_api.append_segment(&draft.id, "not yet").await;
    assert!(
        matches!(refused, Err(RestError::Api { status: 409, ref code, .. }) if code == "not_ring_holder"),
        "{refused:?}"
    );
    alice_api.pass_ring(&draft.id, &bob.user.id).await.expect("pass");
    bob_api.append_segment(&draft.id, "violets are blue").await.expect("new holder appends");

    let kinds: Vec<String> = tokio::time::timeout(WAIT, async {
        let mut kinds = Vec::new();
        while kinds.len() < 5 {
            let event = events.recv().await.expect("stream");
            if event.room() == Some(room.as_str()) {
                kinds.push(event.kind().to_owned());
            }
        }
        kinds
    })
    .await
    .expect("draft events in time");
    assert_eq!(
        kinds,
        [
            "collab.draft_created",
            "collab.collaborator_added",
            "collab.segment_added",
            "collab.ring_passed",
            "collab.segment_added"
        ]
    );
    let segments = bob_api.draft(&draft.id).await.expect("draft").segments;
    assert_eq!(segments.iter().map(|s| s.content.as_str()).collect::<Vec<_>>(), ["roses are red", "violets are blue"]);
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn rest_client_drives_a_canvas() {
    use tandem_client::{Api, RestError};
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let server = start("127.0.0.1:0".parse().expect("addr"), &db).await;
    let api = Api::new(format!("http://{}", server.addr));
    let alice = api.sign_up(Some("alice")).await.expect("alice");
    let bob = api.sign_up(Some("bob")).await.expect("bob");
    let (alice_api, bob_api) = (api.with_token(&alice.token), api.with_token(&bob.token));
    let canvas = alice_api.create_canvas("wall", 4, 4).await.expect("canvas");
    alice_api.add_canvas_member(&canvas.id, &bob.user.id).await.expect("member");
    let tile = alice_api.create_tile(&canvas.id, 1, 2, json!({"color": "red"}), None).await.expect("tile");
    let outside = alice_api.create_tile(&canvas.id, 4, 0, json!({}), None).await;
    assert!(matches!(outside, Err(RestError::Api { status: 400, .. })), "{outside:?}");
    let taken = bob_api.create_tile(&canvas.id, 1, 2, json!({}), None).await;
    assert!(matches!(taken, Err(RestError::Api { status: 409, .. })), "{taken:?}");
    let not_creator = bob_api.update_tile(&canvas.id, &tile.id, json!({"color": "blue"}), None).await;
    assert!(matches!(not_creator, Err(RestError::Api { status: 403, .. })), "{not_creator:?}");
    alice_api.update_tile(&canvas.id, &tile.id, json!({"color": "blue"}), None).await.expect("update");
    assert_eq!(bob_api.like_tile(&canvas.id, &tile.id, None).await.expect("like").like_count, 1);
    assert_eq!(bob_api.canvas(&canvas.id).await.expect("canvas").tiles.len(), 1);
    assert!(bob_api.canvas_chat(&canvas.id, 10).await.is_ok());
    server.stop().await;
}
