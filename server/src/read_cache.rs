//! The read cache: raw bytes of the current metadata of recently read repositories, so hot
//! GETs touch neither the database nor a hash.
//!
//! Bounded by total bytes (file bytes plus an estimate of the bookkeeping around each entry);
//! the repositories (GUNs) least recently read go first. The map is split into shards, each
//! behind its own `RwLock`: a hit takes one shard's read lock, marks the GUN used with an
//! atomic store (CLOCK, see [`ClockMap`]) and clones two `Bytes` handles — no write lock and
//! no allocation. The byte budget is global rather than split per shard, so a large file does
//! not need a large shard: a put that takes the total over budget evicts from the shards in
//! turn.
//!
//! Other instances' changes arrive as notices on a separate connection, so a fill (read the
//! database, then put) can race with one: the read sees the old file, the notice drops
//! nothing, and the put would then keep the old file until the next change. Each put
//! therefore carries a [`FillTicket`] taken before the read; an invalidation of the GUN (or
//! of everything) in between makes the put a no-op. While notices cannot be heard at all
//! (see [`ReadCache::set_trusted`]), cached files are only a fallback for when the database
//! cannot be read.

use crate::clock_map::ClockMap;
use crate::compression;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use time::OffsetDateTime;

/// One cached metadata file, with what serving it needs precomputed.
#[derive(Clone, Debug)]
pub struct CachedFile {
    pub bytes: Bytes,
    /// The gzip encoding of `bytes` when that is worth sending ([`compression`]).
    pub gzipped: Option<Bytes>,
    /// SHA-256 of `bytes`: checksum URLs (`<role>.<sha256>.json`) are answered from here.
    pub sha256: [u8; 32],
    /// The `Last-Modified` value (Go's RFC 1123 with zone name), formatted once.
    pub last_modified: Bytes,
    /// For timestamp/snapshot: serve until this instant, then re-check for renewal.
    pub fresh_until: Option<OffsetDateTime>,
}

impl CachedFile {
    /// Hashes and, if large, compresses `bytes`. CPU-bound for large files: call it where
    /// blocking is allowed.
    pub fn new(bytes: Bytes, last_modified: Bytes, fresh_until: Option<OffsetDateTime>) -> Self {
        let sha256 = Sha256::digest(&bytes).into();
        Self::with_sha256(bytes, sha256, last_modified, fresh_until)
    }

    /// [`CachedFile::new`] for bytes whose SHA-256 is already known (the store keeps it).
    pub fn with_sha256(
        bytes: Bytes,
        sha256: [u8; 32],
        last_modified: Bytes,
        fresh_until: Option<OffsetDateTime>,
    ) -> Self {
        CachedFile {
            gzipped: compression::gzip_if_worthwhile(&bytes),
            sha256,
            bytes,
            last_modified,
            fresh_until,
        }
    }
}

/// Enough shards that two cores rarely meet on one lock; few enough that a sweep over all of
/// them (`clear`, eviction round-robin) stays cheap.
const SHARDS: usize = 16;

/// Bookkeeping per GUN beyond its name: the slot, the index entry, the `Arc<str>` header and
/// the file list's allocation header, rounded up for allocator slack.
const GUN_OVERHEAD: usize = std::mem::size_of::<Option<(Arc<str>, GunFiles, bool)>>()
    + std::mem::size_of::<(Arc<str>, usize)>()
    + 64;

/// Bookkeeping per file beyond its bytes: the list element, the role name's allocation, the
/// shared headers of the body and of the `Last-Modified` value, rounded up likewise.
const FILE_OVERHEAD: usize = std::mem::size_of::<(Box<str>, CachedFile)>() + 96;

/// One repository's cached files. Few roles per GUN (root, targets, snapshot, timestamp and
/// any delegations read), so a list scan beats hashing the role.
#[derive(Debug, Default)]
struct GunFiles {
    files: Vec<(Box<str>, CachedFile)>,
    /// What this entry counts against the budget, name and overheads included.
    weight: usize,
}

fn file_weight(role: &str, f: &CachedFile) -> usize {
    FILE_OVERHEAD
        + role.len()
        + f.bytes.len()
        + f.gzipped.as_ref().map_or(0, Bytes::len)
        + f.last_modified.len()
}

