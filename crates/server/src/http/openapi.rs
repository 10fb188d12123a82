//! The OpenAPI document's frame: title, security scheme, shared schemas. Paths are collected
//! from the handlers' `#[utoipa::path]` attributes by `utoipa_axum`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Root of the generated document served at `/api/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "Tandem", description = "Self-hosted real-time collaboration server: REST API. \
        WebSocket frames are documented in docs/PROTOCOL.md."),
    modifiers(&BearerAuth),
    components(schemas(tandem_protocol::ErrorBody, tandem_protocol::ErrorDetail, tandem_protocol::ErrorCode)),
    tags((name = "users", description = "Sign-up, profiles, usernames"))
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme (HS256 JWT) used by authenticated operations.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}
