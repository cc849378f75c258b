//! Role names: the four base roles and delegations (`targets/...`), validated as notary does.

/// The base roles.
pub const ROOT: &str = "root";
pub const TARGETS: &str = "targets";
pub const SNAPSHOT: &str = "snapshot";
pub const TIMESTAMP: &str = "timestamp";

pub fn is_base_role(name: &str) -> bool {
    matches!(name, ROOT | TARGETS | SNAPSHOT | TIMESTAMP)
}

/// A delegation name: `targets/` + `[-a-z0-9_/]`, shorter than 256 bytes, already clean
/// (no empty segment, no trailing `/`, no `.` or `..`).
pub fn is_delegation(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("targets/") else {
        return false;
    };
    name.len() < 256
        && !rest.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'/'
        })
        && rest.split('/').all(|seg| !seg.is_empty())
}

/// A role name a client may operate on: base role or delegation.
pub fn is_valid_role(name: &str) -> bool {
    is_base_role(name) || is_delegation(name)
}

/// `targets/a/b` → `targets/a`; base roles have no parent.
pub fn parent(name: &str) -> Option<&str> {
    if !is_delegation(name) {
        return None;
    }
    name.rfind('/').map(|i| &name[..i])
}

/// Number of path segments, used to order uploads parents-first.
pub fn depth(name: &str) -> usize {
    name.split('/').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegation_rules() {
        assert!(is_delegation("targets/releases"));
        assert!(is_delegation("targets/a-b_c/d1"));
        assert!(!is_delegation("targets/"));
        assert!(!is_delegation("targets//a"));
        assert!(!is_delegation("targets/a/"));
        assert!(!is_delegation("targets/A"));
        assert!(!is_delegation("targets/a.b"));
        assert!(!is_delegation("targets/.."));
        assert!(!is_delegation("targetsx/a"));
        assert!(!is_delegation(&format!("targets/{}", "a".repeat(250))));
        assert_eq!(parent("targets/a/b"), Some("targets/a"));
        assert_eq!(parent("targets/a"), Some("targets"));
        assert_eq!(parent("targets"), None);
    }
}