impl GunFiles {
    fn base_weight(gun: &str) -> usize {
        GUN_OVERHEAD + gun.len()
    }

    /// Replaces or adds `role`; returns the weight change.
    fn set(&mut self, role: &str, file: CachedFile) -> isize {
        let w = file_weight(role, &file) as isize;
        if let Some((r, f)) = self.files.iter_mut().find(|(r, _)| &**r == role) {
            let old = file_weight(r, f) as isize;
            *f = file;
            return w - old;
        }
        self.files.push((role.into(), file));
        w
    }

    fn remove(&mut self, role: &str) -> isize {
        match self.files.iter().position(|(r, _)| &**r == role) {
            Some(i) => {
                let (r, f) = self.files.swap_remove(i);
                -(file_weight(&r, &f) as isize)
            }
            None => 0,
        }
    }
}

/// Invalidation counters per shard. GUNs share a counter by hash, so the memory stays fixed
/// whatever the number of GUNs; a shared counter only costs an occasional refused fill.
const STRIPES: usize = 64;

struct Shard {
    map: ClockMap<Arc<str>, GunFiles>,
    /// Sum of the weights in `map`; the global total is the sum over shards.
    bytes: usize,
    /// Bumped by every invalidation of a GUN of the stripe, and all of them by a clear.
    generations: Box<[u64]>,
}

impl Shard {
    fn new() -> Self {
        Shard {
            map: ClockMap::default(),
            bytes: 0,
            generations: vec![0; STRIPES].into_boxed_slice(),
        }
    }
}

/// The invalidation generation of a GUN's stripe, taken before a fill reads the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillTicket(u64);

pub struct ReadCache {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    limit: usize,
    /// The largest weight one GUN may have: a GUN that would take more is not cached at all,
    /// so one huge repository cannot flush everyone else's files on every read.
    max_entry: usize,
    total: AtomicUsize,
    /// Round-robin start for eviction across shards.
    next_shard: AtomicUsize,
    /// Whether invalidations are being heard: when not, [`ReadCache::get`] misses.
    trusted: AtomicBool,
}

