//! Drafts (seed 003): draft rows, collaborators and segments.
//!
//! Collaborators are the generic `room_members` table with room `draft:{id}`.
//! Usernames are read by JOIN with `users`, never copied. Every write appends its event with
//! [`append_event!`] in the same transaction, after first locking the draft's row and checking
//! membership ([`lock_member!`]); the ring holder is read under that lock, so "is the author
//! the holder?" and the append (or "is the passer the holder?" and the pass) are one atomic
//! step on either engine: two users can never both append as holder.

use tandem_protocol::room::Room;

use super::guard::{USER_EXISTS, add_member, is_member, lock_member};
use super::members::ADD_MEMBER;
use super::{
    BeginRead, BeginWrite, EncodeEvent, Envelope, ROOM_SEQ, Refusal, Store, StoreError, StoredEvent, Written,
    append_event, on_pool, on_writer,
};

/// A draft as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DraftRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The draft's title.
    pub title: String,
    /// The creator.
    pub owner_id: String,
    /// The collaborator who may append segments now.
    pub ring_holder_id: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A collaborator of a draft with the user's current username and name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DraftCollaboratorRecord {
    /// The collaborator.
    pub user_id: String,
    /// Current username.
    pub username: String,
    /// Current display name.
    pub name: String,
    /// When they became a collaborator, unix ms.
    pub joined_at: i64,
}

/// A segment as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SegmentRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The draft.
    pub draft_id: String,
    /// Who appended it (the ring holder at that moment).
    pub author_id: String,
    /// The text.
    pub content: String,
    /// 1, 2, 3, ... in append order.
    pub position: i64,
    /// When it was appended, unix ms.
    pub created_at: i64,
    /// The seq of its `collab.segment_added` event.
    pub seq: i64,
}

/// A draft with its collaborators (join order) and segments (position order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftView {
    /// The draft row.
    pub draft: DraftRecord,
    /// Its collaborators.
    pub collaborators: Vec<DraftCollaboratorRecord>,
    /// Its segments.
    pub segments: Vec<SegmentRecord>,
    /// The draft room's newest seq, read in the same snapshot as the rest.
    pub seq: i64,
}

/// A segment to append.
#[derive(Debug, Clone, Copy)]
pub struct NewSegment<'a> {
    /// Its new id.
    pub id: &'a str,
    /// The draft.
    pub draft_id: &'a str,
    /// The author (must hold the ring).
    pub author_id: &'a str,
    /// The text.
    pub content: &'a str,
    /// When it is appended, unix ms (also the event's timestamp).
    pub created_at: i64,
}

/// The ring holder of draft `$1`; read after [`lock_member!`] locked the draft's row.
const RING_HOLDER: &str = "SELECT ring_holder_id FROM drafts WHERE id = $1";
const DRAFT: &str = "SELECT id, title, owner_id, ring_holder_id, created_at FROM drafts WHERE id = $1";
const COLLABORATORS: &str = "SELECT u.id AS user_id, u.username, u.name, m.joined_at \
                             FROM room_members m JOIN users u ON u.id = m.user_id \
                             WHERE m.room = $1 ORDER BY m.joined_at, u.id";
const SEGMENTS: &str = "SELECT id, draft_id, author_id, content, position, created_at, seq FROM draft_segments \
                        WHERE draft_id = $1 ORDER BY position";

