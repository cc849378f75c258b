//! Verifying a repository's whole history before it is imported, as a client would walk it:
//! the root chain from version 1 (each root signed by its own root keys and by the previous
//! root's, certificates naming the GUN), every version of every other role signed by a
//! threshold of keys that a root (or, for a delegation, its parent) listed, every snapshot
//! and timestamp entry pointing at a stored file with that hash and length, and the newest
//! versions forming the set a client fetches (timestamp → snapshot → root, targets,
//! delegations) signed by the newest root's keys.

use crate::store::ImportedFile;
use signet_tuf::role_name::{self, ROOT, SNAPSHOT, TARGETS, TIMESTAMP};
use signet_tuf::root_policy::valid_root_keys;
use signet_tuf::{sha256_hex, FileMeta, RoleKeySet, SignedRoot, SignedTargets, TufError};
use std::collections::BTreeMap;
use thiserror::Error;
use time::OffsetDateTime;

/// One metadata file as the source holds it.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub role: String,
    pub version: i64,
    pub bytes: Vec<u8>,
    /// The SHA-256 the source recorded next to the bytes (notary-server's `sha256` column).
    pub recorded_sha256: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChainError {
    #[error("the repository has no files")]
    Empty,
    #[error("{role} version {version}: the stored sha256 does not match the stored bytes (file altered)")]
    RecordedHash { role: String, version: i64 },
    #[error("{role} version {version}: {source}")]
    File {
        role: String,
        version: i64,
        source: TufError,
    },
    #[error("{role} version {version}: the file itself says version {found}")]
    VersionMismatch {
        role: String,
        version: i64,
        found: i64,
    },
    #[error("{role} version {version} is stored twice")]
    Duplicate { role: String, version: i64 },
    #[error("role name {0:?} is not a notary role")]
    BadRole(String),
    #[error("no {0} metadata: a repository needs root, targets, snapshot and timestamp")]
    MissingRole(&'static str),
    #[error(
        "root chain broken: version {missing} is missing (the chain must run from {first} to {newest})"
    )]
    RootGap {
        missing: i64,
        first: i64,
        newest: i64,
    },
    #[error("root version {version}: {source}")]
    Root { version: i64, source: TufError },
    #[error("{role} version {version} is not signed by a threshold of the {role} keys of any root version")]
    NotSignedByAnyRoot { role: String, version: i64 },
    #[error(
        "the current {role} (version {version}) is not signed by the current root's keys: {source}"
    )]
    NotSignedByCurrentRoot {
        role: String,
        version: i64,
        source: TufError,
    },
    #[error("{role} version {version} is not signed by a threshold of the keys any version of {parent} delegates to it")]
    NotSignedByParent {
        role: String,
        version: i64,
        parent: String,
    },
    #[error("{role} version {version} lists {listed} with a hash or length that matches no stored version of it")]
    Dangling {
        role: String,
        version: i64,
        listed: String,
    },
    #[error("the current {listed} (version {version}) is not the one the current {by} lists")]
    NotCurrent {
        listed: String,
        version: i64,
        by: String,
    },
}

/// How much of a repository's history the source keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    /// Every version ever stored (notary-server): the root chain starts at version 1 and
    /// every snapshot and timestamp entry names a stored file.
    Complete,
    /// Some versions only (a client's cache holds the newest; an export of a server that
    /// removed old versions): the root chain may start later, and only the newest snapshot
    /// and timestamp must name stored files.
    Partial,
}

/// A repository whose history verified: its files ready to store and what a reader should
/// know (expired current metadata is reported, not refused: the old host may be gone).
pub struct VerifiedRepository {
    pub files: Vec<ImportedFile>,
    /// The newest root: it names the timestamp and snapshot keys the server must hold.
    pub root: SignedRoot,
    pub notes: Vec<String>,
}

struct Parsed<T> {
    version: i64,
    file: T,
}

fn parse<T: signet_tuf::Role>(
    files: &[SourceFile],
    versions: &[(i64, usize)],
    role: &str,
) -> Result<Vec<Parsed<signet_tuf::Signed<T>>>, ChainError> {
    versions
        .iter()
        .map(|&(version, index)| {
            let file = signet_tuf::Signed::<T>::from_bytes(role, &files[index].bytes).map_err(
                |source| ChainError::File {
                    role: role.to_string(),
                    version,
                    source,
                },
            )?;
            if file.version() != version {
                return Err(ChainError::VersionMismatch {
                    role: role.to_string(),
                    version,
                    found: file.version(),
                });
            }
            Ok(Parsed { version, file })
        })
        .collect()
}

