//! The one error type of the CLI: every failure is one line naming what failed.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Keys(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("trust server {server}: {reason}")]
    Server { server: String, reason: String },
    /// The image registry (looking up a tag's manifest).
    #[error("registry {host}: {reason}")]
    Registry { host: String, reason: String },
    #[error("{gun}: {role}: {reason}")]
    Verification {
        gun: String,
        role: String,
        reason: String,
    },
    #[error("{0}: repository does not have trust data")]
    NoTrustData(String),
    /// The server lost (or replaced) the trust data of a repository this client trusted.
    #[error("{gun}: {what}; if the repository's trust data was reset on purpose (content trust disabled and enabled again, or the repository deleted), run `signet forget {gun}` to drop this client's copy (keys stay) and sign again; otherwise the server may be compromised")]
    TrustDataGone { gun: String, what: String },
    #[error("{gun}: no signed tag {tag:?}")]
    NoSuchTag { gun: String, tag: String },
    #[error("{0}")]
    Refused(String),
    /// No cosign signature verifies (exit status 3, like a Notary verification failure).
    #[error("{0}")]
    NotSigned(String),
}

impl CliError {
    pub fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        CliError::File {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Exit status: 2 for bad invocations, 3 when verification fails, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Verification { .. }
            | CliError::NoSuchTag { .. }
            | CliError::NoTrustData(_)
            | CliError::TrustDataGone { .. }
            | CliError::NotSigned(_) => 3,
            _ => 1,
        }
    }
}

impl From<signet_keys::store::StoreError> for CliError {
    fn from(e: signet_keys::store::StoreError) -> Self {
        CliError::Keys(e.to_string())
    }
}

impl From<signet_keys::passphrase::PassphraseError> for CliError {
    fn from(e: signet_keys::passphrase::PassphraseError) -> Self {
        CliError::Keys(e.to_string())
    }
}
