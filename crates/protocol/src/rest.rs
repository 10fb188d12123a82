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

/// `GET /healthz` and `GET /readyz` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `"ok"` for a live process, `"ready"` when the store answers.
    pub status: String,
}

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
    /// The room's newest seq: the cursor to use next when `events` is empty.
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
