//! Threads (seed 000): creation, reads, invitations by user and by link, leaving and removal,
//! messages.
//!
//! **Visibility.** Only members see a thread: for anyone else the thread and everything under
//! it is `NotFound`, the same answer as for a thread that does not exist. The exceptions are
//! the two ways in: answering one's own invitation, and joining with an invite link's code.
//!
//! **Events and order.** Every change with an event goes through [`Commit`]: the change and
//! its event are one store transaction, published after the commit in seq order, and a
//! membership change moves the user's connections into or out of the room in between.

use rand::Rng;
use tandem_protocol::room::Room;
use tandem_protocol::ws::ServerFrame;

use super::events::Commit;
use super::{DomainError, ids, presence, rooms};
use crate::clock;
use crate::hub::{self, Hub};
use crate::store::{Envelope, InviteRecord, Store, ThreadMemberRecord, ThreadRecord, ThreadView, UserRecord};

/// Longest thread name, in characters (after trimming).
pub const NAME_MAX: usize = 100;
/// Longest accepted invite-link code (real ones are 32 characters).
const CODE_MAX: usize = 64;

/// What the invitee does with an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Become a member.
    Accept,
    /// Drop the invitation.
    Decline,
}

/// Trims a thread name and checks its length (1..=100 characters).
pub fn normalize_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    let length = name.chars().count();
    if !(1..=NAME_MAX).contains(&length) {
        return Err(DomainError::Invalid(format!("thread name must be 1 to {NAME_MAX} characters long, got {length}")));
    }
    Ok(name.to_owned())
}

/// Creates a thread whose first member is `creator`, and subscribes the creator's open
/// connections to its room.
pub async fn create(store: &Store, hub: &Hub, creator: &UserRecord, name: &str) -> Result<ThreadView, DomainError> {
    let thread = ThreadRecord {
        id: ids::new_id(),
        name: normalize_name(name)?,
        created_by: creator.id.clone(),
        created_at: clock::now_ms(),
    };
    store.create_thread(&thread).await?;
    hub.join_user(&creator.id, &Room::thread(&thread.id), None);
    let member = ThreadMemberRecord {
        thread_id: thread.id.clone(),
        user_id: creator.id.clone(),
        username: creator.username.clone(),
        name: creator.name.clone(),
        joined_at: thread.created_at,
        last_online: creator.last_online,
    };
    // A new thread's room has no event yet.
    Ok(ThreadView { thread, members: vec![member], invites: Vec::new(), seq: 0 })
}

/// The threads `user_id` is a member of, newest first (a constant number of store queries).
pub async fn list(store: &Store, user_id: &str) -> Result<Vec<ThreadView>, DomainError> {
    Ok(store.thread_views_of(user_id).await?)
}

/// The thread `thread_id` as its member `user_id` sees it; `NotFound` for non-members.
pub async fn get(store: &Store, user_id: &str, thread_id: &str) -> Result<ThreadView, DomainError> {
    if !ids::is_id(thread_id) {
        return Err(DomainError::NotFound("thread"));
    }
    store.thread_view(thread_id, user_id).await?.ok_or(DomainError::NotFound("thread"))
}

/// `NotFound("thread")` unless `user_id` is a member of `thread_id` (a malformed id included).
pub async fn require_member(store: &Store, thread_id: &str, user_id: &str) -> Result<(), DomainError> {
    if !ids::is_id(thread_id) {
        return Err(DomainError::NotFound("thread"));
    }
    rooms::require_member(store, &Room::thread(thread_id), user_id).await
}

/// Invites `invitee_id` to `thread_id` on behalf of the member `inviter`. The invitee's
/// `user:` room gets `thread_invitation` (durable). Unknown thread or non-member inviter:
/// `NotFound("thread")`; malformed id: `Invalid`; unknown invitee: `NotFound("user")`; invitee
/// already a member or already invited: `Conflict`.
pub async fn invite(
    store: &Store,
    hub: &Hub,
    inviter: &UserRecord,
    thread_id: &str,
    invitee_id: &str,
) -> Result<InviteRecord, DomainError> {
    require_member(store, thread_id, &inviter.id).await?;
    if !ids::is_id(invitee_id) {
        return Err(DomainError::Invalid("user_id must be 24 lowercase hex characters".into()));
    }
    let invitee = store.user(invitee_id).await?.ok_or(DomainError::NotFound("user"))?;
    let thread = store.thread(thread_id).await?.ok_or(DomainError::NotFound("thread"))?;
    let event_room = Room::user(&invitee.id);
    let at = clock::now_ms();
    let encode = {
        let inviter = inviter.clone();
        move |envelope: &Envelope<'_>| {
            hub::to_json(&ServerFrame::ThreadInvitation {
                room: envelope.room.to_owned(),
                seq: envelope.seq,
                thread_id: thread.id,
                thread_name: thread.name,
                invited_by: inviter.id,
                invited_by_username: inviter.username,
                timestamp: envelope.timestamp,
            })
        }
    };
    Commit::new(hub, &event_room)
        .run(store.invite_to_thread(thread_id, &invitee.id, &inviter.id, &event_room, at, encode))
        .await?;
    Ok(InviteRecord {
        thread_id: thread_id.to_owned(),
        user_id: invitee.id,
        username: invitee.username,
        invited_by: inviter.id.clone(),
        created_at: at,
    })
}

