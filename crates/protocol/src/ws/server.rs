//! Frames the server sends, and their payloads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::OnlineUser;
use crate::ErrorCode;

/// Every frame type the server sends, keyed by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame of every connection.
    Connected {
        /// Who the connection is authenticated as.
        user_id: String,
        /// Unique per connection (per node).
        connection_id: String,
        /// How often the server pings; a client that wants to detect a dead server can expect
        /// a `ping` at least this often.
        heartbeat_interval_ms: u64,
    },
    /// Application-level heartbeat (sent with every WebSocket ping). Clients may answer `pong`.
    Ping,
    /// Answer to a client's `ping`.
    Pong,
    /// The frame carrying this `ref` was accepted.
    Ack {
        /// The client's `ref`.
        #[serde(rename = "ref")]
        reference: Value,
    },
    /// A frame was refused, or a connection-level problem occurred. The connection stays open
    /// unless a close frame follows.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// The `ref` of the refused frame, if it had one.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
    },
    /// A collaborator came online (first connection) or went offline (last connection closed
    /// or went stale). Sent once per collaborator, to collaborators only.
    UserStatusChanged {
        /// Whose status changed.
        user_id: String,
        /// The new status.
        is_online: bool,
        /// When the change happened, unix ms.
        timestamp: i64,
    },
    /// The room's history no longer reaches back to the client's cursor (pruned by retention,
    /// or the cursor is ahead of the log): refetch the object by REST, then continue from
    /// `last_seq`.
    ResyncRequired {
        /// The room.
        room: String,
        /// The room's newest seq when the resync was decided.
        last_seq: i64,
    },
    /// Answer to `list_users`: the caller's collaborators who are online now.
    OnlineUsers {
        /// Online collaborators.
        users: Vec<OnlineUser>,
        /// When the list was taken, unix ms.
        timestamp: i64,
    },
    /// Durable, room `thread:{id}`: a message was posted in a thread. Every connection of every
    /// member gets it, the sender's other devices included.
    MessageCreated {
        /// `thread:{parent_thread}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The message id (24 lowercase hex).
        id: String,
        /// The thread's id.
        parent_thread: String,
        /// Who posted it.
        user_id: String,
        /// The message body, any JSON, exactly as posted.
        snapshot: Value,
        /// When it was posted, unix ms.
        timestamp: i64,
    },
    /// Durable, room `thread:{id}`: a message's author replaced its snapshot. Carries the
    /// message's fields as they are now.
    MessageUpdated {
        /// `thread:{parent_thread}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The message id.
        id: String,
        /// The thread's id.
        parent_thread: String,
        /// Who posted it.
        user_id: String,
        /// The new body.
        snapshot: Value,
        /// When it was posted, unix ms.
        created_at: i64,
        /// When it was edited, unix ms.
        updated_at: i64,
        /// When the event was written, unix ms (the edit's time).
        timestamp: i64,
    },
    /// Durable, room `thread:{id}`: a message was deleted (by its author or the thread's
    /// creator); it is gone from the history.
    MessageDeleted {
        /// `thread:{parent_thread}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The deleted message's id.
        id: String,
        /// The thread's id.
        parent_thread: String,
        /// When it was deleted, unix ms.
        timestamp: i64,
    },
    /// Durable, room `user:{invitee}`: the recipient was invited to a thread.
    ThreadInvitation {
        /// `user:{invitee id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The thread's id.
        thread_id: String,
        /// The thread's name when the invitation was made.
        thread_name: String,
        /// Id of the member who invited.
        invited_by: String,
        /// Username of the member who invited, when the invitation was made.
        invited_by_username: String,
        /// When the invitation was made, unix ms.
        timestamp: i64,
    },
    /// Durable, room `thread:{id}`: a user became a member of the thread, by accepting an
    /// invitation or by joining with an invite link.
    InvitationAccepted {
        /// `thread:{thread_id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The thread's id.
        thread_id: String,
        /// The new member.
        user_id: String,
        /// The new member's username when they joined.
        user_name: String,
        /// Whether the new member had a live connection when they joined.
        is_online: bool,
        /// When they joined, unix ms.
        timestamp: i64,
    },
    /// Durable, room `thread:{id}`: a member left the thread or was removed by its creator.
    /// The member's own connections no longer receive the room and do not get this frame.
    ParticipantLeft {
        /// `thread:{thread_id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The thread's id.
        thread_id: String,
        /// Who is no longer a member.
        user_id: String,
        /// When it happened, unix ms.
        timestamp: i64,
    },
    /// Ephemeral (no `room`/`seq`, not replayed): a collaborator, or the recipient on another
    /// device, changed their username. Sent once per recipient, however many threads are shared.
    UserProfileUpdated {
        /// Whose profile changed.
        user_id: String,
        /// The new username.
        username: String,
        /// When it changed, unix ms.
        timestamp: i64,
    },
    /// Durable, room `canvas:{id}`: a tile was created. Not sent to the connection that made
    /// the request when it named itself in `X-Connection-Id`.
    TileCreated(TileEvent),
    /// Durable, room `canvas:{id}`: a tile's data changed (same exclusion as `tile_created`).
    TileUpdated(TileEvent),
    /// Durable, room `canvas:{id}`: a tile was liked; `like_count` is the new count.
    TileLiked(TileEvent),
    /// Durable, room `canvas:{id}`: a chat message; every viewer gets it, the sender included.
    CanvasChatMessage {
        /// `canvas:{id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The message id (24 lowercase hex).
        message_id: String,
        /// The canvas id.
        canvas_id: String,
        /// Who wrote it.
        sender_id: String,
        /// Their username when they wrote it.
        sender_username: String,
        /// The trimmed text.
        message_text: String,
        /// RFC 3339.
        created_at: String,
        /// Unix ms.
        timestamp: i64,
    },
    /// Ephemeral, to the other viewers of a canvas: a user started viewing it (their first
    /// connection in the room).
    UserJoined(ViewerEvent),
    /// Ephemeral, to the other viewers of a canvas: a user stopped viewing it (their last
    /// connection left the room or closed).
    UserLeft(ViewerEvent),
    /// Ephemeral, to a connection that just subscribed to a canvas: who is viewing it now.
    CanvasViewers {
        /// `canvas:{id}`.
        room: String,
        /// Distinct users viewing, the recipient included.
        users: Vec<OnlineUser>,
        /// `users.len()`.
        active_users: usize,
        /// Unix ms.
        timestamp: i64,
    },
    /// Ephemeral: another user's pointer in a room (throttled to 20 a second per user and room,
    /// the latest position wins; `x`/`y` null: hidden, also after 10 s without a move).
    UserCursor {
        /// The room.
        room: String,
        /// Whose pointer.
        user_id: String,
        /// Their current username.
        username: String,
        /// Horizontal position, or null when hidden.
        x: Option<f64>,
        /// Vertical position, or null when hidden.
        y: Option<f64>,
    },
    /// Ephemeral, to the other viewers: a user's typing state changed (or expired).
    UserTyping {
        /// `canvas:{id}`.
        room: String,
        /// Who.
        user_id: String,
        /// Their username.
        username: String,
        /// Typing or not.
        is_typing: bool,
        /// Unix ms.
        timestamp: i64,
    },
    /// Ephemeral, to the other viewers: a user started or stopped editing a tile.
    UserPresenceUpdate {
        /// `canvas:{id}`.
        room: String,
        /// Who.
        user_id: String,
        /// Their username.
        username: String,
        /// The canvas id.
        canvas_id: String,
        /// Always `"editing_tile"`.
        presence_type: String,
        /// `"online"` while the user views the canvas; `"offline"` when this update is sent
        /// because they stopped viewing it (left, or their last connection closed).
        status: String,
        /// Column.
        tile_x: i64,
        /// Row.
        tile_y: i64,
        /// Editing or not.
        is_editing: bool,
        /// Unix ms.
        timestamp: i64,
    },
    /// Ephemeral, to the other viewers: a tile is highlighted for `duration` ms.
    TileMention {
        /// `canvas:{id}`.
        room: String,
        /// Who mentioned it.
        user_id: String,
        /// Their username.
        username: String,
        /// Column.
        tile_x: i64,
        /// Row.
        tile_y: i64,
        /// The note (may be empty).
        message: String,
        /// Highlight duration, ms.
        duration: i64,
        /// The kind of highlight the sender asked for (default `"mention"`).
        highlight_type: String,
        /// Unix ms.
        timestamp: i64,
    },
    /// Durable, room `draft:{id}` (seed 003): a draft was created. Envelope `draft_id`, `ts`
    /// (RFC 3339), `user_id` (who acted), `data`.
    #[serde(rename = "collab.draft_created")]
    CollabDraftCreated {
        /// `draft:{draft_id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The draft.
        draft_id: String,
        /// When it happened (RFC 3339, ms).
        ts: String,
        /// The creator.
        user_id: String,
        /// Title, owner and ring holder.
        data: Box<DraftCreatedData>,
        /// When it happened, unix ms.
        timestamp: i64,
    },
    /// Durable, room `draft:{id}`: the ring holder appended a segment.
    #[serde(rename = "collab.segment_added")]
    CollabSegmentAdded {
        /// `draft:{draft_id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The draft.
        draft_id: String,
        /// When it happened (RFC 3339, ms).
        ts: String,
        /// The author.
        user_id: String,
        /// The segment.
        data: Box<SegmentAddedData>,
        /// When it happened, unix ms.
        timestamp: i64,
    },
    /// Durable, room `draft:{id}`: the ring holder passed the ring to another collaborator.
    #[serde(rename = "collab.ring_passed")]
    CollabRingPassed {
        /// `draft:{draft_id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The draft.
        draft_id: String,
        /// When it happened (RFC 3339, ms).
        ts: String,
        /// The previous holder.
        user_id: String,
        /// `from` and `to`.
        data: Box<RingPassedData>,
        /// When it happened, unix ms.
        timestamp: i64,
    },
    /// Durable, room `draft:{id}`: a collaborator added another user as a collaborator.
    #[serde(rename = "collab.collaborator_added")]
    CollabCollaboratorAdded {
        /// `draft:{draft_id}`.
        room: String,
        /// Position in the room's log.
        seq: i64,
        /// The draft.
        draft_id: String,
        /// When it happened (RFC 3339, ms).
        ts: String,
        /// The collaborator who added them.
        user_id: String,
        /// The new collaborator.
        data: Box<CollaboratorAddedData>,
        /// When it happened, unix ms.
        timestamp: i64,
    },
}

