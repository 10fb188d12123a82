//! The reader: decodes client frames, applies the rate limit, dispatches, answers `ref`s.

use futures_util::{Stream, StreamExt};
use serde_json::Value;
use tandem_protocol::ErrorCode;
use tandem_protocol::ws::{ClientFrame, ClientMessage, ServerFrame};
use tungstenite::Message;

use super::handlers::{self, Reply};
use super::rate_limit::{RateGuard, Verdict};
use super::session::Session;
use crate::hub::{CloseReason, Frame, encode};

/// The answer to a binary frame.
const BINARY_REFUSED: &str = "frames are JSON text; binary frames are not supported";

/// Reads until the client closes, the stream fails, or the client breaks a hard rule
/// (oversized frame, persistent flooding). Returns why it stopped.
pub async fn run<S>(stream: &mut S, session: &Session) -> CloseReason
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let settings = &session.context.settings;
    let mut rate = RateGuard::new(settings.rate_limit, settings.rate_burst);
    let metrics = crate::telemetry::ws();
    loop {
        let message = match stream.next().await {
            None => return CloseReason::Lost,
            Some(Err(error)) => return classify(error),
            Some(Ok(message)) => message,
        };
        session.connection.touch();
        metrics.frames_in.increment(1);
        let text = match message {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
            // The writer answers the close.
            Message::Close(_) => return CloseReason::Clean,
            Message::Ping(data) => {
                session.connection.send(Frame::pong(data));
                continue;
            }
            // Pongs only count as a sign of life. Raw frames are never produced by reading.
            Message::Pong(_) | Message::Frame(_) => continue,
        };
        match rate.check() {
            Verdict::Allow => match text {
                // Boxed: handlers await store queries; keeping their state out of the idle
                // reader saves memory on every connection.
                Some(text) => Box::pin(handle_text(session, &text)).await,
                None => reply_error(session, ErrorCode::InvalidFrame, BINARY_REFUSED, None),
            },
            Verdict::Refuse => {
                metrics.rate_limited.increment(1);
                reply_error(session, ErrorCode::RateLimited, "too many frames; slow down", None);
            }
            Verdict::Disconnect => return CloseReason::RateLimited,
        }
    }
}

/// Tells a client's violation (oversized message, text that is not UTF-8, broken framing) from
/// a broken stream.
fn classify(error: tungstenite::Error) -> CloseReason {
    use tungstenite::error::ProtocolError::ResetWithoutClosingHandshake;
    match error {
        tungstenite::Error::Capacity(_) => CloseReason::TooBig,
        tungstenite::Error::Utf8(_) => CloseReason::InvalidUtf8,
        // A peer that vanishes without a close handshake is a disconnect, not a violation.
        tungstenite::Error::Protocol(ResetWithoutClosingHandshake) => CloseReason::Lost,
        tungstenite::Error::Protocol(_) => CloseReason::ProtocolError,
        _ => CloseReason::Lost,
    }
}

async fn handle_text(session: &Session, text: &str) {
    let message = match decode(text) {
        Ok(message) => message,
        Err((code, message, reference)) => return reply_error(session, code, &message, reference),
    };
    match handlers::dispatch(session, message.frame).await {
        Ok(reply) => {
            if let Reply::Frame(frame) = reply {
                session.connection.send(encode(&frame));
            }
            if let Some(reference) = message.reference {
                session.connection.send(encode(&ServerFrame::Ack { reference }));
            }
        }
        Err(error) => {
            let code = error.code();
            let text = match code {
                ErrorCode::Internal => {
                    tracing::error!(error = ?error, "frame handler failed");
                    "internal error; see the server log".to_owned()
                }
                ErrorCode::Unavailable => {
                    tracing::warn!(error = ?error, "frame handler failed: store unavailable");
                    "the data store is unavailable; retry later".to_owned()
                }
                _ => error.to_string(),
            };
            reply_error(session, code, &text, message.reference);
        }
    }
}

fn reply_error(session: &Session, code: ErrorCode, message: &str, reference: Option<Value>) {
    session.connection.send(encode(&ServerFrame::Error { code, message: message.to_owned(), reference }));
}