impl Store {
    /// Creates a draft whose owner is its first collaborator and ring holder, and appends its
    /// `collab.draft_created` event, in one transaction.
    pub async fn create_draft(&self, draft: &DraftRecord, encode: impl EncodeEvent) -> Result<StoredEvent, StoreError> {
        let room = Room::draft(&draft.id).to_string();
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO drafts (id, title, owner_id, ring_holder_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&draft.id)
            .bind(&draft.title)
            .bind(&draft.owner_id)
            .bind(&draft.ring_holder_id)
            .bind(draft.created_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(ADD_MEMBER)
                .bind(room.as_str())
                .bind(&draft.owner_id)
                .bind(draft.created_at)
                .execute(&mut *tx)
                .await?;
            let event = append_event!(tx, room.as_str(), draft.created_at, encode).await?;
            tx.commit().await?;
            Ok(event)
        })
    }

    /// The draft `draft_id` with collaborators and segments, if it exists and `member_id` is a
    /// collaborator (`None` otherwise, alike). Three queries in one snapshot.
    pub async fn draft_view(&self, draft_id: &str, member_id: &str) -> Result<Option<DraftView>, StoreError> {
        let room = Room::draft(draft_id);
        on_pool!(self, |pool| {
            let mut tx = pool.begin_read().await?;
            let Some(draft) = sqlx::query_as::<_, DraftRecord>(DRAFT).bind(draft_id).fetch_optional(&mut *tx).await?
            else {
                return Ok(None);
            };
            let collaborators = sqlx::query_as::<_, DraftCollaboratorRecord>(COLLABORATORS)
                .bind(room.as_str())
                .fetch_all(&mut *tx)
                .await?;
            if !collaborators.iter().any(|c| c.user_id == member_id) {
                return Ok(None);
            }
            let segments = sqlx::query_as::<_, SegmentRecord>(SEGMENTS).bind(draft_id).fetch_all(&mut *tx).await?;
            let seq: i64 = sqlx::query_scalar(ROOM_SEQ).bind(room.as_str()).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(DraftView { draft, collaborators, segments, seq }))
        })
    }

    /// Appends a segment by the ring holder and its event, in one transaction under the draft's
    /// row lock; `encode(envelope, position)` makes the frame. Returns the stored segment
    /// and event. Refused when the author is not a collaborator or does not hold the ring.
    pub async fn append_segment(
        &self,
        segment: NewSegment<'_>,
        encode: impl FnOnce(&Envelope<'_>, i64) -> String + Send,
    ) -> Result<Written<(SegmentRecord, StoredEvent)>, StoreError> {
        let room = Room::draft(segment.draft_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, segment.author_id);
            let holder: String = sqlx::query_scalar(RING_HOLDER).bind(segment.draft_id).fetch_one(&mut *tx).await?;
            if holder != segment.author_id {
                return Ok(Err(Refusal::NotRingHolder));
            }
            let position: i64 =
                sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) + 1 FROM draft_segments WHERE draft_id = $1")
                    .bind(segment.draft_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let event = append_event!(tx, room.as_str(), segment.created_at, |envelope: &Envelope<'_>| encode(
                envelope, position
            ))
            .await?;
            sqlx::query(
                "INSERT INTO draft_segments (id, draft_id, author_id, content, position, created_at, seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(segment.id)
            .bind(segment.draft_id)
            .bind(segment.author_id)
            .bind(segment.content)
            .bind(position)
            .bind(segment.created_at)
            .bind(event.seq)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let record = SegmentRecord {
                id: segment.id.to_owned(),
                draft_id: segment.draft_id.to_owned(),
                author_id: segment.author_id.to_owned(),
                content: segment.content.to_owned(),
                position,
                created_at: segment.created_at,
                seq: event.seq,
            };
            Ok(Ok((record, event)))
        })
    }

    /// Passes the ring of `draft_id` from `from` (must be a collaborator holding it) to `to`
    /// (must be a collaborator), appending the event, in one transaction under the row lock.
    pub async fn pass_ring(
        &self,
        draft_id: &str,
        from: &str,
        to: &str,
        at: i64,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::draft(draft_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, from);
            let holder: String = sqlx::query_scalar(RING_HOLDER).bind(draft_id).fetch_one(&mut *tx).await?;
            if holder != from {
                return Ok(Err(Refusal::NotRingHolder));
            }
            if !is_member!(tx, &room, to) {
                return Ok(Err(Refusal::Invalid("the ring can only be passed to a collaborator of the draft")));
            }
            sqlx::query("UPDATE drafts SET ring_holder_id = $1 WHERE id = $2")
                .bind(to)
                .bind(draft_id)
                .execute(&mut *tx)
                .await?;
            let event = append_event!(tx, room.as_str(), at, encode).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }

    /// Makes `user_id` a collaborator of `draft_id` on behalf of the collaborator `by`
    /// (joined at `at`), appending the event, in one transaction under the row lock.
    pub async fn add_draft_collaborator(
        &self,
        draft_id: &str,
        by: &str,
        user_id: &str,
        at: i64,
        encode: impl EncodeEvent,
    ) -> Result<Written<StoredEvent>, StoreError> {
        let room = Room::draft(draft_id);
        on_writer!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            lock_member!(pool, tx, &room, by);
            if !sqlx::query_scalar::<_, bool>(USER_EXISTS).bind(user_id).fetch_one(&mut *tx).await? {
                return Ok(Err(Refusal::NotFound("user")));
            }
            if !add_member!(tx, &room, user_id, at) {
                return Ok(Err(Refusal::Conflict("the user is already a collaborator of this draft")));
            }
            let event = append_event!(tx, room.as_str(), at, encode).await?;
            tx.commit().await?;
            Ok(Ok(event))
        })
    }
}
