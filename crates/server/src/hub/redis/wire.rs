//! What one node tells the others over Redis pub/sub, and how it is written.
//!
//! Text, one header field per line, then the body as is: a frame is already JSON, so it is
//! neither parsed nor escaped again on the way (a hand-written format for that reason: a JSON
//! or MessagePack envelope would copy every frame once more on both sides).
//!
//! * A room's publication, on channel [`room_channel`]:
//!   `P1\n{node:x}\n{seq or empty}\n{except}\n{frame}`, where `except` is empty, `c{conn:x}` (one
//!   connection of the publishing node) or `u{user id}` (every connection of that user).
//! * A membership change, on channel [`MEMBERSHIP_CHANNEL`]:
//!   `M1\n{node:x}\n{j or l}\n{seq or empty}\n{user id}\n{room}`, where `seq` is the durable event
//!   the join came with (the user's connections get it and every later one).
//!
//! * A node's presence change, on channel [`PRESENCE_CHANNEL`]:
//!   `S1\n{node name}\n{+ or -}\n{user id}\n{rooms, space-separated}\n{frame}`: the user now has
//!   (`+`) or no longer has (`-`) a connection on that node; when the change is news to the
//!   user's co-members, the rooms are the user's and the frame is its `user_status_changed`
//!   (both empty otherwise).
//! * A node's viewer change, on channel [`VIEWERS_CHANNEL`]:
//!   `V1\n{node name}\n{+ or -}\n{room}\n{user id}\n{username}\n{name}`: the user views (`+`)
//!   or no longer views (`-`) the room on that node (the display name last: it may hold
//!   anything).
//! * On `tandem:viewers`, also `R1\n{node name}`: the node started again after it was
//!   killed; every viewer of its previous run is gone.
//!
//! Anything else is [`Malformed`]: counted and dropped by the receiver, never delivered.

use crate::hub::{ConnId, Except, Frame, NodeId};

/// Every node listens here for membership changes (low volume: joins and leaves of rooms).
pub const MEMBERSHIP_CHANNEL: &str = "tandem:members";
/// Every node listens here for the other nodes' presence changes.
pub const PRESENCE_CHANNEL: &str = "tandem:presence";
/// Every node listens here for the other nodes' viewer changes.
pub const VIEWERS_CHANNEL: &str = "tandem:viewers";
/// Prefix of the per-room channels.
const ROOM_CHANNEL_PREFIX: &str = "tandem:room:";

/// The channel of `room`'s publications.
pub fn room_channel(room: &str) -> String {
    format!("{ROOM_CHANNEL_PREFIX}{room}")
}

/// The room of a room channel, if `channel` is one.
pub fn channel_room(channel: &str) -> Option<&str> {
    channel.strip_prefix(ROOM_CHANNEL_PREFIX)
}

/// A message from the bus that is not one of ours; the reason, for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bus message: {0}")]
pub struct Malformed(pub &'static str);

/// A decoded publication (the room is the channel's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WirePublication {
    /// The publishing node.
    pub node: NodeId,
    /// The durable event's seq, if it is one.
    pub seq: Option<i64>,
    /// Recipients skipped.
    pub except: Option<Except>,
    /// The frame, shared with every local recipient.
    pub frame: Frame,
}

/// A decoded membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMembership {
    /// The node that made the change (it applied it locally already).
    pub node: NodeId,
    /// Joins (`true`) or leaves (`false`).
    pub joins: bool,
    /// The seq of the durable event a join came with.
    pub from_seq: Option<i64>,
    /// The user whose connections move.
    pub user_id: String,
    /// The room.
    pub room: String,
}

/// Writes a publication.
pub fn encode_publication(node: NodeId, seq: Option<i64>, except: Option<&Except>, frame: &str) -> Vec<u8> {
    let except = match except {
        None => String::new(),
        Some(Except::Connection(id)) => format!("c{:x}", id.0),
        Some(Except::User(user)) => format!("u{user}"),
    };
    let seq = seq.map(|seq| seq.to_string()).unwrap_or_default();
    let mut out = Vec::with_capacity(frame.len() + except.len() + seq.len() + 24);
    out.extend_from_slice(format!("P1\n{:x}\n{seq}\n{except}\n", node.0).as_bytes());
    out.extend_from_slice(frame.as_bytes());
    out
}