/// Parses one text frame, telling apart malformed JSON, an unknown `type` and a bad field.
pub fn decode(text: &str) -> Result<ClientMessage, (ErrorCode, String, Option<Value>)> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| (ErrorCode::InvalidJson, format!("frame is not valid JSON: {e}"), None))?;
    let Some(object) = value.as_object() else {
        return Err((ErrorCode::InvalidFrame, "a frame is a JSON object with a \"type\"".into(), None));
    };
    let reference = object.get("ref").cloned();
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return Err((ErrorCode::InvalidFrame, "the frame has no string \"type\"".into(), reference));
    };
    if !ClientFrame::TYPES.contains(&kind) {
        return Err((ErrorCode::UnknownType, format!("unknown frame type `{kind}`"), reference));
    }
    let kind = kind.to_owned();
    serde_json::from_value(value)
        .map_err(|e| (ErrorCode::InvalidFrame, format!("invalid `{kind}` frame: {e}"), reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_tells_errors_apart() {
        assert_eq!(decode("{nope").unwrap_err().0, ErrorCode::InvalidJson);
        assert_eq!(decode("[1]").unwrap_err().0, ErrorCode::InvalidFrame);
        assert_eq!(decode(r#"{"ref":1}"#).unwrap_err().0, ErrorCode::InvalidFrame);
        let (code, _, reference) = decode(r#"{"type":"dance","ref":"r1"}"#).unwrap_err();
        assert_eq!((code, reference), (ErrorCode::UnknownType, Some(Value::from("r1"))));
        let (code, message, _) = decode(r#"{"type":"subscribe"}"#).unwrap_err();
        assert_eq!(code, ErrorCode::InvalidFrame);
        assert!(message.contains("room"), "{message}");
        assert_eq!(decode(r#"{"type":"list_users"}"#).unwrap().frame, ClientFrame::ListUsers);
    }

    /// The reader driven by an in-memory stream of frames (no socket, no server): every answer
    /// lands on the connection's queue, and the stream's end is the reader's end.
    #[tokio::test]
    async fn frames_from_a_channel_are_answered_on_the_queue() {
        use std::sync::Arc;

        use crate::auth::Authenticator;
        use crate::hub::Hub;
        use crate::store::{Store, UserRecord};
        use crate::ws::context::{Context, Settings};

        let dir = tempfile::tempdir().expect("temp dir");
        let config = crate::ServeConfig::with_database_url(format!("sqlite://{}/t.db", dir.path().display()));
        let store = Store::connect(&config.database_url).await.expect("store");
        let auth =
            Authenticator::new(store.clone(), Some("a test secret"), config.token_ttl, false).await.expect("auth");
        let hub = Hub::local();
        let context = Arc::new(Context {
            store,
            hub: hub.clone(),
            auth: Arc::new(auth),
            settings: Settings::from_config(&config),
            tasks: tokio_util::task::TaskTracker::new(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            runtime: tokio::runtime::Handle::current(),
        });
        let user = UserRecord {
            id: "a".repeat(24),
            username: "alice".into(),
            name: String::new(),
            created_at: 0,
            last_online: None,
        };
        let connection = hub.connection(&user.id, 64);
        let session =
            Session { connection: connection.clone(), user: Arc::new(user), context, canvases: Default::default() };
        let frames = vec![
            Ok(Message::text("{nope")),
            Ok(Message::text(r#"{"type":"ping","ref":1}"#)),
            Ok(Message::binary(vec![1, 2])),
            Ok(Message::text(r#"{"type":"typing","room":"thread:x","is_typing":true,"ref":2}"#)),
        ];
        let mut stream = futures_util::stream::iter(frames);
        assert_eq!(run(&mut stream, &session).await, CloseReason::Lost, "the stream ended without a close frame");

        let mut batch = std::collections::VecDeque::new();
        connection.queue().next_batch(&mut batch).await;
        let answers: Vec<Value> = batch.iter().map(|f| serde_json::from_str(f.as_str()).expect("json")).collect();
        let summary: Vec<(String, Value)> =
            answers.iter().map(|a| (a["type"].as_str().unwrap_or_default().to_owned(), a["code"].clone())).collect();
        assert_eq!(
            summary,
            [
                ("error".into(), Value::from("invalid_json")),
                ("pong".into(), Value::Null),
                ("ack".into(), Value::Null),
                ("error".into(), Value::from("invalid_frame")),
                ("error".into(), Value::from("not_found")),
            ]
        );
        assert_eq!((answers[2]["ref"].clone(), answers[4]["ref"].clone()), (Value::from(1), Value::from(2)));
    }
}
