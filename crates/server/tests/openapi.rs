//! The served OpenAPI document against the router: every parameter it declares is where the
//! router reads it. Path parameters are exactly the `{name}`s of their path; query parameters are
//! read from the query string (a request that sets one to a bad value is refused because of it).
//!
//! The document does not depend on the storage engine, so this runs on SQLite only.

mod common;

use std::collections::BTreeSet;

use common::{Engine, TestServer, User, user};
use serde_json::{Value, json};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The `{name}`s of a path template.
fn template_names(path: &str) -> BTreeSet<String> {
    path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name.to_owned()).collect()
}

/// A query parameter value the router must refuse, and the status it answers with, by schema:
/// a number or flag that does not parse is a 400; string parameters have their own bad values.
fn refused_value(name: &str, schema: &Value) -> (&'static str, u16) {
    let kind = schema["type"].as_str().or_else(|| {
        // `Option<T>` is rendered as `type: [T, "null"]`.
        schema["type"].as_array().and_then(|kinds| kinds.iter().filter_map(Value::as_str).find(|k| *k != "null"))
    });
    match (kind, name) {
        (Some("integer"), _) => ("not-a-number", 400),
        (Some("boolean"), _) => ("maybe", 400),
        (Some("string"), "wait") => ("soon", 400),
        // A username search for characters no username has.
        (Some("string"), "q") => ("%25", 400),
        // A message id that is not in the thread.
        (Some("string"), "before") => ("000000000000000000000000", 404),
        _ => panic!("query parameter `{name}` ({schema}): add a value the router refuses to this test"),
    }
}

/// Resources the caller may read, to fill the path parameters of the routes under test.
struct Fixture {
    alice: User,
    thread: String,
    canvas: String,
}

impl Fixture {
    async fn new(server: &TestServer) -> Self {
        let alice = user(server, "alice").await;
        let (status, thread) =
            server.call("POST", "/api/v1/threads", Some(&alice.token), Some(json!({"name": "t"}))).await;
        assert_eq!(status, 201, "{thread}");
        let body = json!({"name": "Wall", "width": 4, "height": 4});
        let (status, canvas) = server.call("POST", "/api/v1/canvases", Some(&alice.token), Some(body)).await;
        assert_eq!(status, 201, "{canvas}");
        let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
        Self { thread: id(&thread), canvas: id(&canvas), alice }
    }

    /// `path` (as in the document) with its parameters filled in.
    fn fill(&self, path: &str) -> String {
        let resource = path.strip_prefix("/api/v1").unwrap_or(path);
        let value = if resource.starts_with("/threads/") {
            self.thread.clone()
        } else if resource.starts_with("/canvases/") {
            self.canvas.clone()
        } else if resource.starts_with("/rooms/") {
            format!("thread:{}", self.thread)
        } else if resource.starts_with("/users/") {
            self.alice.id.clone()
        } else {
            assert!(template_names(path).is_empty(), "{path}: add its path parameters to Fixture::fill");
            String::new()
        };
        template_names(path).iter().fold(path.to_owned(), |p, name| p.replace(&format!("{{{name}}}"), &value))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_is_declared_where_the_router_reads_it() {
    let server = TestServer::start(Engine::Sqlite).await.expect("SQLite always runs");
    let (status, doc) = server.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 20, "the document lists the API: {}", paths.len());

    let mut query_params = Vec::new();
    for (path, item) in paths {
        let in_template = template_names(path);
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let operation = &item[*method];
            let params = operation["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path = BTreeSet::new();
            for param in &params {
                let name = param["name"].as_str().expect("parameter name");
                match param["in"].as_str() {
                    Some("path") => {
                        assert_eq!(param["required"], true, "{method} {path}: path parameter `{name}` is required");
                        in_path.insert(name.to_owned());
                    }
                    Some("query") => {
                        assert!(!in_template.contains(name), "{method} {path}: `{name}` is in the path, not the query");
                        assert_ne!(param["required"], true, "{method} {path}: query parameter `{name}` is optional");
                        query_params.push((*method, path.clone(), name.to_owned(), param["schema"].clone()));
                    }
                    Some("header") => {}
                    other => panic!("{method} {path}: parameter `{name}` declared in {other:?}"),
                }
            }
            assert_eq!(in_path, in_template, "{method} {path}: declared path parameters");
        }
    }

    // Each query parameter is read from the query string: a bad value is refused.
    let documented: BTreeSet<_> = query_params.iter().map(|(m, p, n, _)| format!("{m} {p} {n}")).collect();
    for known in [
        "get /api/v1/canvases/{id}/chat limit",
        "get /api/v1/rooms/{room}/events after",
        "get /api/v1/rooms/{room}/events limit",
        "get /api/v1/rooms/{room}/events wait",
        "get /api/v1/threads/{id}/messages before",
        "get /api/v1/threads/{id}/messages limit",
        "get /api/v1/users online",
        "get /api/v1/users/search q",
    ] {
        assert!(documented.contains(known), "`{known}` is documented as a query parameter: {documented:?}");
    }
    let fixture = Fixture::new(&server).await;
    for (method, path, name, schema) in &query_params {
        assert_eq!(*method, "get", "{path}: extend this test to query parameters of {method}");
        let (bad, status) = refused_value(name, schema);
        let url = format!("{}?{name}={bad}", fixture.fill(path));
        let (actual, body) = server.call("GET", &url, Some(&fixture.alice.token), None).await;
        assert_eq!(actual, status, "GET {url}: {body}");
        // Without the parameter the same request succeeds, so the refusal was about it.
        let url = fixture.fill(path);
        let (actual, body) = server.call("GET", &url, Some(&fixture.alice.token), None).await;
        assert_eq!(actual, 200, "GET {url}: {body}");
    }
}
