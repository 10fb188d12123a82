//! Cluster test set-up shared by the cluster test binaries: a PostgreSQL schema with a private
//! `redis-server`, in-process nodes on them, and two users sharing a thread.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use super::redis::RedisProcess;
use super::threads::{add_member, create_thread};
use tandem_server::ServeConfig;

use super::{Engine, TestDb, TestServer, User, user};

/// A PostgreSQL schema and a private Redis, or `None` (skipped, said on stderr).
pub async fn services() -> Option<(TestDb, RedisProcess)> {
    let db = TestDb::new(Engine::Postgres).await?;
    let redis = RedisProcess::start().await?;
    redis.ready().await;
    Some((db, redis))
}

/// An in-process node named `name` on `db` and `redis`.
pub async fn node(db: &TestDb, redis: &RedisProcess, name: &str) -> TestServer {
    node_with(db, &redis.url(), name, |_| {}).await
}

/// An in-process node named `name` on `db` and the Redis at `redis_url`, with `configure`
/// applied last.
pub async fn node_with(
    db: &TestDb,
    redis_url: &str,
    name: &str,
    configure: impl FnOnce(&mut ServeConfig),
) -> TestServer {
    let (url, name) = (redis_url.to_owned(), name.to_owned());
    TestServer::start_on(&db.url, move |config| {
        config.jwt_secret = Some(super::TEST_SECRET.into());
        config.redis_url = Some(url);
        config.node_id = Some(name);
        configure(config);
    })
    .await
}

/// Signs up alice and bob on `server` and makes them members of a new thread named `name`:
/// `(alice, bob, thread id)`.
pub async fn shared_thread(server: &TestServer, name: &str) -> (User, User, String) {
    let alice = user(server, "alice").await;
    let bob = user(server, "bob").await;
    let thread = create_thread(server, &alice, name).await;
    add_member(server, &alice, &thread, &bob).await;
    (alice, bob, thread)
}
