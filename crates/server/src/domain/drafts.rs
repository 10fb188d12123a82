//! Drafts with a baton (seed 003): creation, reads, collaborators, segments, the ring.
//!
//! **Visibility.** Only collaborators see a draft: for anyone else it and everything under it
//! is `NotFound`, the same answer as for a draft that does not exist. `GET` of a draft is also
//! the polling fallback's read.
//!
//! **Rules.** The creator is the owner, the first collaborator and the first ring holder. Any
//! collaborator may add another user as a collaborator (seed 003 lists `add_collaborator` with
//! no owner-only rule, and collaborators pass the ring among themselves, so each is trusted to
//! bring in the next writer). Only the ring holder may append a segment or pass the ring
//! (`NotRingHolder`, 409 `not_ring_holder`, for another collaborator); the ring goes only to a
//! collaborator. The holder check and the write are one transaction under the draft's row lock,
//! so two users can never both append as holder.
//!
//! **Events and order.** Every change writes its `collab.*` event in the same transaction and
//! publishes it after the commit, through [`Commit`]. `draft:` rooms are viewed rooms: only
//! connections that `subscribe` (authorised by collaborator membership) get them.

use tandem_protocol::ws::{CollaboratorAddedData, DraftCreatedData, RingPassedData, SegmentAddedData, ServerFrame};

use futures_util::FutureExt;
use tandem_protocol::room::Room;

use super::events::Commit;
use super::{DomainError, ids, rooms};
use crate::clock;
use crate::hub::{self, Hub};
use crate::store::{
    DraftCollaboratorRecord, DraftRecord, DraftView, Envelope, NewSegment, SegmentRecord, Store, UserRecord,
};

/// Longest draft title, in characters (after trimming).
pub const TITLE_MAX: usize = 200;
/// Longest segment, in characters.
pub const CONTENT_MAX: usize = 10_000;

/// Trims a title and checks its length (1..=200 characters).
pub fn normalize_title(raw: &str) -> Result<String, DomainError> {
    let title = raw.trim();
    let length = title.chars().count();
    if !(1..=TITLE_MAX).contains(&length) {
        return Err(DomainError::Invalid(format!(
            "draft title must be 1 to {TITLE_MAX} characters long, got {length}"
        )));
    }
    Ok(title.to_owned())
}

/// Checks a segment's content: not empty or only whitespace (`Invalid`), at most
/// [`CONTENT_MAX`] characters (`TooLarge`). Stored exactly as sent.
pub fn check_content(content: &str) -> Result<(), DomainError> {
    if content.trim().is_empty() {
        return Err(DomainError::Invalid("segment content must not be empty".into()));
    }
    let length = content.chars().count();
    if length > CONTENT_MAX {
        return Err(DomainError::TooLarge(format!(
            "segment content is {length} characters; the limit is {CONTENT_MAX}"
        )));
    }
    Ok(())
}

/// Creates a draft owned by `creator`, who is its first collaborator and ring holder. The room
/// gets `collab.draft_created` (seq 1; replayed to a `subscribe` with `after: 0`).
pub async fn create(store: &Store, hub: &Hub, creator: &UserRecord, title: &str) -> Result<DraftView, DomainError> {
    let draft = DraftRecord {
        id: ids::new_id(),
        title: normalize_title(title)?,
        owner_id: creator.id.clone(),
        ring_holder_id: creator.id.clone(),
        created_at: clock::now_ms(),
    };
    let room = Room::draft(&draft.id);
    let encode = {
        let draft = draft.clone();
        move |envelope: &Envelope<'_>| {
            let (seq, timestamp) = (envelope.seq, envelope.timestamp);
            hub::to_json(&ServerFrame::CollabDraftCreated {
                room: envelope.room.to_owned(),
                seq,
                draft_id: draft.id,
                ts: clock::rfc3339_ms(timestamp),
                user_id: draft.owner_id.clone(),
                data: Box::new(DraftCreatedData {
                    title: draft.title,
                    owner_id: draft.owner_id,
                    ring_holder_id: draft.ring_holder_id,
                }),
                timestamp,
            })
        }
    };
    let write = store.create_draft(&draft, encode).map(|stored| stored.map(Ok));
    let ((), published) = Commit::new(hub, &room).adding(&creator.id).run(write).await?;
    let seq = published.seq;
    let owner = DraftCollaboratorRecord {
        user_id: creator.id.clone(),
        username: creator.username.clone(),
        name: creator.name.clone(),
        joined_at: draft.created_at,
    };
    Ok(DraftView { draft, collaborators: vec![owner], segments: Vec::new(), seq })
}

/// The draft as its collaborator `user_id` sees it; `NotFound` for anyone else.
pub async fn get(store: &Store, user_id: &str, draft_id: &str) -> Result<DraftView, DomainError> {
    if !ids::is_id(draft_id) {
        return Err(DomainError::NotFound("draft"));
    }
    store.draft_view(draft_id, user_id).await?.ok_or(DomainError::NotFound("draft"))
}

