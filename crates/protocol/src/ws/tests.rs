//! Wire-format tests: field names, `ref`, type lists.

use super::*;
use crate::ErrorCode;
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
    assert_eq!(serde_json::to_value(error).unwrap(), json!({"type": "error", "code": "unknown_type", "message": "m"}));
}
