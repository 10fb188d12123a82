//! The bounded outbound queue between publishers and one connection's writer.
//!
//! Hand-written rather than a `tokio::sync::mpsc` channel for two reasons: an idle queue
//! allocates nothing (mpsc pre-allocates a 32-slot block per channel, which at 15k idle
//! connections is more than the rest of a connection costs), and the writer takes the whole
//! backlog in one lock to write it and flush once.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::Frame;

/// Why a connection ends. Decides the close code and the `ws_disconnects_total` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection with a close frame.
    Clean,
    /// The stream ended or failed without a close frame (network loss, killed client).
    Lost,
    /// No sign of life within the heartbeat timeout.
    Stale,
    /// The outbound queue overflowed, or a write did not complete in time.
    SlowConsumer,
    /// The client kept flooding past its rate limit.
    RateLimited,
    /// The client sent a frame over the size limit.
    TooBig,
    /// The client broke the WebSocket protocol (e.g. unmasked frames).
    ProtocolError,
    /// The client sent a text frame that is not UTF-8 (close 1007); counted as a protocol error.
    InvalidUtf8,
    /// The server is shutting down.
    Shutdown,
    /// The connection's rooms could not be loaded (the store failed or timed out).
    Unavailable,
}

impl CloseReason {
    /// Whether the client may simply be coming back: the stream was lost, or it was closed as
    /// a slow consumer (which reconnects and resumes). Presence waits for these.
    pub fn is_lost(self) -> bool {
        matches!(self, Self::Lost | Self::SlowConsumer)
    }

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Lost => "lost",
            Self::Stale => "stale",
            Self::SlowConsumer => "slow_consumer",
            Self::RateLimited => "rate_limited",
            Self::TooBig => "too_big",
            Self::ProtocolError | Self::InvalidUtf8 => "protocol_error",
            Self::Shutdown => "shutdown",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Outcome of [`OutboundQueue::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The frame is queued.
    Queued,
    /// The queue was full: the frame is dropped and the connection is now closing as a slow
    /// consumer (reported once, by the push that overflowed).
    Overflowed,
    /// The connection is already closing; the frame is dropped.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Frame>,
    closing: Option<CloseReason>,
}

/// A bounded FIFO of frames plus a "closing" flag, with one waiting consumer (the writer).
#[derive(Debug)]
pub struct OutboundQueue {
    state: Mutex<State>,
    /// Wakes the writer (frames or closing).
    notify: Notify,
    /// Wakes a replay waiting for the writer to make room.
    space: Notify,
    capacity: usize,
}

impl OutboundQueue {
    /// An empty queue holding at most `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        Self { state: Mutex::default(), notify: Notify::new(), space: Notify::new(), capacity: capacity.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `frame` without waiting. On overflow the backlog is freed and the queue starts
    /// closing with [`CloseReason::SlowConsumer`].
    pub fn push(&self, frame: Frame) -> Push {
        let outcome = {
            let mut state = self.lock();
            if state.closing.is_some() {
                return Push::Closed;
            }
            if state.frames.len() >= self.capacity {
                state.closing = Some(CloseReason::SlowConsumer);
                state.frames = VecDeque::new();
                Push::Overflowed
            } else {
                state.frames.push_back(frame);
                Push::Queued
            }
        };
        self.notify.notify_one();
        outcome
    }

    /// Starts closing with `reason` unless already closing (the first reason wins). Frames
    /// already queued stay, so the writer can still deliver them (e.g. the error that explains
    /// the close); nothing new is accepted.
    pub fn close(&self, reason: CloseReason) {
        {
            let mut state = self.lock();
            if state.closing.is_some() {
                return;
            }
            state.closing = Some(reason);
        }
        self.notify.notify_one();
    }

    /// Why the queue is closing, if it is.
    pub fn closing(&self) -> Option<CloseReason> {
        self.lock().closing
    }

    /// Waits until there are frames or the queue is closing. Moves every queued frame into
    /// `batch` (which the caller passes in empty) and returns the close reason, if any; when
    /// closing, `batch` holds the frames that were queued before the close.
    /// Only one task (the connection's writer) may wait at a time.
    pub async fn next_batch(&self, batch: &mut VecDeque<Frame>) -> Option<CloseReason> {
        loop {
            {
                let mut state = self.lock();
                if state.closing.is_some() || !state.frames.is_empty() {
                    std::mem::swap(&mut state.frames, batch);
                    let closing = state.closing;
                    drop(state);
                    self.space.notify_waiters();
                    return closing;
                }
            }
            // `notify_one` stores a permit when nobody waits, so a push between the check
            // above and this await is not lost.
            self.notify.notified().await;
        }
    }
}

impl OutboundQueue {
    /// Moves every queued frame to the end of `batch` without waiting (the writer's second
    /// helping after a coalescing delay).
    pub fn append_queued(&self, batch: &mut VecDeque<Frame>) {
        let mut state = self.lock();
        if state.frames.is_empty() {
            return;
        }
        batch.append(&mut state.frames);
        drop(state);
        self.space.notify_waiters();
    }

    /// Queues `frame` once the queue is at most half full, waiting for the writer to drain it
    /// otherwise. For replays: a long history must not count as a slow consumer. Returns
    /// `Push::Closed` if the connection closes while waiting.
    pub async fn push_when_room(&self, frame: Frame) -> Push {
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let state = self.lock();
                if state.closing.is_some() {
                    return Push::Closed;
                }
                if state.frames.len() < self.capacity.div_ceil(2) {
                    drop(state);
                    return self.push(frame);
                }
            }
            space.await;
        }
    }

