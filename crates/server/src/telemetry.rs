//! Logs and metrics set-up.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Latency buckets (seconds) for every `*_seconds` histogram: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the global `tracing` subscriber: `RUST_LOG` filters (default `info`), `format`
/// chooses human or JSON lines. Calling it twice keeps the first subscriber.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use. Every server in the process
/// (several in tests) shares it. The caller must run [`PrometheusHandle::run_upkeep`]
/// periodically, or histograms grow without bound.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map(PrometheusBuilder::build_recorder);
            match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    if metrics::set_global_recorder(recorder).is_err() {
                        tracing::warn!("another metrics recorder is installed; /metrics will be empty");
                    }
                    handle
                }
                // Only reachable with an empty bucket list, which LATENCY_BUCKETS is not.
                Err(e) => unreachable!("invalid histogram buckets: {e}"),
            }
        })
        .clone()
}

/// WebSocket metrics, registered once so the hot path never looks a metric up by name.
#[derive(Debug)]
pub struct WsMetrics {
    /// `ws_connections_active`: open connections on this node.
    pub active: Gauge,
    /// `ws_connects_total`: connections accepted (after authentication).
    pub connects: Counter,
    /// `ws_frames_in_total`: frames received from clients.
    pub frames_in: Counter,
    /// `ws_frames_out_total`: text frames written to clients (counted once per written batch).
    pub frames_out: Counter,
    /// `ws_queue_overflows_total`: connections closed because their outbound queue overflowed.
    pub queue_overflows: Counter,
    /// `ws_heartbeat_failures_total`: connections closed for showing no sign of life.
    pub heartbeat_failures: Counter,
    /// `ws_rate_limited_total`: frames refused by the per-connection rate limit.
    pub rate_limited: Counter,
    /// `ws_publish_fanout_seconds`: time to queue one publication on every local recipient.
    pub fanout_seconds: Histogram,
}

/// The WebSocket metrics handles (registered on first use).
pub fn ws() -> &'static WsMetrics {
    static METRICS: OnceLock<WsMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        metrics_handle();
        WsMetrics {
            active: metrics::gauge!("ws_connections_active"),
            connects: metrics::counter!("ws_connects_total"),
            frames_in: metrics::counter!("ws_frames_in_total"),
            frames_out: metrics::counter!("ws_frames_out_total"),
            queue_overflows: metrics::counter!("ws_queue_overflows_total"),
            heartbeat_failures: metrics::counter!("ws_heartbeat_failures_total"),
            rate_limited: metrics::counter!("ws_rate_limited_total"),
            fanout_seconds: metrics::histogram!("ws_publish_fanout_seconds"),
        }
    })
}

/// Counts a closed connection under `ws_disconnects_total{reason}`.
pub fn ws_disconnected(reason: &'static str) {
    metrics::counter!("ws_disconnects_total", "reason" => reason).increment(1);
    ws().active.decrement(1.0);
}

/// Event-log metrics.
#[derive(Debug)]
pub struct EventMetrics {
    /// `events_stored_total`: durable events appended to the log.
    pub stored: Counter,
    /// `event_replays_total`: replays served (resume, subscribe with `after`).
    pub replays: Counter,
    /// `events_replayed_total`: events sent by replays.
    pub replayed: Counter,
    /// `resync_required_total`: `resync_required` answers.
    pub resyncs: Counter,
    /// `long_polls_parked`: long polls waiting for an event right now.
    pub long_polls_parked: Gauge,
    /// `events_pruned_total`: events removed by retention.
    pub pruned: Counter,
}

/// The event-log metrics handles (registered on first use).
pub fn events() -> &'static EventMetrics {
    static METRICS: OnceLock<EventMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        metrics_handle();
        EventMetrics {
            stored: metrics::counter!("events_stored_total"),
            replays: metrics::counter!("event_replays_total"),
            replayed: metrics::counter!("events_replayed_total"),
            resyncs: metrics::counter!("resync_required_total"),
            long_polls_parked: metrics::gauge!("long_polls_parked"),
            pruned: metrics::counter!("events_pruned_total"),
        }
    })
}
