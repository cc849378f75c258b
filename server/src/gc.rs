//! Garbage collection of old metadata versions.
//!
//! What stays: every root version (clients walk the chain one version at a time), each
//! role's newest `keep` versions (the newest is the current one; a few more cover a client
//! that read a timestamp just before a publish and asks for what it named), and every
//! version a current file's checksum names (the current timestamp names a snapshot, the
//! current snapshot names root, targets and delegations). Nothing else is ever fetched by
//! a client: current files by name, the rest by the checksums current files carry.

use crate::store::{FileVersion, Store, StoreError};
use std::collections::HashSet;

/// What one collection removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub dry_run: bool,
    pub keep: usize,
    pub repositories: usize,
    pub files_kept: usize,
    pub files_removed: usize,
    pub bytes_removed: i64,
    /// Per repository that lost files: `role.version` names, oldest first per role.
    pub removed: std::collections::BTreeMap<String, Vec<String>>,
}

/// The hex SHA-256 checksums a current timestamp or snapshot names (`signed.meta.*`).
fn named_checksums(meta: &[u8]) -> Vec<(String, String)> {
    use base64::Engine;
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(meta) else {
        return Vec::new();
    };
    let Some(entries) = v["signed"]["meta"].as_object() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(name, m)| {
            let b64 = m["hashes"]["sha256"].as_str()?;
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            // notary names roles by file name ("targets/releases", "root"); strip any
            // ".json" a foreign writer might have added.
            let role = name.strip_suffix(".json").unwrap_or(name).to_string();
            Some((role, hex::encode(raw)))
        })
        .collect()
}

/// The versions of one GUN to remove, given all its versions and the checksums its current
/// timestamp and snapshot name.
pub fn victims(
    versions: &[FileVersion],
    named: &HashSet<(String, String)>,
    keep: usize,
) -> Vec<FileVersion> {
    let keep = keep.max(1);
    let mut out = Vec::new();
    // `versions` comes ordered by role, then version.
    for group in versions.chunk_by(|a, b| a.role == b.role) {
        if group[0].role == "root" {
            continue;
        }
        let older = group.len().saturating_sub(keep);
        out.extend(
            group[..older]
                .iter()
                .filter(|f| !named.contains(&(f.role.clone(), f.sha256_hex.clone())))
                .cloned(),
        );
    }
    out
}

/// Collects every repository; with `dry_run` only reports.
pub fn collect(store: &dyn Store, keep: usize, dry_run: bool) -> Result<GcReport, StoreError> {
    let keep = keep.max(1);
    let mut report = GcReport {
        dry_run,
        keep,
        ..Default::default()
    };
    for gun in store.guns()? {
        report.repositories += 1;
        let mut versions = store.versions(&gun)?;
        versions.sort_by(|a, b| a.role.cmp(&b.role).then(a.version.cmp(&b.version)));
        let mut named = HashSet::new();
        for role in ["timestamp", "snapshot"] {
            if let Some(current) = store.latest(&gun, role)? {
                named.extend(named_checksums(&current.bytes));
            }
        }
        let gone = victims(&versions, &named, keep);
        let removed = if dry_run || gone.is_empty() {
            gone.len()
        } else {
            let list: Vec<(String, i64)> =
                gone.iter().map(|f| (f.role.clone(), f.version)).collect();
            store.delete_old_versions(&gun, &list)?
        };
        report.files_kept += versions.len() - removed;
        report.files_removed += removed;
        if !gone.is_empty() {
            report.bytes_removed += gone.iter().map(|f| f.size).sum::<i64>();
            report.removed.insert(
                gun.clone(),
                gone.iter()
                    .map(|f| format!("{}.{}", f.role, f.version))
                    .collect(),
            );
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(role: &str, version: i64) -> FileVersion {
        FileVersion {
            role: role.into(),
            version,
            sha256_hex: format!("{role}{version}"),
            size: 10,
        }
    }

    #[test]
    fn roots_current_newest_and_named_versions_stay() {
        let versions: Vec<FileVersion> = (1..=3)
            .map(|n| v("root", n))
            .chain((1..=5).map(|n| v("snapshot", n)))
            .chain((1..=5).map(|n| v("targets", n)))
            .chain((1..=2).map(|n| v("targets/releases", n)))
            .collect();
        // The current snapshot still names targets version 2 (only delegations changed).
        let named: HashSet<_> = [("targets".to_string(), "targets2".to_string())].into();
        let names = |keep| -> Vec<String> {
            victims(&versions, &named, keep)
                .iter()
                .map(|f| format!("{}.{}", f.role, f.version))
                .collect()
        };
        assert_eq!(
            names(1),
            [
                "snapshot.1",
                "snapshot.2",
                "snapshot.3",
                "snapshot.4",
                "targets.1",
                "targets.3",
                "targets.4",
                "targets/releases.1"
            ]
        );
        assert_eq!(names(4), ["snapshot.1", "targets.1"]);
        assert!(names(10).is_empty());
        // keep 0 means 1: the current version is never a victim.
        assert_eq!(names(0), names(1));
    }

    #[test]
    fn checksums_come_from_signed_meta() {
        let ts = br#"{"signed":{"_type":"Timestamp","meta":{"snapshot":{"hashes":{"sha256":"AAEC"},"length":3}}},"signatures":[]}"#;
        assert_eq!(
            named_checksums(ts),
            [("snapshot".to_string(), "000102".to_string())]
        );
        assert!(named_checksums(b"not json").is_empty());
    }
}
