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
    tags(
        (name = "users", description = "Sign-up, profiles, usernames"),
        (name = "library", description = "User-owned data: playlist and followed users (owner only)"),
        (name = "threads", description = "Threads, invitations, invite links, membership, messages"),
        (name = "drafts", description = "Drafts with a baton: collaborators, segments, the ring (seed 003)"),
        (name = "canvases", description = "Canvases, members, tiles, likes, chat history"),
        (name = "rooms", description = "Event history, long-poll fallback, server publish API")
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` (HS256 JWT) and `api_key` security schemes.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build());
        components.add_security_scheme("bearer", bearer());
        // The publish API's key travels the same way (`Authorization: Bearer KEY`).
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("a --api-key value")).build(),
            ),
        );
    }
}
