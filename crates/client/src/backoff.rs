//! Reconnect delays: exponential from 1 s, doubling, capped at 30 s, forever; full jitter.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use rand::Rng;

/// The reconnect schedule. [`Backoff::next_base`] yields 1, 2, 4, 8, 16, 30, 30, … seconds
/// (seeds 000/001); [`Backoff::next_delay`] applies full jitter (uniform in `[0, base]`) so a
/// crowd of clients does not reconnect in lockstep.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    schedule: ExponentialBackoff,
    jitter: bool,
}

impl Backoff {
    /// A schedule from `min` doubling to `max`; `jitter` off gives the exact base delays.
    pub fn new(min: Duration, max: Duration, jitter: bool) -> Self {
        let builder =
            ExponentialBuilder::default().with_min_delay(min).with_max_delay(max).with_factor(2.0).without_max_times();
        Self { schedule: builder.build(), builder, jitter }
    }

    /// The next base delay of the schedule.
    pub fn next_base(&mut self) -> Duration {
        // `without_max_times` makes the iterator endless; the fallback is never used.
        self.schedule.next().unwrap_or(Duration::from_secs(30))
    }

    /// The next delay to wait: the base, jittered if enabled.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next_base();
        if self.jitter { full_jitter(base) } else { base }
    }

    /// Starts the schedule over (after a connection that lived long enough).
    pub fn reset(&mut self) {
        self.schedule = self.builder.build();
    }
}

/// A uniformly random duration in `[0, base]`.
pub fn full_jitter(base: Duration) -> Duration {
    let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_1_2_4_8_16_30_then_30_forever() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), false);
        let seconds: Vec<u64> = (0..10).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn jittered_delays_stay_within_their_base() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), true);
        let mut reference = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), false);
        for _ in 0..1000 {
            let (delay, base) = (backoff.next_delay(), reference.next_base());
            assert!(delay <= base, "{delay:?} > {base:?}");
        }
    }
}
