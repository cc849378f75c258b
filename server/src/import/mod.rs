//! Importing trust data from other Notary v1 servers, signatures intact.
//!
//! A repository's whole history is verified first ([`chain`]); only then are its files stored
//! verbatim (same bytes, versions and so checksum URLs) in one transaction together with the
//! server-held timestamp/snapshot keys, re-sealed under Signet's own key-encryption key, and
//! one audit record. Clients that cached the source's data see the same root and keep
//! working; Signet signs the next timestamps with the key the root already lists.
//!
//! Sources: [`notary_db`] (notary-server's `tuf_files` and notary-signer's `private_keys`,
//! the keys decrypted by [`jwe`]) and [`client_cache`] (the files a client last verified,
//! when the server is gone), [`archive`] (another Signet server's export) and
//! [`notary_http`] (a live Notary server, without its keys).
//!
//! A repository imported without the timestamp key its root lists holds *foreign server
//! keys*: Signet serves it read-only as imported (publishes are refused with a notary error
//! naming the handover) until the root key holder rotates the timestamp key to Signet's
//! (`signet migrate`). That state is derived, not stored: the current root lists no
//! timestamp key Signet holds ([`crate::expiry`] reports it, `/metrics` shows it).

pub mod archive;
pub mod chain;
pub mod client_cache;
pub mod jwe;
pub mod notary_db;
pub mod notary_http;

use crate::signer::{ServerRole, Signer};
use crate::store::{AuditRecord, ImportStored, SealedKey, Store};
use crate::tenancy::Tenancy;
use chain::{ChainError, SourceFile};
use serde::Serialize;
use std::collections::HashMap;
use thiserror::Error;
use time::OffsetDateTime;
use zeroize::Zeroizing;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("{0}")]
    Usage(String),
    #[error("source: {0}")]
    Source(String),
    #[error("the source has no metadata for this repository")]
    NotInSource,
    #[error("the archive passphrase does not decrypt the archive's server keys")]
    ArchivePassphrase,
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("{gun:?} is not a name a docker image reference can contain, so Signet would never serve it; nothing was stored")]
    NotAnImageName { gun: String },
    #[error("no registry serves {host} with content trust enabled (create one with login server {host} and enable content trust first)")]
    NoRegistry { host: String },
    #[error("server key {key_id}: the passphrase of alias {alias:?} is not set (set {var}, or pass --signer-passphrase {alias}=VAR)")]
    MissingPassphrase {
        key_id: String,
        alias: String,
        var: String,
    },
    #[error(
        "server key {key_id}: the passphrase of alias {alias:?} (from {var}) does not decrypt it"
    )]
    WrongPassphrase {
        key_id: String,
        alias: String,
        var: String,
    },
    #[error("server key {key_id}: {reason}")]
    ServerKey { key_id: String, reason: String },
    #[error("the repository already exists in Signet with different data ({role} version {version} differs or is not in the source); nothing was changed")]
    Conflict { role: String, version: i64 },
    #[error("storing: {0}")]
    Store(String),
}

/// Where each passphrase alias of notary-signer's keys is read from: `NOTARY_SIGNER_<ALIAS>`
/// (as notary-signer itself reads it) unless mapped to another environment variable.
#[derive(Clone, Debug, Default)]
pub struct SignerPassphrases {
    pub env_by_alias: HashMap<String, String>,
}

impl SignerPassphrases {
    /// The environment variable holding `alias`'s passphrase.
    pub fn var_for(&self, alias: &str) -> String {
        self.env_by_alias
            .get(alias)
            .cloned()
            .unwrap_or_else(|| format!("NOTARY_SIGNER_{}", alias.to_uppercase()))
    }
}

/// What happened to one repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Imported,
    Skipped,
    Refused,
}

/// The per-repository line of the summary (`--json` prints these).
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryReport {
    pub gun: String,
    pub outcome: Outcome,
    pub versions_imported: usize,
    pub versions_skipped: usize,
    pub versions_refused: usize,
    pub server_keys_imported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl RepositoryReport {
    pub fn refused(gun: &str, versions: usize, e: ImportError) -> Self {
        RepositoryReport {
            gun: gun.to_string(),
            outcome: Outcome::Refused,
            versions_imported: 0,
            versions_skipped: 0,
            versions_refused: versions,
            server_keys_imported: Vec::new(),
            reason: Some(e.to_string()),
            notes: Vec::new(),
        }
    }

    /// One line for a terminal.
    pub fn line(&self) -> String {
        let mut s = match self.outcome {
            Outcome::Imported => format!(
                "imported {}: {} versions stored, {} already present{}",
                self.gun,
                self.versions_imported,
                self.versions_skipped,
                match self.server_keys_imported.len() {
                    0 => String::new(),
                    n => format!(", {n} server key(s) re-sealed"),
                }
            ),
            Outcome::Skipped => format!(
                "skipped {}: all {} versions already imported, identical",
                self.gun, self.versions_skipped
            ),
            Outcome::Refused => format!(
                "refused {}: {}",
                self.gun,
                self.reason.as_deref().unwrap_or("")
            ),
        };
        for n in &self.notes {
            s.push_str(&format!("\n  note: {n}"));
        }
        s
    }
}

/// The expiry of the newest timestamp among verified files.
fn timestamp_expiry(files: &[crate::store::ImportedFile]) -> Option<String> {
    let newest = files
        .iter()
        .filter(|f| f.role == "timestamp")
        .max_by_key(|f| f.version)?;
    signet_tuf::SignedTimestamp::from_bytes("timestamp", &newest.bytes)
        .ok()
        .map(|t| t.signed.expires.as_str().to_string())
}

/// Imports repositories into one Signet store.
pub struct Importer<'a> {
    pub store: &'a dyn Store,
    pub signer: &'a Signer,
    pub tenancy: &'a Tenancy,
    pub actor: String,
    /// Names the source in audit records (e.g. `notary-db postgres://host/db`).
    pub source: String,
    /// What the source keeps: every version ever (notary-server) or only some.
    pub history: chain::History,
}

