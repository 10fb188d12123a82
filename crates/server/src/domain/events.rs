//! Durable events: the one way a change and its event are committed and published.
//!
//! [`Commit`] owns the whole sequence every durable write follows: take the room's publish
//! order ([`Hub::order`]), run the store write (the change and its event in one transaction;
//! the store gives the event its [`Envelope`](crate::store::Envelope): room, next seq,
//! timestamp), map a [`Refusal`] to its error, apply the membership change to the hub between
//! commit and publish, publish after the commit, release the order. Nothing else takes the
//! order for writing, so live delivery follows seq order in every room.

use futures_util::FutureExt;
use serde_json::{Map, Value};
use tandem_protocol::room::Room;
use tandem_protocol::ws::{ClientFrame, ServerFrame};

use super::DomainError;
use crate::hub::{Except, Frame, Hub};
use crate::store::{EncodeEvent, Envelope, Refusal, Store, StoreError, StoredEvent, Written};
use crate::{clock, hub};

/// Longest accepted event type.
const TYPE_MAX: usize = 64;

/// A committed and published event's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Its seq in the room.
    pub seq: i64,
    /// Its timestamp, unix ms.
    pub timestamp: i64,
}

impl From<Refusal> for DomainError {
    /// The one mapping from a store refusal to a domain error.
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound(what) => Self::NotFound(what),
            Refusal::Conflict(why) => Self::Conflict(why.into()),
            Refusal::Forbidden(why) => Self::Forbidden(why.into()),
            Refusal::Invalid(why) => Self::Invalid(why.into()),
            Refusal::NotRingHolder => Self::NotRingHolder("only the ring holder can do this".into()),
        }
    }
}

/// What a store write returns besides its event.
pub trait CommitOutput {
    /// The written value handed back to the domain (`()` for an event alone).
    type Value;
    /// Splits off the event.
    fn split(self) -> (Self::Value, StoredEvent);
}

impl CommitOutput for StoredEvent {
    type Value = ();
    fn split(self) -> ((), StoredEvent) {
        ((), self)
    }
}

impl<T> CommitOutput for (T, StoredEvent) {
    type Value = T;
    fn split(self) -> (T, StoredEvent) {
        self
    }
}

