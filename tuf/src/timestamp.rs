//! The timestamp role: the hash of the current snapshot. Always signed by the server.

use crate::error::TufError;
use crate::file_meta::FileMeta;
use crate::go_time::GoTime;
use crate::role_name;
use crate::signed::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    #[serde(rename = "_type")]
    pub type_name: String,
    pub expires: GoTime,
    #[serde(default)]
    pub meta: Option<BTreeMap<String, FileMeta>>,
    pub version: i64,
}

impl Role for Timestamp {
    const TYPE: &'static str = "Timestamp";
    fn version(&self) -> i64 {
        self.version
    }
    fn expires(&self) -> &GoTime {
        &self.expires
    }
    fn type_name(&self) -> &str {
        &self.type_name
    }
    fn check_structure(&self, role: &str) -> Result<(), TufError> {
        let m = self.snapshot_meta().ok_or_else(|| TufError::MissingMeta {
            role: role.to_string(),
            missing: role_name::SNAPSHOT.to_string(),
        })?;
        m.check_hash_lengths(role_name::SNAPSHOT)?;
        if m.hash("sha256").is_none() {
            return Err(TufError::NoSupportedHash {
                role: role_name::SNAPSHOT.to_string(),
            });
        }
        Ok(())
    }
}

impl Timestamp {
    /// A timestamp pointing at the given snapshot bytes.
    pub fn for_snapshot(expires: GoTime, version: i64, snapshot_raw: &[u8]) -> Self {
        let mut meta = BTreeMap::new();
        meta.insert(
            role_name::SNAPSHOT.to_string(),
            FileMeta::from_bytes(snapshot_raw),
        );
        Timestamp {
            type_name: Self::TYPE.to_string(),
            expires,
            meta: Some(meta),
            version,
        }
    }

    pub fn snapshot_meta(&self) -> Option<&FileMeta> {
        self.meta.as_ref().and_then(|m| m.get(role_name::SNAPSHOT))
    }
}