/// Reads a publication.
pub fn decode_publication(payload: &[u8]) -> Result<WirePublication, Malformed> {
    let mut fields = payload.splitn(5, |b| *b == b'\n');
    if fields.next() != Some(b"P1") {
        return Err(Malformed("not a publication (P1)"));
    }
    let node = node(fields.next())?;
    let seq = seq(fields.next())?;
    let except = match text(fields.next())? {
        "" => None,
        value if value.starts_with('c') => Some(Except::Connection(ConnId(
            u64::from_str_radix(&value[1..], 16).map_err(|_| Malformed("bad connection id"))?,
        ))),
        value if value.starts_with('u') && value.len() > 1 => Some(Except::User(value[1..].to_owned())),
        _ => return Err(Malformed("bad except")),
    };
    let body = fields.next().ok_or(Malformed("no frame"))?;
    let frame = std::str::from_utf8(body).map_err(|_| Malformed("frame is not UTF-8"))?;
    if frame.is_empty() {
        return Err(Malformed("empty frame"));
    }
    Ok(WirePublication { node, seq, except, frame: Frame::from(frame.to_owned()) })
}

/// Writes a membership change.
pub fn encode_membership(node: NodeId, joins: bool, from_seq: Option<i64>, user_id: &str, room: &str) -> Vec<u8> {
    let seq = from_seq.map(|seq| seq.to_string()).unwrap_or_default();
    format!("M1\n{:x}\n{}\n{seq}\n{user_id}\n{room}", node.0, if joins { 'j' } else { 'l' }).into_bytes()
}

/// Reads a membership change.
pub fn decode_membership(payload: &[u8]) -> Result<WireMembership, Malformed> {
    let mut fields = payload.splitn(6, |b| *b == b'\n');
    if fields.next() != Some(b"M1") {
        return Err(Malformed("not a membership change (M1)"));
    }
    let node = node(fields.next())?;
    let joins = match text(fields.next())? {
        "j" => true,
        "l" => false,
        _ => return Err(Malformed("bad membership kind")),
    };
    let from_seq = seq(fields.next())?;
    let user_id = text(fields.next())?;
    let room = text(fields.next())?;
    if user_id.is_empty() || room.is_empty() {
        return Err(Malformed("empty user or room"));
    }
    Ok(WireMembership { node, joins, from_seq, user_id: user_id.to_owned(), room: room.to_owned() })
}

/// A decoded presence change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WirePresence {
    /// The node whose connections changed (named by `--node-id`).
    pub node: String,
    /// The user has a connection there now (`true`) or no longer (`false`).
    pub online: bool,
    /// The user.
    pub user_id: String,
    /// When the change is news: the user's rooms and the frame for their co-members.
    pub news: Option<(Vec<String>, Frame)>,
}

/// Writes a presence change.
pub fn encode_presence(node: &str, online: bool, user_id: &str, news: Option<(&[Box<str>], &str)>) -> Vec<u8> {
    let (rooms, frame) = news.map(|(rooms, frame)| (rooms.join(" "), frame)).unwrap_or_default();
    format!("S1\n{node}\n{}\n{user_id}\n{rooms}\n{frame}", if online { '+' } else { '-' }).into_bytes()
}

