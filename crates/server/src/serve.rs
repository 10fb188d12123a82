//! The HTTP accept loop: every connection is served by hyper with a header read timeout.
//!
//! Written here instead of using `axum::serve`, because that builds hyper's connections without
//! a timer, which leaves hyper's header read timeout off: a client that trickles a request header
//! a byte at a time (slowloris) would hold a socket and a task for ever. HTTP/1.1 only: browsers
//! speak HTTP/2 only over TLS, which a proxy in front of Tandem terminates, and hyper-util's
//! HTTP/2 detection reads the connection preface with no timeout at all.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long to pause accepting after a resource error (out of file descriptors, memory), so
/// the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `stop` completes, then stops accepting, lets every open
/// HTTP connection finish its request in flight (upgraded WebSockets are on their own by then)
/// and returns once they have. `header_read_timeout` bounds the time from accept (or the end of
/// the previous request on a keep-alive connection) to a complete request header; zero
/// disables it.
pub async fn serve(listener: TcpListener, app: Router, header_read_timeout: Duration, stop: impl Future<Output = ()>) {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    builder.header_read_timeout((!header_read_timeout.is_zero()).then_some(header_read_timeout));
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut stop = pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Frames are written in whole batches; Nagle would only hold the last one
                    // back until the client's delayed ACK.
                    let _ = stream.set_nodelay(true);
                    stream
                }
                Err(error) => {
                    pause_after(error).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone())).with_upgrades();
        let closing = closing.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = closing.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                // Header timeouts, resets, malformed requests: the client's problem, not ours.
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    closing.cancel();
    connections.close();
    connections.wait().await;
}

/// Connection-level errors (the peer gave up before we accepted) are skipped at once; any other
/// accept error (file descriptors or memory exhausted) is logged and accepting pauses briefly.
async fn pause_after(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accept failed; pausing before accepting again");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
