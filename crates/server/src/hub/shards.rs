//! A map split over independently locked shards, so unrelated keys never contend.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Number of shards: a power of two comfortably above the core count, small enough that an
/// empty hub costs a few KiB.
const SHARDS: usize = 64;

/// One shard: a map from key to value under its own lock.
type Shard<V> = RwLock<HashMap<Box<str>, V>>;

/// `HashMap<String, V>` split over [`SHARDS`] `RwLock`s by key hash. Readers of one shard run
/// in parallel (publishing only reads); writers lock one shard. Guards must never be held
/// across `.await` (they are `std` locks) and a caller never holds two guards at once.
pub struct Shards<V> {
    shards: Box<[Shard<V>]>,
    hasher: RandomState,
}

impl<V> Default for Shards<V> {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| RwLock::default()).collect(), hasher: RandomState::new() }
    }
}

impl<V> Shards<V> {
    fn shard(&self, key: &str) -> &Shard<V> {
        // The modulo keeps the index in range; SHARDS is a constant power of two.
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }

    /// Read access to the shard holding `key`. A poisoned lock (a panic while writing) is
    /// recovered: the maps stay structurally valid under panics in our code paths.
    pub fn read(&self, key: &str) -> RwLockReadGuard<'_, HashMap<Box<str>, V>> {
        self.shard(key).read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Write access to the shard holding `key`.
    pub fn write(&self, key: &str) -> RwLockWriteGuard<'_, HashMap<Box<str>, V>> {
        self.shard(key).write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every key, read shard by shard (one guard at a time): a snapshot that may miss keys
    /// added meanwhile.
    pub fn all_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for shard in &self.shards {
            let shard = shard.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            keys.extend(shard.keys().map(|key| key.to_string()));
        }
        keys
    }
}
