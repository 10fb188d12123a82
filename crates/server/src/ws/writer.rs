//! The writer: the only owner of a connection's send direction.

use std::time::Duration;

use tandem_protocol::ws::close_code;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::liveness::{Due, Liveness};
use super::socket::{Outgoing, Pending};
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
    /// How long to wait for more frames after the first one queued for an idle connection.
    pub write_delay: Duration,
}

/// Writes queued frames (everything queued, in vectored writes straight to the socket), pings
/// on schedule, and closes the socket with the right code when the queue closes, the peer goes
/// stale, a write stalls or the server shuts down. Returns why it stopped.
///
/// One timer serves the heartbeat and the write deadline: it is re-armed when a ping is due or
/// a write blocks, never per write, so a batch that the socket takes at once costs one `writev`
/// and no timer or wake-up beyond the queue's.
pub async fn run(
    outgoing: &Outgoing,
    connection: &Connection,
    settings: WriterSettings,
    shutdown: &CancellationToken,
) -> CloseReason {
    let mut liveness = Liveness::new(Instant::now(), settings.heartbeat_interval, settings.heartbeat_timeout);
    let mut pending = Pending::default();
    let mut blocked_since: Option<Instant> = None;
    let mut tick = std::pin::pin!(sleep_until(liveness.deadline()));
    let reason = loop {
        if !pending.is_empty() {
            match outgoing.write_now(&mut pending) {
                Ok(true) => blocked_since = None,
                Ok(false) if blocked_since.is_none() => {
                    blocked_since = Some(Instant::now());
                    tick.as_mut().reset(next_tick(&liveness, blocked_since, settings.write_timeout));
                }
                Ok(false) => {}
                // The peer is gone (reset, broken pipe): nothing more to say to it.
                Err(_) => break CloseReason::Lost,
            }
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break CloseReason::Shutdown,
            () = &mut tick => {
                let now = Instant::now();
                if blocked_since.is_some_and(|since| now >= since + settings.write_timeout) {
                    crate::telemetry::ws().queue_overflows.increment(1);
                    break CloseReason::SlowConsumer;
                }
                match liveness.on_deadline(now, connection.last_activity()) {
                    Some(Due::Ping) => pending.frames.extend([Frame::ping(), Frame::from_static(JSON_PING)]),
                    Some(Due::Stale) => {
                        crate::telemetry::ws().heartbeat_failures.increment(1);
                        break CloseReason::Stale;
                    }
                    None => {}
                }
                tick.as_mut().reset(next_tick(&liveness, blocked_since, settings.write_timeout));
            }
            closing = connection.queue().next_batch(&mut pending.frames), if pending.is_empty() => {
                if let Some(reason) = closing {
                    // Deliver what was queued before the close (not to a peer that stopped
                    // reading: an overflowed queue is already empty).
                    if !pending.is_empty() && reason != CloseReason::Stale {
                        outgoing.write_within(&mut pending, CLOSE_GRACE).await;
                    }
                    break reason;
                }
                if !settings.write_delay.is_zero() {
                    // Coalescing (off by default): let the next frames join this write. A close
                    // meanwhile is seen by the next `next_batch`.
                    tokio::time::sleep(settings.write_delay).await;
                    connection.queue().append_queued(&mut pending.frames);
                }
                let taken = u64::try_from(pending.frames.len()).unwrap_or(u64::MAX);
                crate::telemetry::ws().frames_out.increment(taken);
            }
            writable = outgoing.writable(), if !pending.is_empty() => {
                if writable.is_err() {
                    break CloseReason::Lost;
                }
            }
            // A peer that stopped reading is disconnected as soon as its queue overflows
            // behind the blocked write, not only at the write deadline.
            () = connection.queue().overflowed(), if !pending.is_empty() => break CloseReason::SlowConsumer,
        }
    };
    connection.queue().close(reason);
    farewell(outgoing, pending, reason).await;
    reason
}

/// When the writer's one timer must fire next: the heartbeat's deadline, or the blocked
/// write's deadline if that comes first.
fn next_tick(liveness: &Liveness, blocked_since: Option<Instant>, write_timeout: Duration) -> Instant {
    let heartbeat = liveness.deadline();
    blocked_since.map_or(heartbeat, |since| heartbeat.min(since + write_timeout))
}

/// Sends the close frame for `reason` (if it has one), briefly, after the rest of a frame
/// already started (the byte stream must stay well-formed).
async fn farewell(outgoing: &Outgoing, mut pending: Pending, reason: CloseReason) {
    let frame = match reason {
        // The stream broke: nothing can be sent.
        CloseReason::Lost => return,
        // The client closed: answer its close (RFC 6455 §5.5.1).
        CloseReason::Clean => Some((close_code::NORMAL, "")),
        CloseReason::Stale => Some((close_code::HEARTBEAT_TIMEOUT, "heartbeat timeout")),
        CloseReason::SlowConsumer => Some((close_code::SLOW_CONSUMER, "slow consumer: reconnect and resume")),
        CloseReason::RateLimited => Some((close_code::POLICY_VIOLATION, "rate limit exceeded")),
        CloseReason::TooBig => Some((close_code::MESSAGE_TOO_BIG, "message too big")),
        CloseReason::ProtocolError => Some((close_code::PROTOCOL_ERROR, "protocol error")),
        CloseReason::InvalidUtf8 => Some((close_code::INVALID_PAYLOAD, "text frame is not UTF-8")),
        CloseReason::Shutdown => Some((close_code::GOING_AWAY, "server shutting down")),
        CloseReason::Unavailable => Some((close_code::TRY_AGAIN_LATER, "try again later: reconnect and resume")),
    };
    pending.drop_unstarted();
    if let Some((code, text)) = frame {
        pending.frames.push_back(Frame::close(code, text));
    }
    let grace = match reason {
        CloseReason::Stale | CloseReason::SlowConsumer => UNRESPONSIVE_CLOSE_GRACE,
        _ => CLOSE_GRACE,
    };
    outgoing.write_within(&mut pending, grace).await;
}
