//! Fetching everything a Notary v1 server serves of one repository, every version it still
//! holds, the way a migration needs it: the root chain by `<v>.root.json` from version 1,
//! the current timestamp, snapshot, targets and delegations, and each role's older versions
//! by `<v>.<role>.json`. Transport-free: the caller passes how one file is fetched.
//!
//! Nothing here is verified; the caller verifies the whole set before it keeps any of it.

use crate::role_name;
use crate::signed::Envelope;
use std::collections::BTreeSet;

/// At most this many versions of one role are walked (a guard against a source that never
/// answers "not found").
pub const MAX_VERSIONS: i64 = 100_000;

/// One file as the source served it.
#[derive(Clone, Debug)]
pub struct FetchedFile {
    pub role: String,
    pub version: i64,
    pub bytes: Vec<u8>,
}

/// What the source served of a repository.
#[derive(Clone, Debug, Default)]
pub struct FetchedHistory {
    pub files: Vec<FetchedFile>,
    /// Every version from 1 to the current one of every role was served (notary-server keeps
    /// them all); `false` when some were not (a server that removed old versions).
    pub complete: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError<E> {
    #[error(transparent)]
    Fetch(E),
    #[error("{file}: not TUF metadata with a version")]
    NoVersion { file: String },
    #[error("{file}: the file says version {found}")]
    WrongVersion { file: String, found: i64 },
    #[error("{role}: more than {MAX_VERSIONS} versions")]
    TooMany { role: String },
}

fn version_of<E>(file: &str, role: &str, bytes: &[u8]) -> Result<i64, HistoryError<E>> {
    Envelope::parse(role, bytes)
        .ok()
        .and_then(|e| e.version())
        .ok_or_else(|| HistoryError::NoVersion {
            file: file.to_string(),
        })
}

/// The delegation roles a snapshot lists.
fn delegations_listed(snapshot: &[u8]) -> Vec<String> {
    Envelope::parse("snapshot", snapshot)
        .ok()
        .and_then(|e| {
            e.signed_value()
                .get("meta")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.keys()
                        .filter(|k| role_name::is_delegation(k))
                        .cloned()
                        .collect()
                })
        })
        .unwrap_or_default()
}

/// Fetches a repository's served history. `fetch(file)` returns a file of the repository
/// (`timestamp.json`, `3.root.json`, `targets/releases.json`, …) or `None` when the source
/// does not have it. `Ok(None)` when the source has no trust data for the repository.
pub fn fetch_history<E>(
    mut fetch: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
) -> Result<Option<FetchedHistory>, HistoryError<E>> {
    let mut get = |file: &str| fetch(file).map_err(HistoryError::Fetch);
    let Some(timestamp) = get("timestamp.json")? else {
        return Ok(None);
    };
    let mut out = FetchedHistory {
        files: Vec::new(),
        complete: true,
    };
    // Current versions first: what a client would fetch now.
    let mut current: Vec<(String, i64)> = Vec::new();
    let ts_version = version_of("timestamp.json", "timestamp", &timestamp)?;
    current.push(("timestamp".into(), ts_version));
    out.files.push(FetchedFile {
        role: "timestamp".into(),
        version: ts_version,
        bytes: timestamp,
    });
    let mut delegations: BTreeSet<String> = BTreeSet::new();
    for role in ["snapshot", "targets"] {
        let file = format!("{role}.json");
        if let Some(bytes) = get(&file)? {
            let v = version_of(&file, role, &bytes)?;
            if role == "snapshot" {
                delegations.extend(delegations_listed(&bytes));
            }
            current.push((role.to_string(), v));
            out.files.push(FetchedFile {
                role: role.to_string(),
                version: v,
                bytes,
            });
        }
    }
    // Older versions of the roles with a current one, by version; a missing one makes the
    // history partial. Snapshots may name delegations that have since been removed.
    for (role, newest) in current.clone() {
        for v in 1..newest {
            let file = format!("{v}.{role}.json");
            match get(&file)? {
                Some(bytes) => {
                    check_version(&file, &role, &bytes, v)?;
                    if role == "snapshot" {
                        delegations.extend(delegations_listed(&bytes));
                    }
                    out.files.push(FetchedFile {
                        role: role.clone(),
                        version: v,
                        bytes,
                    });
                }
                None => out.complete = false,
            }
        }
    }
    // Roots and delegations: walked from version 1 until the source has no more.
    let mut walk = |role: &str, out: &mut FetchedHistory| -> Result<i64, HistoryError<E>> {
        let mut v = 1;
        loop {
            if v > MAX_VERSIONS {
                return Err(HistoryError::TooMany {
                    role: role.to_string(),
                });
            }
            let file = format!("{v}.{role}.json");
            let Some(bytes) = get(&file)? else {
                return Ok(v - 1);
            };
            check_version(&file, role, &bytes, v)?;
            out.files.push(FetchedFile {
                role: role.to_string(),
                version: v,
                bytes,
            });
            v += 1;
        }
    };
    if walk("root", &mut out)? == 0 {
        out.complete = false;
    }
    for role in &delegations {
        walk(role, &mut out)?;
    }
    // A source without old versions still serves the current root and delegations.
    let mut fallback: Vec<String> = vec!["root".into()];
    fallback.extend(delegations.iter().cloned());
    for role in fallback {
        if out.files.iter().any(|f| f.role == role) {
            continue;
        }
        let file = format!("{role}.json");
        if let Some(bytes) = get(&file)? {
            let v = version_of(&file, &role, &bytes)?;
            out.complete = false;
            out.files.push(FetchedFile {
                role,
                version: v,
                bytes,
            });
        }
    }
    Ok(Some(out))
}