/// Verifies `files` (every stored version of every role of `gun`) and returns them ready to
/// store; nothing is accepted unless the whole history verifies.
pub fn verify(
    gun: &str,
    files: Vec<SourceFile>,
    history: History,
    now: OffsetDateTime,
) -> Result<VerifiedRepository, ChainError> {
    if files.is_empty() {
        return Err(ChainError::Empty);
    }
    let mut by_role: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
    let mut sha: Vec<String> = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        if !role_name::is_valid_role(&f.role) {
            return Err(ChainError::BadRole(f.role.clone()));
        }
        let computed = sha256_hex(&f.bytes);
        if let Some(recorded) = &f.recorded_sha256 {
            if !recorded.trim().eq_ignore_ascii_case(&computed) {
                return Err(ChainError::RecordedHash {
                    role: f.role.clone(),
                    version: f.version,
                });
            }
        }
        sha.push(computed);
        by_role.entry(&f.role).or_default().push((f.version, i));
    }
    for (role, versions) in by_role.iter_mut() {
        versions.sort_unstable();
        if let Some(w) = versions.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ChainError::Duplicate {
                role: role.to_string(),
                version: w[0].0,
            });
        }
    }
    let versions_of = |role: &'static str| {
        by_role
            .get(role)
            .filter(|v| !v.is_empty())
            .ok_or(ChainError::MissingRole(role))
    };
    let roots = parse::<signet_tuf::Root>(&files, versions_of(ROOT)?, ROOT)?;
    let targets = parse::<signet_tuf::Targets>(&files, versions_of(TARGETS)?, TARGETS)?;
    let snapshots = parse::<signet_tuf::Snapshot>(&files, versions_of(SNAPSHOT)?, SNAPSHOT)?;
    let timestamps = parse::<signet_tuf::Timestamp>(&files, versions_of(TIMESTAMP)?, TIMESTAMP)?;

    // The root chain: 1, 2, ... with no gap; each root meets its own threshold with valid
    // certificates for this GUN, and each rotation the previous root's threshold. Old
    // certificates may have expired since: that is reported for the newest root only.
    let newest_root = roots.last().map(|r| r.version).unwrap_or(0);
    let first_root = match history {
        History::Complete => 1,
        History::Partial => roots.first().map(|r| r.version).unwrap_or(1),
    };
    for (expected, r) in (first_root..).zip(&roots) {
        if r.version != expected {
            return Err(ChainError::RootGap {
                missing: expected,
                first: first_root,
                newest: newest_root,
            });
        }
    }
    let mut root_key_sets: Vec<RoleKeySet> = Vec::with_capacity(roots.len());
    for r in &roots {
        let root_err = |source| ChainError::Root {
            version: r.version,
            source,
        };
        let own = valid_root_keys(&r.file, gun, now, false).map_err(root_err)?;
        if let Some(prev) = root_key_sets.last() {
            r.file.verify_threshold(prev).map_err(|e| match e {
                TufError::ThresholdNotMet { have, need, .. } => {
                    root_err(TufError::RootRotation { have, need })
                }
                other => root_err(other),
            })?;
        }
        r.file.verify_threshold(&own).map_err(root_err)?;
        root_key_sets.push(own);
    }
    let mut notes = Vec::new();
    let current_root = &roots[roots.len() - 1].file;
    if let Err(e) = valid_root_keys(current_root, gun, now, true) {
        notes.push(format!("current root: {e}"));
    }

    // Base roles: every version signed by the keys some root listed; the newest by the
    // newest root's keys.
    let role_keys = |role: &str| -> Result<Vec<RoleKeySet>, ChainError> {
        roots
            .iter()
            .map(|r| {
                r.file
                    .signed
                    .role_keys(role)
                    .map_err(|source| ChainError::Root {
                        version: r.version,
                        source,
                    })
            })
            .collect()
    };
    fn check_role<T>(
        role: &str,
        parsed: &[Parsed<signet_tuf::Signed<T>>],
        keys: &[RoleKeySet],
    ) -> Result<(), ChainError> {
        for p in parsed {
            if !keys
                .iter()
                .any(|k| p.file.envelope.verify_threshold(k).is_ok())
            {
                return Err(ChainError::NotSignedByAnyRoot {
                    role: role.to_string(),
                    version: p.version,
                });
            }
        }
        let (Some(newest), Some(current_keys)) = (parsed.last(), keys.last()) else {
            return Ok(());
        };
        newest
            .file
            .envelope
            .verify_threshold(current_keys)
            .map_err(|source| ChainError::NotSignedByCurrentRoot {
                role: role.to_string(),
                version: newest.version,
                source,
            })?;
        Ok(())
    }
    check_role(TARGETS, &targets, &role_keys(TARGETS)?)?;
    check_role(SNAPSHOT, &snapshots, &role_keys(SNAPSHOT)?)?;
    check_role(TIMESTAMP, &timestamps, &role_keys(TIMESTAMP)?)?;

    // Delegations: every version signed by the keys some version of its parent delegates.
    let mut delegations: BTreeMap<&str, Vec<Parsed<SignedTargets>>> = BTreeMap::new();
    for (role, versions) in &by_role {
        if role_name::is_delegation(role) {
            delegations.insert(role, parse::<signet_tuf::Targets>(&files, versions, role)?);
        }
    }
    for (role, parsed) in &delegations {
        let parent = role_name::parent(role).unwrap_or(TARGETS);
        let parents: &[Parsed<SignedTargets>] = if parent == TARGETS {
            &targets
        } else {
            delegations.get(parent).map(Vec::as_slice).unwrap_or(&[])
        };
        let keys: Vec<RoleKeySet> = parents
            .iter()
            .filter_map(|p| p.file.signed.delegation_keys(role).ok())
            .collect();
        for p in parsed {
            if !keys
                .iter()
                .any(|k| p.file.envelope.verify_threshold(k).is_ok())
            {
                return Err(ChainError::NotSignedByParent {
                    role: role.to_string(),
                    version: p.version,
                    parent: parent.to_string(),
                });
            }
        }
    }

    // Hashes and lengths: every entry of every snapshot and timestamp names a stored file.
    let find = |listed: &str, meta: &FileMeta| -> Option<i64> {
        let versions = by_role.get(listed)?;
        let want = meta.hash("sha256").map(hex::encode);
        versions
            .iter()
            .find(|&&(_, i)| {
                want.as_deref().is_none_or(|w| w == sha[i])
                    && meta.check_hashes(listed, &files[i].bytes).is_ok()
                    && meta.check_length(listed, &files[i].bytes).is_ok()
            })
            .map(|&(v, _)| v)
    };
    let checked_snapshots = match history {
        History::Complete => &snapshots[..],
        History::Partial => &snapshots[snapshots.len() - 1..],
    };
    let checked_timestamps = match history {
        History::Complete => &timestamps[..],
        History::Partial => &timestamps[timestamps.len() - 1..],
    };
    for s in checked_snapshots {
        for (listed, meta) in s.file.signed.meta.iter().flatten() {
            if find(listed, meta).is_none() {
                return Err(ChainError::Dangling {
                    role: SNAPSHOT.into(),
                    version: s.version,
                    listed: listed.clone(),
                });
            }
        }
    }
    for t in checked_timestamps {
        let listed = t.file.signed.snapshot_meta();
        if listed.and_then(|m| find(SNAPSHOT, m)).is_none() {
            return Err(ChainError::Dangling {
                role: TIMESTAMP.into(),
                version: t.version,
                listed: SNAPSHOT.into(),
            });
        }
    }

    // The newest versions are what the server will serve as current: they must be the set
    // the newest timestamp leads a client to.
    let newest = |role: &str| by_role.get(role).and_then(|v| v.last()).map(|&(v, _)| v);
    let current_ts = &timestamps[timestamps.len() - 1];
    let current_snapshot = &snapshots[snapshots.len() - 1];
    let must_be_current = |listed: &str, meta: Option<&FileMeta>, by: &str| {
        let Some(version) = newest(listed) else {
            return Err(ChainError::Dangling {
                role: by.to_string(),
                version: newest(by).unwrap_or(0),
                listed: listed.to_string(),
            });
        };
        if meta.and_then(|m| find(listed, m)) != Some(version) {
            return Err(ChainError::NotCurrent {
                listed: listed.to_string(),
                version,
                by: by.to_string(),
            });
        }
        Ok(())
    };
    must_be_current(SNAPSHOT, current_ts.file.signed.snapshot_meta(), TIMESTAMP)?;
    for (listed, meta) in current_snapshot.file.signed.meta.iter().flatten() {
        must_be_current(listed, Some(meta), SNAPSHOT)?;
    }

    for (role, expires, expired) in [
        (
            TIMESTAMP,
            current_ts.file.signed.expires.as_str().to_string(),
            current_ts.file.check_expiry(TIMESTAMP, now).is_err(),
        ),
        (
            SNAPSHOT,
            current_snapshot.file.signed.expires.as_str().to_string(),
            current_snapshot.file.check_expiry(SNAPSHOT, now).is_err(),
        ),
        (
            TARGETS,
            targets[targets.len() - 1]
                .file
                .signed
                .expires
                .as_str()
                .to_string(),
            targets[targets.len() - 1]
                .file
                .check_expiry(TARGETS, now)
                .is_err(),
        ),
        (
            ROOT,
            current_root.signed.expires.as_str().to_string(),
            current_root.check_expiry(ROOT, now).is_err(),
        ),
    ] {
        if expired {
            notes.push(format!("current {role} expired at {expires}"));
        }
    }

    let root = roots
        .into_iter()
        .next_back()
        .map(|r| r.file)
        .ok_or(ChainError::MissingRole(ROOT))?;
    let imported = files
        .into_iter()
        .zip(sha)
        .map(|(f, sha256_hex)| ImportedFile {
            role: f.role,
            version: f.version,
            bytes: f.bytes,
            sha256_hex,
            created_at: f.created_at,
        })
        .collect();
    Ok(VerifiedRepository {
        files: imported,
        root,
        notes,
    })
}
