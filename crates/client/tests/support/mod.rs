//! Shared by the reconnect and timeout tests: a real server, a proxy that cuts the network
//! silently, and waiting helpers that fail on a deadline instead of sleeping.

#![allow(dead_code)] // each test binary uses a part

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tandem_client::{ConnectionState, Event};
use tandem_server::{ServeConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server on 127.0.0.1 over a fresh SQLite file.
pub struct Running {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts a server with the defaults changed by `adjust`.
    pub async fn start(adjust: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = ServeConfig::with_database_url(format!("sqlite://{}", dir.path().join("t.db").display()));
        config.addr = "127.0.0.1:0".parse().expect("addr");
        config.jwt_secret = Some("client-tests".into());
        adjust(&mut config);
        let server = Server::start(config).await.expect("server starts");
        let addr = server.local_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(server.run(stop.clone().cancelled_owned()));
        Self { addr, stop, task, _dir: dir }
    }

    /// `http://` base URL of the server itself.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(WAIT, self.task).await.expect("stops");
    }
}

/// A TCP proxy between the client and the server that can stop forwarding in both
/// directions without closing either socket, the way a dead NAT entry or a pulled cable
/// looks to both ends. New connections are accepted while cut, but nothing flows on them
/// either. Dropping the proxy ends every connection through it.
pub struct CutProxy {
    pub addr: SocketAddr,
    forwarding: watch::Sender<bool>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CutProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (forwarding, switch) = watch::channel(true);
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            // Owned here: aborting the accept loop drops (and aborts) every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let switch = switch.clone();
                connections.spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pipe(client_read, server_write, switch.clone()),
                        pipe(server_read, client_write, switch)
                    );
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self { addr, forwarding, accepted, task }
    }

    /// `http://` base URL through the proxy.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops forwarding: bytes stay where they are, no socket is closed.
    pub fn cut(&self) {
        self.forwarding.send_replace(false);
    }

    /// Forwards again (what was held back flows on).
    pub fn restore(&self) {
        self.forwarding.send_replace(true);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` while forwarding is on. Bytes read just as a cut begins are held
/// until it ends, so nothing at all crosses during a cut.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut forwarding: watch::Receiver<bool>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if forwarding.wait_for(|on| *on).await.is_err() {
            return;
        }
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if forwarding.wait_for(|on| *on).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits up to `within` for a transition matching `wanted`; panics naming `what` otherwise.
pub async fn transition(
    changes: &mut broadcast::Receiver<ConnectionState>,
    within: Duration,
    what: &str,
    wanted: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    tokio::time::timeout(within, async {
        loop {
            match changes.recv().await {
                Ok(state) if wanted(&state) => return state,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("client gone while waiting for {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no transition to {what} within {within:?}"))
}

/// Waits for the state watch to show `Live`.
pub async fn live(state: &mut watch::Receiver<ConnectionState>) {
    tokio::time::timeout(WAIT, state.wait_for(|s| *s == ConnectionState::Live))
        .await
        .expect("live in time")
        .expect("client alive");
}

/// The next event in `room` (skipping others), waiting at most [`WAIT`].
pub async fn next_in(events: &mut mpsc::Receiver<Event>, room: &str) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("stream open");
            if event.room() == Some(room) {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event in {room} in time"))
}

/// The seqs of `room`'s durable events from the stream until `last` arrives.
pub async fn seqs_until(events: &mut mpsc::Receiver<Event>, room: &str, last: i64) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        if let Some(seq) = next_in(events, room).await.seq() {
            seqs.push(seq);
        }
    }
    seqs
}
