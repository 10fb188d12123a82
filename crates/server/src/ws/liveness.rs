//! The heartbeat state machine: when to ping, when a connection is stale.
//!
//! Pure logic over [`Instant`]s so it is tested with a paused clock; the writer drives it.

use std::time::Duration;

use tokio::time::Instant;

/// What the writer must do at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Send a ping (WebSocket ping and the JSON `ping` frame).
    Ping,
    /// No sign of life within the timeout after a ping: close the connection.
    Stale,
}

/// Heartbeat state of one connection. A ping goes out every `interval`; if nothing at all is
/// received from the client within `timeout` after a ping, the connection is stale. So a dead
/// peer is detected at most `interval + timeout` after its last sign of life.
#[derive(Debug, Clone)]
pub struct Liveness {
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    outstanding_since: Option<Instant>,
}

impl Liveness {
    /// Starts the schedule at `now`: first ping one interval later.
    pub fn new(now: Instant, interval: Duration, timeout: Duration) -> Self {
        Self { interval, timeout, next_ping: now + interval, outstanding_since: None }
    }

    /// The next instant at which [`Liveness::on_deadline`] has something to decide.
    pub fn deadline(&self) -> Instant {
        match self.outstanding_since {
            Some(sent) => (sent + self.timeout).min(self.next_ping),
            None => self.next_ping,
        }
    }

    /// Decides what is due at `now`, given when the client was last heard from.
    pub fn on_deadline(&mut self, now: Instant, last_activity: Instant) -> Option<Due> {
        if let Some(sent) = self.outstanding_since {
            if last_activity >= sent {
                self.outstanding_since = None;
            } else if now >= sent + self.timeout {
                return Some(Due::Stale);
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.interval;
            if self.outstanding_since.is_none() {
                self.outstanding_since = Some(now);
            }
            return Some(Due::Ping);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(200);
    const TIMEOUT: Duration = Duration::from_millis(200);

    /// Runs the machine like the writer does, with a client answering (or not), on a paused
    /// clock. Returns the time since start when the connection was declared stale, if it was.
    async fn drive(answers_until: Duration, total: Duration) -> (Vec<Duration>, Option<Duration>) {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, INTERVAL, TIMEOUT);
        let mut last_activity = start;
        let mut pings = Vec::new();
        while start.elapsed() < total {
            tokio::time::sleep_until(liveness.deadline()).await;
            match liveness.on_deadline(Instant::now(), last_activity) {
                Some(Due::Ping) => {
                    pings.push(start.elapsed());
                    if start.elapsed() <= answers_until {
                        last_activity = Instant::now() + Duration::from_millis(5);
                    }
                }
                Some(Due::Stale) => return (pings, Some(start.elapsed())),
                None => {}
            }
        }
        (pings, None)
    }

    #[tokio::test(start_paused = true)]
    async fn a_live_client_is_pinged_every_interval_and_never_stale() {
        let (pings, stale) = drive(Duration::from_secs(10), Duration::from_secs(2)).await;
        assert_eq!(stale, None);
        assert_eq!(pings.len(), 10);
        assert_eq!(pings[0], INTERVAL);
        assert_eq!(pings[1], INTERVAL * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_stale_one_timeout_after_the_first_unanswered_ping() {
        let (pings, stale) = drive(Duration::ZERO, Duration::from_secs(2)).await;
        assert_eq!(pings, [INTERVAL]);
        assert_eq!(stale, Some(INTERVAL + TIMEOUT));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_dies_is_detected_within_interval_plus_timeout() {
        let dies_at = Duration::from_millis(650);
        let (_, stale) = drive(dies_at, Duration::from_secs(5)).await;
        let detected = stale.expect("stale");
        assert!(detected > dies_at && detected <= dies_at + INTERVAL + TIMEOUT, "{detected:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_timeout_keeps_pinging_on_schedule() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, INTERVAL, INTERVAL * 3);
        let mut due = Vec::new();
        for _ in 0..4 {
            tokio::time::sleep_until(liveness.deadline()).await;
            due.push((start.elapsed(), liveness.on_deadline(Instant::now(), start)));
        }
        assert_eq!(due[0], (INTERVAL, Some(Due::Ping)));
        assert_eq!(due[1], (INTERVAL * 2, Some(Due::Ping)));
        assert_eq!(due[2], (INTERVAL * 3, Some(Due::Ping)));
        assert_eq!(due[3], (INTERVAL * 4, Some(Due::Stale)));
    }
}
