//! REST request and response bodies (API.md §2–3).
//!
//! Timestamps in REST bodies are RFC 3339 strings in UTC with millisecond precision
//! (`2026-11-21T10:00:00.000Z`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as every REST endpoint shows it. `is_online` is computed from live connections at the
/// moment of the read and never stored; `last_online` is set when the user's last connection closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// 24 lowercase hex characters.
    pub id: String,
    /// Unique (case-insensitively), 3..=32 of `A-Z a-z 0-9 _ . -`.
    pub username: String,
    /// Display name; free text, may be empty.
    pub name: String,
    /// When the user signed up (RFC 3339).
    pub created_at: String,
    /// When the user's last connection closed (RFC 3339), or `null` if never connected.
    pub last_online: Option<String>,
    /// Whether the user has at least one live connection right now.
    pub is_online: bool,
}

/// `POST /api/v1/users`: self-contained sign-up. Both fields are optional; without a username
/// the server picks a free one (`user_` followed by hex digits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// Desired username (validated like a username change).
    #[serde(default)]
    pub username: Option<String>,
    /// Display name (at most 100 characters).
    #[serde(default)]
    pub name: Option<String>,
}

/// Answer to sign-up: the new user and a bearer token for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignUpResponse {
    /// The created user.
    pub user: User,
    /// HS256 JWT whose `sub` is the user id.
    pub token: String,
}

/// `PUT /api/v1/users/{id}/username`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUsernameRequest {
    /// The new username; surrounding whitespace is trimmed before validation.
    pub username: String,
}

pub use crate::ops::{BusHealth, HealthStatus};

/// `GET /api/v1/users`: the caller's collaborators (users sharing a room membership).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    /// Collaborators, ordered by id.
    pub users: Vec<User>,
}

/// `GET /api/v1/rooms/{room}/events`: durable events after a cursor, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// The room.
    pub room: String,
    /// Events exactly as sent on the WebSocket (each carries `room`, `seq`, `timestamp`).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Box<serde_json::value::RawValue>>,
    /// The room's newest seq, never behind the last of `events`: the cursor to use next when
    /// `events` is empty.
    pub last_seq: i64,
    /// The history no longer reaches back to `after` (or `after` is ahead of the log): refetch
    /// the object and continue from `last_seq`.
    pub resync_required: bool,
}

/// Answer to `POST /api/v1/rooms/{room}/publish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublishedEvent {
    /// The room.
    pub room: String,
    /// The event's seq.
    pub seq: i64,
    /// The event's timestamp, unix ms.
    pub timestamp: i64,
}

/// `POST /api/v1/threads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateThreadRequest {
    /// The thread's name; trimmed, 1..=100 characters.
    pub name: String,
}

/// A thread: its members (`users`) and its pending invitations (`invites`). Only members can
/// read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Thread {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The thread's name.
    pub name: String,
    /// Id of the user who created it.
    pub created_by: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Members, in the order they joined (the creator first).
    pub users: Vec<ThreadUser>,
    /// Pending invitations, oldest first.
    pub invites: Vec<Invite>,
    /// The thread room's newest durable seq, read in the same snapshot as the rest: subscribe
    /// or resume `thread:{id}` after it to get exactly the changes made since (API.md §3).
    pub seq: i64,
}

/// A member of a thread as thread reads show it. `username` and `name` are the user's current
/// ones (read from the user, never copied); `is_online` comes from live connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThreadUser {
    /// User id.
    pub id: String,
    /// Current username.
    pub username: String,
    /// Current display name.
    pub name: String,
    /// When the user became a member (RFC 3339).
    pub joined_at: String,
    /// Whether the user has at least one live connection right now.
    pub is_online: bool,
    /// When the user's last connection closed (RFC 3339), `null` if never (seeds 000, 002).
    pub last_online: Option<String>,
}

/// A pending invitation of a user to a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invite {
    /// The thread.
    pub thread_id: String,
    /// The invited user.
    pub user_id: String,
    /// The invited user's current username.
    pub username: String,
    /// The member who invited them.
    pub invited_by: String,
    /// When the invitation was made (RFC 3339).
    pub created_at: String,
}

