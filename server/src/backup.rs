//! Online backup and restore of the SQLite database: the trust data, the sealed server keys,
//! the token signing key, registries, identities and the audit log, in one consistent file.
//!
//! The backup is SQLite's online backup API copying every page in one step, that is inside
//! one read transaction: with the database in WAL mode a running server keeps publishing
//! meanwhile and the copy is the database as of one commit. TLS material and the signer
//! passphrase are not in it (the operator brings them, as after any move). PostgreSQL
//! deployments use pg_dump/pg_restore instead (README).

use rusqlite::{Connection, OpenFlags};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BackupError {
    #[error("no Signet database at {0} (check --data-dir or --database)")]
    NoDatabase(PathBuf),
    #[error("{0} is not a Signet database: {1}")]
    NotSignet(PathBuf, String),
    #[error("{0} already exists; remove it or choose another name")]
    OutputExists(PathBuf),
    #[error("{0} is not empty; restore into a new or empty data directory")]
    DataDirNotEmpty(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// What a backup or restored database holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contents {
    pub repositories: i64,
    pub files: i64,
    pub server_keys: i64,
    pub registries: i64,
    pub identities: i64,
    pub audit_records: i64,
}

fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `conn` is an intact Signet database and counts what it holds.
fn inspect(conn: &Connection, path: &Path) -> Result<Contents, BackupError> {
    let not_signet = |why: String| BackupError::NotSignet(path.to_path_buf(), why);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| not_signet(e.to_string()))?;
    if integrity != "ok" {
        return Err(not_signet(format!("integrity check: {integrity}")));
    }
    let count = |sql: &str| -> Result<i64, BackupError> {
        conn.query_row(sql, [], |r| r.get(0))
            .map_err(|e| not_signet(e.to_string()))
    };
    let tables = count(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN \
         ('tuf_files', 'server_keys', 'signer_meta', 'tenancy', 'audit_log')",
    )?;
    if tables != 5 {
        return Err(not_signet("its tables are missing".into()));
    }
    Ok(Contents {
        repositories: count("SELECT COUNT(DISTINCT gun) FROM tuf_files")?,
        files: count("SELECT COUNT(*) FROM tuf_files")?,
        server_keys: count("SELECT COUNT(*) FROM server_keys")?,
        registries: count("SELECT COUNT(*) FROM tenancy WHERE kind = 'registry'")?,
        identities: count("SELECT COUNT(*) FROM tenancy WHERE kind = 'identity'")?,
        audit_records: count("SELECT COUNT(*) FROM audit_log")?,
    })
}

/// Copies the whole database `from` into the new file `to` (created 0600) in one backup
/// step, leaves the copy as a single self-contained file (rollback journal, not WAL) and
/// checks it. The copy is written beside `to` and renamed into place only when complete.
fn copy_database(from: &Connection, to: &Path) -> Result<Contents, BackupError> {
    let partial = to.with_file_name(format!(
        ".{}.partial",
        to.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_file(&partial);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io_err(&partial))?;
    let result = (|| {
        let mut dst = Connection::open(&partial).map_err(sqlite_err(&partial))?;
        {
            let backup =
                rusqlite::backup::Backup::new(from, &mut dst).map_err(sqlite_err(&partial))?;
            // -1: every page in one step, so the copy is one read transaction's view (in
            // WAL mode that read does not hold up writers). Busy means a writer held a lock
            // we needed at the start; retry for a while.
            use rusqlite::backup::StepResult;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                match backup.step(-1).map_err(sqlite_err(&partial))? {
                    StepResult::Done => break,
                    StepResult::Busy | StepResult::Locked | StepResult::More
                        if std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    _ => {
                        return Err(BackupError::Sqlite {
                            path: partial.clone(),
                            source: rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                Some("the database stayed locked for 30 s".into()),
                            ),
                        })
                    }
                }
            }
        }
        dst.pragma_update(None, "journal_mode", "DELETE")
            .map_err(sqlite_err(&partial))?;
        let contents = inspect(&dst, &partial)?;
        drop(dst);
        let f = std::fs::File::open(&partial).map_err(io_err(&partial))?;
        f.sync_all().map_err(io_err(&partial))?;
        Ok(contents)
    })();
    match result {
        Ok(contents) => {
            std::fs::rename(&partial, to).map_err(io_err(to))?;
            Ok(contents)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Takes a consistent snapshot of the live SQLite database `db` into the new file `out`.
pub fn backup(db: &Path, out: &Path) -> Result<Contents, BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.to_path_buf()));
    }
    if out.exists() {
        return Err(BackupError::OutputExists(out.to_path_buf()));
    }
    // Read-write open (WAL readers need the shared-memory index) but nothing is written;
    // no CREATE flag, so a wrong path never leaves an empty database behind.
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(db))?;
    src.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sqlite_err(db))?;
    inspect_tables_only(&src, db)?;
    copy_database(&src, out)
}

