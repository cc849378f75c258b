//! The trust service over a database shared with other instances: their change notices racing
//! this instance's cache fills, notices lost while the listener is down, and renewals racing
//! this instance's. The "other instance" writes straight into the store at chosen points of
//! this one's reads, and its notices are delivered like the PostgreSQL listener delivers them.

use super::*;
use crate::store::{
    Applied, AuditQuery, AuditRecord, Change, ChangeNotice, FileVersion, ImportStored,
    ImportedFile, MetaReader, NewMeta, SealedKey, StoreError, StoredMeta, TenancyChange,
    TenancyRows, TenancyStore, TrustWipe,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

type Notify = Box<dyn Fn(ChangeNotice<'_>) + Send + Sync>;
/// What the other instance does, run at a chosen point of one of this instance's store calls.
type Interleave = Box<dyn FnOnce(&SharedStore) + Send>;

/// A SQLite store standing in for a shared database.
struct SharedStore {
    inner: SqliteStore,
    listener: Mutex<Option<Notify>>,
    /// Runs once, inside the next `latest` of this role, after the row was read.
    after_latest: Mutex<Option<(&'static str, Interleave)>>,
    /// Runs once, inside the next `update_many` storing a timestamp, before it.
    before_timestamp_update: Mutex<Option<Interleave>>,
    /// Reads fail as if the database were down.
    unreachable: AtomicBool,
}

impl SharedStore {
    fn notify(&self, notice: ChangeNotice<'_>) {
        if let Some(listener) = self.listener.lock().unwrap().as_ref() {
            listener(notice);
        }
    }

    /// The other instance stores `rows` and, unless its notice is lost, announces them.
    fn other_instance_stores(&self, gun: &str, rows: &[NewMeta], heard: bool) {
        self.inner
            .update_many(gun, rows, OffsetDateTime::now_utc())
            .unwrap();
        if heard {
            self.notify(ChangeNotice::Changed(gun));
        }
    }

    fn check_reachable(&self) -> Result<(), StoreError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("connection refused".into()));
        }
        Ok(())
    }
}

impl MetaReader for SharedStore {
    fn latest(&self, gun: &str, role: &str) -> Result<Option<StoredMeta>, StoreError> {
        self.check_reachable()?;
        let row = self.inner.latest(gun, role)?;
        let mut slot = self.after_latest.lock().unwrap();
        if slot.as_ref().is_some_and(|(r, _)| *r == role) {
            let (_, interleave) = slot.take().unwrap();
            drop(slot);
            interleave(self);
        }
        Ok(row)
    }

    fn latest_version(&self, gun: &str, role: &str) -> Result<Option<i64>, StoreError> {
        self.check_reachable()?;
        self.inner.latest_version(gun, role)
    }

    fn by_checksum(
        &self,
        gun: &str,
        role: &str,
        sha256_hex: &str,
    ) -> Result<Option<StoredMeta>, StoreError> {
        self.check_reachable()?;
        self.inner.by_checksum(gun, role, sha256_hex)
    }
}

impl TenancyStore for SharedStore {
    fn tenancy_load(&self) -> Result<TenancyRows, StoreError> {
        self.inner.tenancy_load()
    }
    fn tenancy_generation(&self) -> Result<i64, StoreError> {
        self.inner.tenancy_generation()
    }
    fn tenancy_apply(
        &self,
        expected_generation: i64,
        changes: &[TenancyChange],
        wipe: Option<TrustWipe<'_>>,
        audit: &AuditRecord,
    ) -> Result<Applied, StoreError> {
        self.inner
            .tenancy_apply(expected_generation, changes, wipe, audit)
    }
    fn repository_holdings(&self, gun: &str) -> Result<(usize, usize), StoreError> {
        self.inner.repository_holdings(gun)
    }
    fn audit_list(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit_list(q)
    }
}

