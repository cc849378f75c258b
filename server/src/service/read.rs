//! Reads: current metadata (from the read cache, loaded once per GUN on a miss), old versions
//! and checksum URLs, and the timestamp (and snapshot) the server renews before they expire.

use super::{last_modified, ServiceError, TrustService};
use crate::read_cache::CachedFile;
use crate::store::StoreError;
use crate::update;
use bytes::Bytes;
use std::sync::Arc;
use time::OffsetDateTime;

/// A metadata file to send: its bytes, the gzip copy when one is worth sending, and its
/// `Last-Modified` value.
#[derive(Clone, Debug)]
pub struct MetaBody {
    pub bytes: Bytes,
    pub gzipped: Option<Bytes>,
    pub last_modified: Bytes,
}

impl From<CachedFile> for MetaBody {
    fn from(f: CachedFile) -> Self {
        MetaBody {
            bytes: f.bytes,
            gzipped: f.gzipped,
            last_modified: f.last_modified,
        }
    }
}

/// How often a read renewing the timestamp starts again when another instance stored its
/// renewal first (each time, that instance's file is what the next try finds current).
const RENEWAL_ATTEMPTS: u32 = 3;

/// Timestamp and snapshot: cached with the timestamp's renewal deadline, never alone from
/// the database.
fn server_timed_role(role: &str) -> Option<&'static str> {
    match role {
        "timestamp" => Some("timestamp"),
        "snapshot" => Some("snapshot"),
        _ => None,
    }
}

impl TrustService {
    /// `<role>.json`: the current file.
    pub async fn read_current(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
    ) -> Result<MetaBody, ServiceError> {
        self.current_file(gun, role).await.map(Into::into)
    }

    /// The current file with its SHA-256, through the read cache.
    pub(super) async fn current_file(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
    ) -> Result<CachedFile, ServiceError> {
        if let Some(f) = self.cache.get(gun, role) {
            return Ok(f);
        }
        // A hit is the common read: the miss's larger state is boxed so that a hit's future
        // (moved into the handler's box on every request) stays small.
        Box::pin(self.current_file_uncached(gun, role)).await
    }

    async fn current_file_uncached(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
    ) -> Result<CachedFile, ServiceError> {
        if let Some(want) = server_timed_role(role) {
            return self.refresh_timestamp(gun, want).await;
        }
        // One load per GUN at a time: concurrent misses (64 clients reading a 2 MB targets
        // file) wait for the first load instead of each holding its own copy; and a load
        // cannot cache bytes that a publish holding this lock has just replaced.
        let _guard = self.gun_locks.get(gun).lock().await;
        if let Some(f) = self.cache.get(gun, role) {
            return Ok(f);
        }
        let ticket = self.cache.ticket(gun);
        let f = match self.load_latest(gun, role).await {
            Ok(f) => f.ok_or(ServiceError::NotFound)?,
            Err(e) => return self.last_known(gun, role, e),
        };
        self.cache.put(gun, role, f.clone(), ticket);
        Ok(f)
    }

    /// When the database cannot be read: the last file cached for `role`, if any. It is kept
    /// while other instances' changes are not heard (see [`ReadCache::set_trusted`]): with
    /// the database unreachable nobody can publish, so it is still the current one.
    ///
    /// [`ReadCache::set_trusted`]: crate::read_cache::ReadCache::set_trusted
    fn last_known(
        &self,
        gun: &str,
        role: &str,
        error: ServiceError,
    ) -> Result<CachedFile, ServiceError> {
        match error {
            ServiceError::Storage(_) => match self.cache.get_last_known(gun, role) {
                Some(f) => Ok(f),
                None => Err(error),
            },
            other => Err(other),
        }
    }

    /// `<version>.<role>.json`: from the database, uncached.
    pub async fn read_version(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
        version: i64,
    ) -> Result<MetaBody, ServiceError> {
        if version < 1 {
            return Err(ServiceError::NotFound);
        }
        let (store, g, r) = (self.store.clone(), gun.to_string(), role.to_string());
        let meta = self
            .blocking(move || Ok(store.by_version(&g, &r, version)?))
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(MetaBody {
            last_modified: last_modified(meta.created_at),
            bytes: meta.bytes,
            gzipped: None,
        })
    }