impl ServerFrame {
    /// Every `type` value the server sends, durable and ephemeral (`types_lists_match_the_enums`
    /// fails when a variant is missing). No one else may publish these (see the publish API).
    pub const TYPES: &'static [&'static str] = &[
        "ack",
        "canvas_chat_message",
        "canvas_viewers",
        "collab.collaborator_added",
        "collab.draft_created",
        "collab.ring_passed",
        "collab.segment_added",
        "connected",
        "error",
        "invitation_accepted",
        "message_created",
        "message_deleted",
        "message_updated",
        "online_users",
        "participant_left",
        "ping",
        "pong",
        "resync_required",
        "thread_invitation",
        "tile_created",
        "tile_liked",
        "tile_mention",
        "tile_updated",
        "user_cursor",
        "user_joined",
        "user_left",
        "user_presence_update",
        "user_profile_updated",
        "user_status_changed",
        "user_typing",
    ];
}

/// `data` of `collab.draft_created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftCreatedData {
    /// The draft's title.
    pub title: String,
    /// The creator.
    pub owner_id: String,
    /// Who holds the ring (the creator).
    pub ring_holder_id: String,
}

/// `data` of `collab.segment_added` (seed 003's field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentAddedData {
    /// The segment's id.
    pub segment_id: String,
    /// Its text.
    pub content: String,
    /// Its author (the ring holder when it was appended).
    pub author_user_id: String,
    /// 1, 2, 3, ... in append order.
    pub position: i64,
    /// When it was appended (RFC 3339, ms).
    pub created_at: String,
}

