//! Per-repository serialisation of writes (publish, delete, key creation, timestamp renewal)
//! in constant memory.
//!
//! A fixed array of async mutexes, one chosen by a hash of the GUN: a map with one mutex per
//! GUN ever written would grow with every repository for the life of the process. Two GUNs
//! that share a stripe merely wait for each other; no path holds two GUN locks at once, so
//! sharing cannot deadlock.

use std::hash::{BuildHasher, RandomState};
use tokio::sync::Mutex;

/// Stripes: with 2 cores and writes that take milliseconds, hundreds of concurrent writers
/// rarely collide on 1024 stripes, and the array is about 40 KiB.
pub const STRIPES: usize = 1024;

pub struct GunLocks {
    stripes: Box<[Mutex<()>]>,
    /// Keyed per process, so no one can pick names that all land on one stripe.
    hasher: RandomState,
}

impl Default for GunLocks {
    fn default() -> Self {
        Self::new(STRIPES)
    }
}

impl GunLocks {
    pub fn new(stripes: usize) -> Self {
        GunLocks {
            stripes: (0..stripes.max(1)).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// The mutex serialising writes to `gun` (shared with the GUNs of the same stripe).
    pub fn get(&self, gun: &str) -> &Mutex<()> {
        let i = self.hasher.hash_one(gun) as usize % self.stripes.len();
        &self.stripes[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_gun_always_gets_the_same_lock_and_memory_is_fixed() {
        let locks = GunLocks::new(8);
        let a = locks.get("example.com/a") as *const _;
        for _ in 0..3 {
            assert_eq!(locks.get("example.com/a") as *const _, a);
        }
        // Any number of GUNs map onto the same 8 mutexes.
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            seen.insert(locks.get(&format!("example.com/{i}")) as *const _);
        }
        assert_eq!(seen.len(), 8);
    }

    #[tokio::test]
    async fn a_held_gun_lock_blocks_the_same_gun() {
        let locks = GunLocks::new(4);
        let guard = locks.get("g").lock().await;
        assert!(locks.get("g").try_lock().is_err());
        drop(guard);
        assert!(locks.get("g").try_lock().is_ok());
    }
}
