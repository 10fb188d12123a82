//! WebSocket frames (API.md §4): JSON text frames, each an object with a `"type"`.
//!
//! Client frames may carry a `"ref"` (any JSON value); the server answers such a frame with an
//! [`ServerFrame::Ack`] or an [`ServerFrame::Error`] carrying the same `ref`.
//! Server event timestamps (`timestamp`) are unix milliseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Resume cursors: for each room, the seq of the last durable event the client has.
pub type Cursors = BTreeMap<String, i64>;

use crate::ErrorCode;

/// Every frame type a client may send, keyed by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First-frame authentication, for clients that cannot set headers or query parameters.
    /// Only valid as the first frame of a connection that was not authenticated at upgrade.
    Auth {
        /// Bearer token.
        token: String,
        /// Cursors to resume from: events after them are replayed before anything live.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Cursors>,
    },
    /// Start receiving a room that is joined while viewed (`draft:`, `canvas:`).
    Subscribe {
        /// Room name, e.g. `canvas:42`.
        room: String,
        /// Replay the room's durable events after this seq first (exactly once, in order).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<i64>,
    },
    /// Replay missed durable events of rooms this connection is in (or may view).
    Resume {
        /// Room → last seq the client has.
        rooms: Cursors,
    },
    /// Stop receiving a room joined with `subscribe`.
    Unsubscribe {
        /// Room name.
        room: String,
    },
    /// Ask for the online users among the caller's collaborators (→ `online_users`).
    ListUsers,
    /// Application-level keep-alive; the server answers `pong`.
    Ping,
    /// Answer to the server's JSON `ping`; counts as a sign of life.
    Pong,
    /// Canvas chat (seed 004): stored and sent to every viewer as `canvas_chat_message`.
    CanvasChat {
        /// `canvas:{id}`.
        room: String,
        /// 1..=2000 characters after trimming.
        text: String,
    },
    /// Typing indicator in a viewed canvas (→ `user_typing` to the other viewers; expires
    /// after 5 s without a refresh).
    Typing {
        /// `canvas:{id}`.
        room: String,
        /// Whether the user is typing.
        is_typing: bool,
    },
    /// Presence in a viewed canvas (→ `user_presence_update` to the other viewers).
    UserPresence {
        /// `canvas:{id}`.
        room: String,
        /// Only `"editing_tile"`.
        presence_type: String,
        /// Column of the tile, inside the canvas.
        tile_x: i64,
        /// Row of the tile, inside the canvas.
        tile_y: i64,
        /// Started (true) or stopped (false) editing.
        is_editing: bool,
    },
    /// Highlights a tile for the other viewers (→ `tile_mention`).
    TileMention {
        /// `canvas:{id}`.
        room: String,
        /// Column of the tile, inside the canvas.
        tile_x: i64,
        /// Row of the tile, inside the canvas.
        tile_y: i64,
        /// Optional note, at most 500 characters.
        #[serde(default)]
        message: String,
        /// How long to highlight, 500..=30000 ms.
        duration: i64,
        /// What kind of highlight (seed 004): 1..=32 of `a-z`, `0-9`, `_`; default `"mention"`.
        #[serde(default = "default_highlight_type")]
        highlight_type: String,
    },
}

/// The `highlight_type` of a `tile_mention` that names none.
fn default_highlight_type() -> String {
    "mention".into()
}

impl ClientFrame {
    /// Every `type` value [`ClientFrame`] accepts, to tell an unknown type from a bad field.
    pub const TYPES: &'static [&'static str] = &[
        "auth",
        "subscribe",
        "unsubscribe",
        "resume",
        "list_users",
        "ping",
        "pong",
        "canvas_chat",
        "typing",
        "user_presence",
        "tile_mention",
    ];
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
        "user_joined",
        "user_left",
        "user_presence_update",
        "user_profile_updated",
        "user_status_changed",
        "user_typing",
    ];
}

/// A client frame with its optional correlation `ref`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMessage {
    /// Correlation value echoed in the `ack`/`error` answer.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Value>,
    /// The frame itself.
    #[serde(flatten)]
    pub frame: ClientFrame,
}