impl ReadCache {
    /// A cache holding at most `limit_bytes` (0 disables caching).
    pub fn new(limit_bytes: usize) -> Self {
        ReadCache {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::new())).collect(),
            hasher: RandomState::new(),
            limit: limit_bytes,
            max_entry: limit_bytes / 4,
            total: AtomicUsize::new(0),
            next_shard: AtomicUsize::new(0),
            trusted: AtomicBool::new(true),
        }
    }

    fn shard_of(&self, gun: &str) -> &RwLock<Shard> {
        self.slot_of(gun).0
    }

    /// The GUN's shard and its stripe in the shard.
    fn slot_of(&self, gun: &str) -> (&RwLock<Shard>, usize) {
        let h = self.hasher.hash_one(gun);
        (
            &self.shards[h as usize % self.shards.len()],
            (h >> 32) as usize % STRIPES,
        )
    }

    /// To take before reading what will be put: see [`ReadCache::put`].
    pub fn ticket(&self, gun: &str) -> FillTicket {
        let (shard, stripe) = self.slot_of(gun);
        let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
        FillTicket(shard.generations[stripe])
    }

    /// Whether cached files may be served as current: false while other instances' changes
    /// cannot be heard. Becoming trusted again requires a [`ReadCache::clear`] first (notices
    /// may have been missed), which the caller does once it hears changes again.
    pub fn set_trusted(&self, trusted: bool) {
        self.trusted.store(trusted, Ordering::SeqCst);
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::SeqCst)
    }

    fn write(shard: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
        // A panic while holding the lock cannot leave a half-written entry behind (every
        // mutation completes before the weights are updated), so a poisoned lock is usable.
        shard.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file, unless it is absent or past its `fresh_until`, or invalidations are not
    /// being heard.
    pub fn get(&self, gun: &str, role: &str) -> Option<CachedFile> {
        if !self.is_trusted() {
            return None;
        }
        self.lookup(gun, role, OffsetDateTime::now_utc)
    }

    /// [`ReadCache::get`] also while invalidations are not heard: the last file known, for
    /// when the database cannot be read.
    pub fn get_last_known(&self, gun: &str, role: &str) -> Option<CachedFile> {
        self.lookup(gun, role, OffsetDateTime::now_utc)
    }

    /// [`ReadCache::get`] at a given time.
    pub fn get_at(&self, gun: &str, role: &str, now: OffsetDateTime) -> Option<CachedFile> {
        self.lookup(gun, role, || now)
    }

    fn lookup(
        &self,
        gun: &str,
        role: &str,
        now: impl FnOnce() -> OffsetDateTime,
    ) -> Option<CachedFile> {
        self.find(gun, role, |f| f.fresh_until.is_none_or(|t| t > now()))
    }

    /// The cached `role` of `gun` if its SHA-256 is `sha256`, however old: bytes named by
    /// their checksum never change, so the renewal deadline does not apply.
    pub fn get_by_checksum(&self, gun: &str, role: &str, sha256: &[u8; 32]) -> Option<CachedFile> {
        self.find(gun, role, |f| &f.sha256 == sha256)
    }

    /// The cached `role` of `gun` if `serve` accepts it; marks the GUN used either way.
    fn find(
        &self,
        gun: &str,
        role: &str,
        serve: impl FnOnce(&CachedFile) -> bool,
    ) -> Option<CachedFile> {
        let shard = self
            .shard_of(gun)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (_, f) = shard
            .map
            .get(gun)?
            .files
            .iter()
            .find(|(r, _)| &**r == role)?;
        serve(f).then(|| f.clone())
    }

    /// Caches `file` as the current `role` of `gun`, replacing what was cached for it, then
    /// evicts the least recently used GUNs (never this one) until the total is within budget.
    /// Does nothing, and returns false, if the GUN was invalidated since `ticket` was taken:
    /// `file` may predate the change.
    pub fn put(&self, gun: &str, role: &str, file: CachedFile, ticket: FillTicket) -> bool {
        let fits = GunFiles::base_weight(gun) + file_weight(role, &file) <= self.max_entry;
        let mut removed = None;
        {
            let (shard, stripe) = self.slot_of(gun);
            let mut shard = Self::write(shard);
            if shard.generations[stripe] != ticket.0 {
                drop(shard);
                return false;
            }
            let shard = &mut *shard;
            let delta = match shard.map.get_mut(gun) {
                Some(entry) => {
                    // Even when the new file is not kept, the old one must go: it is stale.
                    let d = if fits {
                        entry.set(role, file)
                    } else {
                        entry.remove(role)
                    };
                    let old = entry.weight;
                    let new = old.saturating_add_signed(d);
                    if new > self.max_entry || entry.files.is_empty() {
                        removed = shard.map.remove(gun);
                        -(old as isize)
                    } else {
                        entry.weight = new;
                        d
                    }
                }
                None if fits => {
                    let mut entry = GunFiles {
                        files: Vec::with_capacity(1),
                        weight: GunFiles::base_weight(gun),
                    };
                    let d = entry.set(role, file);
                    entry.weight = entry.weight.saturating_add_signed(d);
                    let w = entry.weight as isize;
                    shard.map.insert(Arc::from(gun), entry);
                    w
                }
                None => 0,
            };
            shard.bytes = shard.bytes.saturating_add_signed(delta);
            self.add_total(delta);
        }
        // Freed outside the lock: readers of the shard need not wait for the deallocation.
        drop(removed);
        self.evict_over_budget(gun);
        true
    }

    fn add_total(&self, delta: isize) {
        if delta >= 0 {
            self.total.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            self.total
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// Evicts round-robin over the shards, one entry per visit, so every shard's clock moves
    /// at the same pace and the budget is shared by all of them.
    fn evict_over_budget(&self, protect: &str) {
        let n = self.shards.len();
        // After two rounds of shards without a victim every mark has been cleared at least
        // once and the GUNs are being read faster than the hand moves: a third round evicts
        // regardless of marks. After that, only `protect` is left.
        let mut misses = 0;
        while self.total.load(Ordering::Relaxed) > self.limit && misses < 3 * n {
            let i = self.next_shard.fetch_add(1, Ordering::Relaxed) % n;
            let victim = {
                let mut shard = Self::write(&self.shards[i]);
                let victim = shard.map.evict_one(|k| &**k == protect, misses >= 2 * n);
                if let Some((_, files)) = &victim {
                    shard.bytes = shard.bytes.saturating_sub(files.weight);
                    self.total.fetch_sub(files.weight, Ordering::Relaxed);
                }
                victim
            };
            match victim {
                Some(_) => misses = 0,
                None => misses += 1,
            }
        }
    }

    /// Drops every cached file of `gun` (after a publish or delete, or another instance's).
    pub fn invalidate(&self, gun: &str) {
        let removed = {
            let (shard, stripe) = self.slot_of(gun);
            let mut shard = Self::write(shard);
            shard.generations[stripe] = shard.generations[stripe].wrapping_add(1);
            let removed = shard.map.remove(gun);
            if let Some(files) = &removed {
                shard.bytes = shard.bytes.saturating_sub(files.weight);
                self.total.fetch_sub(files.weight, Ordering::Relaxed);
            }
            removed
        };
        drop(removed);
    }

    /// Drops everything (when changes from other instances may have been missed).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = Self::write(shard);
            self.total.fetch_sub(shard.bytes, Ordering::Relaxed);
            shard.bytes = 0;
            shard.map.clear();
            for g in shard.generations.iter_mut() {
                *g = g.wrapping_add(1);
            }
        }
    }

    /// Bytes currently counted against the budget.
    pub fn bytes(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Number of GUNs with cached files.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The budget.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn file(body: &str) -> CachedFile {
        CachedFile::new(
            Bytes::from(body.to_string()),
            Bytes::from_static(b"Mon, 02 Jan 2006 15:04:05 UTC"),
            None,
        )
    }

    /// A fill with nothing in between: the ticket is taken just before the put.
    fn put(c: &ReadCache, gun: &str, role: &str, f: CachedFile) {
        let ticket = c.ticket(gun);
        c.put(gun, role, f, ticket);
    }

    fn body(c: &ReadCache, gun: &str, role: &str) -> Option<String> {
        c.get(gun, role)
            .map(|f| String::from_utf8(f.bytes.to_vec()).unwrap())
    }

    /// Recomputes every weight from the entries themselves and checks the counters agree.
    fn check_accounting(c: &ReadCache) {
        let mut total = 0;
        for shard in c.shards.iter() {
            let shard = shard.read().unwrap();
            let mut sum = 0;
            for (gun, files) in shard.map.values() {
                let w = GunFiles::base_weight(gun)
                    + files
                        .files
                        .iter()
                        .map(|(r, f)| file_weight(r, f))
                        .sum::<usize>();
                assert_eq!(files.weight, w, "weight of {gun}");
                sum += w;
            }
            assert_eq!(shard.bytes, sum, "shard total");
            total += sum;
        }
        assert_eq!(c.bytes(), total, "global total");
        assert!(c.bytes() <= c.limit(), "{} over {}", c.bytes(), c.limit());
    }

    /// What one GUN with one file of `len` bytes weighs.
    fn weight_of(gun: &str, role: &str, len: usize) -> usize {
        GunFiles::base_weight(gun) + file_weight(role, &file(&"x".repeat(len)))
    }

    #[test]
    fn get_put_replace_and_invalidate() {
        let c = ReadCache::new(1 << 20);
        assert!(c.get("g", "root").is_none());
        put(&c, "g", "root", file("r1"));
        put(&c, "g", "targets", file("t1"));
        put(&c, "h", "root", file("other"));
        assert_eq!(body(&c, "g", "root").as_deref(), Some("r1"));
        assert_eq!(body(&c, "g", "targets").as_deref(), Some("t1"));
        assert!(c.get("g", "snapshot").is_none());
        check_accounting(&c);
        // Replacing with a longer and then a shorter file keeps the byte count exact.
        put(&c, "g", "root", file("a much longer root than before"));
        check_accounting(&c);
        put(&c, "g", "root", file("r"));
        assert_eq!(body(&c, "g", "root").as_deref(), Some("r"));
        check_accounting(&c);
        let before = c.bytes();
        c.invalidate("g");
        assert!(c.get("g", "root").is_none());
        assert!(c.get("g", "targets").is_none());
        assert_eq!(body(&c, "h", "root").as_deref(), Some("other"));
        assert_eq!(
            before - c.bytes(),
            weight_of("g", "root", 1) + file_weight("targets", &file("t1"))
        );
        check_accounting(&c);
        c.invalidate("not cached");
        check_accounting(&c);
        c.clear();
        assert!(c.get("h", "root").is_none());
        assert_eq!(c.bytes(), 0);
        assert!(c.is_empty());
        check_accounting(&c);
    }

    #[test]
    fn expired_entries_are_not_served() {
        let c = ReadCache::new(1 << 20);
        let now = OffsetDateTime::now_utc();
        let mut f = file("ts");
        f.fresh_until = Some(now + Duration::minutes(1));
        put(&c, "g", "timestamp", f);
        assert!(c.get_at("g", "timestamp", now).is_some());
        assert!(c
            .get_at("g", "timestamp", now + Duration::minutes(1))
            .is_none());
        assert!(c.get("g", "timestamp").is_some());
    }

    #[test]
    fn eviction_keeps_the_total_within_the_budget_and_spares_hot_guns() {
        let w = weight_of("gun-000", "root", 1000);
        // Room for exactly 20 such GUNs.
        let c = ReadCache::new(20 * w);
        let body_of = |i: usize| format!("{i:0>1000}");
        for i in 0..20 {
            put(&c, &format!("gun-{i:03}"), "root", file(&body_of(i)));
        }
        assert_eq!(c.len(), 20, "no eviction below the bound");
        assert_eq!(c.bytes(), 20 * w);
        check_accounting(&c);
        // Stream 200 more GUNs through while reading gun-000 between puts.
        for i in 20..220 {
            assert_eq!(
                body(&c, "gun-000", "root").as_deref(),
                Some(body_of(0).as_str()),
                "hot GUN evicted before put {i}"
            );
            put(&c, &format!("gun-{i:03}"), "root", file(&body_of(i)));
            assert!(c.bytes() <= c.limit());
            assert!(c.len() <= 20);
        }
        assert_eq!(c.len(), 20, "evicted down to the bound, not below");
        check_accounting(&c);
        // The last GUN put is always kept; evicted ones are gone, and a reload after
        // eviction serves the new bytes.
        assert_eq!(
            body(&c, "gun-219", "root").as_deref(),
            Some(body_of(219).as_str())
        );
        let evicted = (1..219)
            .map(|i| format!("gun-{i:03}"))
            .find(|g| c.get(g, "root").is_none())
            .unwrap();
        put(&c, &evicted, "root", file(&body_of(7)));
        assert_eq!(
            body(&c, &evicted, "root").as_deref(),
            Some(body_of(7).as_str())
        );
        check_accounting(&c);
    }

    #[test]
    fn a_gun_larger_than_a_quarter_of_the_budget_is_not_cached_and_its_stale_file_goes() {
        let c = ReadCache::new(4000);
        put(&c, "g", "root", file("small"));
        put(&c, "g", "targets", file("t"));
        assert!(c.get("g", "root").is_some());
        put(&c, "g", "root", file(&"x".repeat(1000)));
        assert!(c.get("g", "root").is_none(), "stale root still served");
        assert_eq!(body(&c, "g", "targets").as_deref(), Some("t"));
        check_accounting(&c);
        put(&c, "other", "root", file(&"x".repeat(1000)));
        assert!(c.get("other", "root").is_none());
        check_accounting(&c);
        // Many files that fit one by one but not together: the GUN goes entirely.
        for i in 0..20 {
            put(&c, "g", &format!("targets/d{i}"), file(&"y".repeat(40)));
        }
        assert!(c.bytes() <= c.max_entry);
        check_accounting(&c);
    }

    #[test]
    fn checksum_lookups_match_the_hash_and_ignore_the_renewal_deadline() {
        let c = ReadCache::new(1 << 20);
        let now = OffsetDateTime::now_utc();
        let mut ts = file("ts-v1");
        ts.fresh_until = Some(now - Duration::minutes(1));
        let sum: [u8; 32] = Sha256::digest(b"ts-v1").into();
        assert_eq!(ts.sha256, sum);
        put(&c, "g", "timestamp", ts);
        assert!(c.get("g", "timestamp").is_none(), "past its deadline");
        let f = c
            .get_by_checksum("g", "timestamp", &sum)
            .expect("by checksum");
        assert_eq!(f.bytes, "ts-v1".as_bytes());
        assert!(
            c.get_by_checksum("g", "snapshot", &sum).is_none(),
            "other role"
        );
        assert!(
            c.get_by_checksum("h", "timestamp", &sum).is_none(),
            "other GUN"
        );
        put(&c, "g", "timestamp", file("ts-v2"));
        assert!(
            c.get_by_checksum("g", "timestamp", &sum).is_none(),
            "replaced bytes are not served under the old checksum"
        );
    }

    #[test]
    fn compressed_copies_count_against_the_budget() {
        let big = format!("{{\"targets\":[{}]}}", "\"tag\",".repeat(2000));
        let f = file(&big);
        let gz = f
            .gzipped
            .as_ref()
            .expect("a large JSON body is compressed")
            .len();
        assert!(gz < big.len() / 10);
        let plain = CachedFile {
            gzipped: None,
            ..f.clone()
        };
        assert_eq!(
            file_weight("targets", &f),
            file_weight("targets", &plain) + gz
        );
        let c = ReadCache::new(1 << 20);
        put(&c, "g", "targets", f);
        assert_eq!(
            c.bytes(),
            GunFiles::base_weight("g") + file_weight("targets", &plain) + gz
        );
        check_accounting(&c);
    }

    #[test]
    fn zero_budget_caches_nothing() {
        let c = ReadCache::new(0);
        put(&c, "g", "root", file("r"));
        assert!(c.get("g", "root").is_none());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn concurrent_readers_and_writers_keep_the_accounting_exact() {
        let w = weight_of("gun-00", "root", 100);
        let c = Arc::new(ReadCache::new(30 * w));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        let g = format!("gun-{:02}", (i * 7 + t * 13) % 64);
                        match i % 5 {
                            0 => c.invalidate(&g),
                            1 | 2 => put(&c, &g, "root", file(&format!("{g:0>100}"))),
                            _ => {
                                if let Some(f) = c.get(&g, "root") {
                                    assert_eq!(f.bytes, format!("{g:0>100}").as_bytes());
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        check_accounting(&c);
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_not_kept() {
        let c = ReadCache::new(1 << 20);
        put(&c, "g", "targets", file("v1"));
        // A fill starts (ticket, then the database read sees v1)...
        let ticket = c.ticket("g");
        // ...another instance's change notice arrives before the fill puts...
        c.invalidate("g");
        // ...so the fill's v1 is not kept: the next read loads the new file.
        assert!(!c.put("g", "targets", file("v1"), ticket));
        assert!(c.get("g", "targets").is_none());
        // Same after a clear (a tenancy change or a lost listener).
        let ticket = c.ticket("h");
        c.clear();
        assert!(!c.put("h", "root", file("old"), ticket));
        assert!(c.get("h", "root").is_none());
        // A ticket taken after the invalidation is good; other GUNs' fills are unaffected
        // unless they share the stripe.
        let ticket = c.ticket("g");
        assert!(c.put("g", "targets", file("v2"), ticket));
        assert_eq!(body(&c, "g", "targets").as_deref(), Some("v2"));
        check_accounting(&c);
    }

    #[test]
    fn untrusted_entries_are_only_a_fallback() {
        let c = ReadCache::new(1 << 20);
        put(&c, "g", "targets", file("v1"));
        c.set_trusted(false);
        assert!(c.get("g", "targets").is_none());
        assert_eq!(
            c.get_last_known("g", "targets").map(|f| f.bytes),
            Some(Bytes::from_static(b"v1"))
        );
        let sum: [u8; 32] = Sha256::digest(b"v1").into();
        assert!(c.get_by_checksum("g", "targets", &sum).is_some());
        c.clear();
        c.set_trusted(true);
        assert!(c.get("g", "targets").is_none());
    }
}