/// A server-held private key from the source, decrypted.
pub struct SourceKey {
    pub key_id: String,
    /// The GUN and role the source holds it for (empty when the source does not say).
    pub gun: String,
    pub role: String,
    pub key: signet_keys::PrivateKey,
}

/// Where the server-held private keys come from, if anywhere.
pub trait ServerKeySource: Send {
    /// The key with this ID, decrypted; `None` when the source does not hold it.
    fn server_key(&mut self, key_id: &str) -> Result<Option<SourceKey>, ImportError>;
}

/// notary-signer's `private_keys`, each key decrypted with its alias passphrase.
pub struct NotarySignerKeys {
    pub db: notary_db::NotaryDb,
    pub passphrases: SignerPassphrases,
}

impl ServerKeySource for NotarySignerKeys {
    fn server_key(&mut self, key_id: &str) -> Result<Option<SourceKey>, ImportError> {
        let Some(row) = self.db.signer_key(key_id)? else {
            return Ok(None);
        };
        let key_err = |reason: String| ImportError::ServerKey {
            key_id: row.key_id.clone(),
            reason,
        };
        if row.keywrap_alg != "PBES2-HS256+A128KW" || row.encryption_alg != "A256GCM" {
            return Err(key_err(format!(
                "encrypted with {}/{}, expected PBES2-HS256+A128KW/A256GCM",
                row.keywrap_alg, row.encryption_alg
            )));
        }
        let var = self.passphrases.var_for(&row.passphrase_alias);
        let passphrase = Zeroizing::new(
            std::env::var(&var)
                .ok()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ImportError::MissingPassphrase {
                    key_id: row.key_id.clone(),
                    alias: row.passphrase_alias.clone(),
                    var: var.clone(),
                })?,
        );
        let plain = jwe::decrypt(&row.private, passphrase.as_bytes()).map_err(|e| match e {
            jwe::JweError::WrongPassphrase => ImportError::WrongPassphrase {
                key_id: row.key_id.clone(),
                alias: row.passphrase_alias.clone(),
                var: var.clone(),
            },
            other => key_err(other.to_string()),
        })?;
        let key = match row.algorithm.as_str() {
            "ecdsa" => signet_keys::pkcs8::decode_sec1(&plain)
                .or_else(|_| signet_keys::pkcs8::decode(&plain))
                .map_err(|e| key_err(format!("not an ECDSA private key: {e}")))?,
            other => {
                return Err(key_err(format!(
                    "{other} server keys cannot be held by Signet (ecdsa only)"
                )))
            }
        };
        if key.public_key().public_bytes() != row.public {
            return Err(key_err(
                "the decrypted private key does not match the stored public key".into(),
            ));
        }
        Ok(Some(SourceKey {
            key_id: row.key_id,
            gun: row.gun,
            role: row.role,
            key,
        }))
    }
}

