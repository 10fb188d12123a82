//! Users and auth over real HTTP (API.md §2–3), on both engines, with every bad input.

mod common;

use common::{TEST_SECRET, TestServer, assert_error};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

fn token_with(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).expect("encode")
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

both_engines! {
    async fn sign_up_returns_user_and_working_token(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (status, body) = server.call("POST", "/api/v1/users", None, Some(json!({"username": " alice ", "name": "Alice A."}))).await;
        assert_eq!(status, 201, "{body}");
        let user = &body["user"];
        assert_eq!(user["username"], "alice", "trimmed");
        assert_eq!(user["name"], "Alice A.");
        assert_eq!(user["is_online"], false);
        assert_eq!(user["last_online"], Value::Null);
        let id = user["id"].as_str().expect("id");
        assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
        assert!(user["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{user}");

        let token = body["token"].as_str().expect("token");
        let (status, me) = server.call("GET", "/api/v1/users/me", Some(token), None).await;
        assert_eq!(status, 200);
        assert_eq!(&me, user);
    }

    async fn sign_up_without_username_generates_one(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (status, body) = server.call("POST", "/api/v1/users", None, Some(json!({}))).await;
        assert_eq!(status, 201, "{body}");
        let username = body["user"]["username"].as_str().expect("username");
        assert!(username.starts_with("user_") && username.len() == 13, "{username}");
    }

    async fn sign_up_bad_inputs(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        server.sign_up("taken").await;
        let post = |body: Value| server.call("POST", "/api/v1/users", None, Some(body));
        assert_error(&post(json!({"username": "ab"})).await, 400, "validation_failed");
        assert_error(&post(json!({"username": "x".repeat(33)})).await, 400, "validation_failed");
        assert_error(&post(json!({"username": "bad name"})).await, 400, "validation_failed");
        assert_error(&post(json!({"username": "TAKEN"})).await, 409, "conflict");
        assert_error(&post(json!({"username": 42})).await, 422, "invalid_body");
        assert_error(&post(json!({"username": "fine", "admin": true})).await, 422, "invalid_body");
        assert_error(&post(json!({"name": "n".repeat(101)})).await, 400, "validation_failed");
    }

    async fn get_user_by_id(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        let (bob, _) = server.sign_up("bob").await;
        let path = format!("/api/v1/users/{}", bob["id"].as_str().expect("id"));
        let (status, body) = server.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200);
        assert_eq!(body, bob);
        assert_ne!(body["id"], alice["id"]);
        assert_error(&server.call("GET", "/api/v1/users/ffffffffffffffffffffffff", Some(&token), None).await, 404, "not_found");
        assert_error(&server.call("GET", "/api/v1/users/not-an-id", Some(&token), None).await, 404, "not_found");
        assert_error(&server.call("GET", &path, None, None).await, 401, "unauthorized");
    }

    async fn change_username_and_read_it_back(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        let path = format!("/api/v1/users/{}/username", alice["id"].as_str().expect("id"));
        let (status, body) = server.call("PUT", &path, Some(&token), Some(json!({"username": "  alice.new "}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["username"], "alice.new");
        let (_, me) = server.call("GET", "/api/v1/users/me", Some(&token), None).await;
        assert_eq!(me["username"], "alice.new");
        // Own name in another case is not a conflict.
        let (status, body) = server.call("PUT", &path, Some(&token), Some(json!({"username": "Alice.New"}))).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn change_username_bad_inputs(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, token) = server.sign_up("alice").await;
        let (bob, bob_token) = server.sign_up("bob").await;
        let path = format!("/api/v1/users/{}/username", alice["id"].as_str().expect("id"));
        let call = |token: &str, body: Value| {
            let token = token.to_owned();
            let path = path.clone();
            let server = &server;
            async move { server.call("PUT", &path, Some(&token), Some(body)).await }
        };
        assert_error(&call(&bob_token, json!({"username": "mallory"})).await, 403, "forbidden");
        assert_error(&call(&token, json!({"username": "ab"})).await, 400, "validation_failed");
        assert_error(&call(&token, json!({"username": "   ab   "})).await, 400, "validation_failed");
        assert_error(&call(&token, json!({"username": "a".repeat(33)})).await, 400, "validation_failed");
        assert_error(&call(&token, json!({"username": "al/ice"})).await, 400, "validation_failed");
        assert_error(&call(&token, json!({"username": "BOB"})).await, 409, "conflict");
        assert_error(&call(&token, json!({})).await, 422, "invalid_body");
        assert_error(&server.call("PUT", &path, None, Some(json!({"username": "x_y_z"}))).await, 401, "unauthorized");
        let unknown = "/api/v1/users/ffffffffffffffffffffffff/username";
        assert_error(&server.call("PUT", unknown, Some(&token), Some(json!({"username": "x_y_z"}))).await, 403, "forbidden");
        // Nothing changed by any of the refused requests.
        let (_, me) = server.call("GET", "/api/v1/users/me", Some(&token), None).await;
        assert_eq!(me["username"], "alice");
        let (_, bob_now) = server.call("GET", "/api/v1/users/me", Some(&bob_token), None).await;
        assert_eq!(bob_now, bob);
    }

    async fn bad_tokens_are_401(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (alice, _) = server.sign_up("alice").await;
        let id = alice["id"].as_str().expect("id");
        let me = "/api/v1/users/me";
        assert_error(&server.call("GET", me, None, None).await, 401, "unauthorized");
        assert_error(&server.call("GET", me, Some("garbage"), None).await, 401, "unauthorized");
        let expired = token_with(TEST_SECRET, json!({"sub": id, "exp": now_s() - 3600}));
        assert_error(&server.call("GET", me, Some(&expired), None).await, 401, "unauthorized");
        let wrong_key = token_with("another-secret", json!({"sub": id, "exp": now_s() + 3600}));
        assert_error(&server.call("GET", me, Some(&wrong_key), None).await, 401, "unauthorized");
        let no_exp = token_with(TEST_SECRET, json!({"sub": id}));
        assert_error(&server.call("GET", me, Some(&no_exp), None).await, 401, "unauthorized");
        let bad_sub = token_with(TEST_SECRET, json!({"sub": "not-hex", "exp": now_s() + 3600}));
        assert_error(&server.call("GET", me, Some(&bad_sub), None).await, 401, "unauthorized");
        let basic = server.http.get(server.url(me)).header("authorization", "Basic YTpi").send().await.expect("send");
        assert_eq!(basic.status(), 401);
    }

    async fn external_issuer_token_provisions_the_user(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let sub = "0123456789abcdef01234567";
        let token = token_with(TEST_SECRET, json!({"sub": sub, "exp": now_s() + 3600, "iss": "https://idp.example", "name": "Ext Ernal"}));
        let (status, me) = server.call("GET", "/api/v1/users/me", Some(&token), None).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["id"], sub);
        assert_eq!(me["name"], "Ext Ernal");
        assert!(me["username"].as_str().is_some_and(|u| u.starts_with("user_")));
        // Second use finds the same user.
        let (_, again) = server.call("GET", "/api/v1/users/me", Some(&token), None).await;
        assert_eq!(again, me);
    }

    async fn dev_user_id_header_only_with_the_flag(engine: Engine) {
        let Some(strict) = TestServer::start(engine).await else { return };
        let (alice, _) = strict.sign_up("alice").await;
        let id = alice["id"].as_str().expect("id").to_owned();
        let response = strict.http.get(strict.url("/api/v1/users/me")).header("x-user-id", &id).send().await.expect("send");
        assert_eq!(response.status(), 401, "ignored without --dev-insecure-auth");

        let Some(dev) = TestServer::start_with(engine, |c| c.dev_insecure_auth = true).await else { return };
        let (bob, _) = dev.sign_up("bob").await;
        let response = dev.http.get(dev.url("/api/v1/users/me")).header("x-user-id", bob["id"].as_str().expect("id")).send().await.expect("send");
        assert_eq!(response.status(), 200);
        let me: Value = response.json().await.expect("json");
        assert_eq!(me["username"], "bob");
        let response = dev.http.get(dev.url("/api/v1/users/me")).header("x-user-id", "nope").send().await.expect("send");
        assert_eq!(response.status(), 401);
    }

    async fn generated_secret_survives_restart(engine: Engine) {
        let Some(first) = TestServer::start_with(engine, |c| c.jwt_secret = None).await else { return };
        let (_, token) = first.sign_up("alice").await;
        let db_url = first.db_url.clone();
        let db = first.stop().await;
        let second = TestServer::start_on(&db_url, |c| c.jwt_secret = None).await;
        let (status, me) = second.call("GET", "/api/v1/users/me", Some(&token), None).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["username"], "alice");
        second.stop().await;
        drop(db);
    }

    async fn malformed_requests_get_the_error_shape(engine: Engine) {
        let Some(server) = TestServer::start_with(engine, |c| c.max_body_size = 1024).await else { return };
        let users = server.url("/api/v1/users");
        let send = |request: reqwest::RequestBuilder| async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON error body"))
        };
        let json_type = ("content-type", "application/json");
        assert_error(&send(server.http.post(&users).header(json_type.0, json_type.1).body("{not json")).await, 400, "invalid_json");
        assert_error(&send(server.http.post(&users).header("content-type", "text/plain").body("{}")).await, 415, "unsupported_media_type");
        assert_error(&send(server.http.post(&users).body("{}")).await, 415, "unsupported_media_type");
        let big = format!("{{\"name\":\"{}\"}}", "x".repeat(2048));
        assert_error(&send(server.http.post(&users).header(json_type.0, json_type.1).body(big)).await, 413, "payload_too_large");
        assert_error(&send(server.http.get(server.url("/nope"))).await, 404, "not_found");
        assert_error(&send(server.http.get(server.url("/api/v1/nope"))).await, 404, "not_found");
        assert_error(&send(server.http.delete(&users)).await, 405, "method_not_allowed");
        // None of it created a user.
        let (_, token) = server.sign_up("probe").await;
        let (_, me) = server.call("GET", "/api/v1/users/me", Some(&token), None).await;
        assert_eq!(me["username"], "probe");
    }

    async fn operations_endpoints(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let (status, body) = server.call("GET", "/healthz", None, None).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
        let (status, body) = server.call("GET", "/readyz", None, None).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
        server.sign_up("metered").await;
        let metrics = server.http.get(server.url("/metrics")).send().await.expect("metrics");
        assert_eq!(metrics.status(), 200);
        let text = metrics.text().await.expect("text");
        assert!(text.contains("http_requests_total{"), "{text}");
        assert!(text.contains("route=\"/api/v1/users\""), "{text}");
        let (status, openapi) = server.call("GET", "/api/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        for path in ["/api/v1/users", "/api/v1/users/me", "/api/v1/users/{id}", "/api/v1/users/{id}/username"] {
            assert!(openapi["paths"][path].is_object(), "{path} documented");
        }
        let docs = server.http.get(server.url("/api/docs/")).send().await.expect("docs");
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.expect("html").contains("swagger"), "swagger ui page");
    }

    async fn request_ids_are_echoed(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let response = server.http.get(server.url("/healthz")).header("x-request-id", "abc-123").send().await.expect("send");
        assert_eq!(response.headers()["x-request-id"], "abc-123");
        let response = server.http.get(server.url("/healthz")).send().await.expect("send");
        assert!(!response.headers()["x-request-id"].is_empty(), "generated when absent");
    }

    async fn graceful_shutdown_stops_listening(engine: Engine) {
        let Some(server) = TestServer::start(engine).await else { return };
        let url = server.url("/healthz");
        let client = server.http.clone();
        assert!(client.get(&url).send().await.is_ok());
        server.stop().await;
        assert!(client.get(&url).send().await.is_err(), "no longer accepting");
    }
}

#[tokio::test]
async fn redis_url_is_refused_until_cluster_mode_exists() {
    let mut config = tandem_server::ServeConfig::with_database_url("sqlite::memory:");
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.redis_url = Some("redis://127.0.0.1:6379".into());
    let error = tandem_server::Server::start(config).await.expect_err("refused");
    assert!(error.to_string().contains("--redis-url"), "{error}");
}