    /// Completes when the queue has overflowed. The writer races this against a stalled socket
    /// write so a slow consumer is disconnected at once rather than after the write timeout.
    pub async fn overflowed(&self) {
        loop {
            if self.closing() == Some(CloseReason::SlowConsumer) {
                return;
            }
            // Pushes also notify; each wakes this loop once to re-check, which is cheap.
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &'static str) -> Frame {
        Frame::from_static(text)
    }

    #[tokio::test]
    async fn batches_everything_queued_in_order() {
        let queue = OutboundQueue::new(8);
        assert_eq!(queue.push(frame("a")), Push::Queued);
        assert_eq!(queue.push(frame("b")), Push::Queued);
        let mut batch = VecDeque::new();
        assert_eq!(queue.next_batch(&mut batch).await, None);
        assert_eq!(batch.iter().map(|f| f.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[tokio::test]
    async fn overflow_closes_as_slow_consumer_once() {
        let queue = OutboundQueue::new(2);
        assert_eq!(queue.push(frame("a")), Push::Queued);
        assert_eq!(queue.push(frame("b")), Push::Queued);
        assert_eq!(queue.push(frame("c")), Push::Overflowed);
        assert_eq!(queue.push(frame("d")), Push::Closed);
        let mut batch = VecDeque::new();
        assert_eq!(queue.next_batch(&mut batch).await, Some(CloseReason::SlowConsumer));
        assert!(batch.is_empty(), "backlog freed");
    }

    #[tokio::test]
    async fn close_keeps_what_was_queued_and_refuses_more() {
        let queue = OutboundQueue::new(4);
        queue.push(frame("last words"));
        queue.close(CloseReason::RateLimited);
        assert_eq!(queue.push(frame("late")), Push::Closed);
        let mut batch = VecDeque::new();
        assert_eq!(queue.next_batch(&mut batch).await, Some(CloseReason::RateLimited));
        assert_eq!(batch.iter().map(|f| f.as_str()).collect::<Vec<_>>(), ["last words"]);
    }

    #[tokio::test]
    async fn replay_push_waits_for_the_writer_instead_of_overflowing() {
        let queue = std::sync::Arc::new(OutboundQueue::new(4));
        let replay = {
            let queue = queue.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    assert_eq!(queue.push_when_room(frame("r")).await, Push::Queued);
                }
            })
        };
        let mut received = 0;
        while received < 10 {
            let mut batch = VecDeque::new();
            assert_eq!(queue.next_batch(&mut batch).await, None);
            assert!(batch.len() <= 2, "never more than half the capacity queued by a replay");
            received += batch.len();
        }
        replay.await.expect("replay");
        assert_eq!(queue.closing(), None, "no overflow");
    }

    #[tokio::test]
    async fn first_close_reason_wins() {
        let queue = OutboundQueue::new(2);
        queue.close(CloseReason::Stale);
        queue.close(CloseReason::Shutdown);
        assert_eq!(queue.closing(), Some(CloseReason::Stale));
    }

    #[tokio::test]
    async fn waiting_writer_is_woken_by_a_push() {
        let queue = std::sync::Arc::new(OutboundQueue::new(4));
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut batch = VecDeque::new();
                queue.next_batch(&mut batch).await;
                batch.len()
            })
        };
        tokio::task::yield_now().await;
        queue.push(frame("x"));
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await;
        assert_eq!(received.expect("woken").expect("join"), 1);
    }
}