/// `data` of `collab.ring_passed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingPassedData {
    /// The previous holder.
    pub from: String,
    /// The new holder.
    pub to: String,
}

/// `data` of `collab.collaborator_added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollaboratorAddedData {
    /// The new collaborator.
    pub user_id: String,
}

/// The body of `tile_created`, `tile_updated` and `tile_liked` (seed 004's field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileEvent {
    /// `canvas:{canvas_id}`.
    pub room: String,
    /// Position in the room's log.
    pub seq: i64,
    /// The tile id.
    pub tile_id: String,
    /// The canvas id.
    pub canvas_id: String,
    /// Who created the tile.
    pub creator_id: String,
    /// Who did this (creator, updater or liker).
    pub user_id: String,
    /// Column.
    pub x: i64,
    /// Row.
    pub y: i64,
    /// The tile's data (any JSON).
    pub data: Value,
    /// Likes so far.
    pub like_count: i64,
    /// Unix ms.
    pub timestamp: i64,
}

/// The body of `user_joined` / `user_left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerEvent {
    /// `canvas:{id}`.
    pub room: String,
    /// Who joined or left.
    pub user_id: String,
    /// Their username.
    pub username: String,
    /// Their display name.
    pub display_name: String,
    /// Distinct users viewing after the change.
    pub active_users: usize,
    /// Unix ms.
    pub timestamp: i64,
}
