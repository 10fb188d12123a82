//! A typed client for Tandem's REST API (`/api/v1`).

use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tandem_protocol::ErrorBody;
use tandem_protocol::rest::{
    AddCanvasMemberRequest, AddCollaboratorRequest, AnswerInviteRequest, AppendSegmentRequest, Canvas,
    CanvasChatHistory, CreateCanvasRequest, CreateDraftRequest, CreateThreadRequest, CreateTileRequest, Draft,
    EventPage, Invite, InviteAction, InviteLink, InviteRequest, JoinRequest, Message, MessageList, PassRingRequest,
    Playlist, PlaylistItem, PostMessageRequest, Segment, SignUpRequest, SignUpResponse, Thread, ThreadList, Tile,
    UpdateTileRequest, UpdateUsernameRequest, User, UserList,
};

/// Adds `X-Connection-Id` (the author's socket, which the server then skips) when given.
fn with_connection(request: RequestBuilder, connection_id: Option<&str>) -> RequestBuilder {
    match connection_id {
        Some(id) => request.header("x-connection-id", id),
        None => request,
    }
}

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The server answered with an error body.
    #[error("{status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error `code` (see docs/ERRORS.md).
        code: String,
        /// The human message.
        message: String,
    },
    /// The request did not complete or the answer was not the expected JSON.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
}

