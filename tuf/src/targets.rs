//! The targets role and its delegations (`targets/releases`, `targets/<signer>`, ...).

use crate::error::TufError;
use crate::file_meta::FileMeta;
use crate::go_time::GoTime;
use crate::key_object::KeyObject;
use crate::role_name;
use crate::root::{resolve_keys, RoleKeySet, RoleKeys};
use crate::signed::Role;
use serde::{Deserialize, Serialize};
use signet_keys::PublicKey;
use std::collections::BTreeMap;

/// A delegated role as listed in its parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegatedRole {
    #[serde(default)]
    pub keyids: Option<Vec<String>>,
    pub name: String,
    /// Plain string prefixes; `""` means every path. Omitted when empty, as Go does.
    #[serde(default, skip_serializing_if = "paths_empty")]
    pub paths: Option<Vec<String>>,
    #[serde(default)]
    pub threshold: i64,
}

fn paths_empty(p: &Option<Vec<String>>) -> bool {
    p.as_ref().is_none_or(|v| v.is_empty())
}

impl DelegatedRole {
    pub fn key_ids(&self) -> &[String] {
        self.keyids.as_deref().unwrap_or(&[])
    }

    pub fn paths(&self) -> &[String] {
        self.paths.as_deref().unwrap_or(&[])
    }