impl Store for SharedStore {
    fn by_version(
        &self,
        gun: &str,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredMeta>, StoreError> {
        self.check_reachable()?;
        self.inner.by_version(gun, role, version)
    }
    fn update_many(
        &self,
        gun: &str,
        rows: &[NewMeta],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if rows.iter().any(|r| r.role == "timestamp") {
            let interleave = self.before_timestamp_update.lock().unwrap().take();
            if let Some(interleave) = interleave {
                interleave(self);
            }
        }
        self.inner.update_many(gun, rows, now)
    }
    fn delete_gun(&self, gun: &str, now: OffsetDateTime) -> Result<usize, StoreError> {
        self.inner.delete_gun(gun, now)
    }
    fn changefeed(
        &self,
        gun: Option<&str>,
        change_id: i64,
        records: i64,
    ) -> Result<Vec<Change>, StoreError> {
        self.inner.changefeed(gun, change_id, records)
    }
    fn insert_key(&self, key: &SealedKey, now: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.insert_key(key, now)
    }
    fn last_deletion(&self, gun: &str) -> Result<i64, StoreError> {
        self.inner.last_deletion(gun)
    }
    fn keys_for(&self, gun: &str, role: &str) -> Result<Vec<SealedKey>, StoreError> {
        self.inner.keys_for(gun, role)
    }
    fn mark_used(&self, gun: &str, key_id: &str) -> Result<(), StoreError> {
        self.inner.mark_used(gun, key_id)
    }
    fn signer_meta_init(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.inner.signer_meta_init(name, value)
    }
    fn signer_meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.signer_meta_get(name)
    }
    fn guns(&self) -> Result<Vec<String>, StoreError> {
        self.inner.guns()
    }
    fn versions(&self, gun: &str) -> Result<Vec<FileVersion>, StoreError> {
        self.inner.versions(gun)
    }
    fn delete_old_versions(
        &self,
        gun: &str,
        victims: &[(String, i64)],
    ) -> Result<usize, StoreError> {
        self.inner.delete_old_versions(gun, victims)
    }
    fn import_repository(
        &self,
        gun: &str,
        files: &[ImportedFile],
        keys: &[SealedKey],
        audit: &AuditRecord,
    ) -> Result<ImportStored, StoreError> {
        self.inner.import_repository(gun, files, keys, audit)
    }
    fn watch_changes(&self, on_notice: Notify) {
        *self.listener.lock().unwrap() = Some(on_notice);
    }
}

/// A fixture over a [`SharedStore`], and that store.
fn shared_fixture() -> (Fixture, Arc<SharedStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SharedStore {
        inner: SqliteStore::open(&dir.path().join("db")).unwrap(),
        listener: Mutex::new(None),
        after_latest: Mutex::new(None),
        before_timestamp_update: Mutex::new(None),
        unreachable: AtomicBool::new(false),
    });
    let f = fixture_on(dir, store.clone());
    store.notify(ChangeNotice::Listening);
    (f, store)
}

fn targets_row(f: &Fixture, version: i64) -> NewMeta {
    NewMeta {
        role: "targets".into(),
        version,
        bytes: f.targets(version),
    }
}

#[tokio::test]
async fn a_fill_that_read_before_another_instances_change_does_not_outlive_its_notice() {
    let (f, store) = shared_fixture();
    let (_, t1) = f.first_publish(OPEN_GUN).await;
    // This instance's fill reads targets v1; before it caches them, the other instance
    // stores v2 and its notice arrives.
    let row = targets_row(&f, 2);
    let t2 = row.bytes.clone();
    *store.after_latest.lock().unwrap() = Some((
        "targets",
        Box::new(move |s: &SharedStore| s.other_instance_stores(OPEN_GUN, &[row], true)),
    ));
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), t1);
    assert!(store.after_latest.lock().unwrap().is_none(), "not raced");
    // The read that began first answered v1; every later one sees v2.
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), t2);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), t2);
}

