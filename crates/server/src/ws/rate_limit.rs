//! Per-connection rate limit: a token bucket (governor) plus a strike count that turns a
//! client that keeps flooding into a disconnect.

use std::num::NonZeroU32;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Refused frames in a row after which the connection is closed with 1008.
pub const MAX_STRIKES: u32 = 20;

/// What to do with one incoming frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: handle it.
    Allow,
    /// Over the limit: drop it and answer `error` `rate_limited`.
    Refuse,
    /// Over the limit for [`MAX_STRIKES`] frames in a row: close the connection (1008).
    Disconnect,
}

/// One connection's limiter. Not shared, so it is an unkeyed limiter owned by the reader.
pub struct RateGuard<C: Clock = MonotonicClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    strikes: u32,
}

impl<C: Clock> std::fmt::Debug for RateGuard<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateGuard").field("strikes", &self.strikes).finish_non_exhaustive()
    }
}

impl RateGuard {
    /// `per_second` sustained with bursts of `burst` (zeros are raised to 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self::with_clock(per_second, burst, &MonotonicClock)
    }
}

impl<C: Clock + Clone> RateGuard<C> {
    /// Same as [`RateGuard::new`] on a given clock (tests use a fake one).
    pub fn with_clock(per_second: u32, burst: u32, clock: &C) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self { limiter: RateLimiter::direct_with_clock(quota, clock.clone()), strikes: 0 }
    }

    /// Judges one incoming frame.
    pub fn check(&mut self) -> Verdict {
        if self.limiter.check().is_ok() {
            self.strikes = 0;
            return Verdict::Allow;
        }
        self.strikes += 1;
        if self.strikes >= MAX_STRIKES { Verdict::Disconnect } else { Verdict::Refuse }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    #[test]
    fn burst_then_refuse_then_recover_with_time() {
        let clock = FakeRelativeClock::default();
        let mut guard = RateGuard::with_clock(10, 5, &clock);
        for _ in 0..5 {
            assert_eq!(guard.check(), Verdict::Allow);
        }
        assert_eq!(guard.check(), Verdict::Refuse);
        clock.advance(Duration::from_millis(100));
        assert_eq!(guard.check(), Verdict::Allow, "one token back after 1/rate");
        assert_eq!(guard.check(), Verdict::Refuse);
        clock.advance(Duration::from_secs(1));
        for _ in 0..5 {
            assert_eq!(guard.check(), Verdict::Allow, "full burst back after burst/rate");
        }
    }

    #[test]
    fn persistent_flooding_disconnects() {
        let clock = FakeRelativeClock::default();
        let mut guard = RateGuard::with_clock(1, 1, &clock);
        assert_eq!(guard.check(), Verdict::Allow);
        for _ in 1..MAX_STRIKES {
            assert_eq!(guard.check(), Verdict::Refuse);
        }
        assert_eq!(guard.check(), Verdict::Disconnect);
    }

    #[test]
    fn an_allowed_frame_resets_the_strikes() {
        let clock = FakeRelativeClock::default();
        let mut guard = RateGuard::with_clock(1, 1, &clock);
        guard.check();
        for _ in 1..MAX_STRIKES {
            guard.check();
        }
        clock.advance(Duration::from_secs(1));
        assert_eq!(guard.check(), Verdict::Allow);
        assert_eq!(guard.check(), Verdict::Refuse, "counting starts again");
    }
}