/// Reads a presence change.
pub fn decode_presence(payload: &[u8]) -> Result<WirePresence, Malformed> {
    let mut fields = payload.splitn(6, |b| *b == b'\n');
    if fields.next() != Some(b"S1") {
        return Err(Malformed("not a presence change (S1)"));
    }
    let node = text(fields.next())?;
    let online = match text(fields.next())? {
        "+" => true,
        "-" => false,
        _ => return Err(Malformed("bad presence kind")),
    };
    let user_id = text(fields.next())?;
    let rooms = text(fields.next())?;
    let frame = text(fields.next())?;
    if node.is_empty() || user_id.is_empty() {
        return Err(Malformed("empty node or user"));
    }
    let news = match (rooms.is_empty(), frame.is_empty()) {
        (_, true) => None,
        (rooms_empty, false) => {
            let rooms = if rooms_empty { Vec::new() } else { rooms.split(' ').map(str::to_owned).collect() };
            Some((rooms, Frame::from(frame.to_owned())))
        }
    };
    Ok(WirePresence { node: node.to_owned(), online, user_id: user_id.to_owned(), news })
}

/// A decoded viewer change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireViewer {
    /// The node the viewer is on.
    pub node: String,
    /// Views the room now (`true`) or no longer (`false`).
    pub viewing: bool,
    /// The room.
    pub room: String,
    /// The user.
    pub user_id: String,
    /// Their username.
    pub username: String,
    /// Their display name.
    pub name: String,
}

/// Writes a viewer change.
pub fn encode_viewer(node: &str, viewing: bool, room: &str, user_id: &str, username: &str, name: &str) -> Vec<u8> {
    format!("V1\n{node}\n{}\n{room}\n{user_id}\n{username}\n{name}", if viewing { '+' } else { '-' }).into_bytes()
}

/// Encodes "node `node` started again: its previous run's viewers are gone".
pub fn encode_viewers_reset(node: &str) -> Vec<u8> {
    format!("R1\n{node}").into_bytes()
}

/// The node of a viewers reset; `None` if `payload` is not one (it may be a viewer change).
pub fn decode_viewers_reset(payload: &[u8]) -> Option<&str> {
    let node = std::str::from_utf8(payload.strip_prefix(b"R1\n")?).ok()?;
    (!node.is_empty() && !node.contains('\n')).then_some(node)
}

/// Reads a viewer change.
pub fn decode_viewer(payload: &[u8]) -> Result<WireViewer, Malformed> {
    let mut fields = payload.splitn(7, |b| *b == b'\n');
    if fields.next() != Some(b"V1") {
        return Err(Malformed("not a viewer change (V1)"));
    }
    let node = text(fields.next())?.to_owned();
    let viewing = match text(fields.next())? {
        "+" => true,
        "-" => false,
        _ => return Err(Malformed("bad viewer kind")),
    };
    let (room, user_id) = (text(fields.next())?.to_owned(), text(fields.next())?.to_owned());
    let (username, name) = (text(fields.next())?.to_owned(), text(fields.next())?.to_owned());
    if node.is_empty() || room.is_empty() || user_id.is_empty() || room.contains(' ') {
        return Err(Malformed("empty node, room or user"));
    }
    Ok(WireViewer { node, viewing, room, user_id, username, name })
}

fn text(field: Option<&[u8]>) -> Result<&str, Malformed> {
    std::str::from_utf8(field.ok_or(Malformed("missing field"))?).map_err(|_| Malformed("field is not UTF-8"))
}

fn seq(field: Option<&[u8]>) -> Result<Option<i64>, Malformed> {
    match text(field)? {
        "" => Ok(None),
        seq => Ok(Some(seq.parse::<i64>().ok().filter(|seq| *seq > 0).ok_or(Malformed("bad seq"))?)),
    }
}

