//! Errors a domain rule can answer with; each maps to one [`ErrorCode`].

use tandem_protocol::ErrorCode;

use crate::store::StoreError;

/// Why a domain operation was refused or failed. The message is safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule (length, characters, range).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The object does not exist or the caller may not see it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// Only a draft's ring holder may do this.
    #[error("{0}")]
    NotRingHolder(String),
    /// The input is larger than its limit (e.g. a message snapshot over 64 KiB).
    #[error("{0}")]
    TooLarge(String),
    /// Stored data breaks an invariant (a bug or a damaged database). The message is logged,
    /// never shown to callers.
    #[error("{0}")]
    Internal(String),
    /// The store failed; see the source for details (not shown to callers).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tandem_protocol::room::RoomError> for DomainError {
    fn from(error: tandem_protocol::room::RoomError) -> Self {
        Self::Invalid(error.to_string())
    }
}

impl DomainError {
    /// The machine-readable code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::NotRingHolder(_) => ErrorCode::NotRingHolder,
            Self::TooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Store(StoreError::Unavailable(_)) => ErrorCode::Unavailable,
            Self::Store(_) => ErrorCode::Internal,
        }
    }
}