/// A user as listed in `online_users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineUser {
    /// User id.
    pub id: String,
    /// Current username.
    pub username: String,
    /// Display name.
    pub name: String,
}

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

/// WebSocket close codes the server uses.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect (possibly to another node).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol violation at the WebSocket level (e.g. an unmasked client frame).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame was not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation: the client kept flooding past its rate limit.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame was larger than the configured limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server could not set the connection up (its store is overloaded or down); reconnect
    /// with backoff and resume.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// No sign of life within the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4000;
    /// The client read too slowly and its outbound queue overflowed; reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Authentication failed or did not happen in time; do not retry with the same token.
    pub const UNAUTHORIZED: u16 = 4401;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frames_parse_with_ref() {
        let message: ClientMessage =
            serde_json::from_value(json!({"type": "subscribe", "room": "canvas:1", "ref": 7})).unwrap();
        assert_eq!(message.reference, Some(json!(7)));
        assert_eq!(message.frame, ClientFrame::Subscribe { room: "canvas:1".into(), after: None });
        let message: ClientMessage = serde_json::from_value(json!({"type": "list_users"})).unwrap();
        assert_eq!(message.frame, ClientFrame::ListUsers);
    }

    /// Every `type` serde accepts for `T`, read from its "unknown variant" error, which lists
    /// them all (so a variant added to the enum but not to its `TYPES` list is caught).
    fn serde_types<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let error = serde_json::from_value::<T>(json!({"type": "not a type"})).unwrap_err().to_string();
        let (_, expected) = error.split_once("expected one of ").expect("serde's unknown-variant message");
        let types: Vec<String> = expected.split('`').skip(1).step_by(2).map(str::to_owned).collect();
        assert!(types.len() > 5, "parsed {types:?} from {error}");
        types
    }

    #[test]
    fn types_lists_match_the_enums() {
        let sorted = |types: &[&str]| {
            let mut types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
            types.sort();
            types
        };
        let mut client = serde_types::<ClientFrame>();
        client.sort();
        assert_eq!(sorted(ClientFrame::TYPES), client, "ClientFrame::TYPES");
        let mut server = serde_types::<ServerFrame>();
        server.sort();
        assert_eq!(sorted(ServerFrame::TYPES), server, "ServerFrame::TYPES");
    }

    #[test]
    fn server_frames_have_the_seed_field_names() {
        let frame = ServerFrame::UserStatusChanged { user_id: "u".into(), is_online: true, timestamp: 5 };
        assert_eq!(
            serde_json::to_value(frame).unwrap(),
            json!({"type": "user_status_changed", "user_id": "u", "is_online": true, "timestamp": 5})
        );
        let accepted = ServerFrame::InvitationAccepted {
            room: "thread:t".into(),
            seq: 3,
            thread_id: "t".into(),
            user_id: "u".into(),
            user_name: "bob".into(),
            is_online: true,
            timestamp: 7,
        };
        assert_eq!(
            serde_json::to_value(accepted).unwrap(),
            json!({"type": "invitation_accepted", "room": "thread:t", "seq": 3, "thread_id": "t", "user_id": "u",
                   "user_name": "bob", "is_online": true, "timestamp": 7})
        );
        let message = ServerFrame::MessageCreated {
            room: "thread:t".into(),
            seq: 4,
            id: "m".into(),
            parent_thread: "t".into(),
            user_id: "u".into(),
            snapshot: json!({"bpm": 120}),
            timestamp: 8,
        };
        assert_eq!(
            serde_json::to_value(message).unwrap(),
            json!({"type": "message_created", "room": "thread:t", "seq": 4, "id": "m", "parent_thread": "t",
                   "user_id": "u", "snapshot": {"bpm": 120}, "timestamp": 8})
        );
        let error = ServerFrame::Error { code: ErrorCode::UnknownType, message: "m".into(), reference: None };
        assert_eq!(
            serde_json::to_value(error).unwrap(),
            json!({"type": "error", "code": "unknown_type", "message": "m"})
        );
    }
}
