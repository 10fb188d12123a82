//! Slow HTTP clients (slowloris): connections that never finish their request header are closed
//! after `--header-read-timeout`, and meanwhile normal requests are served as usual.
//!
//! The accept loop does not depend on the storage engine, so this runs on SQLite only.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Engine, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(2);
/// Connections that trickle a request header, one byte every `TRICKLE`.
const TRICKLERS: usize = 100;
/// Connections that send nothing at all.
const SILENT: usize = 20;
const TRICKLE: Duration = Duration::from_millis(250);

/// Sends `GET /healthz …` one byte per [`TRICKLE`] (never the final blank line) until the
/// server closes the connection; returns how long the connection lived.
async fn trickle(mut stream: TcpStream, closed: Arc<AtomicUsize>) -> Duration {
    let opened = Instant::now();
    let header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a'));
    let mut buf = [0u8; 512];
    for byte in header {
        tokio::select! {
            // The server answers nothing to a header it never got: a read returns only at close.
            read = stream.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { break },
            () = tokio::time::sleep(TRICKLE) => {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
        }
    }
    closed.fetch_add(1, Ordering::SeqCst);
    opened.elapsed()
}

/// Waits until the server closes `stream` (it sends nothing).
async fn silent(mut stream: TcpStream, closed: Arc<AtomicUsize>) -> Duration {
    let opened = Instant::now();
    let mut buf = [0u8; 512];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    closed.fetch_add(1, Ordering::SeqCst);
    opened.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_normal_requests_are_not_delayed() {
    let server =
        TestServer::start_with(Engine::Sqlite, |c| c.header_read_timeout = TIMEOUT).await.expect("SQLite always runs");
    let addr = server.base.trim_start_matches("http://").to_owned();
    let closed = Arc::new(AtomicUsize::new(0));
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..TRICKLERS + SILENT {
        let stream = TcpStream::connect(&addr).await.expect("connect");
        let closed = closed.clone();
        if i < TRICKLERS {
            slow.spawn(trickle(stream, closed));
        } else {
            slow.spawn(silent(stream, closed));
        }
    }

    // While they hang on, a normal request is answered (and long before any of them is cut).
    let (status, _) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(closed.load(Ordering::SeqCst), 0, "a normal request waited for the slow clients to go");

    // Every slow connection is closed by the server: not before the timeout, and not much after.
    let bound = TIMEOUT + Duration::from_secs(8);
    let all_closed = tokio::time::timeout(bound, async {
        let mut lifetimes = Vec::new();
        while let Some(lifetime) = slow.join_next().await {
            lifetimes.push(lifetime.expect("slow client task"));
        }
        lifetimes
    })
    .await;
    let lifetimes = all_closed.unwrap_or_else(|_| {
        panic!(
            "{} of {} slow connections still open after {bound:?}",
            TRICKLERS + SILENT - closed.load(Ordering::SeqCst),
            TRICKLERS + SILENT
        )
    });
    let shortest = lifetimes.iter().min().expect("some");
    assert!(*shortest >= TIMEOUT - Duration::from_millis(100), "closed after {shortest:?}, before the timeout");

    // And the server still serves, on a new connection: the client's pooled one from the first
    // request sat idle for about the header timeout too, so the server is closing it right
    // about now, and a request sent on it as it closes fails (the flake this test had).
    let fresh = reqwest::Client::new();
    let status = fresh.get(server.url("/healthz")).send().await.expect("request").status();
    assert_eq!(status, 200);
}