impl Importer<'_> {
    /// Verifies and stores one repository; never partially.
    pub fn import(
        &self,
        gun: &str,
        files: Vec<SourceFile>,
        keys: Option<&mut dyn ServerKeySource>,
    ) -> RepositoryReport {
        self.import_as(gun, files, keys, self.history)
    }

    /// [`Importer::import`] for a source whose history differs per repository (a live
    /// server that removed old versions of some).
    pub fn import_as(
        &self,
        gun: &str,
        files: Vec<SourceFile>,
        keys: Option<&mut dyn ServerKeySource>,
        history: chain::History,
    ) -> RepositoryReport {
        let count = files.len();
        match self.try_import(gun, files, keys, history) {
            Ok(r) => r,
            Err(e) => RepositoryReport::refused(gun, count, e),
        }
    }

    fn try_import(
        &self,
        gun: &str,
        files: Vec<SourceFile>,
        mut keys: Option<&mut dyn ServerKeySource>,
        history: chain::History,
    ) -> Result<RepositoryReport, ImportError> {
        // Every trust route answers only names of this grammar: an import of any other name
        // would store data no client can read.
        if !crate::image_name::is_image_name(gun) {
            return Err(ImportError::NotAnImageName { gun: gun.into() });
        }
        if !self.tenancy.is_open() {
            let served = self
                .tenancy
                .resolve_gun(gun)
                .is_some_and(|(reg, _)| reg.trust_enabled());
            if !served {
                let host = gun.split('/').next().unwrap_or(gun).to_string();
                return Err(ImportError::NoRegistry { host });
            }
        }
        let now = OffsetDateTime::now_utc();
        let verified = chain::verify(gun, files, history, now)?;
        let mut notes = verified.notes;
        let mut sealed: Vec<SealedKey> = Vec::new();
        let mut foreign: Vec<&str> = Vec::new();
        for role in [ServerRole::Timestamp, ServerRole::Snapshot] {
            let listed = verified
                .root
                .signed
                .role_keys(role.as_str())
                .map(|k| k.keys.into_keys().collect::<Vec<_>>())
                .unwrap_or_default();
            let mut held = false;
            if let Some(source) = keys.as_deref_mut() {
                for key_id in &listed {
                    if let Some(key) = source.server_key(key_id)? {
                        sealed.push(self.reseal(gun, role, &key)?);
                        held = true;
                    }
                }
            }
            // A snapshot key may be the client's own; the timestamp key is always a server's.
            if !held && role == ServerRole::Timestamp {
                foreign.push(role.as_str());
                let expires = timestamp_expiry(&verified.files).unwrap_or_default();
                notes.push(format!(
                    "the source gave no timestamp key: Signet serves the imported timestamp until it expires ({expires}) and renews it only after the root key holder rotates the timestamp key to Signet"
                ));
            }
        }
        let versions = verified.files.len();
        let audit = AuditRecord {
            id: 0,
            at: now,
            actor: self.actor.clone(),
            action: "trust.import".into(),
            target: gun.to_string(),
            detail: serde_json::json!({
                "source": self.source,
                "versions": versions,
                "root_version": verified.root.version(),
                "server_keys": sealed.iter().map(|k| serde_json::json!({"role": k.role, "key_id": k.key_id})).collect::<Vec<_>>(),
                "foreign_server_keys": foreign,
                "timestamp_expires": timestamp_expiry(&verified.files),
            }),
        };
        let stored = self
            .store
            .import_repository(gun, &verified.files, &sealed, &audit)
            .map_err(|e| ImportError::Store(e.to_string()))?;
        let mut report = RepositoryReport {
            gun: gun.to_string(),
            outcome: Outcome::Imported,
            versions_imported: 0,
            versions_skipped: 0,
            versions_refused: 0,
            server_keys_imported: Vec::new(),
            reason: None,
            notes,
        };
        match stored {
            ImportStored::Stored {
                files,
                skipped,
                keys: _,
            } => {
                report.versions_imported = files;
                report.versions_skipped = skipped;
                report.server_keys_imported = sealed.iter().map(|k| k.key_id.clone()).collect();
            }
            ImportStored::Identical => {
                report.outcome = Outcome::Skipped;
                report.versions_skipped = versions;
            }
            ImportStored::Conflict { role, version } => {
                return Err(ImportError::Conflict { role, version })
            }
        }
        Ok(report)
    }

    /// Checks a source key against the repository and its root, and seals it for Signet.
    fn reseal(
        &self,
        gun: &str,
        role: ServerRole,
        source: &SourceKey,
    ) -> Result<SealedKey, ImportError> {
        let key_err = |reason: String| ImportError::ServerKey {
            key_id: source.key_id.clone(),
            reason,
        };
        if !source.gun.is_empty() && source.gun != gun {
            return Err(key_err(format!(
                "the source holds it for {:?}, not this repository",
                source.gun
            )));
        }
        if !source.role.is_empty() && source.role != role.as_str() {
            return Err(key_err(format!(
                "the source holds it as a {} key, the root lists it for {}",
                source.role,
                role.as_str()
            )));
        }
        if source.key.id().as_str() != source.key_id {
            return Err(key_err("the private key does not match its key ID".into()));
        }
        self.signer
            .seal_imported(gun, role, &source.key, true)
            .map_err(|e| key_err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use std::sync::Arc;

    #[test]
    fn a_name_no_image_reference_can_contain_is_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).expect("store"));
        let signer = Signer::open(store.clone(), b"pass").expect("signer");
        let tenancy = Tenancy::default();
        let importer = Importer {
            store: store.as_ref(),
            signer: &signer,
            tenancy: &tenancy,
            actor: "test".into(),
            source: "test".into(),
            history: chain::History::Complete,
        };
        for gun in [
            "Example.com/Team/App",
            "example.com/a/../b",
            "example.com/app\u{202e}",
        ] {
            let report = importer.import(gun, Vec::new(), None);
            assert_eq!(report.outcome, Outcome::Refused, "{gun}");
            assert_eq!(
                report.reason.as_deref(),
                Some(format!("{gun:?} is not a name a docker image reference can contain, so Signet would never serve it; nothing was stored").as_str())
            );
        }
        assert!(store.guns().expect("guns").is_empty());
    }
}
