//! Operations bodies: `GET /healthz` and `GET /readyz`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz` and `GET /readyz` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `"ok"` for a live process, `"ready"` when the store answers.
    pub status: String,
    /// `/readyz` in cluster mode: the bus to the other nodes. Absent on a single node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<BusHealth>,
}

impl HealthStatus {
    /// A status with no bus part.
    pub fn new(status: &str) -> Self {
        Self { status: status.to_owned(), bus: None }
    }
}

/// How a cluster node's bus (Redis) is doing. A node whose bus is down still serves its own
/// connections and stays ready; the counters say what it missed and recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BusHealth {
    /// Redis answered the last probe (once a second).
    pub connected: bool,
    /// Times the node got back to Redis after losing it.
    pub reconnects: u64,
    /// Durable events read from the database to fill gaps or catch up.
    pub backfilled_events: u64,
    /// Gaps found: a durable event arrived before an older one.
    pub gaps: u64,
    /// Bus messages that were not Tandem's, dropped.
    pub malformed_messages: u64,
    /// Publications that did not reach Redis (the other nodes fill them from the log).
    pub dropped_publications: u64,
    /// Dead nodes (registration expired) whose users this node took offline.
    pub dead_nodes: u64,
}
