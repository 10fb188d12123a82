//! The long-poll fallback: `GET /api/v1/rooms/{room}/events?after=&wait=` per room.

use std::time::Duration;

use serde_json::Value;

/// One answer of the events endpoint.
#[derive(Debug)]
pub(crate) struct Page {
    pub room: String,
    pub events: Vec<Value>,
    pub last_seq: i64,
    pub resync_required: bool,
}

/// Why a poll failed.
#[derive(Debug)]
pub(crate) enum PollError {
    /// The token was refused: stop.
    Unauthorized,
    /// Anything else (network, 5xx, the room went away): try again later.
    Other(String),
}

/// Long-polls one room after `after`, waiting at most `wait` on the server.
pub(crate) async fn poll(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    room: &str,
    after: i64,
    wait: Duration,
) -> Result<Page, PollError> {
    let url = format!("{base}/api/v1/rooms/{room}/events");
    let wait = format!("{}ms", wait.as_millis().min(60_000));
    let response = http
        .get(url)
        .query(&[("after", after.to_string()), ("wait", wait)])
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| PollError::Other(e.to_string()))?;
    if response.status().as_u16() == 401 {
        return Err(PollError::Unauthorized);
    }
    if !response.status().is_success() {
        return Err(PollError::Other(format!("events endpoint answered {}", response.status())));
    }
    let body: Value = response.json().await.map_err(|e| PollError::Other(e.to_string()))?;
    Ok(Page {
        room: room.to_owned(),
        events: body["events"].as_array().cloned().unwrap_or_default(),
        last_seq: body["last_seq"].as_i64().unwrap_or(after),
        resync_required: body["resync_required"].as_bool().unwrap_or(false),
    })
}

/// Who the token belongs to (`GET /api/v1/users/me`), to poll the user's own room.
pub(crate) async fn me(http: &reqwest::Client, base: &str, token: &str) -> Result<String, PollError> {
    let response = http
        .get(format!("{base}/api/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| PollError::Other(e.to_string()))?;
    if response.status().as_u16() == 401 {
        return Err(PollError::Unauthorized);
    }
    let body: Value = response.json().await.map_err(|e| PollError::Other(e.to_string()))?;
    body["id"].as_str().map(str::to_owned).ok_or_else(|| PollError::Other("no user id in /users/me".into()))
}
