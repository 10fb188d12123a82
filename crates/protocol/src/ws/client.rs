//! Frames a client sends.

use serde::{Deserialize, Serialize};

use super::Cursors;

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
    /// Typing indicator in any room the connection receives (→ `user_typing` to the room's
    /// other connections; expires after 5 s without a refresh).
    Typing {
        /// Any room this connection is in.
        room: String,
        /// Whether the user is typing.
        is_typing: bool,
    },
    /// A pointer position in any room the connection receives (→ `user_cursor` to the room's
    /// other connections; at most 20 a second forwarded, the latest wins; hidden after 10 s
    /// without a move). Both `null` hides it at once.
    Cursor {
        /// Any room this connection is in.
        room: String,
        /// Horizontal position, in the app's own units; `null` with `y` to hide.
        x: Option<f64>,
        /// Vertical position; `null` with `x` to hide.
        y: Option<f64>,
    },
    /// Seed 004's presence frame: `"editing_tile"` in a viewed canvas (→ `user_presence_update`
    /// to the other viewers), or `"typing"` in any room (the same as a `typing` frame).
    UserPresence {
        /// `canvas:{id}` for `editing_tile`; any room this connection is in for `typing`.
        room: String,
        /// `"editing_tile"` or `"typing"`.
        presence_type: String,
        /// Column of the tile, inside the canvas (`editing_tile`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tile_x: Option<i64>,
        /// Row of the tile, inside the canvas (`editing_tile`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tile_y: Option<i64>,
        /// Started (true) or stopped (false) editing (`editing_tile`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_editing: Option<bool>,
        /// Whether the user is typing (`typing`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_typing: Option<bool>,
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
        "cursor",
        "user_presence",
        "tile_mention",
    ];
}

/// The `highlight_type` of a `tile_mention` that names none.
fn default_highlight_type() -> String {
    "mention".into()
}
