//! How the bus is doing, for `/readyz` and `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use metrics::{Counter, Gauge};

/// What `/readyz` says of the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusReport {
    /// Redis answered the last probe (or nothing failed since).
    pub connected: bool,
    /// Times the node got back to Redis after losing it.
    pub reconnects: u64,
    /// Durable events read from the log to fill gaps or catch up.
    pub backfilled: u64,
    /// Gaps found (a durable event arrived before an older one).
    pub gaps: u64,
    /// Bus messages that were not ours, dropped.
    pub malformed: u64,
    /// Publications not handed to Redis (its queue was full or the command failed).
    pub dropped: u64,
    /// Dead nodes whose users this node took offline.
    pub dead_nodes: u64,
}

/// The bus's counters, mirrored as Prometheus metrics (`bus_*`).
pub struct BusStatus {
    connected: AtomicBool,
    reconnects: AtomicU64,
    backfilled: AtomicU64,
    gaps: AtomicU64,
    malformed: AtomicU64,
    dropped: AtomicU64,
    dead_nodes: AtomicU64,
    metrics: BusMetrics,
}

struct BusMetrics {
    connected: Gauge,
    reconnects: Counter,
    backfilled: Counter,
    gaps: Counter,
    malformed: Counter,
    dropped: Counter,
    dead_nodes: Counter,
}

impl Default for BusStatus {
    fn default() -> Self {
        crate::telemetry::metrics_handle();
        let metrics = BusMetrics {
            connected: metrics::gauge!("bus_connected"),
            reconnects: metrics::counter!("bus_reconnects_total"),
            backfilled: metrics::counter!("bus_backfilled_events_total"),
            gaps: metrics::counter!("bus_gaps_total"),
            malformed: metrics::counter!("bus_malformed_messages_total"),
            dropped: metrics::counter!("bus_dropped_publications_total"),
            dead_nodes: metrics::counter!("bus_dead_nodes_total"),
        };
        metrics.connected.set(1.0);
        Self {
            connected: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
            backfilled: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dead_nodes: AtomicU64::new(0),
            metrics,
        }
    }
}

impl BusStatus {
    /// The counters now.
    pub fn report(&self) -> BusReport {
        BusReport {
            connected: self.connected.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            backfilled: self.backfilled.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            dead_nodes: self.dead_nodes.load(Ordering::Relaxed),
        }
    }

    /// Whether Redis answered the last probe or command.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Redis failed a probe or dropped the connection.
    pub fn lost(&self) {
        if self.connected.swap(false, Ordering::Relaxed) {
            self.metrics.connected.set(0.0);
            tracing::warn!("lost the connection to Redis: cross-node fan-out stops until it is back");
        }
    }

    /// Redis answered. True if it had been lost (a reconnect: the caller catches up).
    pub fn answered(&self) -> bool {
        let was_lost = !self.connected.swap(true, Ordering::Relaxed);
        if was_lost {
            self.metrics.connected.set(1.0);
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            self.metrics.reconnects.increment(1);
            tracing::info!("back on Redis: catching up every room from the log");
        }
        was_lost
    }

    /// `n` events were read from the log.
    pub fn backfilled(&self, n: u64) {
        self.backfilled.fetch_add(n, Ordering::Relaxed);
        self.metrics.backfilled.increment(n);
    }

    /// A gap was found.
    pub fn gap(&self) {
        self.gaps.fetch_add(1, Ordering::Relaxed);
        self.metrics.gaps.increment(1);
    }

    /// A bus message was dropped as malformed.
    pub fn malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        self.metrics.malformed.increment(1);
    }

    /// `n` publications did not reach Redis.
    pub fn dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.metrics.dropped.increment(n);
    }

    /// This node took a dead node's users offline.
    pub fn dead_node(&self) {
        self.dead_nodes.fetch_add(1, Ordering::Relaxed);
        self.metrics.dead_nodes.increment(1);
    }
}
