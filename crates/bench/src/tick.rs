//! The fan-out payload every target carries, and what a member connection records of it.
//!
//! A tick is `{"bench_room":R,"bench_n":N,"sent_us":T}` (plus whatever envelope the target's
//! protocol wraps around it: Tandem's event fields, socket.io's `42["tick",…]`, Pusher's
//! string-encoded `data`). [`scan`] finds the three numbers by key in any of those framings
//! without a JSON parse, so the load generator spends its two cores on reading sockets rather
//! than on decoding, and measures every target with the same code.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The JSON body of tick `n` of room `room`, stamped with the current time.
pub fn payload(room: usize, n: u64) -> String {
    format!(r#"{{"bench_room":{room},"bench_n":{n},"sent_us":{}}}"#, now_us())
}

/// Microseconds since the Unix epoch (the clock both publisher and receivers read).
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The numbers a received tick carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Room index the tick was published to.
    pub room: usize,
    /// Per-room sequence number given by the publisher (1, 2, …; 0 is the warm-up tick).
    pub n: u64,
    /// Publisher's clock when it built the payload, µs since the epoch.
    pub sent_us: u64,
}

/// Finds a tick in `frame` whatever the framing around it; `None` for any other frame.
pub fn scan(frame: &[u8]) -> Option<Tick> {
    let room = number_after(frame, b"bench_room")?;
    let n = number_after(frame, b"bench_n")?;
    let sent_us = number_after(frame, b"sent_us")?;
    Some(Tick { room: usize::try_from(room).ok()?, n, sent_us })
}

/// The first run of ASCII digits after the first occurrence of `key`, skipping at most a few
/// separator bytes (`"`, `\`, `:`, spaces).
fn number_after(frame: &[u8], key: &[u8]) -> Option<u64> {
    let at = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = frame.get(at..)?;
    let start = rest.iter().take(8).position(u8::is_ascii_digit)?;
    let mut digits = rest[start..].iter().take_while(|b| b.is_ascii_digit());
    digits.try_fold(0_u64, |acc, b| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))
}

/// Everything one member connection recorded during a run.
#[derive(Debug, Default)]
pub struct Seen {
    /// `(ms since the run started, end-to-end latency µs)` per first delivery of a tick.
    pub samples: Vec<(u32, u32)>,
    /// Ticks received more than once.
    pub duplicated: u64,
    /// Ticks of another room (must be 0).
    pub foreign: u64,
    /// Bit `n` set when tick `n` of this member's room has arrived.
    received: Vec<u64>,
    /// Distinct ticks received.
    pub distinct: u64,
}

impl Seen {
    /// Records tick `tick` received at `at`; returns `false` if it was a duplicate.
    pub fn record(&mut self, tick: Tick, started: Instant, at: Instant) -> bool {
        let (word, bit) = (usize::try_from(tick.n / 64).unwrap_or(usize::MAX), tick.n % 64);
        if word >= self.received.len() {
            self.received.resize(word + 1, 0);
        }
        if self.received[word] & (1 << bit) != 0 {
            self.duplicated += 1;
            return false;
        }
        self.received[word] |= 1 << bit;
        self.distinct += 1;
        let elapsed_ms = u32::try_from(at.saturating_duration_since(started).as_millis()).unwrap_or(u32::MAX);
        let latency_us = u32::try_from(now_us().saturating_sub(tick.sent_us).max(1)).unwrap_or(u32::MAX);
        self.samples.push((elapsed_ms, latency_us));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_every_framing() {
        let body = r#"{"bench_room":3,"bench_n":17,"sent_us":1700000000000000}"#;
        let expected = Some(Tick { room: 3, n: 17, sent_us: 1_700_000_000_000_000 });
        let tandem = format!(r#"{{"type":"bench.tick","room":"thread:x","seq":18,{}"#, &body[1..]);
        let socketio = format!(r#"42["tick",{body}]"#);
        let pusher = format!(r#"{{"event":"tick","channel":"r3","data":{}}}"#, serde_json::to_string(body).unwrap());
        for frame in [body.to_owned(), tandem, socketio, pusher] {
            assert_eq!(scan(frame.as_bytes()), expected, "{frame}");
        }
        assert_eq!(scan(br#"{"type":"user_status_changed","user_id":"a"}"#), None);
    }

    #[test]
    fn counts_duplicates_once() {
        let (mut seen, now) = (Seen::default(), Instant::now());
        let tick = Tick { room: 0, n: 130, sent_us: now_us() };
        assert!(seen.record(tick, now, now));
        assert!(!seen.record(tick, now, now));
        assert!(seen.record(Tick { n: 1, ..tick }, now, now));
        assert_eq!((seen.distinct, seen.duplicated, seen.samples.len()), (2, 1, 2));
    }
}
