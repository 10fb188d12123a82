//! Thread messages (seed 000): post, edit, delete, page through. Members only; every change
//! is a durable event of the thread's room, committed with [`Commit`].

use serde_json::Value;
use tandem_protocol::room::Room;
use tandem_protocol::ws::ServerFrame;

use super::events::Commit;
use super::threads::require_member;
use super::{DomainError, ids};
use crate::clock;
use crate::hub::{self, Hub};
use crate::store::{Envelope, MessageRecord, NewMessage, Store};

/// Largest message snapshot, in bytes of compact JSON.
pub const SNAPSHOT_MAX: usize = 64 * 1024;
/// Messages per page when the caller does not say.
pub const PAGE_DEFAULT: i64 = 50;
/// Most messages per page.
pub const PAGE_MAX: i64 = 100;

/// The snapshot as compact JSON text, refused with `TooLarge` over [`SNAPSHOT_MAX`] bytes.
fn encode_snapshot(snapshot: &Value) -> Result<String, DomainError> {
    let text = snapshot.to_string();
    if text.len() > SNAPSHOT_MAX {
        return Err(DomainError::TooLarge(format!(
            "snapshot is {} bytes of JSON; the limit is {SNAPSHOT_MAX}",
            text.len()
        )));
    }
    Ok(text)
}

/// `NotFound("message")` for an id that cannot be one (so it never reaches the store).
fn check_message_id(message_id: &str) -> Result<(), DomainError> {
    if ids::is_id(message_id) { Ok(()) } else { Err(DomainError::NotFound("message")) }
}

/// Posts a message with `snapshot` (any JSON, at most [`SNAPSHOT_MAX`] bytes serialized, else
/// `TooLarge`) by the member `author`. Every member connection gets `message_created`, the
/// author's other devices included.
pub async fn post(
    store: &Store,
    hub: &Hub,
    author: &str,
    thread_id: &str,
    snapshot: Value,
) -> Result<MessageRecord, DomainError> {
    require_member(store, thread_id, author).await?;
    let text = encode_snapshot(&snapshot)?;
    let (id, at) = (ids::new_id(), clock::now_ms());
    let encode = {
        let (id, parent_thread, user_id) = (id.clone(), thread_id.to_owned(), author.to_owned());
        move |envelope: &Envelope<'_>| {
            hub::to_json(&ServerFrame::MessageCreated {
                room: envelope.room.to_owned(),
                seq: envelope.seq,
                id,
                parent_thread,
                user_id,
                snapshot,
                timestamp: envelope.timestamp,
            })
        }
    };
    let message = NewMessage { id: &id, thread_id, user_id: author, snapshot: &text, created_at: at };
    let room = Room::thread(thread_id);
    let ((), published) = Commit::new(hub, &room).run(store.insert_message(message, encode)).await?;
    Ok(MessageRecord {
        id,
        thread_id: thread_id.to_owned(),
        user_id: author.to_owned(),
        snapshot: text,
        created_at: at,
        updated_at: None,
        seq: published.seq,
    })
}

/// Replaces the snapshot of the message `message_id` (its author only: `Forbidden` for other
/// members) and sends every member `message_updated` with the message's fields as they are
/// now. Unknown message: `NotFound("message")`.
pub async fn edit(
    store: &Store,
    hub: &Hub,
    author: &str,
    thread_id: &str,
    message_id: &str,
    snapshot: Value,
) -> Result<MessageRecord, DomainError> {
    require_member(store, thread_id, author).await?;
    check_message_id(message_id)?;
    let text = encode_snapshot(&snapshot)?;
    let encode = move |message: &MessageRecord, envelope: &Envelope<'_>| {
        hub::to_json(&ServerFrame::MessageUpdated {
            room: envelope.room.to_owned(),
            seq: envelope.seq,
            id: message.id.clone(),
            parent_thread: message.thread_id.clone(),
            user_id: message.user_id.clone(),
            snapshot,
            created_at: message.created_at,
            updated_at: envelope.timestamp,
            timestamp: envelope.timestamp,
        })
    };
    let room = Room::thread(thread_id);
    let write = store.update_message(thread_id, message_id, author, &text, clock::now_ms(), encode);
    let (message, _) = Commit::new(hub, &room).run(write).await?;
    Ok(message)
}

/// Deletes the message `message_id` (its author or the thread's creator: `Forbidden` for other
/// members); it is gone from the history and every member gets `message_deleted`.
pub async fn delete(
    store: &Store,
    hub: &Hub,
    caller: &str,
    thread_id: &str,
    message_id: &str,
) -> Result<(), DomainError> {
    require_member(store, thread_id, caller).await?;
    check_message_id(message_id)?;
    let encode = {
        let (id, parent_thread) = (message_id.to_owned(), thread_id.to_owned());
        move |envelope: &Envelope<'_>| {
            hub::to_json(&ServerFrame::MessageDeleted {
                room: envelope.room.to_owned(),
                seq: envelope.seq,
                id,
                parent_thread,
                timestamp: envelope.timestamp,
            })
        }
    };
    let room = Room::thread(thread_id);
    Commit::new(hub, &room).run(store.delete_message(thread_id, message_id, caller, clock::now_ms(), encode)).await?;
    Ok(())
}

/// A page of `thread_id`'s messages for a member, newest first: up to `limit` (1..=100, default
/// 50) messages older than the message `before` (`NotFound("message")` if it is not in this
/// thread), or the newest ones without it.
pub async fn page(
    store: &Store,
    caller: &str,
    thread_id: &str,
    before: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<MessageRecord>, DomainError> {
    require_member(store, thread_id, caller).await?;
    let limit = limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(DomainError::Invalid(format!("limit must be 1 to {PAGE_MAX}")));
    }
    let before_seq = match before {
        None => i64::MAX,
        Some(id) => store.message(thread_id, id).await?.ok_or(DomainError::NotFound("message"))?.seq,
    };
    Ok(store.messages_before(thread_id, before_seq, limit).await?)
}
