//! The web app's HTTP side (API.md §7, §3): the page at `/` and at every deep link with its
//! security headers, the app's files under `/app/`, JSON 404s kept for unknown API paths,
//! `--cors-origins` and `--public-url`.

mod common;

use common::{Engine, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

/// A server on SQLite with `configure` applied.
async fn server(configure: impl FnOnce(&mut tandem_server::ServeConfig)) -> TestServer {
    TestServer::start_with(Engine::Sqlite, configure).await.expect("SQLite server")
}

#[tokio::test]
async fn the_page_answers_at_root_and_every_deep_link_with_its_security_headers() {
    let server = server(|_| {}).await;
    for path in ["/", "/threads/abc", "/drafts/abc", "/canvases/abc", "/join/abc?code=00", "/library"] {
        let response = server.http.get(server.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8", "{path}");
        let csp = headers["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let body = response.text().await.expect("body");
        assert!(body.contains("<html"), "{path}: {body}");
        assert!(body.contains("/app/"), "the page loads its modules from /app/");
    }
}

#[tokio::test]
async fn app_files_are_served_and_nothing_outside_them() {
    let server = server(|_| {}).await;
    let page = server.http.get(server.url("/")).send().await.expect("page").text().await.expect("body");
    let script =
        page.split("src=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("the page names its entry module");
    let response = server.http.get(server.url(script)).send().await.expect("module");
    assert_eq!(response.status(), 200, "{script}");
    assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    for path in ["/app/nope.js", "/app/..%2F..%2FCargo.toml", "/app/../Cargo.toml", "/app/%2e%2e/package.json"] {
        let (status, body) = server.call("GET", path, None, None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn unknown_api_paths_stay_json_404_and_the_sdk_is_still_served() {
    let server = server(|_| {}).await;
    for path in ["/api/v1/nope", "/api/v1/threads/x/nope", "/nope", "/threads/a/b"] {
        let (status, body) = server.call("GET", path, None, None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let response = server.http.get(server.url("/sdk/tandem.js")).send().await.expect("sdk");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
}

/// A preflight from `origin` for a POST with the headers the SDK sends.
async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    server
        .http
        .request(Method::OPTIONS, server.url("/api/v1/threads"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, idempotency-key")
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_origins_get_cors_headers_and_other_origins_none() {
    let server = server(|config| {
        config.cors_origins = vec!["https://app.example".into(), "http://localhost:5173".into()];
    })
    .await;
    let allowed = preflight(&server, "https://app.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    let allow_headers = headers["access-control-allow-headers"].to_str().expect("ascii").to_ascii_lowercase();
    for name in ["authorization", "content-type", "idempotency-key"] {
        assert!(allow_headers.contains(name), "{allow_headers}");
    }
    let methods = headers["access-control-allow-methods"].to_str().expect("ascii");
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }

    let (_, token) = server.sign_up("corsy").await;
    let response = server
        .http
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(&token)
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "http://localhost:5173");

    let refused = preflight(&server, "https://evil.example").await;
    assert!(
        refused.headers().keys().all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        refused.headers()
    );
    let response = server
        .http
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert!(response.headers().keys().all(|name| !name.as_str().starts_with("access-control-")));
}

#[tokio::test]
async fn without_cors_origins_no_response_carries_cors_headers() {
    let server = server(|_| {}).await;
    let response = preflight(&server, "https://app.example").await;
    assert!(response.headers().keys().all(|name| !name.as_str().starts_with("access-control-")));
}

/// Creates a thread as a new user and returns its invite link.
async fn invite_link(server: &TestServer) -> Value {
    let (_, token) = server.sign_up("linker").await;
    let (status, thread) = server.call("POST", "/api/v1/threads", Some(&token), Some(json!({ "name": "t" }))).await;
    assert_eq!(status, 201);
    let id = thread["id"].as_str().expect("id");
    let (status, link) = server.call("POST", &format!("/api/v1/threads/{id}/invite-link"), Some(&token), None).await;
    assert_eq!(status, 201, "{link}");
    json!({ "id": id, "code": link["code"], "url": link["url"] })
}

#[tokio::test]
async fn invite_links_are_absolute_with_public_url_and_open_the_app() {
    let server = server(|config| config.public_url = Some("https://collab.example".into())).await;
    let link = invite_link(&server).await;
    let url = link["url"].as_str().expect("url");
    let expected = format!(
        "https://collab.example/join/{}?code={}",
        link["id"].as_str().expect("id"),
        link["code"].as_str().expect("code")
    );
    assert_eq!(url, expected);
    let path = url.trim_start_matches("https://collab.example");
    let response = server.http.get(server.url(path)).send().await.expect("open link");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
}

#[tokio::test]
async fn invite_links_are_relative_without_public_url() {
    let server = server(|_| {}).await;
    let link = invite_link(&server).await;
    let expected = format!("/join/{}?code={}", link["id"].as_str().expect("id"), link["code"].as_str().expect("code"));
    assert_eq!(link["url"], expected);
}

/// `tandem serve` with one environment variable set to a malformed value: it must refuse to
/// start and name the flag, which shows the variable is read.
fn refused_env(name: &str, value: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite::memory:"])
        .env(name, value)
        .output()
        .expect("run tandem");
    assert!(!output.status.success(), "{name}={value} was accepted");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn public_url_and_cors_origins_read_their_env_vars() {
    let stderr = refused_env("TANDEM_PUBLIC_URL", "collab.example");
    assert!(stderr.contains("--public-url"), "{stderr}");
    let stderr = refused_env("TANDEM_CORS_ORIGINS", "https://a.example,https://b.example/path");
    assert!(stderr.contains("--cors-origins"), "{stderr}");
}

#[tokio::test]
async fn users_search_by_username_prefix_ignoring_case() {
    let server = server(|_| {}).await;
    let (_, token) = server.sign_up("searcher").await;
    for name in ["Alice", "alicia", "al_x", "bob"] {
        server.sign_up(name).await;
    }
    let (status, body) = server.call("GET", "/api/v1/users/search?q=ALI", Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> =
        body["users"].as_array().expect("users").iter().filter_map(|u| u["username"].as_str()).collect();
    assert_eq!(names, ["Alice", "alicia"]);
    // `_` is a LIKE wildcard: it must only match itself.
    let (_, body) = server.call("GET", "/api/v1/users/search?q=al_", Some(&token), None).await;
    let names: Vec<&str> =
        body["users"].as_array().expect("users").iter().filter_map(|u| u["username"].as_str()).collect();
    assert_eq!(names, ["al_x"]);
    for empty in ["/api/v1/users/search", "/api/v1/users/search?q="] {
        let (status, body) = server.call("GET", empty, Some(&token), None).await;
        assert_eq!((status, body), (200, json!({ "users": [] })), "{empty}");
    }
    for bad in ["%25", "a%20b", "abcdefghijabcdefghijabcdefghijabc"] {
        let (status, body) = server.call("GET", &format!("/api/v1/users/search?q={bad}"), Some(&token), None).await;
        assert_eq!(status, 400, "q={bad}: {body}");
    }
    let (status, _) = server.call("GET", "/api/v1/users/search?q=al", None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn pending_invites_list_what_the_invitee_has_not_answered() {
    let server = server(|_| {}).await;
    let (alice, alice_token) = server.sign_up("alice").await;
    let (bob, bob_token) = server.sign_up("bob").await;
    let (_, none) = server.call("GET", "/api/v1/users/me/invites", Some(&bob_token), None).await;
    assert_eq!(none, json!({ "invites": [] }));
    let mut threads = Vec::new();
    for name in ["first", "second"] {
        let (_, thread) =
            server.call("POST", "/api/v1/threads", Some(&alice_token), Some(json!({ "name": name }))).await;
        let id = thread["id"].as_str().expect("id").to_owned();
        let (status, _) = server
            .call(
                "POST",
                &format!("/api/v1/threads/{id}/invites"),
                Some(&alice_token),
                Some(json!({ "user_id": bob["id"] })),
            )
            .await;
        assert_eq!(status, 201);
        threads.push(id);
    }
    let (status, body) = server.call("GET", "/api/v1/users/me/invites", Some(&bob_token), None).await;
    assert_eq!(status, 200, "{body}");
    let invites = body["invites"].as_array().expect("invites");
    assert_eq!(invites.len(), 2, "{body}");
    assert_eq!(invites[0]["invited_by"], alice["id"]);
    assert_eq!(invites[0]["invited_by_username"], "alice");
    let mut names: Vec<&str> = invites.iter().filter_map(|i| i["thread_name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["first", "second"]);
    let path = format!("/api/v1/threads/{}/invites/{}", threads[0], bob["id"].as_str().expect("id"));
    let (status, _) = server.call("PUT", &path, Some(&bob_token), Some(json!({ "action": "decline" }))).await;
    assert!(status == 200 || status == 204, "{status}");
    let (_, body) = server.call("GET", "/api/v1/users/me/invites", Some(&bob_token), None).await;
    assert_eq!(body["invites"].as_array().expect("invites").len(), 1, "{body}");
    assert_eq!(body["invites"][0]["thread_id"], threads[1]);
}

#[tokio::test]
async fn text_files_are_gzipped_for_clients_that_accept_it() {
    let server = server(|_| {}).await;
    let plain =
        server.http.get(server.url("/sdk/tandem.js")).header("accept-encoding", "identity").send().await.expect("sdk");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_etag = plain.headers()["etag"].clone();
    let plain_len = plain.bytes().await.expect("body").len();
    let gzipped =
        server.http.get(server.url("/sdk/tandem.js")).header("accept-encoding", "gzip, br").send().await.expect("sdk");
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["vary"], "accept-encoding");
    assert_ne!(gzipped.headers()["etag"], plain_etag, "each variant has its own validator");
    let etag = gzipped.headers()["etag"].clone();
    let gzipped_len = gzipped.bytes().await.expect("body").len();
    assert!(gzipped_len * 3 < plain_len, "{gzipped_len} of {plain_len} bytes");
    let revalidated = server
        .http
        .get(server.url("/sdk/tandem.js"))
        .header("accept-encoding", "gzip")
        .header("if-none-match", etag)
        .send()
        .await
        .expect("sdk");
    assert_eq!(revalidated.status(), 304);
}
