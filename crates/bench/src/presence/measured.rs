//! What the cycles measure: notification counts and latency histograms.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::readers::Watch;

/// What the cycles of one worker measured.
pub(super) struct Measured {
    pub(super) cycles: u64,
    pub(super) expected: u64,
    pub(super) received: u64,
    pub(super) missed_offline: u64,
    pub(super) missed_online: u64,
    pub(super) duplicated: u64,
    pub(super) offline: Histogram<u64>,
    pub(super) online: Histogram<u64>,
    pub(super) handshake: Histogram<u64>,
}

impl Measured {
    pub(super) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            cycles: 0,
            expected: 0,
            received: 0,
            missed_offline: 0,
            missed_online: 0,
            duplicated: 0,
            offline: Histogram::new(3)?,
            online: Histogram::new(3)?,
            handshake: Histogram::new(3)?,
        })
    }

    pub(super) fn add(&mut self, other: &Self) -> anyhow::Result<()> {
        self.cycles += other.cycles;
        self.expected += other.expected;
        self.received += other.received;
        self.missed_offline += other.missed_offline;
        self.missed_online += other.missed_online;
        self.duplicated += other.duplicated;
        self.offline.add(&other.offline)?;
        self.online.add(&other.online)?;
        self.handshake.add(&other.handshake)?;
        Ok(())
    }

    /// Records a finished watch whose transition started at `t0`; returns how many were missed.
    pub(super) fn record(
        &mut self,
        watch: Option<Watch>,
        expected: usize,
        t0: Instant,
        is_online: bool,
    ) -> anyhow::Result<u64> {
        let (arrivals, duplicated) = watch.map(|w| (w.arrivals, w.duplicated)).unwrap_or_default();
        let histogram = if is_online { &mut self.online } else { &mut self.offline };
        for at in arrivals.values() {
            histogram.record(micros(at.saturating_duration_since(t0)))?;
        }
        let missed = u64::try_from(expected.saturating_sub(arrivals.len()))?;
        self.expected += u64::try_from(expected)?;
        self.received += u64::try_from(arrivals.len())?;
        self.duplicated += duplicated;
        Ok(missed)
    }
}

/// A duration in whole microseconds (at least 1, for the histogram).
pub(super) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1)
}