    /// Whether `target` falls under one of the role's path prefixes.
    pub fn covers(&self, target: &str) -> bool {
        self.paths().iter().any(|p| target.starts_with(p.as_str()))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegations {
    #[serde(default)]
    pub keys: Option<BTreeMap<String, KeyObject>>,
    #[serde(default)]
    pub roles: Option<Vec<DelegatedRole>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub type_name: String,
    /// Always written by Go, even when empty (`{"keys":null,"roles":null}` if never set).
    #[serde(default)]
    pub delegations: Delegations,
    pub expires: GoTime,
    #[serde(default)]
    pub targets: Option<BTreeMap<String, FileMeta>>,
    pub version: i64,
}

impl Role for Targets {
    const TYPE: &'static str = "Targets";
    fn version(&self) -> i64 {
        self.version
    }
    fn expires(&self) -> &GoTime {
        &self.expires
    }
    fn type_name(&self) -> &str {
        &self.type_name
    }
    /// Every delegation is listed once, a valid direct child with threshold ≥ 1 and known keys.
    fn check_structure(&self, role: &str) -> Result<(), TufError> {
        let mut seen = std::collections::HashSet::new();
        for d in self.delegated_roles() {
            // Readers that look a delegation up by name would each pick a different entry.
            if !seen.insert(d.name.as_str()) {
                return Err(TufError::DuplicateDelegation {
                    role: role.to_string(),
                    child: d.name.clone(),
                });
            }
            if !role_name::is_delegation(&d.name) || role_name::parent(&d.name) != Some(role) {
                return Err(TufError::InvalidDelegation {
                    role: role.to_string(),
                    child: d.name.clone(),
                });
            }
            if d.threshold < 1 {
                return Err(TufError::InvalidThreshold {
                    role: d.name.clone(),
                    threshold: d.threshold,
                });
            }
            self.delegation_keys(&d.name)?;
        }
        Ok(())
    }
}

impl Targets {
    /// A fresh targets file as a notary client writes it: empty targets and delegations.
    pub fn new(expires: GoTime) -> Self {
        Targets {
            type_name: Self::TYPE.to_string(),
            delegations: Delegations {
                keys: Some(BTreeMap::new()),
                roles: Some(Vec::new()),
            },
            expires,
            targets: Some(BTreeMap::new()),
            version: 1,
        }
    }

    pub fn delegated_roles(&self) -> &[DelegatedRole] {
        self.delegations.roles.as_deref().unwrap_or(&[])
    }

    pub fn delegation(&self, name: &str) -> Option<&DelegatedRole> {
        self.delegated_roles().iter().find(|d| d.name == name)
    }

    pub fn delegation_keys(&self, name: &str) -> Result<RoleKeySet, TufError> {
        let d = self.delegation(name).ok_or_else(|| TufError::MissingRole {
            role: "targets".into(),
            missing: name.to_string(),
        })?;
        let listed = RoleKeys {
            keyids: d.keyids.clone(),
            threshold: d.threshold,
        };
        resolve_keys(name, &listed, self.delegations.keys.as_ref())
    }

    pub fn target_map(&self) -> &BTreeMap<String, FileMeta> {
        static EMPTY: BTreeMap<String, FileMeta> = BTreeMap::new();
        self.targets.as_ref().unwrap_or(&EMPTY)
    }

    /// Adds or replaces a delegation's keys (adding keys, keeping existing ones), docker-style.
    pub fn add_delegation_keys(&mut self, name: &str, keys: Vec<PublicKey>, paths: Vec<String>) {
        let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
        let km = self.delegations.keys.get_or_insert_with(BTreeMap::new);
        for k in keys {
            km.insert(k.id().to_string(), KeyObject(k));
        }
        let roles = self.delegations.roles.get_or_insert_with(Vec::new);
        if let Some(r) = roles.iter_mut().find(|r| r.name == name) {
            let existing = r.keyids.get_or_insert_with(Vec::new);
            for id in ids {
                if !existing.contains(&id) {
                    existing.push(id);
                }
            }
            let p = r.paths.get_or_insert_with(Vec::new);
            for path in paths {
                if !p.contains(&path) {
                    p.push(path);
                }
            }
        } else {
            roles.push(DelegatedRole {
                keyids: Some(ids),
                name: name.to_string(),
                paths: Some(paths),
                threshold: 1,
            });
        }
    }

    /// Removes key IDs from a delegation, and key objects nothing references any more.
    pub fn remove_delegation_keys(&mut self, name: &str, key_ids: &[String]) {
        if let Some(roles) = self.delegations.roles.as_mut() {
            for r in roles.iter_mut().filter(|r| r.name == name) {
                if let Some(ids) = r.keyids.as_mut() {
                    ids.retain(|id| !key_ids.contains(id));
                }
            }
        }
        self.prune_delegation_keys();
    }

    /// Removes a delegation role entirely.
    pub fn remove_delegation(&mut self, name: &str) {
        if let Some(roles) = self.delegations.roles.as_mut() {
            roles.retain(|r| r.name != name);
        }
        self.prune_delegation_keys();
    }

    fn prune_delegation_keys(&mut self) {
        let used: std::collections::BTreeSet<String> = self
            .delegated_roles()
            .iter()
            .flat_map(|r| r.key_ids().iter().cloned())
            .collect();
        if let Some(k) = self.delegations.keys.as_mut() {
            k.retain(|id, _| used.contains(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Signed, SignedTargets, TufError};

    fn targets_file(delegations: &str, targets: &str) -> Vec<u8> {
        format!(
            r#"{{"signed":{{"_type":"Targets","delegations":{delegations},"expires":"2030-01-01T00:00:00Z","targets":{targets},"version":1}},"signatures":[]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_delegation_listed_twice_is_refused() {
        let once = r#"{"keys":{},"roles":[{"keyids":[],"name":"targets/a","threshold":1}]}"#;
        let twice = r#"{"keys":{},"roles":[{"keyids":[],"name":"targets/a","threshold":1},{"keyids":[],"name":"targets/a","threshold":1}]}"#;
        SignedTargets::from_bytes("targets", &targets_file(once, "{}")).unwrap();
        let e = SignedTargets::from_bytes("targets", &targets_file(twice, "{}")).unwrap_err();
        assert_eq!(
            e,
            TufError::DuplicateDelegation {
                role: "targets".into(),
                child: "targets/a".into()
            }
        );
    }

    #[test]
    fn a_negative_length_is_refused() {
        let empty = r#"{"keys":{},"roles":[]}"#;
        let ok = r#"{"app":{"hashes":{"sha256":"AAAA"},"length":0}}"#;
        let negative = r#"{"app":{"hashes":{"sha256":"AAAA"},"length":-1}}"#;
        Signed::<crate::Targets>::from_bytes("targets", &targets_file(empty, ok)).unwrap();
        let e = SignedTargets::from_bytes("targets", &targets_file(empty, negative)).unwrap_err();
        assert!(
            matches!(&e, TufError::Malformed { reason, .. } if reason.contains("length -1 is negative")),
            "{e}"
        );
    }
}
