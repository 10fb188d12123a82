//! Test support: a database per test on either engine, a real server on 127.0.0.1:0, and
//! `both_engines!`, which runs one test body against SQLite and PostgreSQL.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::time::Duration;

use serde_json::{Value, json};
use tandem_server::hub::Hub;
use tandem_server::store::Store;
use tandem_server::{ServeConfig, Server};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod canvases;
pub mod cluster;
pub mod node_process;
pub mod proxy;
pub mod redis;
pub mod threads;

/// The engines the conformance suites run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A database private to one test: a temporary SQLite file, or a fresh PostgreSQL schema
/// (dropped again when this value is dropped).
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// `None` (with a line on stderr saying why) when PostgreSQL is asked for but
    /// `TANDEM_TEST_POSTGRES_URL` is not set.
    pub async fn new(engine: Engine) -> Option<Self> {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
                Some(Self { url, _dir: Some(dir), pg_schema: None })
            }
            Engine::Postgres => {
                let Ok(base) = std::env::var("TANDEM_TEST_POSTGRES_URL") else {
                    eprintln!("SKIPPED (PostgreSQL half): TANDEM_TEST_POSTGRES_URL is not set; .ci/run sets it");
                    return None;
                };
                let schema = format!("t_{:016x}", rand_u64());
                let admin = sqlx::PgPool::connect(&base).await.expect("connect to TANDEM_TEST_POSTGRES_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .expect("create test schema");
                admin.close().await;
                let separator = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{separator}options[search_path]={schema}");
                Some(Self { url, _dir: None, pg_schema: Some((base, schema)) })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.pg_schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime; use a thread with its own runtime to clean up.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&base).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// A running server on 127.0.0.1 with a random port and its own database.
pub struct TestServer {
    pub base: String,
    pub hub: Hub,
    pub store: Store,
    pub http: reqwest::Client,
    pub db_url: String,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
    db: Option<TestDb>,
}

/// The secret test servers sign tokens with unless a test chooses otherwise.
pub const TEST_SECRET: &str = "test-secret-please-change";

impl TestServer {
    /// Starts a server with default settings (and [`TEST_SECRET`]) on `engine`.
    pub async fn start(engine: Engine) -> Option<Self> {
        Self::start_with(engine, |_| {}).await
    }

    /// Starts a server on `engine` after `configure` adjusted the defaults.
    pub async fn start_with(engine: Engine, configure: impl FnOnce(&mut ServeConfig)) -> Option<Self> {
        let db = TestDb::new(engine).await?;
        let server = Self::start_on(&db.url, |config| {
            config.jwt_secret = Some(TEST_SECRET.into());
            configure(config);
        })
        .await;
        let mut server = server;
        server.db = Some(db);
        Some(server)
    }

    /// Starts a server on an existing database URL (e.g. to restart on the same data).
    pub async fn start_on(db_url: &str, configure: impl FnOnce(&mut ServeConfig)) -> Self {
        let mut config = ServeConfig::with_database_url(db_url);
        config.addr = "127.0.0.1:0".parse().expect("addr");
        config.shutdown_timeout = Duration::from_secs(5);
        // Presence is announced at once unless a test sets a grace itself.
        config.presence_grace = Duration::ZERO;
        configure(&mut config);
        let server = Server::start(config).await.expect("server starts");
        let base = format!("http://{}", server.local_addr());
        let (hub, store) = (server.hub(), server.store());
        let stop = CancellationToken::new();
        let signal = stop.clone().cancelled_owned();
        let task = tokio::spawn(server.run(signal));
        Self {
            base,
            hub,
            store,
            http: reqwest::Client::new(),
            db_url: db_url.to_owned(),
            stop,
            task: Some(task),
            db: None,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs up `username` and returns `(user json, token)`.
    pub async fn sign_up(&self, username: &str) -> (Value, String) {
        let response = self
            .http
            .post(self.url("/api/v1/users"))
            .json(&json!({ "username": username }))
            .send()
            .await
            .expect("sign-up request");
        assert_eq!(response.status(), 201, "sign-up of {username}");
        let body: Value = response.json().await.expect("sign-up body");
        let token = body["token"].as_str().expect("token").to_owned();
        (body["user"].clone(), token)
    }

    /// Sends `method path` with an optional bearer token and JSON body; returns status and body
    /// (`Value::Null` for an empty body).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") };
        (status, value)
    }

    /// Stops the server gracefully and waits for it, returning the database so a test can
    /// start a new server on the same data.
    pub async fn stop(mut self) -> Option<TestDb> {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops within 10 s")
                .expect("server task")
                .expect("server run");
        }
        self.db.take()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestServer {
    /// `ws://host:port/ws` + `suffix`.
    pub fn ws_url(&self, suffix: &str) -> String {
        format!("{}/ws{suffix}", self.base.replacen("http://", "ws://", 1))
    }

    /// Opens a WebSocket authenticated with `?token=` and consumes its `connected` frame.
    pub async fn connect(&self, token: &str) -> WsClient {
        let mut client = WsClient::open(&self.ws_url(&format!("?token={token}"))).await.expect("upgrade");
        client.expect("connected").await;
        client
    }

    /// Makes `user_ids` members of `room` directly in the store (domains do this through
    /// their APIs; the real-time core's tests only need the membership).
    pub async fn add_members(&self, room: &str, user_ids: &[&str]) {
        for user_id in user_ids {
            let parsed = tandem_protocol::room::Room::parse(room).expect("room name");
            self.store.add_member(&parsed, user_id, 0).await.expect("add member");
        }
    }
}

/// How long a test waits for an expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A test WebSocket client speaking JSON frames.
pub struct WsClient {
    pub socket: Socket,
}

/// What a client observed when the server ended the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The stream ended without a close frame.
    Dropped,
}

impl WsClient {
    /// Performs the upgrade handshake (no frame is read).
    pub async fn open(url: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self { socket })
    }

    /// Performs the upgrade with extra headers.
    pub async fn open_with(url: &str, headers: &[(&str, &str)]) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                value.parse().expect("header value"),
            );
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self { socket })
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        use futures_util::SinkExt;
        self.socket.send(tokio_tungstenite::tungstenite::Message::text(frame.to_string())).await.expect("send");
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.socket.send(tokio_tungstenite::tungstenite::Message::text(text)).await.expect("send");
    }

    /// The next JSON frame other than the server's heartbeat `ping`, within [`WAIT`].
    pub async fn next(&mut self) -> Value {
        match self.next_or_end().await {
            Ok(frame) => frame,
            Err(ended) => panic!("connection ended ({ended:?}) while waiting for a frame"),
        }
    }

    /// Like [`WsClient::next`], but reports the end of the connection instead of panicking.
    pub async fn next_or_end(&mut self) -> Result<Value, Ended> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next()).await.expect("a frame within 5 s");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("server frames are JSON");
                    if value["type"] != "ping" {
                        return Ok(value);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Ended::Closed(frame.map_or(1005, |f| f.code.into())));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(Ended::Dropped),
            }
        }
    }

    /// Asserts the next frame has type `kind` and returns it.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["type"], kind, "expected a `{kind}` frame, got {frame}");
        frame
    }

    /// The next text frame, raw, without a timeout (the caller bounds it).
    pub async fn socket_next_text(&mut self) -> String {
        use futures_util::StreamExt;
        loop {
            match self.socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                    return text.to_string();
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// Reads until the server ends the connection and returns how.
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(ended) = self.next_or_end().await {
                return ended;
            }
        }
    }

    /// Round-trips a `ping` and asserts that nothing else was waiting before the `pong`: every
    /// frame the server queued for this client before the ping would arrive first.
    pub async fn assert_nothing_pending(&mut self) {
        self.send(json!({"type": "ping"})).await;
        let frame = self.next().await;
        assert_eq!(frame["type"], "pong", "unexpected frame before pong: {frame}");
    }
}

