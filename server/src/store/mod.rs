//! Storage of metadata versions, the changefeed and sealed server keys.
//!
//! Every version of every role is kept with its raw bytes and hex SHA-256: clients fetch old
//! roots by version and everything else by checksum. An update is one transaction. Two
//! backends: SQLite (the embedded default) and PostgreSQL (shared by several instances).

pub mod postgres;
pub mod sqlite;

pub use self::postgres::PgStore;
pub use sqlite::SqliteStore;

use thiserror::Error;
use time::OffsetDateTime;

#[derive(Clone, Debug, Error)]
pub enum StoreError {
    #[error("version {version} of {role} is not newer than the stored one")]
    OldVersion { role: String, version: i64 },
    #[error("database: {0}")]
    Backend(String),
}

/// Refuses an update that names a role twice: its versions could not both be the next one.
/// Both stores run this before they touch the database.
pub(crate) fn each_role_once(rows: &[NewMeta]) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    match rows.iter().find(|r| !seen.insert(r.role.as_str())) {
        Some(r) => Err(StoreError::OldVersion {
            role: r.role.clone(),
            version: r.version,
        }),
        None => Ok(()),
    }
}

/// The version check both stores make inside the update's transaction: a new file's version
/// must be above the newest stored version of its role.
pub(crate) fn newer_than_stored(row: &NewMeta, stored_max: Option<i64>) -> Result<(), StoreError> {
    if stored_max.is_some_and(|m| m >= row.version) {
        return Err(StoreError::OldVersion {
            role: row.role.clone(),
            version: row.version,
        });
    }
    Ok(())
}

/// One stored metadata file.
#[derive(Clone, Debug)]
pub struct StoredMeta {
    pub role: String,
    pub version: i64,
    pub bytes: bytes::Bytes,
    pub sha256_hex: String,
    pub created_at: OffsetDateTime,
}

/// One stored version, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileVersion {
    pub role: String,
    pub version: i64,
    pub sha256_hex: String,
    pub size: i64,
}

/// A file to store.
#[derive(Clone, Debug)]
pub struct NewMeta {
    pub role: String,
    pub version: i64,
    pub bytes: Vec<u8>,
}

/// One changefeed record, serialised with Go's field names.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Change {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "CreatedAt", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(rename = "GUN")]
    pub gun: String,
    #[serde(rename = "Version")]
    pub version: i64,
    #[serde(rename = "SHA256")]
    pub sha256: String,
    #[serde(rename = "Category")]
    pub category: String,
}

/// A server-held private key, already sealed by the signer.
#[derive(Clone, Debug)]
pub struct SealedKey {
    pub key_id: String,
    pub gun: String,
    pub role: String,
    pub algorithm: String,
    pub public: Vec<u8>,
    pub sealed_private: Vec<u8>,
    pub used: bool,
}

/// One row of tenancy configuration (a registry, an identity or a role assignment) as a
/// JSON document; the tenancy layer owns the shapes, the store just keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenancyRow {
    pub kind: String,
    pub name: String,
    pub doc: String,
}

/// All tenancy rows and the generation they belong to.
#[derive(Clone, Debug, Default)]
pub struct TenancyRows {
    pub generation: i64,
    pub rows: Vec<TenancyRow>,
}

#[derive(Clone, Debug)]
pub enum TenancyChange {
    Put(TenancyRow),
    Delete { kind: String, name: String },
}

/// One audit log entry: who changed what, when.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// One page of the audit log, newest first: what the database filters itself (the
/// registry and identity a record concerns are worked out by the tenancy layer).
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only records with a smaller id (paging backwards).
    pub before_id: Option<i64>,
    /// An exact action (`role.assign`) or a family (`role`, meaning `role.*`); letters,
    /// digits, `.` and `-` only.
    pub action: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub limit: i64,
}

/// What wiping a registry's trust data removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Wiped {
    pub repositories: usize,
    pub files: usize,
}

/// Whose trust data a tenancy change deletes along with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustWipe<'a> {
    /// Every GUN under a registry's login server (`<host>/...`, host compared
    /// case-insensitively): content trust disabled or the registry deleted.
    Host(&'a str),
    /// Exactly one GUN: a repository reset.
    Repository(&'a str),
}

/// Outcome of a tenancy change: applied, or refused because someone else changed the
/// configuration since it was read (the caller re-reads and retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Done(Wiped),
    Stale,
}

