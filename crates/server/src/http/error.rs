//! `AppError`: the one mapping from any failure to an HTTP status and the JSON error body.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tandem_protocol::{ErrorBody, ErrorCode, ErrorDetail};

use crate::auth::AuthError;
use crate::domain::DomainError;
use crate::store::StoreError;

/// Any error a REST handler can return. Rendered as `{"error":{"code","message"}}` with the
/// matching status, and logged exactly once, here: 5xx at `error`, the rest at `debug`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A domain rule refused the request or the store failed underneath it.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The caller could not be authenticated.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The JSON body could not be read (syntax, shape, content type, size).
    #[error(transparent)]
    Json(#[from] JsonRejection),
    /// The query string could not be read.
    #[error("invalid query string: {0}")]
    Query(#[from] QueryRejection),
    /// A plain HTTP request reached `/ws`.
    #[error("this endpoint only accepts WebSocket upgrades: {0}")]
    Upgrade(#[from] super::handshake::HandshakeError),
    /// No route matches the path.
    #[error("no route for this path; the API lives under /api/v1")]
    RouteNotFound,
    /// The route exists but not with this method.
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    /// A handler panicked; the panic message is logged, not returned.
    #[error("internal error")]
    Panic,
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        Self::Domain(DomainError::Store(error))
    }
}

impl AppError {
    /// The status and code this error answers with.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::Domain(error) => {
                let code = error.code();
                (status_of(code), code)
            }
            Self::Auth(AuthError::Domain(error)) => match error.code() {
                // A token whose `sub` cannot be provisioned is a bad token, not a bad request.
                ErrorCode::ValidationFailed => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
                code => (status_of(code), code),
            },
            Self::Auth(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::Json(rejection) => {
                let code = match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
                    StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidBody,
                    _ => ErrorCode::InvalidJson,
                };
                (status_of(code), code)
            }
            Self::Query(_) => (StatusCode::BAD_REQUEST, ErrorCode::ValidationFailed),
            Self::Upgrade(_) => (StatusCode::UPGRADE_REQUIRED, ErrorCode::UpgradeRequired),
            Self::RouteNotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            Self::Panic => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }

    fn public_message(&self, code: ErrorCode) -> String {
        match code {
            // Never leak database or panic details to callers; they are in the log.
            ErrorCode::Internal => "internal error; see the server log".to_owned(),
            ErrorCode::Unavailable => "the data store is unavailable; retry later".to_owned(),
            _ => match self {
                Self::Json(rejection) => rejection.body_text(),
                other => other.to_string(),
            },
        }
    }
}

/// The HTTP status for an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidJson | ErrorCode::ValidationFailed | ErrorCode::UnknownType | ErrorCode::InvalidFrame => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::InvalidBody => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Conflict | ErrorCode::NotRingHolder => StatusCode::CONFLICT,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, %code, "request failed");
        } else {
            tracing::debug!(error = %self, %code, "request refused");
        }
        let body = ErrorBody { error: ErrorDetail { code, message: self.public_message(code) } };
        (status, Json(body)).into_response()
    }
}

/// Fallback for paths no route matches.
pub async fn route_not_found() -> AppError {
    AppError::RouteNotFound
}

/// Fallback for known paths with an unsupported method.
pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
