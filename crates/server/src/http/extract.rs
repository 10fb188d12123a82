//! Extractors: [`AuthUser`], the only place REST authentication happens, and [`JsonBody`],
//! a JSON body whose rejections are [`AppError`]s.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{AppError, AppState};
use crate::auth::{AuthError, Credentials};
use crate::store::UserRecord;

/// The authenticated caller. Reads `Authorization: Bearer <token>`, or `X-User-Id` when the
/// server runs with `--dev-insecure-auth`; anything else is `401`.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserRecord);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credentials = credentials(&parts.headers, None)?.ok_or(AuthError::Missing)?;
        Ok(Self(state.auth.authenticate(credentials).await?))
    }
}

/// The credentials a request presents, in order of precedence: `Authorization: Bearer`, a
/// `token` query parameter (only WebSocket upgrades pass one), an `X-User-Id` header.
/// `Ok(None)` when there are none; an `Authorization` header that is not a bearer token is an error.
pub fn credentials<'a>(
    headers: &'a HeaderMap,
    query_token: Option<&'a str>,
) -> Result<Option<Credentials<'a>>, AuthError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(value) = header(AUTHORIZATION.as_str()) {
        let token = bearer_token(value)
            .ok_or_else(|| AuthError::Invalid("the Authorization header must be `Bearer <token>`".into()))?;
        return Ok(Some(Credentials::Token(token)));
    }
    if let Some(token) = query_token {
        return Ok(Some(Credentials::Token(token)));
    }
    Ok(header("x-user-id").map(|id| Credentials::DevUserId(id.trim())))
}

/// An app backend authenticated with one of the `--api-key` values (`Authorization: Bearer`).
#[derive(Debug, Clone, Copy)]
pub struct ApiKey;

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.config.api_keys.is_empty() {
            return Err(AuthError::Invalid("the publish API is closed: start the server with --api-key".into()).into());
        }
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or(AuthError::Missing)?;
        if state.config.api_keys.iter().any(|key| same_secret(key.as_bytes(), presented.as_bytes())) {
            Ok(Self)
        } else {
            Err(AuthError::Invalid("unknown API key".into()).into())
        }
    }
}

/// Compares secrets in time independent of where they first differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The token in an `Authorization: Bearer <token>` value (scheme matched case-insensitively).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A JSON request body. Requires `Content-Type: application/json`; syntax errors are `400
/// invalid_json`, a wrong shape `422 invalid_body`, a body over the limit `413`.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct JsonBody<T>(pub T);

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_scheme_is_parsed() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