/// A file brought in from another server by an import, with the time the source stored it.
#[derive(Clone, Debug)]
pub struct ImportedFile {
    pub role: String,
    pub version: i64,
    pub bytes: Vec<u8>,
    pub sha256_hex: String,
    pub created_at: OffsetDateTime,
}

/// What storing an imported repository did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportStored {
    /// Files (and keys) were added; any already present were identical.
    Stored {
        files: usize,
        skipped: usize,
        keys: usize,
    },
    /// Every file and key was already stored, byte for byte: nothing changed.
    Identical,
    /// The repository already holds a version that differs from the import (or that the
    /// import does not have): nothing was stored.
    Conflict { role: String, version: i64 },
}

/// Read access that validation needs.
pub trait MetaReader {
    fn latest(&self, gun: &str, role: &str) -> Result<Option<StoredMeta>, StoreError>;
    /// The newest stored version of a role, without reading its bytes (a version check of
    /// a 10,000-tag targets file need not copy megabytes).
    fn latest_version(&self, gun: &str, role: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.latest(gun, role)?.map(|m| m.version))
    }
    fn by_checksum(
        &self,
        gun: &str,
        role: &str,
        sha256_hex: &str,
    ) -> Result<Option<StoredMeta>, StoreError>;
}

/// Registries, identities, role assignments and the audit log. Kept with the metadata so a
/// registry's trust data can be wiped in the same transaction that disables content trust.
pub trait TenancyStore: Send + Sync {
    /// Every tenancy row with the current generation.
    fn tenancy_load(&self) -> Result<TenancyRows, StoreError>;
    /// The current tenancy generation (bumped by every applied change).
    fn tenancy_generation(&self) -> Result<i64, StoreError>;
    /// In one transaction, if the generation is still `expected_generation`: applies the
    /// changes, deletes every trust file, changefeed-records the deletion and drops the
    /// server keys of each GUN that `wipe` names, appends the audit record and bumps the
    /// generation (so running servers reload and drop what they cached).
    fn tenancy_apply(
        &self,
        expected_generation: i64,
        changes: &[TenancyChange],
        wipe: Option<TrustWipe<'_>>,
        audit: &AuditRecord,
    ) -> Result<Applied, StoreError>;
    /// How many trust files and server keys one GUN has (a reset of nothing is refused).
    fn repository_holdings(&self, gun: &str) -> Result<(usize, usize), StoreError>;
    /// Audit records matching `q`, newest first, at most `q.limit`.
    fn audit_list(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Everything the server persists.
pub trait Store: MetaReader + TenancyStore + Send + Sync {
    fn by_version(
        &self,
        gun: &str,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredMeta>, StoreError>;
    /// Stores an update in one transaction. Every role's version must be strictly greater
    /// than any stored version of that role; a timestamp also writes a changefeed record.
    fn update_many(
        &self,
        gun: &str,
        rows: &[NewMeta],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Deletes every version of every role of a GUN; returns how many files were removed.
    fn delete_gun(&self, gun: &str, now: OffsetDateTime) -> Result<usize, StoreError>;
    /// Changefeed page: after `change_id` (exclusive) forwards, or before it backwards when
    /// `records` is negative (`change_id` < 0 then starts at the newest); oldest first.
    fn changefeed(
        &self,
        gun: Option<&str>,
        change_id: i64,
        records: i64,
    ) -> Result<Vec<Change>, StoreError>;
    fn insert_key(&self, key: &SealedKey, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Keys of a role for a GUN, oldest first.
    /// The changefeed id of the GUN's latest deletion (a repository delete, reset or trust
    /// wipe), 0 if it never had one: derived server keys change with it, so a repository
    /// started again after its keys were dropped is handed new ones.
    fn last_deletion(&self, gun: &str) -> Result<i64, StoreError>;
    fn keys_for(&self, gun: &str, role: &str) -> Result<Vec<SealedKey>, StoreError>;
    fn mark_used(&self, gun: &str, key_id: &str) -> Result<(), StoreError>;
    /// Sets a value only if absent; returns the value now stored (first writer wins).
    fn signer_meta_init(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;
    fn signer_meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every GUN that has trust files, sorted.
    fn guns(&self) -> Result<Vec<String>, StoreError>;
    /// Every stored version of every role of a GUN, without the bytes; by role, then
    /// version.
    fn versions(&self, gun: &str) -> Result<Vec<FileVersion>, StoreError>;
    /// Deletes the listed (role, version) files of a GUN, except a role's newest version,
    /// which is never deleted whatever the list says (a publish may have landed since the
    /// list was made). Returns how many files were deleted.
    fn delete_old_versions(
        &self,
        gun: &str,
        victims: &[(String, i64)],
    ) -> Result<usize, StoreError>;
    /// Stores a verified repository from another server in one transaction: the files
    /// verbatim with their original creation times, a changefeed record per timestamp
    /// version, the sealed server keys and the audit record. Files already stored with the
    /// same bytes are skipped (a re-run resumes); a stored version that differs, or a stored
    /// version the import lacks, is a conflict and nothing is written. The audit record is
    /// written only when something was stored.
    fn import_repository(
        &self,
        gun: &str,
        files: &[ImportedFile],
        keys: &[SealedKey],
        audit: &AuditRecord,
    ) -> Result<ImportStored, StoreError>;
    /// For a bulk import by a separate process: commits need not each reach the disk (an
    /// interrupted import is re-run and skips what is stored), so a backend may relax its
    /// per-commit sync on this handle. [`Store::end_bulk_import`] makes everything durable.
    fn begin_bulk_import(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Makes every commit since [`Store::begin_bulk_import`] durable and restores the
    /// per-commit sync.
    fn end_bulk_import(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Tells `on_notice` about every change another instance makes (for cache invalidation)
    /// and whether changes are being heard at all. Single-instance backends never call it.
    fn watch_changes(&self, on_notice: Box<dyn Fn(ChangeNotice<'_>) + Send + Sync>) {
        let _ = on_notice;
    }
}

/// What a watcher of a shared database hears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeNotice<'a> {
    /// This GUN changed (`"*"`: every GUN may have, e.g. a registry's trust data was wiped).
    Changed(&'a str),
    /// Changes are heard from now on; any made before may have been missed.
    Listening,
    /// The listening connection broke: changes are not heard until the next `Listening`.
    Deaf,
}

/// Compares a repository's stored (role, version, sha256) triples with an import: the
/// conflicting version if any, else the indices of the files still to store.
pub(crate) fn import_plan(
    stored: &[(String, i64, String)],
    files: &[ImportedFile],
) -> Result<Vec<usize>, (String, i64)> {
    let wanted: std::collections::HashMap<(&str, i64), &str> = files
        .iter()
        .map(|f| ((f.role.as_str(), f.version), f.sha256_hex.as_str()))
        .collect();
    for (role, version, sha) in stored {
        match wanted.get(&(role.as_str(), *version)) {
            Some(s) if s.eq_ignore_ascii_case(sha) => {}
            _ => return Err((role.clone(), *version)),
        }
    }
    let have: std::collections::HashSet<(&str, i64)> =
        stored.iter().map(|(r, v, _)| (r.as_str(), *v)).collect();
    Ok(files
        .iter()
        .enumerate()
        .filter(|(_, f)| !have.contains(&(f.role.as_str(), f.version)))
        .map(|(i, _)| i)
        .collect())
}

/// Microseconds since the epoch: the stored time unit of both backends.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

pub(crate) fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(role: &str, version: i64, sha: &str) -> ImportedFile {
        ImportedFile {
            role: role.into(),
            version,
            bytes: Vec::new(),
            sha256_hex: sha.into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn import_plan_resumes_skips_and_refuses_differences() {
        let files = vec![
            file("root", 1, "aa"),
            file("targets", 1, "bb"),
            file("targets", 2, "cc"),
        ];
        let stored = |rows: &[(&str, i64, &str)]| -> Vec<(String, i64, String)> {
            rows.iter()
                .map(|(r, v, s)| (r.to_string(), *v, s.to_string()))
                .collect()
        };
        assert_eq!(import_plan(&[], &files), Ok(vec![0, 1, 2]));
        // Part already stored (an interrupted run, or a source that moved on): the rest.
        assert_eq!(
            import_plan(&stored(&[("root", 1, "AA"), ("targets", 1, "bb")]), &files),
            Ok(vec![2])
        );
        assert_eq!(
            import_plan(
                &stored(&[
                    ("root", 1, "aa"),
                    ("targets", 1, "bb"),
                    ("targets", 2, "cc")
                ]),
                &files
            ),
            Ok(vec![])
        );
        // Same version, other bytes; or a version the source does not have.
        assert_eq!(
            import_plan(&stored(&[("targets", 1, "dd")]), &files),
            Err(("targets".into(), 1))
        );
        assert_eq!(
            import_plan(&stored(&[("targets", 3, "ee")]), &files),
            Err(("targets".into(), 3))
        );
    }
}