    /// `<role>.<sha256>.json`: what docker and notary fetch for everything but the
    /// timestamp. Served from the read cache when the checksum is that of the current file;
    /// old versions come from the database.
    pub async fn read_checksum(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
        sum: &str,
    ) -> Result<MetaBody, ServiceError> {
        // Only SHA-256 is indexed, as in the reference.
        let mut sha256 = [0u8; 32];
        if hex::decode_to_slice(sum, &mut sha256).is_err() {
            return Err(ServiceError::NotFound);
        }
        if let Some(f) = self.cache.get_by_checksum(gun, role, &sha256) {
            return Ok(f.into());
        }
        // Most checksum requests name the current file: load that into the cache, once per
        // GUN as for current URLs. Snapshot and timestamp come through the timestamp's
        // refresh (their renewal deadline is the timestamp's).
        if let Some(want) = server_timed_role(role) {
            // A failed refresh still leaves the stored file to find by its checksum.
            match self.refresh_timestamp(gun, want).await {
                Ok(f) if f.sha256 == sha256 => return Ok(f.into()),
                _ => {}
            }
        } else {
            let _guard = self.gun_locks.get(gun).lock().await;
            if let Some(f) = self.cache.get_by_checksum(gun, role, &sha256) {
                return Ok(f.into());
            }
            if self.cache.get(gun, role).is_none() {
                let ticket = self.cache.ticket(gun);
                if let Some(f) = self.load_latest(gun, role).await? {
                    self.cache.put(gun, role, f.clone(), ticket);
                    if f.sha256 == sha256 {
                        return Ok(f.into());
                    }
                }
            }
        }
        // An older version: from the database, uncached.
        let (store, g, r, s) = (
            self.store.clone(),
            gun.to_string(),
            role.to_string(),
            sum.to_string(),
        );
        let meta = self
            .blocking(move || Ok(store.by_checksum(&g, &r, &s)?))
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(MetaBody {
            last_modified: last_modified(meta.created_at),
            bytes: meta.bytes,
            gzipped: None,
        })
    }

    /// The stored current `role` of `gun`, compressed for the cache, with the SHA-256 the
    /// store recorded (the one its checksum lookups match, so both paths agree).
    async fn load_latest(
        self: &Arc<Self>,
        gun: &str,
        role: &str,
    ) -> Result<Option<CachedFile>, ServiceError> {
        self.metrics.read_cache_load();
        let (store, g, r) = (self.store.clone(), gun.to_string(), role.to_string());
        self.blocking(move || {
            let Some(m) = store.latest(&g, &r)? else {
                return Ok(None);
            };
            let lm = last_modified(m.created_at);
            let mut sha256 = [0u8; 32];
            Ok(Some(
                match hex::decode_to_slice(&m.sha256_hex, &mut sha256) {
                    Ok(()) => CachedFile::with_sha256(m.bytes, sha256, lm, None),
                    Err(_) => CachedFile::new(m.bytes, lm, None),
                },
            ))
        })
        .await
    }

    /// Loads (and if needed renews) the timestamp into the cache, and the snapshot when
    /// `want` is the snapshot or it was renewed. Most reads are of the timestamp alone
    /// (clients keep the snapshot by its checksum), so a timestamp read caches half the bytes
    /// and twice as many repositories fit the budget. A cached snapshot and timestamp share
    /// one deadline and a publish drops both, so one cached without the other is never stale.
    /// Returns the `want`ed file, also when the cache is too small to keep it.
    async fn refresh_timestamp(
        self: &Arc<Self>,
        gun: &str,
        want: &'static str,
    ) -> Result<CachedFile, ServiceError> {
        let _guard = self.gun_locks.get(gun).lock().await;
        if let Some(f) = self.cache.get(gun, want) {
            return Ok(f);
        }
        self.metrics.read_cache_load();
        let ticket = self.cache.ticket(gun);
        let service = self.clone();
        let g = gun.to_string();
        let state = self
            .blocking(move || {
                let mut attempts = 0;
                let s = loop {
                    let now = OffsetDateTime::now_utc();
                    let state = update::current_timestamp(
                        &g,
                        service.store.as_ref(),
                        &service.signer,
                        now,
                    )?;
                    let Some(s) = state else { return Ok(None) };
                    if s.new_rows.is_empty() {
                        break s;
                    }
                    match service.store.update_many(&g, &s.new_rows, now) {
                        // Another instance renewed first: its files are now the current
                        // ones, read them again.
                        Err(StoreError::OldVersion { .. }) if attempts < RENEWAL_ATTEMPTS => {
                            attempts += 1;
                        }
                        result => {
                            result?;
                            break s;
                        }
                    }
                };
                let lm = last_modified(OffsetDateTime::now_utc());
                let fresh_until = Some(s.timestamp_expires - update::TIMESTAMP_RENEW_MARGIN);
                let snapshot = (want == "snapshot"
                    || s.new_rows.iter().any(|r| r.role == "snapshot"))
                .then(|| CachedFile::new(s.snapshot, lm.clone(), fresh_until));
                Ok(Some((
                    s.timestamp_expires,
                    CachedFile::new(s.timestamp, lm, fresh_until),
                    snapshot,
                )))
            })
            .await;
        let (expires, timestamp, snapshot) = match state {
            Ok(Some(state)) => state,
            Ok(None) => return Err(ServiceError::NotFound),
            Err(e) => return self.last_known(gun, want, e),
        };
        self.metrics
            .server_signed_expiry("timestamp", expires.unix_timestamp());
        self.cache.put(gun, "timestamp", timestamp.clone(), ticket);
        match snapshot {
            Some(snapshot) => {
                self.cache.put(gun, "snapshot", snapshot.clone(), ticket);
                Ok(if want == "snapshot" {
                    snapshot
                } else {
                    timestamp
                })
            }
            None => Ok(timestamp),
        }
    }
}
