//! The connection readers and the table of awaited transitions they report into.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use super::EVENT_TIMEOUT;
use crate::client;

/// The fields of a `user_status_changed` frame the bench needs.
#[derive(Deserialize)]
struct StatusFrame {
    #[serde(rename = "type")]
    kind: String,
    user_id: String,
    is_online: bool,
}

/// One awaited transition: `subject` went offline or online; which co-members saw it, when.
pub(super) struct Watch {
    /// When the watch was set up; earlier arrivals belong to something else.
    since: Instant,
    /// Co-members who should see the transition.
    expected: usize,
    /// First arrival per observing user.
    pub(super) arrivals: HashMap<usize, Instant>,
    /// Arrivals beyond the first on the same observer.
    pub(super) duplicated: u64,
    /// Woken when `arrivals` becomes complete.
    complete: Arc<Notify>,
}

/// What the connection tasks and the cycles share.
pub(super) struct Shared {
    /// User id → user index.
    pub(super) index: HashMap<String, usize>,
    /// User index → thread (group) index.
    pub(super) group_of: Vec<usize>,
    /// Awaited transitions, keyed by (subject, is_online). The lock is never held across an
    /// await.
    pub(super) watches: Mutex<HashMap<(usize, bool), Watch>>,
    /// Status frames no watch was waiting for (e.g. from the initial connect, or too late).
    pub(super) unsolicited: AtomicU64,
    /// Woken on every unsolicited status frame (to see the initial connect settle).
    pub(super) activity: Notify,
}

impl Shared {
    /// Records that `observer`'s connection received the status change `(subject, is_online)`
    /// at `at`.
    fn observe(&self, observer: usize, subject: usize, is_online: bool, at: Instant) {
        let mut wake = None;
        {
            let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
            let same_group = self.group_of.get(observer) == self.group_of.get(subject);
            match watches.get_mut(&(subject, is_online)) {
                Some(watch) if same_group && at >= watch.since => {
                    match watch.arrivals.entry(observer) {
                        Entry::Occupied(_) => watch.duplicated += 1,
                        Entry::Vacant(slot) => {
                            slot.insert(at);
                        }
                    }
                    if watch.arrivals.len() >= watch.expected {
                        wake = Some(watch.complete.clone());
                    }
                }
                _ => {
                    self.unsolicited.fetch_add(1, Ordering::Relaxed);
                    self.activity.notify_one();
                }
            }
        }
        if let Some(complete) = wake {
            complete.notify_one();
        }
    }

    /// Starts waiting for `(subject, is_online)` to reach `expected` co-members.
    pub(super) fn watch(&self, subject: usize, is_online: bool, expected: usize) -> Arc<Notify> {
        let complete = Arc::new(Notify::new());
        let watch = Watch {
            since: Instant::now(),
            expected,
            arrivals: HashMap::new(),
            duplicated: 0,
            complete: complete.clone(),
        };
        self.watches.lock().unwrap_or_else(PoisonError::into_inner).insert((subject, is_online), watch);
        complete
    }

    /// Whether every expected co-member has seen `(subject, is_online)`.
    fn is_complete(&self, key: (usize, bool)) -> bool {
        let watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        watches.get(&key).is_none_or(|watch| watch.arrivals.len() >= watch.expected)
    }

    /// Waits until the watch is complete or `deadline` passes, then removes and returns it.
    pub(super) async fn finish(
        &self,
        key: (usize, bool),
        complete: &Notify,
        deadline: tokio::time::Instant,
    ) -> Option<Watch> {
        while !self.is_complete(key) {
            if tokio::time::timeout_at(deadline, complete.notified()).await.is_err() {
                break;
            }
        }
        self.watches.lock().unwrap_or_else(PoisonError::into_inner).remove(&key)
    }
}

/// Asks a connection task to close cleanly; it answers with the instant it sent the close frame.
type CloseRequest = oneshot::Sender<Instant>;

/// A live connection: its reading task and the way to ask it to close.
pub(super) struct Slot {
    pub(super) close: oneshot::Sender<CloseRequest>,
    pub(super) task: JoinHandle<anyhow::Result<()>>,
}

/// Spawns the task that owns `socket` (user `me`) and reads it until asked to close.
pub(super) fn spawn_reader(socket: client::Socket, me: usize, shared: Arc<Shared>) -> Slot {
    let (close, requests) = oneshot::channel();
    Slot { close, task: tokio::spawn(read_frames(socket, me, shared, requests)) }
}

/// Reads frames, reporting `user_status_changed` to `shared`, until a close request arrives
/// (close cleanly, wait for the echo) or the request's sender is dropped (end of run: drop).
async fn read_frames(
    mut socket: client::Socket,
    me: usize,
    shared: Arc<Shared>,
    mut requests: oneshot::Receiver<CloseRequest>,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            request = &mut requests => {
                let Ok(reply) = request else { return Ok(()) };
                let sent = Instant::now();
                socket.close(None).await.context("sending the close frame")?;
                let _ = reply.send(sent);
                // Read until the server's close echo ends the stream (bounded).
                while let Ok(Some(Ok(_))) = timeout(EVENT_TIMEOUT, socket.next()).await {}
                return Ok(());
            }
            message = socket.next() => {
                let at = Instant::now();
                match message {
                    None => bail!("user {me}: the server ended the connection"),
                    Some(Err(e)) => return Err(e).with_context(|| format!("user {me}: reading")),
                    Some(Ok(Message::Close(frame))) => bail!("user {me}: the server closed the connection: {frame:?}"),
                    Some(Ok(Message::Text(text))) if text.contains("user_status_changed") => {
                        let Ok(frame) = serde_json::from_str::<StatusFrame>(&text) else { continue };
                        if frame.kind != "user_status_changed" {
                            continue;
                        }
                        if let Some(&subject) = shared.index.get(&frame.user_id) {
                            shared.observe(me, subject, frame.is_online, at);
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}