/// `NotFound("draft")` unless `user_id` is a collaborator of `draft_id`.
async fn require_collaborator(store: &Store, draft_id: &str, user_id: &str) -> Result<(), DomainError> {
    if !ids::is_id(draft_id) {
        return Err(DomainError::NotFound("draft"));
    }
    rooms::require_member(store, &Room::draft(draft_id), user_id).await
}

/// Appends `content` as the ring holder `author`. Subscribed viewers get `collab.segment_added`.
pub async fn append_segment(
    store: &Store,
    hub: &Hub,
    author: &str,
    draft_id: &str,
    content: &str,
) -> Result<SegmentRecord, DomainError> {
    require_collaborator(store, draft_id, author).await?;
    check_content(content)?;
    let room = Room::draft(draft_id);
    let (id, at) = (ids::new_id(), clock::now_ms());
    let encode = {
        let (id, draft_id, author, content) = (id.clone(), draft_id.to_owned(), author.to_owned(), content.to_owned());
        move |envelope: &Envelope<'_>, position| {
            let (seq, timestamp) = (envelope.seq, envelope.timestamp);
            hub::to_json(&ServerFrame::CollabSegmentAdded {
                room: envelope.room.to_owned(),
                seq,
                draft_id,
                ts: clock::rfc3339_ms(timestamp),
                user_id: author.clone(),
                data: Box::new(SegmentAddedData {
                    segment_id: id,
                    content,
                    author_user_id: author,
                    position,
                    created_at: clock::rfc3339_ms(timestamp),
                }),
                timestamp,
            })
        }
    };
    let segment = NewSegment { id: &id, draft_id, author_id: author, content, created_at: at };
    let (record, _) = Commit::new(hub, &room).run(store.append_segment(segment, encode)).await?;
    Ok(record)
}

/// Passes the ring from its holder `caller` to the collaborator `to_user_id`. Subscribed viewers
/// get `collab.ring_passed`. Returns the draft as it is after the pass.
pub async fn pass_ring(
    store: &Store,
    hub: &Hub,
    caller: &str,
    draft_id: &str,
    to_user_id: &str,
) -> Result<DraftView, DomainError> {
    require_collaborator(store, draft_id, caller).await?;
    if !ids::is_id(to_user_id) {
        return Err(DomainError::Invalid("to_user_id must be 24 lowercase hex characters".into()));
    }
    if to_user_id == caller {
        return Err(DomainError::Invalid("you already hold the ring".into()));
    }
    let room = Room::draft(draft_id);
    let encode = {
        let (draft_id, from, to) = (draft_id.to_owned(), caller.to_owned(), to_user_id.to_owned());
        move |envelope: &Envelope<'_>| {
            let (seq, timestamp) = (envelope.seq, envelope.timestamp);
            hub::to_json(&ServerFrame::CollabRingPassed {
                room: envelope.room.to_owned(),
                seq,
                draft_id,
                ts: clock::rfc3339_ms(timestamp),
                user_id: from.clone(),
                data: Box::new(RingPassedData { from, to }),
                timestamp,
            })
        }
    };
    Commit::new(hub, &room).run(store.pass_ring(draft_id, caller, to_user_id, clock::now_ms(), encode)).await?;
    get(store, caller, draft_id).await
}

/// Makes `user_id` a collaborator on behalf of the collaborator `caller`. Subscribed viewers
/// get `collab.collaborator_added`; the new collaborator may then `subscribe`. Returns the
/// draft as it is after the change.
pub async fn add_collaborator(
    store: &Store,
    hub: &Hub,
    caller: &str,
    draft_id: &str,
    user_id: &str,
) -> Result<DraftView, DomainError> {
    require_collaborator(store, draft_id, caller).await?;
    if !ids::is_id(user_id) {
        return Err(DomainError::Invalid("user_id must be 24 lowercase hex characters".into()));
    }
    let room = Room::draft(draft_id);
    let encode = {
        let (draft_id, by, user_id) = (draft_id.to_owned(), caller.to_owned(), user_id.to_owned());
        move |envelope: &Envelope<'_>| {
            let (seq, timestamp) = (envelope.seq, envelope.timestamp);
            hub::to_json(&ServerFrame::CollabCollaboratorAdded {
                room: envelope.room.to_owned(),
                seq,
                draft_id,
                ts: clock::rfc3339_ms(timestamp),
                user_id: by,
                data: Box::new(CollaboratorAddedData { user_id }),
                timestamp,
            })
        }
    };
    let write = store.add_draft_collaborator(draft_id, caller, user_id, clock::now_ms(), encode);
    Commit::new(hub, &room).adding(user_id).run(write).await?;
    get(store, caller, draft_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_contents_are_bounded() {
        assert_eq!(normalize_title("  Poem ").unwrap(), "Poem");
        assert!(normalize_title("  ").is_err());
        assert!(normalize_title(&"x".repeat(TITLE_MAX + 1)).is_err());
        assert!(check_content("a").is_ok());
        assert!(matches!(check_content(" \n"), Err(DomainError::Invalid(_))));
        assert!(check_content(&"é".repeat(CONTENT_MAX)).is_ok());
        assert!(matches!(check_content(&"x".repeat(CONTENT_MAX + 1)), Err(DomainError::TooLarge(_))));
    }
}