/// One of the caller's pending invitations, as `GET /api/v1/users/me/invites` lists them: what the
/// `thread_invitation` event said, so an invitee who missed the event can still answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PendingInvite {
    /// The thread.
    pub thread_id: String,
    /// The thread's name.
    pub thread_name: String,
    /// The member who invited the caller.
    pub invited_by: String,
    /// That member's current username.
    pub invited_by_username: String,
    /// When the invitation was made (RFC 3339).
    pub created_at: String,
}

/// `GET /api/v1/users/me/invites`: the caller's pending invitations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PendingInviteList {
    /// Invitations not yet accepted or declined.
    pub invites: Vec<PendingInvite>,
}

/// `GET /api/v1/threads`: the caller's threads, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ThreadList {
    /// Threads the caller is a member of.
    pub threads: Vec<Thread>,
}

/// `POST /api/v1/threads/{id}/invites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The user to invite (24 lowercase hex).
    pub user_id: String,
}

/// Answer to `POST /api/v1/threads/{id}/invite-link`: a shareable code (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InviteLink {
    /// The secret code to `POST /api/v1/threads/{id}/join` with (32 lowercase hex).
    pub code: String,
    /// A deep link carrying thread id and code, `{public_url}/join/{thread_id}?code={code}`, for
    /// the web app to open: absolute when the server runs with `--public-url`, else relative.
    pub url: String,
}

/// `POST /api/v1/threads/{id}/join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The code of an invite link of this thread.
    pub code: String,
}

/// What the invitee does with an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteAction {
    /// Become a member.
    Accept,
    /// Drop the invitation.
    Decline,
}

/// `PUT /api/v1/threads/{id}/invites/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInviteRequest {
    /// `"accept"` or `"decline"`.
    pub action: InviteAction,
}

/// `POST /api/v1/threads/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageRequest {
    /// The message body: any JSON value, at most 64 KiB once serialized.
    pub snapshot: serde_json::Value,
}

/// A message in a thread.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The thread.
    pub thread_id: String,
    /// Who posted it.
    pub user_id: String,
    /// The body, exactly as posted.
    #[schema(value_type = serde_json::Value)]
    pub snapshot: Box<serde_json::value::RawValue>,
    /// When it was posted (RFC 3339).
    pub created_at: String,
    /// When its snapshot was last edited (RFC 3339); absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// `GET /api/v1/threads/{id}/messages`: a page of messages, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    /// Messages, newest first. Pass the last one's id as `before` for the next page; fewer than
    /// `limit` means there are no older ones.
    pub messages: Vec<Message>,
}

/// An item of a user's playlist: opaque client data under a client- or server-chosen id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlaylistItem {
    /// 1..=64 characters of `A-Z a-z 0-9 _ -`.
    pub id: String,
    /// The item's data, exactly as stored.
    #[schema(value_type = serde_json::Value)]
    pub data: Box<serde_json::value::RawValue>,
    /// When the item was first stored (RFC 3339).
    pub created_at: String,
    /// When the item was last written (RFC 3339).
    pub updated_at: String,
}

/// `GET /api/v1/users/{id}/playlist`: oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Playlist {
    /// The items.
    pub items: Vec<PlaylistItem>,
}

/// `POST /api/v1/users/{id}/playlist`: store an item. With an `id` that already exists the item's
/// data is replaced (idempotent upsert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaylistItemRequest {
    /// Client-chosen id (1..=64 of `A-Z a-z 0-9 _ -`); the server picks one when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Any JSON, at most 64 KiB once serialized.
    pub data: serde_json::Value,
}

/// `POST /api/v1/drafts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDraftRequest {
    /// The draft's title; trimmed, 1..=200 characters.
    pub title: String,
}

