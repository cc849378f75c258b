//! One error type for the Notary TUF dialect; every variant names the role and the check.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TufError {
    #[error("{role}: not valid JSON metadata: {reason}")]
    Malformed { role: String, reason: String },
    #[error("{role}: _type is {found:?}, expected {expected:?}")]
    WrongType {
        role: String,
        expected: &'static str,
        found: String,
    },
    #[error("{role}: version {version} is invalid (must be at least 1)")]
    InvalidVersion { role: String, version: i64 },
    #[error("{role}: signed value cannot be canonicalised: {reason}")]
    Canonical { role: String, reason: String },
    #[error("{role}: metadata has no signatures")]
    NoSignatures { role: String },
    #[error("{role}: role threshold {threshold} is invalid (must be at least 1)")]
    InvalidThreshold { role: String, threshold: i64 },
    #[error("{role}: role lists key {key_id}, which is not in the keys")]
    UnknownKey { role: String, key_id: String },
    #[error("{role}: key {key_id} does not hash to its ID")]
    InvalidKeyId { role: String, key_id: String },
    #[error("{role}: {have} valid signature(s), threshold is {need}")]
    ThresholdNotMet {
        role: String,
        have: usize,
        need: usize,
    },
    #[error("{role}: expired at {expires}")]
    Expired { role: String, expires: String },
    #[error("{role}: version {found} is older than {minimum}")]
    VersionTooLow {
        role: String,
        found: i64,
        minimum: i64,
    },
    #[error("{role}: {algorithm} hash does not match")]
    HashMismatch { role: String, algorithm: String },
    #[error("{role}: no supported hash (sha256 or sha512) to check")]
    NoSupportedHash { role: String },
    #[error("{role}: hash {algorithm} has the wrong length")]
    BadHashLength { role: String, algorithm: String },
    #[error("{role}: length {actual} differs from the expected {expected}")]
    LengthMismatch {
        role: String,
        expected: i64,
        actual: usize,
    },
    #[error("{role}: no meta entry for {missing}")]
    MissingMeta { role: String, missing: String },
    #[error("{role}: missing base role {missing}")]
    MissingRole { role: String, missing: String },
    #[error("invalid role name {0:?}")]
    InvalidRole(String),
    #[error("{role}: delegation {child:?} is not a direct child")]
    InvalidDelegation { role: String, child: String },
    #[error("{role}: delegation {child:?} is listed more than once")]
    DuplicateDelegation { role: String, child: String },
    #[error("root certificate {key_id}: {reason}")]
    RootCert { key_id: String, reason: String },
    #[error("root: no valid root certificate for {gun}")]
    NoValidRootCert { gun: String },
    #[error("root: rotation not signed by the previous root keys ({have} of {need})")]
    RootRotation { have: usize, need: usize },
    #[error("signing {role}: {reason}")]
    Signing { role: String, reason: String },
}

impl TufError {
    pub(crate) fn malformed(role: &str, reason: impl ToString) -> Self {
        TufError::Malformed {
            role: role.to_string(),
            reason: reason.to_string(),
        }
    }
}
