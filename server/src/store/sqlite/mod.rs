//! The SQLite backend: the embedded default, one instance.

use super::{
    from_micros, import_plan, micros, Applied, AuditQuery, AuditRecord, Change, FileVersion,
    ImportStored, ImportedFile, MetaReader, NewMeta, SealedKey, Store, StoreError, StoredMeta,
    TenancyChange, TenancyRow, TenancyRows, TrustWipe, Wiped,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// One queued update waiting for a group commit.
struct Job {
    gun: String,
    rows: Vec<NewMeta>,
    now: OffsetDateTime,
    result: Arc<Mutex<Option<Result<(), StoreError>>>>,
}

/// The SQLite store: a writer connection and a reader connection (WAL lets reads proceed
/// while a commit is in flight). Concurrent updates are group-committed: whoever holds the
/// writer applies every queued update in one transaction (a savepoint each, so one stale
/// update fails alone) and pays for one fsync on behalf of all.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
    pending: Mutex<Vec<Job>>,
}

mod tenancy;
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tuf_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (gun, role, version)
);
CREATE INDEX IF NOT EXISTS tuf_files_sha ON tuf_files (gun, sha256);
CREATE TABLE IF NOT EXISTS changefeed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    gun TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    category TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changefeed_gun ON changefeed (gun, id);
CREATE TABLE IF NOT EXISTS server_keys (
    key_id TEXT NOT NULL,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public BLOB NOT NULL,
    sealed_private BLOB NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (gun, key_id)
);
CREATE TABLE IF NOT EXISTS signer_meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tenancy (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS tenancy_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO tenancy_meta (id, generation) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        // WAL for concurrent readers; FULL sync so an acknowledged publish survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            pending: Mutex::new(Vec::new()),
        })
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one update inside the open transaction (checked against stored versions).
    fn apply(
        tx: &Connection,
        gun: &str,
        rows: &[NewMeta],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        super::each_role_once(rows)?;
        for r in rows {
            let max: Option<i64> = tx
                .prepare_cached("SELECT MAX(version) FROM tuf_files WHERE gun=?1 AND role=?2")?
                .query_row(params![gun, r.role], |row| row.get(0))?;
            super::newer_than_stored(r, max)?;
            let sha = signet_tuf::sha256_hex(&r.bytes);
            tx.prepare_cached(
                "INSERT INTO tuf_files (gun, role, version, sha256, data, created_at) VALUES (?1,?2,?3,?4,?5,?6)",
            )?
            .execute(params![gun, r.role, r.version, sha, r.bytes, micros(now)])?;
            if r.role == "timestamp" {
                tx.prepare_cached(
                    "INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES (?1,?2,?3,?4,'update')",
                )?
                .execute(params![micros(now), gun, r.version, sha])?;
            }
        }
        Ok(())
    }

    /// Commits every queued job in one transaction and records each job's outcome.
    fn commit_batch(conn: &mut Connection, jobs: Vec<Job>) {
        let mut outcomes: Vec<Result<(), StoreError>> = Vec::with_capacity(jobs.len());
        let committed = (|| -> Result<(), StoreError> {
            let mut tx = conn.transaction()?;
            for job in &jobs {
                let sp = tx.savepoint()?;
                match Self::apply(&sp, &job.gun, &job.rows, job.now) {
                    Ok(()) => {
                        sp.commit()?;
                        outcomes.push(Ok(()));
                    }
                    // Dropping the savepoint rolls back just this job.
                    Err(e) => outcomes.push(Err(e)),
                }
            }
            tx.commit()?;
            Ok(())
        })();
        for (i, job) in jobs.into_iter().enumerate() {
            let result = match &committed {
                Ok(()) => outcomes
                    .get(i)
                    .cloned()
                    .unwrap_or(Err(StoreError::Backend("lost outcome".into()))),
                Err(e) => Err(e.clone()),
            };
            *job.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn row_to_meta(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMeta> {
        let data: Vec<u8> = row.get(2)?;
        Ok(StoredMeta {
            role: row.get(0)?,
            version: row.get(1)?,
            bytes: bytes::Bytes::from(data),
            sha256_hex: row.get(3)?,
            created_at: from_micros(row.get(4)?),
        })
    }
}

impl Store for SqliteStore {
    fn by_version(
        &self,
        gun: &str,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredMeta>, StoreError> {
        Ok(self
            .reader()
            .prepare_cached(
                "SELECT role, version, data, sha256, created_at FROM tuf_files WHERE gun=?1 AND role=?2 AND version=?3",
            )?
            .query_row(params![gun, role, version], Self::row_to_meta)
            .optional()?)
    }

    /// Stores an update in one transaction. Every role's version must be strictly greater
    /// than any stored version of that role; a timestamp also writes a changefeed record.
    fn update_many(
        &self,
        gun: &str,
        rows: &[NewMeta],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = Arc::new(Mutex::new(None));
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Job {
                gun: gun.to_string(),
                rows: rows.to_vec(),
                now,
                result: result.clone(),
            });
        let take = || result.lock().unwrap_or_else(|p| p.into_inner()).take();
        loop {
            if let Some(r) = take() {
                return r;
            }
            let mut conn = self.conn();
            if let Some(r) = take() {
                return r;
            }
            let jobs = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
            Self::commit_batch(&mut conn, jobs);
        }
    }

    fn delete_gun(&self, gun: &str, now: OffsetDateTime) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM tuf_files WHERE gun=?1", params![gun])?;
        if n > 0 {
            tx.execute(
                "INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES (?1,?2,0,'','deletion')",
                params![micros(now), gun],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn guns(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare("SELECT DISTINCT gun FROM tuf_files ORDER BY gun")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn versions(&self, gun: &str) -> Result<Vec<FileVersion>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT role, version, sha256, length(data) FROM tuf_files WHERE gun = ?1 ORDER BY role, version",
        )?;
        let rows = stmt.query_map(params![gun], |r| {
            Ok(FileVersion {
                role: r.get(0)?,
                version: r.get(1)?,
                sha256_hex: r.get(2)?,
                size: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_old_versions(
        &self,
        gun: &str,
        victims: &[(String, i64)],
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(
                "DELETE FROM tuf_files WHERE gun = ?1 AND role = ?2 AND version = ?3 \
                 AND version < (SELECT MAX(version) FROM tuf_files WHERE gun = ?1 AND role = ?2)",
            )?;
            for (role, version) in victims {
                n += stmt.execute(params![gun, role, version])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Changefeed page: after `change_id` (exclusive) forwards, or before it backwards when
    /// `records` is negative; `change_id` < 0 with backwards paging starts at the newest.
    /// Always returned oldest first.
    fn changefeed(
        &self,
        gun: Option<&str>,
        change_id: i64,
        records: i64,
    ) -> Result<Vec<Change>, StoreError> {
        let conn = self.reader();
        let limit = records.unsigned_abs() as i64;
        let gun_clause = if gun.is_some() {
            "AND gun=?3"
        } else {
            "AND ?3 IS NULL"
        };
        let sql = if records >= 0 {
            format!("SELECT id, created_at, gun, version, sha256, category FROM changefeed WHERE id > ?1 {gun_clause} ORDER BY id ASC LIMIT ?2")
        } else {
            let start = if change_id < 0 { "1=1" } else { "id < ?1" };
            format!("SELECT id, created_at, gun, version, sha256, category FROM changefeed WHERE {start} AND ?1 = ?1 {gun_clause} ORDER BY id DESC LIMIT ?2")
        };
        let mut stmt = conn.prepare(&sql)?;
        let mut out: Vec<Change> = stmt
            .query_map(params![change_id, limit, gun], |row| {
                Ok(Change {
                    id: row.get::<_, i64>(0)?.to_string(),
                    created_at: from_micros(row.get(1)?),
                    gun: row.get(2)?,
                    version: row.get(3)?,
                    sha256: row.get(4)?,
                    category: row.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        if records < 0 {
            out.reverse();
        }
        Ok(out)
    }

    fn import_repository(
        &self,
        gun: &str,
        files: &[ImportedFile],
        keys: &[SealedKey],
        audit: &AuditRecord,
    ) -> Result<ImportStored, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let stored: Vec<(String, i64, String)> = tx
            .prepare_cached("SELECT role, version, sha256 FROM tuf_files WHERE gun=?1")?
            .query_map(params![gun], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let todo = match import_plan(&stored, files) {
            Ok(t) => t,
            Err((role, version)) => return Ok(ImportStored::Conflict { role, version }),
        };
        for &i in &todo {
            let f = &files[i];
            tx.prepare_cached(
                "INSERT INTO tuf_files (gun, role, version, sha256, data, created_at) VALUES (?1,?2,?3,?4,?5,?6)",
            )?
            .execute(params![gun, f.role, f.version, f.sha256_hex, f.bytes, micros(f.created_at)])?;
            if f.role == "timestamp" {
                tx.prepare_cached(
                    "INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES (?1,?2,?3,?4,'update')",
                )?
                .execute(params![micros(f.created_at), gun, f.version, f.sha256_hex])?;
            }
        }
        let mut new_keys = 0;
        for k in keys {
            new_keys += tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO server_keys (key_id, gun, role, algorithm, public, sealed_private, used, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                )?
                .execute(params![k.key_id, k.gun, k.role, k.algorithm, k.public, k.sealed_private, k.used, micros(audit.at)])?;
        }
        if todo.is_empty() && new_keys == 0 {
            return Ok(ImportStored::Identical);
        }
        tx.execute(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1,?2,?3,?4,?5)",
            params![
                micros(audit.at),
                audit.actor,
                audit.action,
                audit.target,
                audit.detail.to_string()
            ],
        )?;
        tx.commit()?;
        Ok(ImportStored::Stored {
            files: todo.len(),
            skipped: files.len() - todo.len(),
            keys: new_keys,
        })
    }

    /// WAL with `synchronous=NORMAL`: a commit is consistent but reaches the disk at the
    /// next checkpoint instead of with its own fsync.
    fn begin_bulk_import(&self) -> Result<(), StoreError> {
        self.conn().pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    }

    fn end_bulk_import(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.pragma_update(None, "synchronous", "FULL")?;
        // A full checkpoint syncs the WAL and the database file.
        conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        Ok(())
    }

    fn insert_key(&self, key: &SealedKey, now: OffsetDateTime) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO server_keys (key_id, gun, role, algorithm, public, sealed_private, used, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            params![key.key_id, key.gun, key.role, key.algorithm, key.public, key.sealed_private, key.used, micros(now)],
        )?;
        Ok(())
    }

    /// Keys of a role for a GUN, oldest first.
    fn last_deletion(&self, gun: &str) -> Result<i64, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT COALESCE(MAX(id), 0) FROM changefeed WHERE gun = ?1 AND category = 'deletion'",
        )?;
        Ok(stmt.query_row(params![gun], |row| row.get(0))?)
    }

    fn keys_for(&self, gun: &str, role: &str) -> Result<Vec<SealedKey>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT key_id, gun, role, algorithm, public, sealed_private, used FROM server_keys WHERE gun=?1 AND role=?2 ORDER BY created_at ASC, rowid ASC",
        )?;
        let rows = stmt
            .query_map(params![gun, role], |row| {
                Ok(SealedKey {
                    key_id: row.get(0)?,
                    gun: row.get(1)?,
                    role: row.get(2)?,
                    algorithm: row.get(3)?,
                    public: row.get(4)?,
                    sealed_private: row.get(5)?,
                    used: row.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn mark_used(&self, gun: &str, key_id: &str) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE server_keys SET used=1 WHERE gun=?1 AND key_id=?2 AND used=0")?
            .execute(params![gun, key_id])?;
        Ok(())
    }

    fn signer_meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta_get(name)
    }

    /// Sets a value only if absent; returns the value now stored (first writer wins).
    fn signer_meta_init(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO signer_meta (name, value) VALUES (?1, ?2)",
            params![name, value],
        )?;
        Ok(conn.query_row(
            "SELECT value FROM signer_meta WHERE name=?1",
            params![name],
            |r| r.get(0),
        )?)
    }
}

impl SqliteStore {
    /// Deletes the trust data (files and server keys) of the GUNs `wipe` names inside the
    /// open transaction, with a changefeed deletion record for each GUN that had files.
    fn wipe(
        tx: &Connection,
        wipe: TrustWipe<'_>,
        now: OffsetDateTime,
    ) -> Result<Wiped, StoreError> {
        // One WHERE clause for both scopes: a host prefix compared case-insensitively, or
        // one exact GUN.
        let (clause, a, b): (&str, String, i64) = match wipe {
            TrustWipe::Host(host) => {
                let prefix = format!("{}/", host.to_ascii_lowercase());
                let len = prefix.chars().count() as i64;
                ("lower(substr(gun, 1, ?2)) = ?1", prefix, len)
            }
            TrustWipe::Repository(gun) => ("gun = ?1 AND ?2 = ?2", gun.to_string(), 0),
        };
        let guns: Vec<String> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT DISTINCT gun FROM tuf_files WHERE {clause}"
            ))?;
            let rows = stmt.query_map(params![a, b], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let files = tx.execute(
            &format!("DELETE FROM tuf_files WHERE {clause}"),
            params![a, b],
        )?;
        tx.execute(
            &format!("DELETE FROM server_keys WHERE {clause}"),
            params![a, b],
        )?;
        for gun in &guns {
            tx.execute(
                "INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES (?1,?2,0,'','deletion')",
                params![micros(now), gun],
            )?;
        }
        Ok(Wiped {
            repositories: guns.len(),
            files,
        })
    }

    fn tenancy_generation_on(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row(
            "SELECT generation FROM tenancy_meta WHERE id = 1",
            [],
            |r| r.get(0),
        )?)
    }
}

impl SqliteStore {
    fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .reader()
            .query_row(
                "SELECT value FROM signer_meta WHERE name=?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    }
}

impl MetaReader for SqliteStore {
    fn latest_version(&self, gun: &str, role: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .reader()
            .prepare_cached("SELECT MAX(version) FROM tuf_files WHERE gun=?1 AND role=?2")?
            .query_row(params![gun, role], |row| row.get(0))?)
    }

    fn latest(&self, gun: &str, role: &str) -> Result<Option<StoredMeta>, StoreError> {
        Ok(self
            .reader()
            .prepare_cached(
                "SELECT role, version, data, sha256, created_at FROM tuf_files WHERE gun=?1 AND role=?2 ORDER BY version DESC LIMIT 1",
            )?
            .query_row(params![gun, role], Self::row_to_meta)
            .optional()?)
    }

    fn by_checksum(
        &self,
        gun: &str,
        role: &str,
        sha256_hex: &str,
    ) -> Result<Option<StoredMeta>, StoreError> {
        Ok(self
            .reader()
            .prepare_cached(
                "SELECT role, version, data, sha256, created_at FROM tuf_files WHERE gun=?1 AND role=?2 AND sha256=?3 ORDER BY version DESC LIMIT 1",
            )?
            .query_row(params![gun, role, sha256_hex], Self::row_to_meta)
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(role: &str, version: i64) -> NewMeta {
        NewMeta {
            role: role.into(),
            version,
            bytes: format!("{{\"{role}\":{version}}}").into_bytes(),
        }
    }

    #[test]
    fn concurrent_updates_commit_together_and_a_stale_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let now = OffsetDateTime::now_utc();
        store
            .update_many("g/stale", &[row("targets", 5)], now)
            .unwrap();
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    if i == 0 {
                        // Older than what is stored: must fail without disturbing the others.
                        store.update_many("g/stale", &[row("targets", 4), row("timestamp", 1)], now)
                    } else {
                        store.update_many(
                            &format!("g/{i}"),
                            &[row("targets", 1), row("timestamp", 1)],
                            now,
                        )
                    }
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(
            matches!(results[0], Err(StoreError::OldVersion { ref role, version: 4 }) if role == "targets")
        );
        assert!(results[1..].iter().all(|r| r.is_ok()), "{results:?}");
        for i in 1..24 {
            assert_eq!(
                store
                    .latest(&format!("g/{i}"), "timestamp")
                    .unwrap()
                    .unwrap()
                    .version,
                1
            );
        }
        // The failed update left nothing behind, not even its timestamp.
        assert!(store.latest("g/stale", "timestamp").unwrap().is_none());
        assert_eq!(store.changefeed(None, 0, 100).unwrap().len(), 23);
    }

    #[test]
    fn latest_version_without_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let now = OffsetDateTime::now_utc();
        for v in [1, 2, 7] {
            store.update_many("g", &[row("targets", v)], now).unwrap();
        }
        store.update_many("h", &[row("targets", 9)], now).unwrap();
        assert_eq!(store.latest_version("g", "targets").unwrap(), Some(7));
        assert_eq!(store.latest_version("g", "root").unwrap(), None);
        assert_eq!(store.latest_version("nobody", "targets").unwrap(), None);
        assert_eq!(
            store.latest_version("g", "targets").unwrap(),
            store.latest("g", "targets").unwrap().map(|m| m.version)
        );
    }
}