/// A draft (seed 003): collaborators take turns appending segments; only the ring holder may
/// append. Only collaborators can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Draft {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The draft's title.
    pub title: String,
    /// The creator.
    pub owner_id: String,
    /// The collaborator who may append now.
    pub ring_holder_id: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Collaborators in the order they joined (the owner first).
    pub collaborators: Vec<DraftCollaborator>,
    /// Segments in append order.
    pub segments: Vec<Segment>,
    /// The draft room's newest durable seq, read in the same snapshot as the rest: subscribe
    /// to `draft:{id}` after it to get exactly the changes made since (API.md §3).
    pub seq: i64,
}

/// A collaborator of a draft; `username` and `name` are the user's current ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DraftCollaborator {
    /// User id.
    pub id: String,
    /// Current username.
    pub username: String,
    /// Current display name.
    pub name: String,
    /// When they became a collaborator (RFC 3339).
    pub joined_at: String,
}

/// A segment of a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Segment {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The text (1..=10000 characters).
    pub content: String,
    /// Who appended it.
    pub author_user_id: String,
    /// 1, 2, 3, ... in append order.
    pub position: i64,
    /// When it was appended (RFC 3339).
    pub created_at: String,
}

/// `POST /api/v1/drafts/{id}/segments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendSegmentRequest {
    /// 1..=10000 characters, not only whitespace.
    pub content: String,
}

/// `POST /api/v1/drafts/{id}/ring`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassRingRequest {
    /// The collaborator to pass the ring to.
    pub to_user_id: String,
}

/// `POST /api/v1/drafts/{id}/collaborators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCollaboratorRequest {
    /// The user to add (24 lowercase hex).
    pub user_id: String,
}

/// `POST /api/v1/canvases` (seed 004).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCanvasRequest {
    /// 1..=100 characters after trimming.
    pub name: String,
    /// Columns, 1..=1000.
    pub width: i64,
    /// Rows, 1..=1000.
    pub height: i64,
}

/// A canvas with its members and tiles (members only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Canvas {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The canvas's name.
    pub name: String,
    /// Columns: tiles have `0 <= x < width`.
    pub width: i64,
    /// Rows: tiles have `0 <= y < height`.
    pub height: i64,
    /// The creator.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// Member user ids, in join order.
    pub members: Vec<String>,
    /// Every tile, by row then column.
    pub tiles: Vec<Tile>,
    /// The canvas room's newest durable seq, read in the same snapshot as the rest: subscribe
    /// to `canvas:{id}` after it to get exactly the changes made since (API.md §3).
    pub seq: i64,
}

/// `POST /api/v1/canvases/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCanvasMemberRequest {
    /// The user to add (24 lowercase hex).
    pub user_id: String,
}

/// `POST /api/v1/canvases/{id}/tiles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTileRequest {
    /// Column, `0 <= x < width`.
    pub x: i64,
    /// Row, `0 <= y < height`.
    pub y: i64,
    /// Any JSON, at most 16 KiB serialized.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// `PUT /api/v1/canvases/{id}/tiles/{tile_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTileRequest {
    /// The new data: any JSON, at most 16 KiB serialized.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A tile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tile {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The canvas.
    pub canvas_id: String,
    /// Column.
    pub x: i64,
    /// Row.
    pub y: i64,
    /// The tile's data, exactly as posted.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The creator (the only one who may update it).
    pub creator_id: String,
    /// Likes (one per user).
    pub like_count: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// On a write's answer: the seq of the event it published in `canvas:{id}` (so the
    /// author, whose own connection does not get it, can advance its cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// A stored canvas chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CanvasChatMessage {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The canvas.
    pub canvas_id: String,
    /// Who wrote it.
    pub sender_id: String,
    /// Their current username.
    pub sender_username: String,
    /// The text.
    pub message_text: String,
    /// RFC 3339.
    pub created_at: String,
    /// Seq of its `canvas_chat_message` event.
    pub seq: i64,
}

/// `GET /api/v1/canvases/{id}/chat`: the newest messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CanvasChatHistory {
    /// Messages in the order they were sent.
    pub messages: Vec<CanvasChatMessage>,
}
