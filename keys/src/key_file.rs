//! Private key files as docker and notary write them: one PEM block with `role:` (and for
//! repository keys `gun:`) headers around notary's PKCS#8, usually encrypted.

use crate::key_id::KeyId;
use crate::legacy_encryption::{self, LegacyEncryptionError};
use crate::passphrase::{PassphraseError, PassphraseRequest, PassphraseSource};
use crate::pem::{self, PemError};
use crate::pkcs8::{self, Pkcs8Error};
use crate::private_key::PrivateKey;
use thiserror::Error;
use zeroize::Zeroizing;

const ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";
const PLAIN: &str = "PRIVATE KEY";
const EC_LEGACY: &str = "EC PRIVATE KEY";
const RSA_LEGACY: &str = "RSA PRIVATE KEY";
const ED25519_LEGACY: &str = "ED25519 PRIVATE KEY";

#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("key file: {0}")]
    Pem(#[from] PemError),
    #[error("key file holds a {0:?} block, not a private key")]
    NotAPrivateKey(String),
    #[error("wrong passphrase for {role} key {key_id}")]
    WrongPassphrase { key_id: String, role: String },
    #[error("{0}")]
    Passphrase(#[from] PassphraseError),
    #[error("key file: {0}")]
    Pkcs8(Pkcs8Error),
    #[error("key file: {0}")]
    LegacyEncryption(LegacyEncryptionError),
}

impl From<Pkcs8Error> for KeyFileError {
    fn from(e: Pkcs8Error) -> Self {
        KeyFileError::Pkcs8(e)
    }
}

/// Roles whose key files carry a `gun:` header (notary drops it for every other role).
pub fn role_has_gun(role: &str) -> bool {
    matches!(role, "targets" | "snapshot" | "timestamp")
}

/// What a key file says about itself without decrypting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFileInfo {
    pub role: String,
    pub gun: Option<String>,
    pub encrypted: bool,
    /// `ecdsa`, `ed25519` or `rsa` when the file shows it without decrypting (unencrypted
    /// PKCS#8 and the legacy block types); `None` for encrypted PKCS#8.
    pub algorithm: Option<&'static str>,
}

/// A decrypted key file.
#[derive(Debug)]
pub struct KeyFile {
    pub info: KeyFileInfo,
    pub key: PrivateKey,
}

/// Writes a key file; encrypted when a passphrase is given (docker always gives one).
pub fn encode(
    key: &PrivateKey,
    role: &str,
    gun: Option<&str>,
    passphrase: Option<&str>,
) -> Zeroizing<String> {
    let plain = pkcs8::encode_notary(key);
    let mut headers: Vec<(&str, &str)> = vec![("role", role)];
    if let Some(g) = gun.filter(|g| !g.is_empty() && role_has_gun(role)) {
        headers.push(("gun", g));
    }
    Zeroizing::new(match passphrase {
        Some(p) => pem::encode(ENCRYPTED, &headers, &pkcs8::encrypt(&plain, p.as_bytes())),
        None => pem::encode(PLAIN, &headers, &plain),
    })
}

/// Role, GUN and whether the file is encrypted, without a passphrase.
pub fn inspect(bytes: &[u8]) -> Result<KeyFileInfo, KeyFileError> {
    let block = pem::parse_one(bytes)?;
    info_of(&block)
}

fn info_of(block: &pem::Block) -> Result<KeyFileInfo, KeyFileError> {
    let legacy_encrypted = block
        .header("Proc-Type")
        .is_some_and(|v| v.ends_with("ENCRYPTED"));
    let (encrypted, algorithm) = match block.label.as_str() {
        ENCRYPTED => (true, None),
        PLAIN => (legacy_encrypted, pkcs8::algorithm_of(&block.data)),
        EC_LEGACY => (legacy_encrypted, Some("ecdsa")),
        RSA_LEGACY => (legacy_encrypted, Some("rsa")),
        ED25519_LEGACY => (legacy_encrypted, Some("ed25519")),
        other => return Err(KeyFileError::NotAPrivateKey(other.to_string())),
    };
    Ok(KeyFileInfo {
        role: block.header("role").unwrap_or("").to_string(),
        gun: block.header("gun").map(str::to_string),
        encrypted,
        algorithm: if encrypted && block.label == PLAIN {
            None
        } else {
            algorithm
        },
    })
}

