//! Test support: a database per test on either engine, a real server on 127.0.0.1:0, and
//! `both_engines!`, which runs one test body against SQLite and PostgreSQL.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::time::Duration;

use serde_json::{Value, json};
use tandem_server::{ServeConfig, Server};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
                Some(Self {
                    url,
                    _dir: Some(dir),
                    pg_schema: None,
                })
            }
            Engine::Postgres => {
                let Ok(base) = std::env::var("TANDEM_TEST_POSTGRES_URL") else {
                    eprintln!(
                        "SKIPPED (PostgreSQL half): TANDEM_TEST_POSTGRES_URL is not set; .ci/run sets it"
                    );
                    return None;
                };
                let schema = format!("t_{:016x}", rand_u64());
                let admin = sqlx::PgPool::connect(&base)
                    .await
                    .expect("connect to TANDEM_TEST_POSTGRES_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .expect("create test schema");
                admin.close().await;
                let separator = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{separator}options[search_path]={schema}");
                Some(Self {
                    url,
                    _dir: None,
                    pg_schema: Some((base, schema)),
                })
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
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&base).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
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
    pub async fn start_with(
        engine: Engine,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> Option<Self> {
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
        configure(&mut config);
        let server = Server::start(config).await.expect("server starts");
        let base = format!("http://{}", server.local_addr());
        let stop = CancellationToken::new();
        let signal = stop.clone().cancelled_owned();
        let task = tokio::spawn(server.run(signal));
        Self {
            base,
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
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
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
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
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

/// Asserts an error response: status and `error.code`, with a non-empty message.
pub fn assert_error(response: &(u16, Value), status: u16, code: &str) {
    let (actual_status, body) = response;
    assert_eq!(*actual_status, status, "status; body = {body}");
    assert_eq!(body["error"]["code"], code, "error code; body = {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message; body = {body}"
    );
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
