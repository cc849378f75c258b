//! The PostgreSQL backend, shared by several Signet instances.
//!
//! Versions are unique per (GUN, role) by constraint, so two instances racing to store the
//! same version cannot both win: the loser's transaction fails and it answers `VERSION`.
//! Every change sends `NOTIFY signet_changes, '<gun>'`, which the other instances LISTEN to
//! and use to drop their cached copies.

use super::{
    from_micros, import_plan, micros, Applied, AuditQuery, AuditRecord, Change, ChangeNotice,
    FileVersion, ImportStored, ImportedFile, MetaReader, NewMeta, SealedKey, Store, StoreError,
    StoredMeta, TenancyChange, TenancyRow, TenancyRows, TrustWipe, Wiped,
};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

mod connection;
mod schema;
mod tenancy;

use connection::{connection_lost, PgConn, CHECK_AFTER_IDLE, CHECK_TIMEOUT};
use schema::SCHEMA;

const CHANNEL: &str = "signet_changes";
const MAX_IDLE: usize = 16;
/// Pause between attempts to re-establish the change listener.
const LISTEN_RETRY: Duration = Duration::from_millis(500);
/// Whether a store call only reads (and so may run again on a fresh connection) or writes (and
/// may not: a lost COMMIT reply does not say whether the change was applied).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

fn backend(e: postgres::Error) -> StoreError {
    if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
        return StoreError::OldVersion {
            role: "concurrent update".into(),
            version: 0,
        };
    }
    StoreError::Backend(e.to_string())
}

pub struct PgStore {
    url: String,
    idle: Mutex<Vec<PgConn>>,
}

const LATEST: &str = "SELECT role, version, data, sha256, created_at FROM tuf_files WHERE gun=$1 AND role=$2 ORDER BY version DESC LIMIT 1";
const LATEST_VERSION: &str = "SELECT MAX(version) FROM tuf_files WHERE gun=$1 AND role=$2";
const BY_CHECKSUM: &str = "SELECT role, version, data, sha256, created_at FROM tuf_files WHERE gun=$1 AND role=$2 AND sha256=$3 ORDER BY version DESC LIMIT 1";
const BY_VERSION: &str = "SELECT role, version, data, sha256, created_at FROM tuf_files WHERE gun=$1 AND role=$2 AND version=$3";
const MAX_VERSIONS: &str =
    "SELECT role, MAX(version) FROM tuf_files WHERE gun=$1 AND role = ANY($2) GROUP BY role";
const INSERT_FILES: &str = "INSERT INTO tuf_files (gun, role, version, sha256, data, created_at) SELECT $1, r, v, s, d, $6 FROM unnest($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::BYTEA[]) AS u(r, v, s, d)";
/// Whether the database at `url` holds Signet's tables (a server has started on it), without
/// creating anything: admin commands refuse a database no server uses.
pub fn has_signet_schema(url: &str) -> Result<bool, StoreError> {
    let mut c = connect_quietly(url)
        .map_err(|e| StoreError::Backend(format!("connecting to PostgreSQL: {e}")))?;
    let row = c
        .query_one("SELECT to_regclass('tuf_files') IS NOT NULL", &[])
        .map_err(|e| StoreError::Backend(format!("PostgreSQL: {e}")))?;
    Ok(row.get(0))
}

/// A connection whose server `NOTICE`s (e.g. "relation already exists, skipping" each time
/// an instance applies the schema) go to the debug log instead of the operator's log.
fn connect_quietly(url: &str) -> Result<Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.notice_callback(|notice| {
        tracing::debug!(
            severity = notice.severity(),
            "PostgreSQL: {}",
            notice.message()
        );
    });
    config.connect(NoTls)
}

/// The changefeed record (only when the update has a timestamp) and the change notice, in
/// one round trip.
const RECORD_AND_NOTIFY: &str = "WITH c AS (INSERT INTO changefeed (created_at, gun, version, sha256, category) SELECT $1, $2, $3, $4, 'update' WHERE $5) SELECT pg_notify($6, $2)";

