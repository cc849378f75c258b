//! The root role: keys and thresholds for every base role.

use crate::error::TufError;
use crate::go_time::GoTime;
use crate::key_object::KeyObject;
use crate::role_name;
use crate::signed::Role;
use serde::{Deserialize, Serialize};
use signet_keys::PublicKey;
use std::collections::BTreeMap;

/// Key IDs and threshold of one role, as listed in root.json or a delegation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    #[serde(default)]
    pub keyids: Option<Vec<String>>,
    #[serde(default)]
    pub threshold: i64,
}

impl RoleKeys {
    pub fn new(keyids: Vec<String>, threshold: i64) -> Self {
        RoleKeys {
            keyids: Some(keyids),
            threshold,
        }
    }

    pub fn key_ids(&self) -> &[String] {
        self.keyids.as_deref().unwrap_or(&[])
    }
}

/// The keys a role is verified with: listed ID → key, and the threshold.
#[derive(Clone, Debug)]
pub struct RoleKeySet {
    pub role: String,
    pub keys: BTreeMap<String, PublicKey>,
    pub threshold: i64,
}

/// Resolves a role's key IDs against a key map; a listed ID with no key is an error.
pub(crate) fn resolve_keys(
    role: &str,
    listed: &RoleKeys,
    keys: Option<&BTreeMap<String, KeyObject>>,
) -> Result<RoleKeySet, TufError> {
    let mut out = BTreeMap::new();
    for id in listed.key_ids() {
        let key = keys
            .and_then(|k| k.get(id))
            .ok_or_else(|| TufError::UnknownKey {
                role: role.to_string(),
                key_id: id.clone(),
            })?;
        out.insert(id.clone(), key.0.clone());
    }
    Ok(RoleKeySet {
        role: role.to_string(),
        keys: out,
        threshold: listed.threshold,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    #[serde(rename = "_type")]
    pub type_name: String,
    #[serde(default)]
    pub consistent_snapshot: bool,
    pub expires: GoTime,
    #[serde(default)]
    pub keys: Option<BTreeMap<String, KeyObject>>,
    #[serde(default)]
    pub roles: Option<BTreeMap<String, RoleKeys>>,
    pub version: i64,
}

impl Role for Root {
    const TYPE: &'static str = "Root";
    fn version(&self) -> i64 {
        self.version
    }
    fn expires(&self) -> &GoTime {
        &self.expires
    }
    fn type_name(&self) -> &str {
        &self.type_name
    }
    /// All four base roles present, thresholds ≥ 1, every listed key present.
    fn check_structure(&self, role: &str) -> Result<(), TufError> {
        for base in [
            role_name::ROOT,
            role_name::TARGETS,
            role_name::SNAPSHOT,
            role_name::TIMESTAMP,
        ] {
            let r = self.role_entry(base).ok_or_else(|| TufError::MissingRole {
                role: role.to_string(),
                missing: base.to_string(),
            })?;
            if r.threshold < 1 {
                return Err(TufError::InvalidThreshold {
                    role: base.to_string(),
                    threshold: r.threshold,
                });
            }
            resolve_keys(base, r, self.keys.as_ref())?;
        }
        Ok(())
    }
}

impl Root {
    /// A new root (version 1 unless changed) with the given keys and role assignments.
    pub fn new(expires: GoTime) -> Self {
        Root {
            type_name: Self::TYPE.to_string(),
            consistent_snapshot: false,
            expires,
            keys: Some(BTreeMap::new()),
            roles: Some(BTreeMap::new()),
            version: 1,
        }
    }

    pub fn role_entry(&self, role: &str) -> Option<&RoleKeys> {
        self.roles.as_ref().and_then(|r| r.get(role))
    }

    /// The keys and threshold of a base role.
    pub fn role_keys(&self, role: &str) -> Result<RoleKeySet, TufError> {
        let entry = self.role_entry(role).ok_or_else(|| TufError::MissingRole {
            role: role_name::ROOT.to_string(),
            missing: role.to_string(),
        })?;
        resolve_keys(role, entry, self.keys.as_ref())
    }

    /// Adds `key` (under its metadata ID) to `role`, replacing nothing else.
    pub fn add_key(&mut self, role: &str, key: PublicKey) {
        let id = key.id().to_string();
        self.keys
            .get_or_insert_with(BTreeMap::new)
            .insert(id.clone(), KeyObject(key));
        let entry = self
            .roles
            .get_or_insert_with(BTreeMap::new)
            .entry(role.to_string())
            .or_insert_with(|| RoleKeys::new(vec![], 1));
        let ids = entry.keyids.get_or_insert_with(Vec::new);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// Makes `keys` the only keys of `role`, dropping key objects no role uses any more.
    pub fn set_role_keys(&mut self, role: &str, keys: Vec<PublicKey>, threshold: i64) {
        let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
        let map = self.keys.get_or_insert_with(BTreeMap::new);
        for k in keys {
            map.insert(k.id().to_string(), KeyObject(k));
        }
        self.roles
            .get_or_insert_with(BTreeMap::new)
            .insert(role.to_string(), RoleKeys::new(ids, threshold));
        let used: std::collections::BTreeSet<String> = self
            .roles
            .iter()
            .flat_map(|r| r.values())
            .flat_map(|r| r.key_ids().iter().cloned())
            .collect();
        if let Some(k) = self.keys.as_mut() {
            k.retain(|id, _| used.contains(id));
        }
    }
}