fn check_version<E>(
    file: &str,
    role: &str,
    bytes: &[u8],
    want: i64,
) -> Result<(), HistoryError<E>> {
    let found = version_of(file, role, bytes)?;
    if found != want {
        return Err(HistoryError::WrongVersion {
            file: file.to_string(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn file(role: &str, version: i64, extra: &str) -> Vec<u8> {
        format!(r#"{{"signed":{{"_type":"{role}","version":{version}{extra}}},"signatures":[]}}"#)
            .into_bytes()
    }

    #[test]
    fn walks_every_served_version_and_says_when_some_are_missing() {
        let mut served: HashMap<String, Vec<u8>> = HashMap::new();
        let snap_meta = r#","meta":{"root":{},"targets":{},"targets/releases":{}}"#;
        served.insert("timestamp.json".into(), file("timestamp", 3, ""));
        served.insert("1.timestamp.json".into(), file("timestamp", 1, ""));
        served.insert("2.timestamp.json".into(), file("timestamp", 2, ""));
        served.insert("snapshot.json".into(), file("snapshot", 2, snap_meta));
        served.insert("1.snapshot.json".into(), file("snapshot", 1, snap_meta));
        served.insert("targets.json".into(), file("targets", 1, ""));
        served.insert("1.root.json".into(), file("root", 1, ""));
        served.insert("2.root.json".into(), file("root", 2, ""));
        served.insert("1.targets/releases.json".into(), file("targets", 1, ""));
        let mut asked = Vec::new();
        let got = fetch_history(|f: &str| {
            asked.push(f.to_string());
            Ok::<_, String>(served.get(f).cloned())
        })
        .unwrap()
        .unwrap();
        assert!(got.complete);
        let mut have: Vec<(String, i64)> = got
            .files
            .iter()
            .map(|f| (f.role.clone(), f.version))
            .collect();
        have.sort();
        assert_eq!(
            have,
            [
                ("root", 1),
                ("root", 2),
                ("snapshot", 1),
                ("snapshot", 2),
                ("targets", 1),
                ("targets/releases", 1),
                ("timestamp", 1),
                ("timestamp", 2),
                ("timestamp", 3)
            ]
            .map(|(r, v)| (r.to_string(), v))
        );
        served.remove("1.timestamp.json");
        let got = fetch_history(|f: &str| Ok::<_, String>(served.get(f).cloned()))
            .unwrap()
            .unwrap();
        assert!(!got.complete);
        assert!(fetch_history(|_: &str| Ok::<_, String>(None))
            .unwrap()
            .is_none());
        served.insert("2.root.json".into(), file("root", 7, ""));
        let err = fetch_history(|f: &str| Ok::<_, String>(served.get(f).cloned())).unwrap_err();
        assert_eq!(err.to_string(), "2.root.json: the file says version 7");
    }
}
