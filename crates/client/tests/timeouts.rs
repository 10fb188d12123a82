//! Connect and handshake timeouts against servers that accept and then say nothing: each
//! stalled step fails the attempt after its timeout, and the client retries with backoff.

mod support;

use std::time::Duration;

use support::WAIT;
use tandem_client::{Client, ClientConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The timeout under test.
const SHORT: Duration = Duration::from_millis(300);
/// The fixed retry delay.
const RETRY: Duration = Duration::from_millis(100);

/// What a stalling listener does with an accepted socket before holding it open, silent.
#[derive(Clone, Copy)]
enum Stall {
    /// Read nothing, answer nothing (no TLS handshake, no upgrade answer).
    Immediately,
    /// Complete the WebSocket upgrade, then send nothing (no `connected`).
    AfterUpgrade,
}

/// A listener that reports each accepted connection's time and never lets one progress.
async fn stalling_listener(stall: Stall) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (accepted, attempts) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        let mut upgraded = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            if accepted.send(Instant::now()).is_err() {
                return;
            }
            match stall {
                Stall::Immediately => held.push(tcp),
                Stall::AfterUpgrade => {
                    if let Ok(socket) = tokio_tungstenite::accept_async(tcp).await {
                        upgraded.push(socket);
                    }
                }
            }
        }
    });
    (addr, attempts)
}

/// Every step's timeout long except the ones `adjust` shortens; fixed retry delay.
fn config(base: String, adjust: impl FnOnce(&mut ClientConfig)) -> ClientConfig {
    let mut config = ClientConfig {
        backoff_min: RETRY,
        backoff_max: RETRY,
        jitter: false,
        connect_timeout: Duration::from_secs(30),
        handshake_timeout: Duration::from_secs(30),
        polling_after_failures: u32::MAX,
        ..ClientConfig::new(base, "token")
    };
    adjust(&mut config);
    config
}

/// Waits for three attempts and checks that each was given up after `SHORT` (not at once,
/// not after the long timeouts) and retried after the backoff.
async fn assert_retried_after_short_timeout(attempts: &mut mpsc::UnboundedReceiver<Instant>) {
    let mut times = Vec::new();
    for _ in 0..3 {
        times.push(tokio::time::timeout(WAIT, attempts.recv()).await.expect("another attempt in time").expect("open"));
    }
    for gap in times.windows(2).map(|w| w[1] - w[0]) {
        assert!(gap >= SHORT + RETRY - Duration::from_millis(20), "gave up too early: {gap:?}");
        assert!(gap < SHORT + RETRY + Duration::from_secs(2), "gave up too late: {gap:?}");
    }
}

#[tokio::test]
async fn an_unanswered_upgrade_times_out_and_is_retried() {
    let (addr, mut attempts) = stalling_listener(Stall::Immediately).await;
    let client = Client::connect(config(format!("http://{addr}"), |c| c.handshake_timeout = SHORT));
    assert_retried_after_short_timeout(&mut attempts).await;
    client.close().await;
}

#[tokio::test]
async fn a_missing_connected_frame_times_out_and_is_retried() {
    let (addr, mut attempts) = stalling_listener(Stall::AfterUpgrade).await;
    let client = Client::connect(config(format!("http://{addr}"), |c| c.handshake_timeout = SHORT));
    assert_retried_after_short_timeout(&mut attempts).await;
    client.close().await;
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_bounded_by_the_connect_timeout() {
    let (addr, mut attempts) = stalling_listener(Stall::Immediately).await;
    let client = Client::connect(config(format!("https://{addr}"), |c| c.connect_timeout = SHORT));
    assert_retried_after_short_timeout(&mut attempts).await;
    client.close().await;
}