#[tokio::test]
async fn while_deaf_reads_go_to_the_database_and_fall_back_to_the_last_known_file() {
    let (f, store) = shared_fixture();
    let (_, t1) = f.first_publish(OPEN_GUN).await;
    let quiet = "example.com/quiet";
    let (_, quiet_targets) = f.first_publish(quiet).await;
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), t1);
    assert_eq!(f.current(quiet, "targets").await.unwrap(), quiet_targets);
    let quiet_ts = f.current(quiet, "timestamp").await.unwrap();

    // The listener's connection breaks; the other instance's change is never announced.
    store.notify(ChangeNotice::Deaf);
    let row = targets_row(&f, 2);
    let t2 = row.bytes.clone();
    store.other_instance_stores(OPEN_GUN, &[row], false);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), t2);

    // The database goes down as well: the last files known are served, also for a repository
    // nobody writes to; what was never cached fails.
    store.unreachable.store(true, Ordering::SeqCst);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), t2);
    assert_eq!(f.current(quiet, "targets").await.unwrap(), quiet_targets);
    assert_eq!(f.current(quiet, "timestamp").await.unwrap(), quiet_ts);
    let never_cached = f.current(quiet, "root").await.unwrap_err().to_api();
    // As notary-server answers a storage failure on a read.
    assert_eq!(
        (never_cached.code.status(), never_cached.code.code()),
        (500, "UNKNOWN")
    );
    let old_version = f.service.read_version(quiet, "targets", 1).await;
    assert_eq!(old_version.unwrap_err().to_api().code.code(), "UNKNOWN");
    // And on a publish.
    let publish = f
        .service
        .publish(&f.open_caller(), quiet, vec![part("targets", f.targets(2))])
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(
        (publish.code.status(), publish.code.code()),
        (500, "UPDATING")
    );

    // Back, and listening again: nothing cached while deaf is trusted, later changes are.
    store.unreachable.store(false, Ordering::SeqCst);
    let (t3, t4) = (targets_row(&f, 3), targets_row(&f, 4));
    let (b3, b4) = (t3.bytes.clone(), t4.bytes.clone());
    store.other_instance_stores(OPEN_GUN, &[t3], false);
    store.notify(ChangeNotice::Listening);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), b3);
    store.other_instance_stores(OPEN_GUN, &[t4], true);
    assert_eq!(f.current(OPEN_GUN, "targets").await.unwrap(), b4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_loses_a_renewal_race_serves_the_winners_timestamp() {
    let (f, store) = shared_fixture();
    // Stored as if published 20 days ago: the timestamp (14 days) has expired.
    let long_ago = OffsetDateTime::now_utc() - Duration::days(20);
    let uploads = vec![
        crate::update::Upload {
            role: "root".into(),
            bytes: f.root(OPEN_GUN, 1).await,
        },
        crate::update::Upload {
            role: "targets".into(),
            bytes: f.targets(1),
        },
    ];
    let rows = crate::update::plan_update(
        OPEN_GUN,
        f.service.store.as_ref(),
        &f.service.signer,
        &f.service.validated_roots,
        uploads,
        long_ago,
    )
    .unwrap();
    store.inner.update_many(OPEN_GUN, &rows, long_ago).unwrap();

    // Both instances find the timestamp due; the other one stores its renewal first.
    let signer = f.service.signer.clone();
    *store.before_timestamp_update.lock().unwrap() = Some(Box::new(move |s: &SharedStore| {
        let now = OffsetDateTime::now_utc();
        let state = crate::update::current_timestamp(OPEN_GUN, &s.inner, &signer, now)
            .unwrap()
            .unwrap();
        assert!(!state.new_rows.is_empty());
        s.other_instance_stores(OPEN_GUN, &state.new_rows, true);
    }));
    let served = f.current(OPEN_GUN, "timestamp").await.unwrap();
    assert!(store.before_timestamp_update.lock().unwrap().is_none());
    let winner = store.inner.latest(OPEN_GUN, "timestamp").unwrap().unwrap();
    assert_eq!(winner.version, 2, "one renewal stored, not two");
    assert_eq!(served, winner.bytes.to_vec());
}
