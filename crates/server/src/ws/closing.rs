//! The end of a connection after the close frames (RFC 6455 §5.5.1, §7.1.1).
//!
//! Dropping a TCP socket that still holds unread client data makes the kernel answer with a
//! reset instead of a FIN, and a reset destroys what the client has not read yet, our close frame
//! included: a client that flooded us (1008), sent an oversized message (1009) or is still
//! sending at shutdown (1001) would see a broken connection instead of the close code. So once
//! the close frame is out, the server half-closes (FIN after the close frame), reads and discards
//! whatever the client still sends until it closes its side too, and only then drops the socket,
//! within a deadline and a byte budget.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::socket::{Incoming, Outgoing};
use crate::hub::CloseReason;

/// How long a client that is still talking gets to read our close and close its side.
pub const DRAIN_TIME: Duration = Duration::from_secs(1);
/// The same for a client that was not reading (stale, slow consumer): a short try.
const UNRESPONSIVE_DRAIN_TIME: Duration = Duration::from_millis(100);
/// At most this much is read and thrown away; a client sending more is cut off.
const DRAIN_BUDGET: usize = 1 << 20;
/// Discarded data is read in chunks of this size.
const CHUNK: usize = 4096;

/// Ends the connection after the close frame for `reason` went out (or the client's close was
/// answered): see [`finish_within`]. A connection that already broke (`Lost`) is dropped at once.
pub async fn finish(incoming: Incoming, outgoing: Outgoing, reason: CloseReason) {
    let within = match reason {
        CloseReason::Lost => return,
        CloseReason::Stale | CloseReason::SlowConsumer => UNRESPONSIVE_DRAIN_TIME,
        _ => DRAIN_TIME,
    };
    finish_within(incoming, outgoing, within).await;
}

/// Half-closes the connection, discards what the client still sends until it closes its side
/// (at most `within` and [`DRAIN_BUDGET`] bytes), then drops it.
pub async fn finish_within(incoming: Incoming, mut outgoing: Outgoing, within: Duration) {
    let mut io = incoming.into_inner();
    let drain = async {
        outgoing.shutdown().await?;
        let mut chunk = vec![0u8; CHUNK];
        let mut discarded = 0;
        while discarded < DRAIN_BUDGET {
            match io.read(&mut chunk).await? {
                0 => break,
                n => discarded += n,
            }
        }
        Ok::<_, std::io::Error>(discarded)
    };
    match tokio::time::timeout(within, drain).await {
        Ok(Ok(discarded)) if discarded >= DRAIN_BUDGET => {
            tracing::debug!(discarded, "client kept sending after the close; dropped")
        }
        Ok(Ok(discarded)) => tracing::trace!(discarded, "client closed after our close"),
        Ok(Err(error)) => tracing::trace!(%error, "connection broke while closing"),
        Err(_) => tracing::debug!(?within, "client did not close its side in time; dropped"),
    }
}
