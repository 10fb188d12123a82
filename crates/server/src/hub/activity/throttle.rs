//! The generic throttle and expiry gate behind every kind of live activity (typing, tile
//! editing, cursors): a user's latest wanted state in one room, what the others were last told,
//! and when the next change may go out. Pure: the caller passes the time and acts on what
//! [`Throttle::poll`] returns.

use std::time::Duration;

use tokio::time::Instant;

/// How one kind of activity is throttled and when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// At most one change sent per this long (a change inside the window is sent at its end;
    /// the last state is never dropped).
    pub window: Duration,
    /// A state other than idle that is not refreshed for this long falls back to idle.
    pub ttl: Option<Duration>,
}

/// One activity of one user in one room. `T::default()` is idle (not typing, no tile, no cursor).
#[derive(Debug, Clone)]
pub struct Throttle<T> {
    policy: Policy,
    wanted: T,
    sent: T,
    expires: Option<Instant>,
    last_sent: Option<Instant>,
}

impl<T: Clone + Default + PartialEq> Throttle<T> {
    /// An idle gate under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy, wanted: T::default(), sent: T::default(), expires: None, last_sent: None }
    }

    /// The user's new state at `now` (refreshing the expiry unless it is idle).
    pub fn set(&mut self, now: Instant, state: T) {
        let idle = state == T::default();
        self.wanted = state;
        self.expires = if idle { None } else { self.policy.ttl.map(|ttl| now + ttl) };
    }

    /// Applies expiry, then, if the window allows, returns the change to send (the new state,
    /// and the state the others were told before). Also returns when to poll next (`None`:
    /// nothing pending, and the window is over).
    pub fn poll(&mut self, now: Instant) -> (Option<(T, T)>, Option<Instant>) {
        if self.expires.is_some_and(|at| at <= now) {
            self.wanted = T::default();
            self.expires = None;
        }
        let ready_at = self.last_sent.map(|at| at + self.policy.window);
        let mut change = None;
        let mut wake = None;
        if self.wanted != self.sent {
            if ready_at.is_none_or(|ready| ready <= now) {
                let before = std::mem::replace(&mut self.sent, self.wanted.clone());
                change = Some((self.sent.clone(), before));
                self.last_sent = Some(now);
            } else {
                wake = ready_at;
            }
        }
        wake = earliest(wake, self.expires);
        // Keep the window alive: a gate forgotten inside it would let the next change through early.
        let window_end = self.last_sent.map(|at| at + self.policy.window).filter(|end| *end > now);
        if wake.is_none() {
            wake = window_end;
        }
        (change, wake)
    }

    /// Back to idle at once, bypassing the window (the user left the room). Returns the state
    /// the others were told, if it was not idle: they must now be told it is over.
    pub fn clear(&mut self) -> Option<T> {
        let told = std::mem::take(&mut self.sent);
        *self = Self::new(self.policy);
        (told != T::default()).then_some(told)
    }

    /// Nothing wanted, nothing told: the gate can be forgotten (once its window has ended).
    pub fn is_idle(&self) -> bool {
        self.wanted == T::default() && self.sent == T::default()
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const TYPING: Policy = Policy { window: Duration::from_millis(250), ttl: Some(Duration::from_secs(5)) };

    #[tokio::test(start_paused = true)]
    async fn a_state_expires_after_its_ttl_without_refresh() {
        let mut gate = Throttle::<bool>::new(TYPING);
        let t0 = Instant::now();
        gate.set(t0, true);
        let (change, wake) = gate.poll(t0);
        assert_eq!(change, Some((true, false)));
        assert_eq!(wake, Some(t0 + ms(5000)));
        gate.set(t0 + ms(3000), true); // a refresh
        let (change, wake) = gate.poll(t0 + ms(3000));
        assert_eq!(change, None, "a refresh is not news");
        assert_eq!(wake, Some(t0 + ms(8000)));
        assert_eq!(gate.poll(t0 + ms(7999)).0, None);
        let (change, wake) = gate.poll(t0 + ms(8000));
        assert_eq!(change, Some((false, true)));
        assert_eq!(wake, Some(t0 + ms(8250)), "the window stays alive");
        assert_eq!(gate.poll(t0 + ms(8250)), (None, None));
        assert!(gate.is_idle());
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_is_one_change_per_window_and_the_last_state_wins() {
        let cursor = Policy { window: ms(50), ttl: Some(Duration::from_secs(10)) };
        let mut gate = Throttle::<Option<(i64, i64)>>::new(cursor);
        let t0 = Instant::now();
        let mut sent = Vec::new();
        // 1,000 moves in one second, polled after each as the service does.
        for i in 0..1000i64 {
            let now = t0 + ms(u64::try_from(i).unwrap());
            gate.set(now, Some((i, i)));
            if let (Some((state, _)), _) = gate.poll(now) {
                sent.push(state);
            }
        }
        assert!(sent.len() <= 20, "20 a second at most: {}", sent.len());
        let (change, wake) = gate.poll(t0 + ms(999));
        assert_eq!(change, None);
        let (change, _) = gate.poll(wake.expect("the last move is pending"));
        assert_eq!(change.map(|(state, _)| state), Some(Some((999, 999))), "the last move is never dropped");
    }

    #[test]
    fn clear_reports_what_was_told() {
        let mut gate = Throttle::<Option<(i64, i64)>>::new(Policy { window: ms(250), ttl: None });
        let now = Instant::now();
        assert_eq!(gate.clear(), None);
        gate.set(now, Some((1, 2)));
        gate.poll(now);
        assert_eq!(gate.clear(), Some(Some((1, 2))));
        assert!(gate.is_idle());
    }
}