/// How the room's subscriptions change with the write, applied after the commit and before
/// the publish: a new member's connections join first (so they get the event too: it carries
/// the seq they can resume from), a leaving member's connections leave first (so they never
/// get it).
#[derive(Debug, Clone, Copy)]
enum Membership<'a> {
    Unchanged,
    Joins(&'a str),
    Leaves(&'a str),
    /// A member of a room joined while viewed: counted for presence, nobody subscribed.
    Added(&'a str),
}

/// One durable write into one room. Build it, then [`Commit::run`] the store write.
#[must_use = "a commit does nothing until it is run"]
pub struct Commit<'a> {
    hub: &'a Hub,
    room: &'a Room,
    except: Option<Except>,
    membership: Membership<'a>,
}

impl<'a> Commit<'a> {
    /// A write whose event goes to `room`.
    pub fn new(hub: &'a Hub, room: &'a Room) -> Self {
        Self { hub, room, except: None, membership: Membership::Unchanged }
    }

    /// Live delivery skips these recipients (the log still has the event for everyone).
    pub fn except(mut self, except: Option<Except>) -> Self {
        self.except = except;
        self
    }

    /// The write makes `user_id` a member of an auto-joined room (a thread): its connections
    /// join before the publish.
    pub fn joining(mut self, user_id: &'a str) -> Self {
        self.membership = Membership::Joins(user_id);
        self
    }

    /// The write ends `user_id`'s membership: its connections leave before the publish.
    pub fn leaving(mut self, user_id: &'a str) -> Self {
        self.membership = Membership::Leaves(user_id);
        self
    }

    /// The write makes `user_id` a member of a room joined while viewed (draft, canvas).
    pub fn adding(mut self, user_id: &'a str) -> Self {
        self.membership = Membership::Added(user_id);
        self
    }

    /// Runs `write` (a store write; not started until the order is held) and publishes its
    /// event after the commit. Returns what the write returned and the event's position.
    ///
    /// `write` is moved to the heap here, once: a store write's future is ~9 KiB, and held
    /// inline it was copied into every enclosing future (a backend publish's request future
    /// was 36 KiB, and its copies cost ~180k instructions per event, 15% of the event's
    /// fan-out to 200 members; docs/BENCHMARKS.md). What `run` returns stays small.
    pub fn run<W: CommitOutput>(
        self,
        write: impl Future<Output = Result<Written<W>, StoreError>>,
    ) -> impl Future<Output = Result<(W::Value, Published), DomainError>> {
        let write = Box::pin(write);
        async move {
            let _order = self.hub.order(self.room).await;
            let (value, event) = write.await??.split();
            match self.membership {
                Membership::Unchanged => {}
                Membership::Joins(user_id) => self.hub.join_user(user_id, self.room, Some(event.seq)),
                Membership::Leaves(user_id) => self.hub.leave_user(user_id, self.room),
                Membership::Added(user_id) => self.hub.add_member(user_id, self.room),
            }
            crate::telemetry::events().stored.increment(1);
            let published = Published { seq: event.seq, timestamp: event.created_at };
            self.hub.publish_durable(self.room, event.seq, Frame::from(event.frame), self.except.as_ref());
            Ok((value, published))
        }
    }
}

/// Appends an event that changes nothing else (a backend's publish, a probe in a test) to
/// `room` and publishes it. `encode` must copy the envelope's room, seq and timestamp.
pub async fn append_and_publish(
    store: &Store,
    hub: &Hub,
    room: &Room,
    encode: impl EncodeEvent,
) -> Result<Published, DomainError> {
    let write = store.append_event(room, clock::now_ms(), encode).map(|stored| stored.map(Ok::<_, Refusal>));
    let ((), published) = Commit::new(hub, room).run(write).await?;
    Ok(published)
}

/// The server publish API: an app backend's own event `{"type": ..., ...}` into `room`.
/// `room`, `seq` and `timestamp` are set by the server (overwriting any sent). The protocol's
/// own frame types are refused, so a backend cannot forge one.
pub async fn publish_from_backend(
    store: &Store,
    hub: &Hub,
    room: &Room,
    mut event: Map<String, Value>,
) -> Result<Published, DomainError> {
    let Some(kind) = event.get("type").and_then(Value::as_str) else {
        return Err(DomainError::Invalid("the event needs a string \"type\"".into()));
    };
    if kind.is_empty() || kind.len() > TYPE_MAX {
        return Err(DomainError::Invalid(format!("\"type\" must be 1 to {TYPE_MAX} characters")));
    }
    if ServerFrame::TYPES.contains(&kind) || ClientFrame::TYPES.contains(&kind) {
        return Err(DomainError::Invalid(format!("\"{kind}\" is a protocol frame type; choose another")));
    }
    append_and_publish(store, hub, room, move |envelope: &Envelope<'_>| {
        event.insert("room".into(), envelope.room.into());
        event.insert("seq".into(), envelope.seq.into());
        event.insert("timestamp".into(), envelope.timestamp.into());
        hub::to_json(&Value::Object(event))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store write's future is held on the heap by [`Commit::run`], so the futures of the
    /// requests that commit stay small (a backend publish's was 36 KiB in release builds when
    /// the write was held inline, and was copied a dozen times per request).
    #[tokio::test]
    async fn a_commit_keeps_the_request_future_small() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("store");
        let hub = Hub::local();
        let room = Room::parse("thread:aaaaaaaaaaaaaaaaaaaaaaaa").expect("room");
        let write = store.append_event(&room, 0, |_: &Envelope<'_>| String::new());
        let publish = publish_from_backend(&store, &hub, &room, Map::new());
        let (write, publish) = (std::mem::size_of_val(&write), std::mem::size_of_val(&publish));
        assert!(publish * 4 < write, "a publish's future ({publish} B) holds its store write ({write} B) inline");
    }
}
