//! The snapshot role: hashes of root, targets and every delegation file.

use crate::error::TufError;
use crate::file_meta::FileMeta;
use crate::go_time::GoTime;
use crate::role_name;
use crate::signed::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(rename = "_type")]
    pub type_name: String,
    pub expires: GoTime,
    #[serde(default)]
    pub meta: Option<BTreeMap<String, FileMeta>>,
    pub version: i64,
}

impl Role for Snapshot {
    const TYPE: &'static str = "Snapshot";
    fn version(&self) -> i64 {
        self.version
    }
    fn expires(&self) -> &GoTime {
        &self.expires
    }
    fn type_name(&self) -> &str {
        &self.type_name
    }
    /// `meta.root` and `meta.targets` present with sha256; known hashes of the right size.
    fn check_structure(&self, role: &str) -> Result<(), TufError> {
        for required in [role_name::ROOT, role_name::TARGETS] {
            let m = self
                .meta_for(required)
                .ok_or_else(|| TufError::MissingMeta {
                    role: role.to_string(),
                    missing: required.to_string(),
                })?;
            if m.hash("sha256").is_none() {
                return Err(TufError::NoSupportedHash {
                    role: required.to_string(),
                });
            }
        }
        for (name, m) in self.meta.iter().flatten() {
            m.check_hash_lengths(name)?;
        }
        Ok(())
    }
}

impl Snapshot {
    pub fn new(expires: GoTime) -> Self {
        Snapshot {
            type_name: Self::TYPE.to_string(),
            expires,
            meta: Some(BTreeMap::new()),
            version: 1,
        }
    }

    pub fn meta_for(&self, role: &str) -> Option<&FileMeta> {
        self.meta.as_ref().and_then(|m| m.get(role))
    }

    /// The delegated roles (`targets/...`) this snapshot lists, in name order: what a client
    /// fetches beyond the four top-level roles.
    pub fn delegation_names(&self) -> Vec<String> {
        self.meta
            .iter()
            .flatten()
            .map(|(name, _)| name)
            .filter(|name| crate::role_name::is_delegation(name))
            .cloned()
            .collect()
    }

    pub fn set_meta(&mut self, role: &str, raw: &[u8]) {
        self.meta
            .get_or_insert_with(BTreeMap::new)
            .insert(role.to_string(), FileMeta::from_bytes(raw));
    }
}