/// The cheap part of [`inspect`] for a live database: its tables are Signet's.
fn inspect_tables_only(conn: &Connection, path: &Path) -> Result<(), BackupError> {
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN \
             ('tuf_files', 'server_keys', 'signer_meta', 'tenancy', 'audit_log')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| BackupError::NotSignet(path.to_path_buf(), e.to_string()))?;
    if tables != 5 {
        return Err(BackupError::NotSignet(
            path.to_path_buf(),
            "its tables are missing".into(),
        ));
    }
    Ok(())
}

/// Restores a backup into `data_dir` (created 0700 if absent; it must be empty) as
/// `<data-dir>/signet.sqlite`. Returns the database path and what it holds.
pub fn restore(file: &Path, data_dir: &Path) -> Result<(PathBuf, Contents), BackupError> {
    if !file.is_file() {
        return Err(BackupError::Io {
            path: file.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let src = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| BackupError::NotSignet(file.to_path_buf(), e.to_string()))?;
    inspect(&src, file)?;
    if data_dir.exists() {
        let mut entries = std::fs::read_dir(data_dir).map_err(io_err(data_dir))?;
        if entries.next().is_some() {
            return Err(BackupError::DataDirNotEmpty(data_dir.to_path_buf()));
        }
    } else {
        crate::serve::create_data_dir(data_dir).map_err(io_err(data_dir))?;
    }
    let db = data_dir.join("signet.sqlite");
    let contents = copy_database(&src, &db)?;
    Ok((db, contents))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewMeta, SqliteStore, Store};

    #[test]
    fn backup_and_restore_keep_every_byte_and_refuse_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.sqlite");
        let store = SqliteStore::open(&db).unwrap();
        let now = time::OffsetDateTime::now_utc();
        store
            .update_many(
                "example.com/app",
                &[NewMeta {
                    role: "root".into(),
                    version: 1,
                    bytes: b"{\"signed\":1}".to_vec(),
                }],
                now,
            )
            .unwrap();
        let out = dir.path().join("signet.backup");
        let c = backup(&db, &out).unwrap();
        assert_eq!((c.repositories, c.files), (1, 1));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(
            backup(&db, &out),
            Err(BackupError::OutputExists(_))
        ));
        assert!(matches!(
            backup(&dir.path().join("nothing.sqlite"), &dir.path().join("x")),
            Err(BackupError::NoDatabase(_))
        ));
        assert!(!dir.path().join("nothing.sqlite").exists());
        let target = dir.path().join("restored");
        let (path, c2) = restore(&out, &target).unwrap();
        assert_eq!(c, c2);
        let restored = SqliteStore::open(&path).unwrap();
        use crate::store::MetaReader;
        assert_eq!(
            &restored
                .latest("example.com/app", "root")
                .unwrap()
                .unwrap()
                .bytes[..],
            b"{\"signed\":1}"
        );
        assert!(matches!(
            restore(&out, &target),
            Err(BackupError::DataDirNotEmpty(_))
        ));
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not a database at all, just text").unwrap();
        assert!(matches!(
            restore(&junk, &dir.path().join("r2")),
            Err(BackupError::NotSignet(..))
        ));
        assert!(!dir.path().join("r2").exists());
    }
}
