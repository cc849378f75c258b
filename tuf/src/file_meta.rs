//! `FileMeta`: length and hashes of a target or of another metadata file.

use crate::error::TufError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;

/// Raw digest bytes, base64 in JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashBytes(pub Vec<u8>);

impl Serialize for HashBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HashBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map(HashBytes)
            .map_err(|e| serde::de::Error::custom(format!("hash is not base64: {e}")))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<serde_json::Value>,
    #[serde(default)]
    pub hashes: Option<BTreeMap<String, HashBytes>>,
    #[serde(deserialize_with = "non_negative_length")]
    pub length: i64,
}

/// A length below zero describes no file; refused rather than carried to readers that would
/// each treat it differently.
fn non_negative_length<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 0 {
        return Err(serde::de::Error::custom(format!("length {n} is negative")));
    }
    Ok(n)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

impl FileMeta {
    /// Length, sha256 and sha512 of `bytes`, as notary writes snapshot and timestamp entries.
    pub fn from_bytes(bytes: &[u8]) -> FileMeta {
        let mut hashes = BTreeMap::new();
        hashes.insert(
            "sha256".to_string(),
            HashBytes(Sha256::digest(bytes).to_vec()),
        );
        hashes.insert(
            "sha512".to_string(),
            HashBytes(Sha512::digest(bytes).to_vec()),
        );
        FileMeta {
            custom: None,
            hashes: Some(hashes),
            length: bytes.len() as i64,
        }
    }

    /// A target entry as docker writes it: sha256 only.
    pub fn from_sha256(digest: [u8; 32], length: i64) -> FileMeta {
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_string(), HashBytes(digest.to_vec()));
        FileMeta {
            custom: None,
            hashes: Some(hashes),
            length,
        }
    }

    pub fn hash(&self, algorithm: &str) -> Option<&[u8]> {
        self.hashes
            .as_ref()
            .and_then(|h| h.get(algorithm))
            .map(|h| h.0.as_slice())
    }

    /// Every known hash must have the right size (notary checks this on snapshot load).
    pub fn check_hash_lengths(&self, role: &str) -> Result<(), TufError> {
        for (alg, want) in [("sha256", 32), ("sha512", 64)] {
            if let Some(h) = self.hash(alg) {
                if h.len() != want {
                    return Err(TufError::BadHashLength {
                        role: role.to_string(),
                        algorithm: alg.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every sha256/sha512 listed must match `bytes`, and at least one must be listed.
    /// `length` is not checked here (the server does not); see [`FileMeta::check_length`].
    pub fn check_hashes(&self, role: &str, bytes: &[u8]) -> Result<(), TufError> {
        let mut checked = false;
        if let Some(h) = self.hash("sha256") {
            if h != Sha256::digest(bytes).as_slice() {
                return Err(TufError::HashMismatch {
                    role: role.to_string(),
                    algorithm: "sha256".into(),
                });
            }
            checked = true;
        }
        if let Some(h) = self.hash("sha512") {
            if h != Sha512::digest(bytes).as_slice() {
                return Err(TufError::HashMismatch {
                    role: role.to_string(),
                    algorithm: "sha512".into(),
                });
            }
            checked = true;
        }
        if !checked {
            return Err(TufError::NoSupportedHash {
                role: role.to_string(),
            });
        }
        Ok(())
    }

    pub fn check_length(&self, role: &str, bytes: &[u8]) -> Result<(), TufError> {
        if self.length != bytes.len() as i64 {
            return Err(TufError::LengthMismatch {
                role: role.to_string(),
                expected: self.length,
                actual: bytes.len(),
            });
        }
        Ok(())
    }
}
