//! Stored roots already validated, so a publish does not re-check the stored root's
//! signatures and certificates every time.

use crate::clock_map::ClockMap;
use time::OffsetDateTime;

/// About 100 bytes per entry plus the GUN.
pub const VALIDATED_ROOTS_CAP: usize = 4096;

/// Stored roots already validated: GUN → (SHA-256 of the root bytes, valid until). A root is
/// re-checked at most once a minute and never past its earliest certificate expiry, so an
/// expired root certificate still stops every push, as in the reference (§2.1). Bounded to
/// the [`VALIDATED_ROOTS_CAP`] repositories most recently published to; a root evicted is
/// simply validated again. Owned by the trust service (one per server), so two servers in one
/// process (tests, two instances) never share what they validated.
pub struct ValidatedRoots {
    map: std::sync::Mutex<ClockMap<String, ([u8; 32], OffsetDateTime)>>,
    cap: usize,
}

impl Default for ValidatedRoots {
    fn default() -> Self {
        ValidatedRoots::new(VALIDATED_ROOTS_CAP)
    }
}

impl ValidatedRoots {
    pub fn new(cap: usize) -> Self {
        ValidatedRoots {
            map: std::sync::Mutex::new(ClockMap::new()),
            cap,
        }
    }

    pub(crate) fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, ClockMap<String, ([u8; 32], OffsetDateTime)>> {
        // Entries are replaced whole, so a panic elsewhere cannot leave one half-written.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the root with this digest was validated for `gun` and is still within its
    /// re-check time.
    pub(crate) fn is_valid(&self, gun: &str, digest: &[u8; 32], now: OffsetDateTime) -> bool {
        self.lock()
            .get(gun)
            .is_some_and(|(d, until)| d == digest && now < *until)
    }

    pub(crate) fn record(&self, gun: &str, digest: [u8; 32], until: OffsetDateTime) {
        let evicted = self
            .lock()
            .insert_capped(gun.to_string(), (digest, until), self.cap);
        drop(evicted);
    }
}
