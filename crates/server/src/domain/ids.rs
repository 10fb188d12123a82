//! Object ids: 24 lowercase hex characters, the shape of seed 000's user ids, for users, threads
//! and messages alike.

use rand::Rng;

use crate::clock;

/// A new id: 4 bytes of seconds since the epoch (so ids sort roughly by creation) followed by
/// 8 random bytes, as 24 lowercase hex characters.
pub fn new_id() -> String {
    let seconds = u32::try_from(clock::now_ms() / 1000).unwrap_or(u32::MAX);
    let random: u64 = rand::rng().random();
    format!("{seconds:08x}{random:016x}")
}

/// Whether `id` has the shape of an id (24 lowercase hex characters).
pub fn is_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_lowercase_hex_and_distinct() {
        let id = new_id();
        assert!(is_id(&id), "{id}");
        assert_ne!(id, new_id());
        assert!(!is_id("ABCDEFABCDEFABCDEFABCDEF"));
        assert!(!is_id("abc"));
    }
}
