//! Room names, parsed once: `user:{id}`, `thread:{id}`, `draft:{id}`, `canvas:{id}`.
//!
//! A [`Room`] is the unit of fan-out (the hub), of ordering (each room's log has its own seq,
//! the store) and of membership (`room_members`, except `user:` rooms, which belong to their
//! user). This module is the only place that knows the prefixes; everything else builds rooms
//! with [`Room::thread`] and friends or [`Room::parse`]s what a client sent, and asks the
//! [`RoomKind`].

use std::fmt;

/// Longest accepted object id inside a room name.
pub const ID_MAX: usize = 64;

/// The kinds of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKind {
    /// Personal events of one user (invitations, statuses, profile changes).
    User,
    /// A thread's events; members receive it while connected.
    Thread,
    /// A draft's events; collaborators subscribe while viewing.
    Draft,
    /// A canvas's events; members subscribe while viewing.
    Canvas,
}

impl RoomKind {
    /// Every kind, in prefix order.
    pub const ALL: [Self; 4] = [Self::User, Self::Thread, Self::Draft, Self::Canvas];

    /// The room-name prefix of this kind, colon included (`"thread:"`).
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::User => "user:",
            Self::Thread => "thread:",
            Self::Draft => "draft:",
            Self::Canvas => "canvas:",
        }
    }

    /// What the room's object is called in errors (`"thread"` → "thread not found").
    pub const fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Thread => "thread",
            Self::Draft => "draft",
            Self::Canvas => "canvas",
        }
    }

    /// Whether a connection joins rooms of this kind while viewing them (`subscribe` /
    /// `unsubscribe`), rather than following membership from the moment it connects.
    pub const fn is_viewed(self) -> bool {
        matches!(self, Self::Draft | Self::Canvas)
    }
}

/// A well-formed room name. Cheap to clone (one string); compares and hashes as its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Room {
    name: String,
}

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// No `kind:` prefix at all.
    #[error("`{0}` is not a room name; expected kind:id")]
    NotARoom(String),
    /// A prefix that is not one of the four kinds.
    #[error("unknown room kind `{0}`; rooms are user:, thread:, draft: or canvas:")]
    UnknownKind(String),
    /// An empty id, or one over [`ID_MAX`] bytes.
    #[error("`{0}` has an empty or too long id")]
    BadId(String),
    /// A well-formed room of another kind than the operation needs.
    #[error("`{room}` is not a {expected} room ({prefix}{{id}})", prefix = expected.prefix(), expected = expected.noun())]
    WrongKind {
        /// The room given.
        room: String,
        /// The kind needed.
        expected: RoomKind,
    },
}

impl Room {
    fn of(kind: RoomKind, id: &str) -> Self {
        Self { name: format!("{}{id}", kind.prefix()) }
    }

    /// `user:{id}`: every connection of the user is in it.
    pub fn user(id: &str) -> Self {
        Self::of(RoomKind::User, id)
    }

    /// `thread:{id}`.
    pub fn thread(id: &str) -> Self {
        Self::of(RoomKind::Thread, id)
    }

    /// `draft:{id}`.
    pub fn draft(id: &str) -> Self {
        Self::of(RoomKind::Draft, id)
    }

    /// `canvas:{id}`.
    pub fn canvas(id: &str) -> Self {
        Self::of(RoomKind::Canvas, id)
    }

    /// Parses a room name from outside (a frame, a URL). The id may contain further colons.
    pub fn parse(name: &str) -> Result<Self, RoomError> {
        let Some((kind, id)) = name.split_once(':') else {
            return Err(RoomError::NotARoom(name.to_owned()));
        };
        if !RoomKind::ALL.iter().any(|k| &k.prefix()[..k.prefix().len() - 1] == kind) {
            return Err(RoomError::UnknownKind(kind.to_owned()));
        }
        if id.is_empty() || id.len() > ID_MAX {
            return Err(RoomError::BadId(name.to_owned()));
        }
        Ok(Self { name: name.to_owned() })
    }

    /// [`Room::parse`], then requires the kind `expected`.
    pub fn parse_kind(name: &str, expected: RoomKind) -> Result<Self, RoomError> {
        let room = Self::parse(name)?;
        room.id_of(expected)?;
        Ok(room)
    }

    /// The room's id, if it is of kind `expected` (`WrongKind` otherwise).
    pub fn id_of(&self, expected: RoomKind) -> Result<&str, RoomError> {
        if self.kind() == expected {
            Ok(self.id())
        } else {
            Err(RoomError::WrongKind { room: self.name.clone(), expected })
        }
    }

    /// The room's kind.
    pub fn kind(&self) -> RoomKind {
        // Construction guarantees one of the prefixes.
        RoomKind::ALL.into_iter().find(|k| self.name.starts_with(k.prefix())).unwrap_or(RoomKind::User)
    }

    /// The object id after the prefix.
    pub fn id(&self) -> &str {
        &self.name[self.kind().prefix().len()..]
    }

    /// The full name, `kind:id`.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A room is used wherever its name is (hub maps, SQL binds, frames).
impl std::ops::Deref for Room {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

impl AsRef<str> for Room {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl From<Room> for String {
    fn from(room: Room) -> Self {
        room.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_parse() {
        let room = Room::parse("thread:abc").unwrap();
        assert_eq!((room.kind(), room.id()), (RoomKind::Thread, "abc"));
        assert_eq!(Room::parse("canvas:42").unwrap(), Room::canvas("42"));
        assert_eq!(Room::parse("draft:x:y").unwrap().id(), "x:y");
        assert_eq!(Room::parse("user:u").unwrap().kind(), RoomKind::User);
        assert!(matches!(Room::parse("lobby"), Err(RoomError::NotARoom(_))));
        assert!(matches!(Room::parse("room:1"), Err(RoomError::UnknownKind(_))));
        assert!(matches!(Room::parse("thread:"), Err(RoomError::BadId(_))));
        assert!(Room::parse(&format!("thread:{}", "x".repeat(ID_MAX + 1))).is_err());
        assert!(Room::parse(&format!("thread:{}", "x".repeat(ID_MAX))).is_ok());
    }

    #[test]
    fn kinds_are_checked() {
        assert!(Room::parse_kind("canvas:1", RoomKind::Canvas).is_ok());
        let error = Room::parse_kind("thread:1", RoomKind::Canvas).unwrap_err();
        assert_eq!(error.to_string(), "`thread:1` is not a canvas room (canvas:{id})");
    }

    #[test]
    fn constructors_and_parse_agree() {
        for kind in RoomKind::ALL {
            let room = Room::parse(&format!("{}x", kind.prefix())).unwrap();
            assert_eq!((room.kind(), room.id()), (kind, "x"));
        }
        assert!(RoomKind::Draft.is_viewed() && RoomKind::Canvas.is_viewed());
        assert!(!RoomKind::Thread.is_viewed() && !RoomKind::User.is_viewed());
    }
}
