//! Extractors: [`AuthUser`], the only place REST authentication happens, and [`JsonBody`],
//! a JSON body whose rejections are [`AppError`]s.

use axum::extract::{FromRequest, FromRequestParts};
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

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let credentials = match (header(AUTHORIZATION.as_str()), header("x-user-id")) {
            (Some(value), _) => Credentials::Token(bearer_token(value).ok_or(
                AuthError::Invalid("the Authorization header must be `Bearer <token>`".into()),
            )?),
            (None, Some(user_id)) => Credentials::DevUserId(user_id.trim()),
            (None, None) => return Err(AuthError::Missing.into()),
        };
        Ok(Self(state.auth.authenticate(credentials).await?))
    }
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