/// A signed-up user: id and bearer token.
pub struct User {
    pub id: String,
    pub token: String,
}

/// Signs up `username` on `server`.
pub async fn user(server: &TestServer, username: &str) -> User {
    let (user, token) = server.sign_up(username).await;
    User { id: id(&user), token }
}

/// The `id` of a user JSON object.
pub fn id(user: &Value) -> String {
    user["id"].as_str().expect("user id").to_owned()
}

/// Asserts an error response: status and `error.code`, with a non-empty message.
pub fn assert_error(response: &(u16, Value), status: u16, code: &str) {
    let (actual_status, body) = response;
    assert_eq!(*actual_status, status, "status; body = {body}");
    assert_eq!(body["error"]["code"], code, "error code; body = {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "message; body = {body}");
}

/// Defines each `async fn name(engine: Engine)` test twice: `sqlite::name` and `postgres::name`.
/// The PostgreSQL copy is skipped (with a message) when `TANDEM_TEST_POSTGRES_URL` is unset.
#[macro_export]
macro_rules! both_engines {
    ($(async fn $name:ident($engine:ident: Engine) $body:block)*) => {
        $(async fn $name($engine: $crate::common::Engine) $body)*
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Engine::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Engine::Postgres).await })*
        }
    };
}

/// Whether `frame` is a presence announcement (`user_status_changed`).
pub fn is_presence(frame: &Value) -> bool {
    frame["type"] == "user_status_changed"
}

/// The next frame that is not a presence announcement: collaborators come and go in the
/// domain tests.
pub async fn recv_any(ws: &mut WsClient) -> Value {
    loop {
        let frame = ws.next().await;
        if !is_presence(&frame) {
            return frame;
        }
    }
}

/// [`recv_any`], asserted to be of type `kind`.
pub async fn recv(ws: &mut WsClient, kind: &str) -> Value {
    let frame = recv_any(ws).await;
    assert_eq!(frame["type"], kind, "expected a `{kind}` frame, got {frame}");
    frame
}

/// Like [`WsClient::assert_nothing_pending`], but tolerates presence announcements before the
/// `pong`.
pub async fn quiet(ws: &mut WsClient) {
    ws.send(json!({"type": "ping"})).await;
    let frame = recv_any(ws).await;
    assert_eq!(frame["type"], "pong", "unexpected frame before pong: {frame}");
}
