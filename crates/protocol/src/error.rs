//! Error codes and the JSON error body (`{"error":{"code","message"}}`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A machine-readable error code. Serialized in `snake_case`; clients match on it, never on the
/// human message. New codes may be added, so clients should treat unknown codes as generic errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body is not valid JSON.
    InvalidJson,
    /// The body is JSON but does not have the expected shape (missing or mistyped field).
    InvalidBody,
    /// A field has a value outside its rules (e.g. a username with forbidden characters).
    ValidationFailed,
    /// The request needs a valid bearer token and did not have one.
    Unauthorized,
    /// The caller is authenticated but not allowed to do this.
    Forbidden,
    /// The resource does not exist, or the caller may not know that it exists.
    NotFound,
    /// The HTTP method is not supported on this route.
    MethodNotAllowed,
    /// The change conflicts with the current state (e.g. a username already taken).
    Conflict,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The request's `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// `/ws` was requested without a WebSocket upgrade.
    UpgradeRequired,
    /// A WebSocket frame's `type` is not one the server knows.
    UnknownType,
    /// A WebSocket frame is JSON with a known `type` but a missing or mistyped field.
    InvalidFrame,
    /// Too many frames too fast; slow down (the connection closes with 1008 if it goes on).
    RateLimited,
    /// Only a draft's ring holder may do this (append a segment, pass the ring).
    NotRingHolder,
    /// The store is not reachable; retry later.
    Unavailable,
    /// Something failed inside the server; the message does not leak details.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire (`"not_found"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidBody => "invalid_body",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UpgradeRequired => "upgrade_required",
            Self::UnknownType => "unknown_type",
            Self::InvalidFrame => "invalid_frame",
            Self::RateLimited => "rate_limited",
            Self::NotRingHolder => "not_ring_holder",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every REST error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation, safe to show to a developer.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name serde knows, read from its "unknown variant" message (which lists them all),
    /// so a variant whose `as_str` disagrees with its wire name fails here even if nobody
    /// remembered to list it.
    #[test]
    fn as_str_matches_serde_name() {
        let error = serde_json::from_str::<ErrorCode>("\"not a code\"").unwrap_err().to_string();
        let (_, expected) = error.split_once("expected one of ").expect("serde's unknown-variant message");
        let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        assert!(names.len() >= 17, "parsed {names:?} from {error}");
        for name in names {
            let code: ErrorCode = serde_json::from_value(serde_json::Value::String(name.to_owned())).unwrap();
            assert_eq!(code.as_str(), name);
        }
    }
}
