//! The writer: the only owner of a connection's send half.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tandem_protocol::ws::close_code;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

use super::liveness::{Due, Liveness};
use crate::hub::{CloseReason, Connection, Frame};

/// The JSON heartbeat frame sent with every WebSocket ping (seed 000's `{"type":"ping"}`).
const JSON_PING: &str = r#"{"type":"ping"}"#;
/// How long the farewell close frame may take to go out.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// The same for a peer that is not reading anyway (stale, slow): try briefly, then drop it.
const UNRESPONSIVE_CLOSE_GRACE: Duration = Duration::from_millis(100);

/// Heartbeat and write settings.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Ping period.
    pub heartbeat_interval: Duration,
    /// Silence after a ping that makes the connection stale.
    pub heartbeat_timeout: Duration,
    /// A batch (or ping) that cannot be written in this long marks a slow consumer.
    pub write_timeout: Duration,
}

/// Writes queued frames (a whole batch, then one flush), pings on schedule, and closes the
/// socket with the right code when the queue closes, the peer goes stale, a write stalls or the
/// server shuts down. Returns why it stopped.
pub async fn run<S>(
    mut sink: S,
    connection: &Connection,
    settings: WriterSettings,
    shutdown: &CancellationToken,
) -> CloseReason
where
    S: Sink<Message> + Unpin,
{
    let mut liveness = Liveness::new(Instant::now(), settings.heartbeat_interval, settings.heartbeat_timeout);
    let mut batch: VecDeque<Frame> = VecDeque::new();
    let reason = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break CloseReason::Shutdown,
            () = sleep_until(liveness.deadline()) => {
                match liveness.on_deadline(Instant::now(), connection.last_activity()) {
                    Some(Due::Ping) => {
                        let ping = [Message::Ping(Default::default()), Message::Text(Utf8Bytes::from_static(JSON_PING))];
                        if let Err(reason) = write_all(&mut sink, ping, connection, settings.write_timeout).await {
                            break reason;
                        }
                    }
                    Some(Due::Stale) => {
                        crate::telemetry::ws().heartbeat_failures.increment(1);
                        break CloseReason::Stale;
                    }
                    None => {}
                }
            }
            closing = connection.queue().next_batch(&mut batch) => {
                if let Some(reason) = closing {
                    // Deliver what was queued before the close (not to a peer that stopped
                    // reading: an overflowed queue is already empty).
                    if !batch.is_empty() && reason != CloseReason::Stale {
                        let frames = batch.drain(..).map(Message::Text);
                        let _ = write_all(&mut sink, frames, connection, CLOSE_GRACE).await;
                    }
                    break reason;
                }
                let written = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                crate::telemetry::ws().frames_out.increment(written);
                let frames = batch.drain(..).map(Message::Text);
                if let Err(reason) = write_all(&mut sink, frames, connection, settings.write_timeout).await {
                    break reason;
                }
            }
        }
    };
    connection.queue().close(reason);
    farewell(&mut sink, reason).await;
    reason
}

/// Feeds every message, then flushes once. Gives up when the write takes longer than `limit`
/// or the connection's queue overflows meanwhile (behind the stalled write).
async fn write_all<S>(
    sink: &mut S,
    messages: impl IntoIterator<Item = Message>,
    connection: &Connection,
    limit: Duration,
) -> Result<(), CloseReason>
where
    S: Sink<Message> + Unpin,
{
    let write = async {
        for message in messages {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        written = timeout(limit, write) => match written {
            Ok(Ok(())) => Ok(()),
            // The peer is gone (reset, broken pipe): nothing more to say to it.
            Ok(Err(_)) => Err(CloseReason::Lost),
            Err(_) => {
                crate::telemetry::ws().queue_overflows.increment(1);
                Err(CloseReason::SlowConsumer)
            }
        },
        () = connection.queue().overflowed() => Err(CloseReason::SlowConsumer),
    }
}

/// Sends the close frame for `reason` (if it has one) and closes the sink, briefly.
async fn farewell<S>(sink: &mut S, reason: CloseReason)
where
    S: Sink<Message> + Unpin,
{
    let frame = match reason {
        // The client closed (its close was already answered) or the stream broke.
        CloseReason::Clean | CloseReason::Lost => None,
        CloseReason::Stale => Some((close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout")),
        CloseReason::SlowConsumer => Some((close_code::SLOW_CONSUMER, "slow consumer: reconnect and resume")),
        CloseReason::RateLimited => Some((close_code::POLICY_VIOLATION, "rate limit exceeded")),
        CloseReason::TooBig => Some((close_code::MESSAGE_TOO_BIG, "message too big")),
        CloseReason::ProtocolError => Some((close_code::PROTOCOL_ERROR, "protocol error")),
        CloseReason::InvalidUtf8 => Some((close_code::INVALID_PAYLOAD, "text frame is not UTF-8")),
        CloseReason::Shutdown => Some((close_code::GOING_AWAY, "server shutting down")),
        CloseReason::Unavailable => Some((close_code::TRY_AGAIN_LATER, "try again later: reconnect and resume")),
    };
    let grace = match reason {
        CloseReason::Stale | CloseReason::SlowConsumer => UNRESPONSIVE_CLOSE_GRACE,
        _ => CLOSE_GRACE,
    };
    let _ = timeout(grace, async {
        if let Some((code, text)) = frame {
            let close = CloseFrame { code: code.into(), reason: Utf8Bytes::from_static(text) };
            let _ = sink.send(Message::Close(Some(close))).await;
        }
        let _ = sink.close().await;
    })
    .await;
}
