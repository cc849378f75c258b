//! Names on the trust routes: GUNs and the metadata file names under `…/_trust/tuf/`.

use super::ServiceError;
use crate::signer::ServerRole;

/// Checks a GUN: what the reference's route matches (`[^*]+`, else the catch-all 404), and
/// then only names a docker image reference can contain ([`crate::image_name`]).
pub fn check_gun(gun: &str) -> Result<(), ServiceError> {
    if gun.is_empty() || gun.contains('*') {
        return Err(ServiceError::NotFound);
    }
    if crate::image_name::is_image_name(gun) {
        Ok(())
    } else {
        Err(ServiceError::InvalidGun)
    }
}

/// A file under `…/_trust/tuf/`.
#[derive(Debug, PartialEq, Eq)]
pub enum MetaFile {
    /// `<role>.json`
    Current(String),
    /// `<version>.<role>.json`
    Version(String, i64),
    /// `<role>.<hex digest>.json` (lower-cased)
    Checksum(String, String),
    /// `timestamp.key` or `snapshot.key`
    Key(ServerRole),
}

/// The route's role pattern: `root|targets(/[^/\s]+)*|snapshot|timestamp`.
fn route_role(role: &str) -> bool {
    if matches!(role, "root" | "snapshot" | "timestamp" | "targets") {
        return true;
    }
    role.strip_prefix("targets/").is_some_and(|rest| {
        rest.split('/')
            .all(|seg| !seg.is_empty() && !seg.chars().any(char::is_whitespace))
    })
}

/// Parses a file name under `…/_trust/tuf/`; `None` for names no route matches.
pub fn parse_meta_file(name: &str) -> Option<MetaFile> {
    match name {
        "snapshot.key" => return Some(MetaFile::Key(ServerRole::Snapshot)),
        "timestamp.key" => return Some(MetaFile::Key(ServerRole::Timestamp)),
        _ => {}
    }
    let stem = name.strip_suffix(".json")?;
    if let Some((prefix, role)) = stem.split_once('.') {
        if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) && route_role(role) {
            // Out-of-range versions cannot exist; map them to "not found".
            return Some(MetaFile::Version(
                role.to_string(),
                prefix.parse().unwrap_or(0),
            ));
        }
    }
    if let Some((role, sum)) = stem.rsplit_once('.') {
        if matches!(sum.len(), 64 | 96 | 128)
            && sum.bytes().all(|b| b.is_ascii_hexdigit())
            && route_role(role)
        {
            return Some(MetaFile::Checksum(
                role.to_string(),
                sum.to_ascii_lowercase(),
            ));
        }
    }
    route_role(stem).then(|| MetaFile::Current(stem.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gun_rules() {
        assert!(check_gun("docker.io/library/alpine").is_ok());
        assert!(check_gun("registry.example.com:5000/team/app").is_ok());
        for bad in [
            "a/../b",
            "a/./b",
            "a//b",
            "/a",
            "a/",
            "a b",
            "a\u{0}b",
            "a\\b",
            "a\"b",
            "example.com/a\u{202e}b",
            "example.com/App",
        ] {
            let e = check_gun(bad).expect_err(bad);
            assert!(matches!(e, ServiceError::InvalidGun), "{bad:?}");
        }
        // '*' never matches the reference's GUN pattern: the catch-all 404.
        assert!(matches!(check_gun("a*b"), Err(ServiceError::NotFound)));
    }

    #[test]
    fn metadata_file_names() {
        assert_eq!(
            parse_meta_file("targets/releases.json"),
            Some(MetaFile::Current("targets/releases".into()))
        );
        assert_eq!(
            parse_meta_file("12.root.json"),
            Some(MetaFile::Version("root".into(), 12))
        );
        let sum = "A".repeat(64);
        assert_eq!(
            parse_meta_file(&format!("targets/x.{sum}.json")),
            Some(MetaFile::Checksum("targets/x".into(), "a".repeat(64)))
        );
        assert_eq!(
            parse_meta_file("snapshot.key"),
            Some(MetaFile::Key(ServerRole::Snapshot))
        );
        assert_eq!(parse_meta_file("root.key"), None);
        assert_eq!(parse_meta_file("other.json"), None);
        assert_eq!(parse_meta_file("targets/a b.json"), None);
    }
}