fn node(field: Option<&[u8]>) -> Result<NodeId, Malformed> {
    u64::from_str_radix(text(field)?, 16).map(NodeId).map_err(|_| Malformed("bad node id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_round_trip() {
        let node = NodeId(0xabc);
        for (seq, except) in [
            (None, None),
            (Some(7), Some(Except::Connection(ConnId(0x1f)))),
            (Some(1), Some(Except::User("6b0226dbd31e82201c51ad72".into()))),
        ] {
            let frame = "{\"type\":\"x\",\"text\":\"two\\nlines\"}\n";
            let decoded = decode_publication(&encode_publication(node, seq, except.as_ref(), frame)).expect("decodes");
            assert_eq!(decoded, WirePublication { node, seq, except, frame: Frame::from(frame.to_owned()) });
        }
    }

    #[test]
    fn memberships_round_trip() {
        for (joins, from_seq) in [(true, Some(4)), (true, None), (false, None)] {
            let encoded = encode_membership(NodeId(5), joins, from_seq, "u1", "thread:t");
            let decoded = decode_membership(&encoded).expect("decodes");
            assert_eq!(
                decoded,
                WireMembership { node: NodeId(5), joins, from_seq, user_id: "u1".into(), room: "thread:t".into() }
            );
        }
    }

    #[test]
    fn presence_changes_round_trip() {
        let rooms: Vec<Box<str>> = vec!["thread:a".into(), "canvas:b".into()];
        let frame = "{\"type\":\"user_status_changed\"}";
        let decoded = decode_presence(&encode_presence("node-1", true, "u1", Some((&rooms, frame)))).expect("decodes");
        let news = Some((vec!["thread:a".to_owned(), "canvas:b".to_owned()], Frame::from(frame.to_owned())));
        assert_eq!(decoded, WirePresence { node: "node-1".into(), online: true, user_id: "u1".into(), news });
        let decoded = decode_presence(&encode_presence("n", false, "u1", None)).expect("decodes");
        assert_eq!(decoded, WirePresence { node: "n".into(), online: false, user_id: "u1".into(), news: None });
        for payload in
            [&b"S1\nn\n*\nu\n\n"[..], b"S1\n\n+\nu\n\n", b"S1\nn\n+\n\n\n", b"S1\nn\n+\nu", b"S2\nn\n+\nu\n\n"]
        {
            assert!(decode_presence(payload).is_err(), "{:?}", String::from_utf8_lossy(payload));
        }
    }

    #[test]
    fn viewer_changes_round_trip() {
        let decoded = decode_viewer(&encode_viewer("n1", true, "canvas:c", "u1", "ann", "Ann\nB")).expect("decodes");
        let expected = WireViewer {
            node: "n1".into(),
            viewing: true,
            room: "canvas:c".into(),
            user_id: "u1".into(),
            username: "ann".into(),
            name: "Ann\nB".into(),
        };
        assert_eq!(decoded, expected);
        for payload in
            [&b"V1\nn\n*\nr\nu\na\nb"[..], b"V1\nn\n+\n\nu\na\nb", b"V1\nn\n+\nr\nu", b"V2\nn\n+\nr\nu\na\nb"]
        {
            assert!(decode_viewer(payload).is_err(), "{:?}", String::from_utf8_lossy(payload));
        }
    }

    #[test]
    fn a_viewers_reset_names_its_node() {
        assert_eq!(decode_viewers_reset(&encode_viewers_reset("node-1")), Some("node-1"));
        for payload in [&b"R1\n"[..], b"R1", b"R2\nn", b"R1\nn\nm", b"V1\nn\n+\nr\nu\na\nb"] {
            assert_eq!(decode_viewers_reset(payload), None, "{:?}", String::from_utf8_lossy(payload));
        }
    }

    #[test]
    fn anything_else_is_malformed() {
        for payload in [
            &b""[..],
            b"P1",
            b"P2\n1\n\n\n{}",
            b"P1\nzz\n\n\n{}",
            b"P1\n1\n-3\n\n{}",
            b"P1\n1\nx\n\n{}",
            b"P1\n1\n\nq\n{}",
            b"P1\n1\n\nu\n{}",
            b"P1\n1\n\n\n",
            b"P1\n1\n\n\n\xff\xfe",
        ] {
            assert!(decode_publication(payload).is_err(), "{:?}", String::from_utf8_lossy(payload));
        }
        for payload in
            [&b"M1\n1\nx\n\nu\nr"[..], b"M1\n1\nj\n\n\nr", b"M1\n1\nj\n\nu", b"M1\n1\nj\n0\nu\nr", b"P1\n1\nj\n\nu\nr"]
        {
            assert!(decode_membership(payload).is_err(), "{:?}", String::from_utf8_lossy(payload));
        }
    }
}
