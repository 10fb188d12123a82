//! Who is calling: JWT issue/verify and the development `X-User-Id` shortcut.
//!
//! [`Authenticator::authenticate`] is the single place both REST (through the `AuthUser`
//! extractor) and WebSocket upgrades turn credentials into a user. Tokens are HS256 JWTs whose
//! `sub` is the user id; an unknown `sub` from an external issuer sharing the secret is
//! provisioned as a new user on first use.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::domain::{self, DomainError};
use crate::store::{Store, StoreError, UserRecord};

/// Settings key under which a generated secret is kept.
const SECRET_SETTING: &str = "jwt_secret";
/// Issuer written into tokens this server signs.
const ISSUER: &str = "tandem";

/// What a caller presented.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// A bearer token (header, query parameter or first frame).
    Token(&'a str),
    /// An `X-User-Id` header; honoured only with `--dev-insecure-auth`.
    DevUserId(&'a str),
}

/// Why a caller could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials at all.
    #[error("missing bearer token")]
    Missing,
    /// The token is malformed, badly signed or its claims are unusable.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token's `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `X-User-Id` was sent but the server does not run with `--dev-insecure-auth`.
    #[error("X-User-Id is only accepted with --dev-insecure-auth; send a bearer token")]
    DevAuthDisabled,
    /// The user could not be loaded or provisioned.
    #[error(transparent)]
    Domain(#[from] DomainError),
}

/// JWT claims Tandem reads and writes. Extra claims from external issuers are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (24 lowercase hex).
    pub sub: String,
    /// Expiry, seconds since the epoch. Required.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: u64,
    /// Issuer; `"tandem"` for tokens this server signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Display name an external issuer may provide; used when provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Issues and checks tokens and resolves callers to users.
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    token_ttl: Duration,
    dev_insecure_auth: bool,
    store: Store,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("token_ttl", &self.token_ttl)
            .field("dev_insecure_auth", &self.dev_insecure_auth)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds the authenticator. Without `secret`, the store's persisted secret is used, and
    /// generated (64 hex digits of randomness) on first start, so tokens survive restarts and
    /// every node sharing the database agrees on it.
    pub async fn new(
        store: Store,
        secret: Option<&str>,
        token_ttl: Duration,
        dev_insecure_auth: bool,
    ) -> Result<Self, StoreError> {
        let secret = match secret {
            Some(secret) => secret.to_owned(),
            None => {
                let bytes: [u8; 32] = rand::rng().random();
                let candidate: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                store.setting_or_insert(SECRET_SETTING, &candidate).await?
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            token_ttl,
            dev_insecure_auth,
            store,
        })
    }

    /// Signs a token for `user_id` that expires after the configured TTL.
    pub fn issue(&self, user_id: &str) -> Result<String, AuthError> {
        let now = u64::try_from(clock::now_ms() / 1000).unwrap_or(0);
        let claims = Claims {
            sub: user_id.to_owned(),
            iat: now,
            exp: now.saturating_add(self.token_ttl.as_secs()),
            iss: Some(ISSUER.to_owned()),
            name: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// Checks a token's signature, algorithm and expiry and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(e.to_string()),
            }
        })
    }

    /// Resolves credentials to a user, provisioning an unknown but validly signed `sub`.
    pub async fn authenticate(&self, credentials: Credentials<'_>) -> Result<UserRecord, AuthError> {
        let (user_id, name) = self.identify(credentials)?;
        Ok(domain::users::provision(&self.store, &user_id, name.as_deref()).await?)
    }

    /// Checks credentials without the store: the user id they name and the token's `name`
    /// claim. [`Authenticator::authenticate`] is this and the user's row.
    pub fn identify(&self, credentials: Credentials<'_>) -> Result<(String, Option<String>), AuthError> {
        Ok(match credentials {
            Credentials::Token(token) => {
                let claims = self.verify(token)?;
                if !domain::users::is_user_id(&claims.sub) {
                    return Err(AuthError::Invalid("`sub` must be a user id (24 lowercase hex characters)".into()));
                }
                (claims.sub, claims.name)
            }
            Credentials::DevUserId(_) if !self.dev_insecure_auth => {
                return Err(AuthError::DevAuthDisabled);
            }
            Credentials::DevUserId(id) => {
                if !domain::users::is_user_id(id) {
                    return Err(AuthError::Invalid("X-User-Id must be 24 lowercase hex characters".into()));
                }
                (id.to_owned(), None)
            }
        })
    }
}