impl PgStore {
    /// Connects and applies the schema (idempotent migrations).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = PgStore {
            url: url.to_string(),
            idle: Mutex::new(Vec::new()),
        };
        store.with(|c| {
            // Serialise schema creation between instances starting together.
            c.batch_execute(&format!(
                "SELECT pg_advisory_lock(7211); {SCHEMA} SELECT pg_advisory_unlock(7211);"
            ))
        })?;
        Ok(store)
    }

    fn connect(&self) -> Result<PgConn, StoreError> {
        let client = connect_quietly(&self.url)
            .map_err(|e| StoreError::Backend(format!("connecting to PostgreSQL: {e}")))?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
            idle_since: Instant::now(),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PgConn>> {
        // Connections are pushed and popped whole: a panic elsewhere leaves none half-made.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops every pooled connection: when one turned out dead, the others opened before the
    /// same restart are dead too.
    fn discard_idle(&self) {
        let dead = std::mem::take(&mut *self.idle());
        close_off_thread(dead);
    }

    /// A pooled connection known to work, or a new one. One idle for a while is checked first;
    /// a failed check discards the whole pool.
    fn checkout(&self) -> Result<PgConn, StoreError> {
        loop {
            let Some(mut conn) = self.idle().pop() else {
                return self.connect();
            };
            if conn.client.is_closed() {
                continue;
            }
            if conn.idle_since.elapsed() < CHECK_AFTER_IDLE
                || conn.client.is_valid(CHECK_TIMEOUT).is_ok()
            {
                return Ok(conn);
            }
            close_off_thread(vec![conn]);
            self.discard_idle();
        }
    }

    fn checkin(&self, mut conn: PgConn) {
        if conn.client.is_closed() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `f` on a pooled connection. A connection that failed is not reused; when it was
    /// lost, the pool is discarded and a read runs once more on a fresh connection.
    fn run<T>(
        &self,
        access: Access,
        mut f: impl FnMut(&mut PgConn) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = self.checkout()?;
        let mut result = f(&mut conn);
        if let Err(e) = &result {
            if connection_lost(e, &conn.client) {
                tracing::warn!(error = %e, "PostgreSQL connection lost; discarding pooled connections");
                close_off_thread(vec![conn]);
                self.discard_idle();
                if access == Access::Write {
                    return result.map_err(backend);
                }
                conn = self.connect()?;
                result = f(&mut conn);
            }
        }
        self.checkin(conn);
        result.map_err(backend)
    }

    fn with_conn<T>(
        &self,
        f: impl FnMut(&mut PgConn) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.run(Access::Read, f)
    }

    fn with<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.run(Access::Read, |c| f(&mut c.client))
    }

    fn write_conn<T>(
        &self,
        f: impl FnMut(&mut PgConn) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.run(Access::Write, f)
    }

    fn write<T>(
        &self,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.run(Access::Write, |c| f(&mut c.client))
    }

    fn row_to_meta(row: &postgres::Row) -> StoredMeta {
        let data: Vec<u8> = row.get(2);
        StoredMeta {
            role: row.get(0),
            version: row.get(1),
            bytes: bytes::Bytes::from(data),
            sha256_hex: row.get(3),
            created_at: from_micros(row.get(4)),
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        close_off_thread(std::mem::take(&mut *self.idle()));
    }
}

/// Closing a blocking client drives its own small runtime, which may not happen on an async
/// worker thread: the connections are handed to a plain thread.
fn close_off_thread(conns: Vec<PgConn>) {
    if !conns.is_empty() {
        let _ = std::thread::Builder::new().spawn(move || drop(conns));
    }
}

impl MetaReader for PgStore {
    fn latest_version(&self, gun: &str, role: &str) -> Result<Option<i64>, StoreError> {
        self.with_conn(|c| {
            let stmt = c.statement(LATEST_VERSION)?;
            c.client.query_one(&stmt, &[&gun, &role])?.try_get(0)
        })
    }

    fn latest(&self, gun: &str, role: &str) -> Result<Option<StoredMeta>, StoreError> {
        self.with_conn(|c| c.query_meta(LATEST, &[&gun, &role]))
    }

    fn by_checksum(
        &self,
        gun: &str,
        role: &str,
        sha256_hex: &str,
    ) -> Result<Option<StoredMeta>, StoreError> {
        self.with_conn(|c| c.query_meta(BY_CHECKSUM, &[&gun, &role, &sha256_hex]))
    }
}

impl Store for PgStore {
    fn by_version(
        &self,
        gun: &str,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredMeta>, StoreError> {
        self.with_conn(|c| c.query_meta(BY_VERSION, &[&gun, &role, &version]))
    }

    fn update_many(
        &self,
        gun: &str,
        rows: &[NewMeta],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        super::each_role_once(rows)?;
        let mut stale: Option<StoreError> = None;
        let roles: Vec<&str> = rows.iter().map(|r| r.role.as_str()).collect();
        let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
        let shas: Vec<String> = rows
            .iter()
            .map(|r| signet_tuf::sha256_hex(&r.bytes))
            .collect();
        let data: Vec<&[u8]> = rows.iter().map(|r| r.bytes.as_slice()).collect();
        let timestamp = rows.iter().position(|r| r.role == "timestamp");
        let (ts_version, ts_sha) = match timestamp {
            Some(i) => (versions[i], shas[i].clone()),
            None => (0, String::new()),
        };
        // BEGIN, one version check for all roles, one insert for all files, changefeed and
        // notice together, COMMIT: five round trips whatever the number of roles.
        self.write_conn(|c| {
            let max_versions = c.statement(MAX_VERSIONS)?;
            let insert = c.statement(INSERT_FILES)?;
            let record = c.statement(RECORD_AND_NOTIFY)?;
            let mut tx = c.client.transaction()?;
            for row in tx.query(&max_versions, &[&gun, &roles])? {
                let (role, max): (String, Option<i64>) = (row.get(0), row.get(1));
                if let Some(r) = rows.iter().find(|r| r.role == role) {
                    if let Err(e) = super::newer_than_stored(r, max) {
                        stale = Some(e);
                        return tx.rollback();
                    }
                }
            }
            tx.execute(
                &insert,
                &[&gun, &roles, &versions, &shas, &data, &micros(now)],
            )?;
            tx.query(
                &record,
                &[
                    &micros(now),
                    &gun,
                    &ts_version,
                    &ts_sha,
                    &timestamp.is_some(),
                    &CHANNEL,
                ],
            )?;
            tx.commit()
        })?;
        match stale {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn guns(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            Ok(
                c.query("SELECT DISTINCT gun FROM tuf_files ORDER BY gun", &[])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect(),
            )
        })
    }

    fn versions(&self, gun: &str) -> Result<Vec<FileVersion>, StoreError> {
        self.with(|c| {
            Ok(c.query(
                "SELECT role, version, sha256, octet_length(data)::BIGINT FROM tuf_files WHERE gun = $1 ORDER BY role, version",
                &[&gun],
            )?
            .iter()
            .map(|r| FileVersion {
                role: r.get(0),
                version: r.get(1),
                sha256_hex: r.get(2),
                size: r.get(3),
            })
            .collect())
        })
    }

    fn delete_old_versions(
        &self,
        gun: &str,
        victims: &[(String, i64)],
    ) -> Result<usize, StoreError> {
        let roles: Vec<&str> = victims.iter().map(|(r, _)| r.as_str()).collect();
        let versions: Vec<i64> = victims.iter().map(|(_, v)| *v).collect();
        self.with(|c| {
            let n = c.execute(
                "DELETE FROM tuf_files f USING unnest($2::TEXT[], $3::BIGINT[]) AS v(role, version) \
                 WHERE f.gun = $1 AND f.role = v.role AND f.version = v.version \
                 AND f.version < (SELECT MAX(version) FROM tuf_files m WHERE m.gun = $1 AND m.role = v.role)",
                &[&gun, &roles, &versions],
            )?;
            Ok(n as usize)
        })
    }

    fn delete_gun(&self, gun: &str, now: OffsetDateTime) -> Result<usize, StoreError> {
        self.write(|c| {
            let mut tx = c.transaction()?;
            let n = tx.execute("DELETE FROM tuf_files WHERE gun=$1", &[&gun])?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES ($1,$2,0,'','deletion')",
                    &[&micros(now), &gun],
                )?;
            }
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &gun])?;
            tx.commit()?;
            Ok(n as usize)
        })
    }

    fn changefeed(
        &self,
        gun: Option<&str>,
        change_id: i64,
        records: i64,
    ) -> Result<Vec<Change>, StoreError> {
        let limit = records.abs();
        let sql = if records >= 0 {
            "SELECT id, created_at, gun, version, sha256, category FROM changefeed WHERE id > $1 AND ($3::TEXT IS NULL OR gun = $3) ORDER BY id ASC LIMIT $2"
        } else {
            "SELECT id, created_at, gun, version, sha256, category FROM changefeed WHERE ($1::BIGINT < 0 OR id < $1) AND ($3::TEXT IS NULL OR gun = $3) ORDER BY id DESC LIMIT $2"
        };
        let rows = self.with(|c| c.query(sql, &[&change_id, &limit, &gun]))?;
        let mut out: Vec<Change> = rows
            .iter()
            .map(|r| Change {
                id: r.get::<_, i64>(0).to_string(),
                created_at: from_micros(r.get(1)),
                gun: r.get(2),
                version: r.get(3),
                sha256: r.get(4),
                category: r.get(5),
            })
            .collect();
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
        self.with(|c| {
            let mut tx = c.transaction()?;
            let stored: Vec<(String, i64, String)> = tx
                .query(
                    "SELECT role, version, sha256 FROM tuf_files WHERE gun=$1",
                    &[&gun],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            let todo = match import_plan(&stored, files) {
                Ok(t) => t,
                Err((role, version)) => {
                    tx.rollback()?;
                    return Ok(ImportStored::Conflict { role, version });
                }
            };
            if !todo.is_empty() {
                let roles: Vec<&str> = todo.iter().map(|&i| files[i].role.as_str()).collect();
                let versions: Vec<i64> = todo.iter().map(|&i| files[i].version).collect();
                let shas: Vec<&str> = todo.iter().map(|&i| files[i].sha256_hex.as_str()).collect();
                let data: Vec<&[u8]> = todo.iter().map(|&i| files[i].bytes.as_slice()).collect();
                let created: Vec<i64> = todo.iter().map(|&i| micros(files[i].created_at)).collect();
                tx.execute(
                    "INSERT INTO tuf_files (gun, role, version, sha256, data, created_at) SELECT $1, r, v, s, d, t FROM unnest($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::BYTEA[], $6::BIGINT[]) AS u(r, v, s, d, t)",
                    &[&gun, &roles, &versions, &shas, &data, &created],
                )?;
                tx.execute(
                    "INSERT INTO changefeed (created_at, gun, version, sha256, category) SELECT t, $1, v, s, 'update' FROM unnest($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::BIGINT[]) AS u(r, v, s, t) WHERE r = 'timestamp' ORDER BY v",
                    &[&gun, &roles, &versions, &shas, &created],
                )?;
            }
            let mut new_keys = 0;
            for k in keys {
                new_keys += tx.execute(
                    "INSERT INTO server_keys (key_id, gun, role, algorithm, public, sealed_private, used, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (gun, key_id) DO NOTHING",
                    &[&k.key_id, &k.gun, &k.role, &k.algorithm, &k.public, &k.sealed_private, &k.used, &micros(audit.at)],
                )? as usize;
            }
            if todo.is_empty() && new_keys == 0 {
                tx.rollback()?;
                return Ok(ImportStored::Identical);
            }
            tx.execute(
                "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
                &[&micros(audit.at), &audit.actor, &audit.action, &audit.target, &audit.detail.to_string()],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &gun])?;
            tx.commit()?;
            Ok(ImportStored::Stored {
                files: todo.len(),
                skipped: files.len() - todo.len(),
                keys: new_keys,
            })
        })
    }

    fn insert_key(&self, key: &SealedKey, now: OffsetDateTime) -> Result<(), StoreError> {
        self.write(|c| {
            c.execute(
                "INSERT INTO server_keys (key_id, gun, role, algorithm, public, sealed_private, used, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                &[&key.key_id, &key.gun, &key.role, &key.algorithm, &key.public, &key.sealed_private, &key.used, &micros(now)],
            )
        })
        .map(|_| ())
    }

    fn last_deletion(&self, gun: &str) -> Result<i64, StoreError> {
        self.with(|c| {
            c.query_one(
                "SELECT COALESCE(MAX(id), 0) FROM changefeed WHERE gun = $1 AND category = 'deletion'",
                &[&gun],
            )?
            .try_get(0)
        })
    }

    fn keys_for(&self, gun: &str, role: &str) -> Result<Vec<SealedKey>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT key_id, gun, role, algorithm, public, sealed_private, used FROM server_keys WHERE gun=$1 AND role=$2 ORDER BY created_at ASC, seq ASC",
                &[&gun, &role],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| SealedKey {
                key_id: r.get(0),
                gun: r.get(1),
                role: r.get(2),
                algorithm: r.get(3),
                public: r.get(4),
                sealed_private: r.get(5),
                used: r.get(6),
            })
            .collect())
    }

    fn mark_used(&self, gun: &str, key_id: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE server_keys SET used=TRUE WHERE gun=$1 AND key_id=$2 AND NOT used",
                &[&gun, &key_id],
            )
        })
        .map(|_| ())
    }

    fn signer_meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT value FROM signer_meta WHERE name=$1", &[&name])?
                    .map(|r| r.get(0)),
            )
        })
    }

    fn signer_meta_init(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.with(|c| {
            c.execute("INSERT INTO signer_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", &[&name, &value])?;
            Ok(c.query_one("SELECT value FROM signer_meta WHERE name=$1", &[&name])?.get(0))
        })
    }

    fn watch_changes(&self, on_notice: Box<dyn Fn(ChangeNotice<'_>) + Send + Sync>) {
        let url = self.url.clone();
        std::thread::spawn(move || loop {
            match connect_quietly(&url) {
                Ok(mut c) => {
                    if c.batch_execute(&format!("LISTEN {CHANNEL}")).is_ok() {
                        // Notices sent while no LISTEN was live are lost: the watcher drops
                        // what it cached now, after the LISTEN, so nothing is missed.
                        on_notice(ChangeNotice::Listening);
                        let mut notes = c.notifications();
                        let mut it = notes.blocking_iter();
                        while let Ok(Some(n)) =
                            postgres::fallible_iterator::FallibleIterator::next(&mut it)
                        {
                            on_notice(ChangeNotice::Changed(n.payload()));
                        }
                        tracing::warn!(
                            "change listener lost its PostgreSQL connection; reconnecting"
                        );
                    }
                    on_notice(ChangeNotice::Deaf);
                }
                Err(e) => tracing::warn!(error = %e, "change listener cannot connect; retrying"),
            }
            std::thread::sleep(LISTEN_RETRY);
        });
    }
}
