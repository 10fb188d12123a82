//! A TCP proxy on loopback that a test can cut and restore, to cut one node off from Redis
//! while the others keep it.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Forwards connections from its own port to `target`; aborted with the test.
pub struct CutProxy {
    /// `127.0.0.1:{port}` to connect to instead of the target.
    pub addr: String,
    cut: Arc<AtomicBool>,
    links: Arc<std::sync::Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Starts forwarding to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let links = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let (target, is_cut, all) = (target.to_owned(), cut.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused as good as at once
                }
                let target = target.clone();
                all.lock().expect("links").spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, cut, links, accept }
    }

    /// Drops every forwarded connection and every new one until [`CutProxy::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.links.lock().expect("links").abort_all();
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.links.lock().expect("links").abort_all();
    }
}