/// Asks `passphrases` until `attempt` accepts one; a source that gives up ends in
/// [`KeyFileError::WrongPassphrase`] naming the key and role (never the passphrase).
fn with_passphrase(
    key_id: &KeyId,
    role: &str,
    passphrases: &mut dyn PassphraseSource,
    mut attempt_with: impl FnMut(&[u8]) -> Result<PrivateKey, KeyFileError>,
) -> Result<PrivateKey, KeyFileError> {
    let mut attempt = 0;
    loop {
        let req = PassphraseRequest {
            key_id,
            role,
            new_key: false,
            attempt,
        };
        let pass = match passphrases.passphrase(&req) {
            Ok(p) => p,
            Err(PassphraseError::GaveUp { .. }) => {
                return Err(KeyFileError::WrongPassphrase {
                    key_id: key_id.to_string(),
                    role: role.to_string(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        match attempt_with(pass.as_bytes()) {
            Err(KeyFileError::Pkcs8(Pkcs8Error::IncorrectPassphrase))
            | Err(KeyFileError::LegacyEncryption(LegacyEncryptionError::IncorrectPassphrase)) => {
                attempt += 1
            }
            other => return other,
        }
    }
}

/// Reads and, if needed, decrypts a key file. `key_id` (normally the file name) is only used
/// to name the key when asking for its passphrase and in errors.
pub fn decode(
    bytes: &[u8],
    key_id: &KeyId,
    passphrases: &mut dyn PassphraseSource,
) -> Result<KeyFile, KeyFileError> {
    let block = pem::parse_one(bytes)?;
    let info = info_of(&block)?;
    let role = if info.role.is_empty() {
        "unknown"
    } else {
        info.role.as_str()
    };
    let label = block.label.as_str();
    let key = if label == ENCRYPTED {
        with_passphrase(key_id, role, passphrases, |pass| {
            Ok(pkcs8::decrypt(&block.data, pass)?)
        })?
    } else if info.encrypted {
        let dek_info = block.header("DEK-Info");
        with_passphrase(key_id, role, passphrases, |pass| {
            let der = legacy_encryption::decrypt(dek_info, &block.data, pass)
                .map_err(KeyFileError::LegacyEncryption)?;
            // Decrypted garbage that does not parse also means a wrong passphrase.
            decode_unencrypted(label, &der).map_err(|e| match e {
                Pkcs8Error::Malformed(_) => {
                    KeyFileError::LegacyEncryption(LegacyEncryptionError::IncorrectPassphrase)
                }
                other => other.into(),
            })
        })?
    } else {
        decode_unencrypted(label, &block.data)?
    };
    Ok(KeyFile { info, key })
}

/// The DER body of an unencrypted (or already decrypted) block, by block type.
fn decode_unencrypted(label: &str, der: &[u8]) -> Result<PrivateKey, Pkcs8Error> {
    match label {
        EC_LEGACY => pkcs8::decode_sec1(der),
        RSA_LEGACY => pkcs8::decode_pkcs1(der),
        ED25519_LEGACY => pkcs8::decode_notary_ed25519(der),
        _ => pkcs8::decode(der),
    }
}

/// A public key file as `docker trust key generate` writes it (`<name>.pub`).
pub fn encode_public(key: &crate::PublicKey, role: &str) -> String {
    pem::encode("PUBLIC KEY", &[("role", role)], key.public_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passphrase::FixedPassphrase;

    #[test]
    fn gun_header_only_for_repository_roles() {
        let k = PrivateKey::generate_ecdsa();
        let t = encode(&k, "targets", Some("example.com/app"), Some("passphrase1"));
        assert!(t.contains("\ngun: example.com/app\nrole: targets\n\n"));
        let r = encode(&k, "root", Some("example.com/app"), Some("passphrase1"));
        assert!(r.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: root\n\n"));
        let info = inspect(t.as_bytes()).unwrap();
        assert_eq!(info.gun.as_deref(), Some("example.com/app"));
        assert!(info.encrypted);
    }

    #[test]
    fn wrong_passphrase_names_key_and_role() {
        let k = PrivateKey::generate_ecdsa();
        let f = encode(&k, "alice", None, Some("right passphrase"));
        let err = decode(
            f.as_bytes(),
            &k.id(),
            &mut FixedPassphrase::new("wrong one"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert_eq!(msg, format!("wrong passphrase for alice key {}", k.id()));
        assert!(!msg.contains("wrong one"));
    }
}
