//! A registry's gate policy: whether manifest reads are refused, only reported, or not
//! checked; which signers must have signed; which repositories are exempt.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateMode {
    /// Unsigned manifests are refused with `403 DENIED`.
    Enforce,
    /// Everything is served; what enforce would refuse is logged and counted.
    Audit,
    /// Nothing is checked.
    Off,
}

impl GateMode {
    pub fn parse(s: &str) -> Option<GateMode> {
        match s.to_ascii_lowercase().as_str() {
            "enforce" => Some(GateMode::Enforce),
            "audit" => Some(GateMode::Audit),
            "off" => Some(GateMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GateMode::Enforce => "enforce",
            GateMode::Audit => "audit",
            GateMode::Off => "off",
        }
    }
}

/// Stored in the registry's document; a registry without one follows its content trust:
/// enabled → enforce, disabled → off ([`GatePolicy::default_for`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    pub mode: GateMode,
    /// Signer names (`alice` for the role `targets/alice`): each must have signed the tag
    /// with the same digest. Empty: `targets/releases`, else `targets`, as docker reads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<String>,
    /// Repository globs (`*` within a path segment, `**` across segments, `?` one character)
    /// served without a check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<String>,
}

impl GatePolicy {
    pub fn enforce() -> GatePolicy {
        GatePolicy {
            mode: GateMode::Enforce,
            signers: Vec::new(),
            exempt: Vec::new(),
        }
    }

    pub fn default_for(trust_enabled: bool) -> GatePolicy {
        GatePolicy {
            mode: if trust_enabled {
                GateMode::Enforce
            } else {
                GateMode::Off
            },
            ..GatePolicy::enforce()
        }
    }

    pub fn is_exempt(&self, repository: &str) -> bool {
        self.exempt.iter().any(|g| glob_matches(g, repository))
    }

    /// The roles whose signatures count: the named signers', or docker's two.
    pub fn signer_roles(&self) -> Vec<String> {
        self.signers.iter().map(|s| signer_role(s)).collect()
    }

    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({"mode": self.mode, "signers": self.signers, "exempt": self.exempt})
    }
}

/// `alice` → `targets/alice`; a full role name is kept.
pub fn signer_role(signer: &str) -> String {
    if signer.starts_with("targets/") {
        signer.to_string()
    } else {
        format!("targets/{signer}")
    }
}

/// Checks a signer name or exempt glob an operator gave.
pub fn check_policy(p: &GatePolicy) -> Result<(), String> {
    for s in &p.signers {
        let role = signer_role(s);
        if !signet_tuf::role_name::is_delegation(&role) {
            return Err(format!(
                "signer {s:?} is not a delegation name (lowercase letters, digits, '_', '-', '/')"
            ));
        }
    }
    for g in &p.exempt {
        if g.is_empty() || g.len() > 255 || g.chars().any(|c| c.is_whitespace()) {
            return Err(format!(
                "exempt glob {g:?} must be 1-255 characters without spaces"
            ));
        }
    }
    Ok(())
}

/// Glob match over a repository name: `**` any characters, `*` any but `/`, `?` one but `/`.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    fn go(g: &[u8], n: &[u8]) -> bool {
        match g {
            [] => n.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=n.len()).any(|i| go(rest, &n[i..])),
            [b'*', rest @ ..] => {
                let seg = n.iter().position(|&c| c == b'/').unwrap_or(n.len());
                (0..=seg).any(|i| go(rest, &n[i..]))
            }
            [b'?', rest @ ..] => n.first().is_some_and(|&c| c != b'/') && go(rest, &n[1..]),
            [c, rest @ ..] => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(glob.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("library/*", "library/alpine"));
        assert!(!glob_matches("library/*", "library/a/b"));
        assert!(glob_matches("library/**", "library/a/b"));
        assert!(glob_matches("test-?", "test-1"));
        assert!(!glob_matches("test-?", "test-12"));
        assert!(glob_matches("app", "app"));
        assert!(!glob_matches("app", "app2"));
        assert!(glob_matches("*", "app"));
        assert!(!glob_matches("*", "team/app"));
    }

    #[test]
    fn defaults_follow_content_trust() {
        assert_eq!(GatePolicy::default_for(true).mode, GateMode::Enforce);
        assert_eq!(GatePolicy::default_for(false).mode, GateMode::Off);
        assert_eq!(signer_role("alice"), "targets/alice");
        assert!(check_policy(&GatePolicy {
            signers: vec!["bad name".into()],
            ..GatePolicy::enforce()
        })
        .is_err());
    }
}