/// REST client bound to a base URL and (optionally) a bearer token. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// A client for `base_url` (`http://host:port`) without a token (enough for sign-up).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_extra_roots(base_url, &[])
    }

    /// Like [`Api::new`], also trusting `extra_roots` (DER certificates) for `https://`.
    pub fn with_extra_roots(base_url: impl Into<String>, extra_roots: &[Vec<u8>]) -> Self {
        let http = crate::tls::http_client(&crate::tls::client_config(extra_roots));
        Self { http, base: base_url.into().trim_end_matches('/').to_owned(), token: None }
    }

    /// The same client authenticated with `token`.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Self { token: Some(token.into()), ..self.clone() }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, RestError> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            let text = response.text().await?;
            // 204 answers deserialize from `null`.
            let body = if text.is_empty() { "null" } else { text.as_str() };
            return serde_json::from_str(body).map_err(|e| RestError::Api {
                status: status.as_u16(),
                code: "invalid_response".into(),
                message: e.to_string(),
            });
        }
        let error: Result<ErrorBody, _> = response.json().await;
        Err(match error {
            Ok(body) => RestError::Api {
                status: status.as_u16(),
                code: body.error.code.to_string(),
                message: body.error.message,
            },
            Err(e) => RestError::Transport(e),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, RestError> {
        let request = self.request(method, path);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        self.send(request).await
    }

    /// `POST /users`: signs up; use the returned token with [`Api::with_token`].
    pub async fn sign_up(&self, username: Option<&str>) -> Result<SignUpResponse, RestError> {
        let body = SignUpRequest { username: username.map(str::to_owned), name: None };
        self.call(Method::POST, "/users", Some(&body)).await
    }

    /// `GET /users/me`.
    pub async fn me(&self) -> Result<User, RestError> {
        self.call(Method::GET, "/users/me", None::<&()>).await
    }

    /// `GET /users/{id}`.
    pub async fn user(&self, id: &str) -> Result<User, RestError> {
        self.call(Method::GET, &format!("/users/{id}"), None::<&()>).await
    }

    /// `PUT /users/{id}/username`.
    pub async fn set_username(&self, id: &str, username: &str) -> Result<User, RestError> {
        let body = UpdateUsernameRequest { username: username.to_owned() };
        self.call(Method::PUT, &format!("/users/{id}/username"), Some(&body)).await
    }

    /// `GET /users?online=`: the caller's collaborators.
    pub async fn collaborators(&self, online_only: bool) -> Result<UserList, RestError> {
        self.call(Method::GET, &format!("/users?online={online_only}"), None::<&()>).await
    }

    /// `POST /threads`.
    pub async fn create_thread(&self, name: &str) -> Result<Thread, RestError> {
        self.call(Method::POST, "/threads", Some(&CreateThreadRequest { name: name.to_owned() })).await
    }

    /// `GET /threads`: the caller's threads.
    pub async fn threads(&self) -> Result<ThreadList, RestError> {
        self.call(Method::GET, "/threads", None::<&()>).await
    }

    /// `GET /threads/{id}`.
    pub async fn thread(&self, id: &str) -> Result<Thread, RestError> {
        self.call(Method::GET, &format!("/threads/{id}"), None::<&()>).await
    }

    /// `POST /threads/{id}/invites`.
    pub async fn invite(&self, thread_id: &str, user_id: &str) -> Result<Invite, RestError> {
        let body = InviteRequest { user_id: user_id.to_owned() };
        self.call(Method::POST, &format!("/threads/{thread_id}/invites"), Some(&body)).await
    }

    /// `PUT /threads/{id}/invites/{user_id}`: accept or decline one's own invitation.
    pub async fn answer_invite(
        &self,
        thread_id: &str,
        user_id: &str,
        action: InviteAction,
    ) -> Result<Value, RestError> {
        let body = AnswerInviteRequest { action };
        self.call(Method::PUT, &format!("/threads/{thread_id}/invites/{user_id}"), Some(&body)).await
    }

    /// `POST /threads/{id}/invite-link`.
    pub async fn invite_link(&self, thread_id: &str) -> Result<InviteLink, RestError> {
        self.call(Method::POST, &format!("/threads/{thread_id}/invite-link"), None::<&()>).await
    }

    /// `POST /threads/{id}/join` with a link's code.
    pub async fn join(&self, thread_id: &str, code: &str) -> Result<Value, RestError> {
        let body = JoinRequest { code: code.to_owned() };
        self.call(Method::POST, &format!("/threads/{thread_id}/join"), Some(&body)).await
    }

    /// `DELETE /threads/{id}/users/{user_id}`: leave (self) or remove (creator).
    pub async fn remove_member(&self, thread_id: &str, user_id: &str) -> Result<Value, RestError> {
        self.call(Method::DELETE, &format!("/threads/{thread_id}/users/{user_id}"), None::<&()>).await
    }

    /// `POST /threads/{id}/messages`.
    pub async fn post_message(&self, thread_id: &str, snapshot: Value) -> Result<Message, RestError> {
        let body = PostMessageRequest { snapshot };
        self.call(Method::POST, &format!("/threads/{thread_id}/messages"), Some(&body)).await
    }

    /// `GET /threads/{id}/messages?before=&limit=`: newest first.
    pub async fn messages(&self, thread_id: &str, before: Option<&str>, limit: u32) -> Result<MessageList, RestError> {
        let mut request = self.request(Method::GET, &format!("/threads/{thread_id}/messages"));
        request = request.query(&[("limit", limit.to_string())]);
        if let Some(before) = before {
            request = request.query(&[("before", before)]);
        }
        self.send(request).await
    }

    /// `GET /users/{id}/playlist`.
    pub async fn playlist(&self, user_id: &str) -> Result<Playlist, RestError> {
        self.call(Method::GET, &format!("/users/{user_id}/playlist"), None::<&()>).await
    }

    /// `POST /users/{id}/playlist`: adds or replaces an item (a client-chosen `item_id` makes
    /// retries safe).
    pub async fn put_playlist_item(
        &self,
        user_id: &str,
        item_id: Option<&str>,
        data: Value,
    ) -> Result<PlaylistItem, RestError> {
        let body = json!({ "id": item_id, "data": data });
        self.call(Method::POST, &format!("/users/{user_id}/playlist"), Some(&body)).await
    }

    /// `DELETE /users/{id}/playlist/{item_id}` (idempotent).
    pub async fn delete_playlist_item(&self, user_id: &str, item_id: &str) -> Result<(), RestError> {
        self.call::<Value>(Method::DELETE, &format!("/users/{user_id}/playlist/{item_id}"), None::<&()>).await.map(drop)
    }

    /// `PUT /users/{id}/followed/{other_id}` (idempotent).
    pub async fn follow(&self, user_id: &str, other_id: &str) -> Result<(), RestError> {
        self.call::<Value>(Method::PUT, &format!("/users/{user_id}/followed/{other_id}"), None::<&()>).await.map(drop)
    }

    /// `DELETE /users/{id}/followed/{other_id}` (idempotent).
    pub async fn unfollow(&self, user_id: &str, other_id: &str) -> Result<(), RestError> {
        self.call::<Value>(Method::DELETE, &format!("/users/{user_id}/followed/{other_id}"), None::<&()>)
            .await
            .map(drop)
    }

    /// `GET /users/{id}/followed`.
    pub async fn followed(&self, user_id: &str) -> Result<Value, RestError> {
        self.call(Method::GET, &format!("/users/{user_id}/followed"), None::<&()>).await
    }

    /// `POST /drafts`: the caller becomes owner, first collaborator and ring holder.
    pub async fn create_draft(&self, title: &str) -> Result<Draft, RestError> {
        self.call(Method::POST, "/drafts", Some(&CreateDraftRequest { title: title.to_owned() })).await
    }

    /// `GET /drafts/{id}` (collaborators only): also the polling fallback's refetch.
    pub async fn draft(&self, id: &str) -> Result<Draft, RestError> {
        self.call(Method::GET, &format!("/drafts/{id}"), None::<&()>).await
    }

    /// `POST /drafts/{id}/segments` (ring holder only; `409 not_ring_holder` otherwise).
    pub async fn append_segment(&self, draft_id: &str, content: &str) -> Result<Segment, RestError> {
        let body = AppendSegmentRequest { content: content.to_owned() };
        self.call(Method::POST, &format!("/drafts/{draft_id}/segments"), Some(&body)).await
    }

    /// `POST /drafts/{id}/ring`: hands the ring to another collaborator (holder only).
    pub async fn pass_ring(&self, draft_id: &str, to_user_id: &str) -> Result<Draft, RestError> {
        let body = PassRingRequest { to_user_id: to_user_id.to_owned() };
        self.call(Method::POST, &format!("/drafts/{draft_id}/ring"), Some(&body)).await
    }

    /// `POST /drafts/{id}/collaborators`.
    pub async fn add_collaborator(&self, draft_id: &str, user_id: &str) -> Result<Draft, RestError> {
        let body = AddCollaboratorRequest { user_id: user_id.to_owned() };
        self.call(Method::POST, &format!("/drafts/{draft_id}/collaborators"), Some(&body)).await
    }

    /// `POST /canvases`.
    pub async fn create_canvas(&self, name: &str, width: i64, height: i64) -> Result<Canvas, RestError> {
        let body = CreateCanvasRequest { name: name.to_owned(), width, height };
        self.call(Method::POST, "/canvases", Some(&body)).await
    }

    /// `GET /canvases/{id}` (members only).
    pub async fn canvas(&self, id: &str) -> Result<Canvas, RestError> {
        self.call(Method::GET, &format!("/canvases/{id}"), None::<&()>).await
    }

    /// `POST /canvases/{id}/members`.
    pub async fn add_canvas_member(&self, canvas_id: &str, user_id: &str) -> Result<Canvas, RestError> {
        let body = AddCanvasMemberRequest { user_id: user_id.to_owned() };
        self.call(Method::POST, &format!("/canvases/{canvas_id}/members"), Some(&body)).await
    }

    /// `POST /canvases/{id}/tiles` at `(x, y)` inside the canvas (one tile per cell).
    /// `connection_id` (from the `connected` frame) keeps the event off that socket.
    pub async fn create_tile(
        &self,
        canvas_id: &str,
        x: i64,
        y: i64,
        data: Value,
        connection_id: Option<&str>,
    ) -> Result<Tile, RestError> {
        let request = self.request(Method::POST, &format!("/canvases/{canvas_id}/tiles"));
        let request = with_connection(request, connection_id).json(&CreateTileRequest { x, y, data });
        self.send(request).await
    }

    /// `PUT /canvases/{id}/tiles/{tile_id}` (the tile's creator only).
    pub async fn update_tile(
        &self,
        canvas_id: &str,
        tile_id: &str,
        data: Value,
        connection_id: Option<&str>,
    ) -> Result<Tile, RestError> {
        let request = self.request(Method::PUT, &format!("/canvases/{canvas_id}/tiles/{tile_id}"));
        let request = with_connection(request, connection_id).json(&UpdateTileRequest { data });
        self.send(request).await
    }

    /// `POST /canvases/{id}/tiles/{tile_id}/like` (once per user).
    pub async fn like_tile(
        &self,
        canvas_id: &str,
        tile_id: &str,
        connection_id: Option<&str>,
    ) -> Result<Tile, RestError> {
        let request = self.request(Method::POST, &format!("/canvases/{canvas_id}/tiles/{tile_id}/like"));
        self.send(with_connection(request, connection_id)).await
    }

    /// `GET /canvases/{id}/chat?limit=`.
    pub async fn canvas_chat(&self, canvas_id: &str, limit: u32) -> Result<CanvasChatHistory, RestError> {
        let request = self.request(Method::GET, &format!("/canvases/{canvas_id}/chat")).query(&[("limit", limit)]);
        self.send(request).await
    }

    /// `GET /rooms/{room}/events?after=&limit=` without waiting (the SDK's polling fallback
    /// long-polls this endpoint itself).
    pub async fn room_events(&self, room: &str, after: i64, limit: u32) -> Result<EventPage, RestError> {
        let request = self
            .request(Method::GET, &format!("/rooms/{room}/events"))
            .query(&[("after", after), ("limit", i64::from(limit))]);
        self.send(request).await
    }
}