/// Makes a new invite link for `thread_id` (members only): returns its code, 128 random bits
/// as 32 lowercase hex characters. Every link stays valid; each call makes another.
pub async fn create_invite_link(store: &Store, caller: &str, thread_id: &str) -> Result<String, DomainError> {
    require_member(store, thread_id, caller).await?;
    let code = format!("{:032x}", rand::rng().random::<u128>());
    store.create_invite_link(thread_id, &code, caller, clock::now_ms()).await?;
    Ok(code)
}

/// The `invitation_accepted` frame encoder for `user` joining `thread_id`.
fn accepted_event(thread_id: &str, user: &UserRecord, is_online: bool) -> impl FnOnce(&Envelope<'_>) -> String + Send {
    let (thread_id, user_id, user_name) = (thread_id.to_owned(), user.id.clone(), user.username.clone());
    move |envelope| {
        hub::to_json(&ServerFrame::InvitationAccepted {
            room: envelope.room.to_owned(),
            seq: envelope.seq,
            thread_id,
            user_id,
            user_name,
            is_online,
            timestamp: envelope.timestamp,
        })
    }
}

/// Answers `user_id`'s invitation to `thread_id`; only that user may (`Forbidden` for other
/// members, `NotFound` for everyone else). Accept: the user becomes a member (invitation
/// deleted, membership and `invitation_accepted` written in one transaction), the user's open
/// connections join the room and every member's connections get the event; returns the thread.
/// Decline: the invitation is deleted; returns `None`. No invitation: `NotFound("invitation")`.
pub async fn answer_invite(
    store: &Store,
    hub: &Hub,
    caller: &UserRecord,
    thread_id: &str,
    user_id: &str,
    answer: Answer,
) -> Result<Option<ThreadView>, DomainError> {
    if caller.id != user_id {
        require_member(store, thread_id, &caller.id).await?;
        return Err(DomainError::Forbidden("only the invited user can accept or decline an invitation".into()));
    }
    if !ids::is_id(thread_id) {
        return Err(DomainError::NotFound("invitation"));
    }
    match answer {
        Answer::Decline => {
            if store.decline_invite(thread_id, &caller.id).await? {
                Ok(None)
            } else {
                Err(DomainError::NotFound("invitation"))
            }
        }
        Answer::Accept => {
            let room = Room::thread(thread_id);
            let was_online = hub.is_online(&caller.id);
            let encode = accepted_event(thread_id, caller, was_online);
            Commit::new(hub, &room)
                .joining(&caller.id)
                .run(store.accept_invite(thread_id, &caller.id, clock::now_ms(), encode))
                .await?;
            presence::announce_joined_online(hub, &caller.id, &room, was_online);
            get(store, &caller.id, thread_id).await.map(Some)
        }
    }
}

/// Joins `thread_id` with an invite link's `code`, like accepting an invitation (a pending
/// invitation of the caller is dropped). A wrong code, or a thread that does not exist:
/// `NotFound("invite link")`; already a member: `Conflict`. Returns the thread.
pub async fn join_with_code(
    store: &Store,
    hub: &Hub,
    caller: &UserRecord,
    thread_id: &str,
    code: &str,
) -> Result<ThreadView, DomainError> {
    if !ids::is_id(thread_id) || code.is_empty() || code.len() > CODE_MAX {
        return Err(DomainError::NotFound("invite link"));
    }
    let room = Room::thread(thread_id);
    let was_online = hub.is_online(&caller.id);
    let encode = accepted_event(thread_id, caller, was_online);
    Commit::new(hub, &room)
        .joining(&caller.id)
        .run(store.join_with_code(thread_id, code, &caller.id, clock::now_ms(), encode))
        .await?;
    presence::announce_joined_online(hub, &caller.id, &room, was_online);
    get(store, &caller.id, thread_id).await
}

/// Ends `user_id`'s membership of `thread_id`: a member leaving (`user_id` is the caller), or
/// the thread's creator removing a member (`Forbidden` for anyone else). The user's open
/// connections leave the room at once; the remaining members get `participant_left`. A target
/// that is not a member: `NotFound("member")`.
pub async fn remove_member(
    store: &Store,
    hub: &Hub,
    caller: &str,
    thread_id: &str,
    user_id: &str,
) -> Result<(), DomainError> {
    require_member(store, thread_id, caller).await?;
    let thread = store.thread(thread_id).await?.ok_or(DomainError::NotFound("thread"))?;
    if caller != user_id && thread.created_by != caller {
        return Err(DomainError::Forbidden("only the thread's creator can remove other members".into()));
    }
    let room = Room::thread(thread_id);
    let encode = {
        let (thread_id, user_id) = (thread_id.to_owned(), user_id.to_owned());
        move |envelope: &Envelope<'_>| {
            hub::to_json(&ServerFrame::ParticipantLeft {
                room: envelope.room.to_owned(),
                seq: envelope.seq,
                thread_id,
                user_id,
                timestamp: envelope.timestamp,
            })
        }
    };
    Commit::new(hub, &room)
        .leaving(user_id)
        .run(store.remove_thread_member(thread_id, user_id, clock::now_ms(), encode))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_are_trimmed_and_bounded() {
        assert_eq!(normalize_name("  Beat #1 ").unwrap(), "Beat #1");
        assert!(normalize_name("   ").is_err());
        assert!(normalize_name(&"x".repeat(NAME_MAX)).is_ok());
        assert!(normalize_name(&"x".repeat(NAME_MAX + 1)).is_err());
    }
}
