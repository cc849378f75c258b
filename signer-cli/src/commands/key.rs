//! `signet key ...`: keys in docker's format and place, and `signet key rotate` of a
//! repository's keys.

use super::Report;
use crate::context::Context;
use crate::editor::Editor;
use crate::error::CliError;
use crate::image_ref::ImageRef;
use serde_json::json;
use signet_keys::passphrase::{PassphraseRequest, PassphraseSource};
use signet_keys::store::{DamagedKey, StoredKey};
use signet_keys::{key_file, KeyId, PrivateKey};
use std::path::{Path, PathBuf};

pub use super::key_backup::{backup, restore, Backup, Restored};

fn write_public(path: &Path, pem: &str) -> Result<(), CliError> {
    std::fs::write(path, pem).map_err(|e| CliError::file(path, e))
}

pub struct Generated {
    pub id: KeyId,
    pub role: String,
    pub public_key: PathBuf,
}

impl Report for Generated {
    fn json(&self) -> serde_json::Value {
        json!({"id": self.id.to_string(), "role": self.role, "public_key": self.public_key})
    }

    fn human(&self) -> String {
        format!(
            "Successfully generated and loaded private key. Corresponding public key available: {}",
            self.public_key.display()
        )
    }
}

/// A new signer key: `NAME.pub` in `dir`, the private key in the trust directory.
pub fn generate(ctx: &Context, name: &str, dir: &Path) -> Result<Generated, CliError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(CliError::Usage(format!(
            "key name {name:?} must be lower-case letters, digits, '-' or '_'"
        )));
    }
    let pub_path = dir.join(format!("{name}.pub"));
    if pub_path.exists() {
        return Err(CliError::Refused(format!(
            "{} already exists",
            pub_path.display()
        )));
    }
    let key = PrivateKey::generate_ecdsa();
    let mut pass = ctx.passphrases()?;
    let stored = ctx.store.add(&key, name, None, pass.as_mut())?;
    write_public(&pub_path, &key_file::encode_public(&key.public_key(), name))?;
    Ok(Generated {
        id: stored.id,
        role: name.to_string(),
        public_key: pub_path,
    })
}

pub struct Loaded {
    pub id: KeyId,
    pub role: String,
    pub file: PathBuf,
}

impl Report for Loaded {
    fn json(&self) -> serde_json::Value {
        json!({"id": self.id.to_string(), "role": self.role})
    }

    fn human(&self) -> String {
        format!(
            "Successfully imported key from {} as {} ({})",
            self.file.display(),
            self.role,
            self.id
        )
    }
}

/// Imports a private key file as a signer key named `name`.
pub fn load(ctx: &Context, file: &Path, name: &str) -> Result<Loaded, CliError> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(file).map_err(|e| CliError::file(file, e))?);
    let placeholder: KeyId = "0000000000000000000000000000000000000000000000000000000000000000"
        .parse()
        .map_err(|_| CliError::Keys("internal key ID".into()))?;
    let mut pass = ctx.passphrases()?;
    let decoded = key_file::decode(&bytes, &placeholder, pass.as_mut())
        .map_err(|e| CliError::file(file, e))?;
    let stored = ctx.store.add(&decoded.key, name, None, pass.as_mut())?;
    Ok(Loaded {
        id: stored.id,
        role: name.to_string(),
        file: file.to_path_buf(),
    })
}

pub struct KeyList {
    pub keys: Vec<StoredKey>,
    /// Files named like key files that do not read as one.
    pub damaged: Vec<DamagedKey>,
    pub warnings: Vec<String>,
}

/// The keys in the trust directory, and the key files that are damaged.
pub fn list(ctx: &Context) -> Result<KeyList, CliError> {
    let damaged = ctx.store.damaged()?;
    let warnings = damaged
        .iter()
        .map(|d| {
            format!(
                "warning: {}: damaged key file ({}); restore it from a backup or remove it",
                d.path.display(),
                d.reason
            )
        })
        .collect();
    Ok(KeyList {
        keys: ctx.store.list()?,
        damaged,
        warnings,
    })
}

impl Report for KeyList {
    fn json(&self) -> serde_json::Value {
        let v: Vec<_> = self
            .keys
            .iter()
            .map(|k| json!({"id": k.id.to_string(), "role": k.role, "gun": k.gun, "file": k.path, "encrypted": k.encrypted, "algorithm": algorithm(&k.path)}))
            .chain(self.damaged.iter().map(|d| json!({"id": d.id.to_string(), "file": d.path, "damaged": d.reason})))
            .collect();
        serde_json::Value::Array(v)
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn human(&self) -> String {
        let mut out = format!(
            "{:<18} {:<64} {:<30} {:<10} FILE",
            "ROLE", "ID", "GUN", "ALGORITHM"
        );
        for k in &self.keys {
            out.push_str(&format!(
                "\n{:<18} {:<64} {:<30} {:<10} {}",
                k.role,
                k.id,
                k.gun.as_deref().unwrap_or("-"),
                algorithm(&k.path).unwrap_or(if k.encrypted { "encrypted" } else { "-" }),
                k.path.display()
            ));
        }
        for d in &self.damaged {
            out.push_str(&format!(
                "\n{:<18} {:<64} {:<30} {:<10} {} ({})",
                "DAMAGED",
                d.id,
                "-",
                "-",
                d.path.display(),
                d.reason
            ));
        }
        out
    }
}

/// The algorithm when it can be read without a passphrase (unencrypted files); an encrypted
/// file does not say without its passphrase.
fn algorithm(path: &Path) -> Option<&'static str> {
    let Ok(bytes) = std::fs::read(path) else {
        return None;
    };
    let id: Result<KeyId, _> =
        "0000000000000000000000000000000000000000000000000000000000000000".parse();
    let Ok(id) = id else { return None };
    struct NoPass;
    impl PassphraseSource for NoPass {
        fn passphrase(
            &mut self,
            r: &PassphraseRequest<'_>,
        ) -> Result<zeroize::Zeroizing<String>, signet_keys::passphrase::PassphraseError> {
            Err(signet_keys::passphrase::PassphraseError::Unavailable {
                role: r.role.into(),
                key_id: r.key_id.to_string(),
            })
        }
    }
    key_file::decode(&bytes, &id, &mut NoPass)
        .ok()
        .map(|f| f.key.algorithm())
}

fn parse_id(id: &str) -> Result<KeyId, CliError> {
    id.parse()
        .map_err(|_| CliError::Usage(format!("{id:?} is not a key ID (64 hex characters)")))
}

pub struct Removed(pub StoredKey);

impl Report for Removed {
    fn json(&self) -> serde_json::Value {
        let k = &self.0;
        json!({"id": k.id.to_string(), "role": k.role, "gun": k.gun, "file": k.path})
    }

    fn human(&self) -> String {
        format!("Removed {} key {}", self.0.role, self.0.id)
    }
}

/// Deletes a key from the trust directory.
pub fn remove(ctx: &Context, id: &str) -> Result<Removed, CliError> {
    Ok(Removed(ctx.store.remove(&parse_id(id)?)?))
}

pub struct PublicExport {
    pub id: KeyId,
    pub role: String,
    pub algorithm: &'static str,
    /// `PUBLIC KEY` PEM with the role header, as docker writes `NAME.pub`.
    pub pem: String,
}

impl Report for PublicExport {
    fn json(&self) -> serde_json::Value {
        json!({"id": self.id.to_string(), "role": self.role, "algorithm": self.algorithm, "public_key": self.pem})
    }

    fn human(&self) -> String {
        self.pem.trim_end().to_string()
    }

    fn render(&self, json: bool) -> String {
        if json {
            format!("{}\n", self.json())
        } else {
            self.pem.clone()
        }
    }
}

/// The public half of key `id` as the cached trust data lists it (root certificates, role
/// and delegation keys of every repository this client has read), checked against the ID.
fn public_key_from_trust_data(ctx: &Context, id: &KeyId) -> Option<signet_keys::PublicKey> {
    let mut files = Vec::new();
    let mut dirs = vec![ctx.trust_dir.join("tuf")];
    while let Some(dir) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() && path.extension().is_some_and(|x| x == "json") => {
                    files.push(path)
                }
                _ => {}
            }
        }
    }
    for path in files {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&raw) else {
            continue;
        };
        let maps = [&v["signed"]["keys"], &v["signed"]["delegations"]["keys"]];
        for key in maps
            .iter()
            .filter_map(|m| m.as_object())
            .flat_map(|m| m.values())
        {
            let (Some(t), Some(p)) = (key["keytype"].as_str(), key["keyval"]["public"].as_str())
            else {
                continue;
            };
            let Ok(k) = signet_keys::PublicKey::from_b64(t, p) else {
                continue;
            };
            let plain = if k.key_type().is_x509() {
                match k.leaf_certificate() {
                    Ok(c) => c.public_key(),
                    Err(_) => continue,
                }
            } else {
                k
            };
            if &plain.id() == id {
                return Some(plain);
            }
        }
    }
    None
}

/// A key's public half. With a passphrase given (file, variables) the key is decrypted, so a
/// wrong one is reported; without, the public key comes from the trust data when a
/// repository lists the key (no prompt), else the passphrase is asked for.
pub fn export_public(ctx: &Context, id: &str) -> Result<PublicExport, CliError> {
    use signet_keys::key_file::KeyFileError;
    use signet_keys::passphrase::PassphraseError;
    use signet_keys::store::StoreError;
    let id = parse_id(id)?;
    let stored = ctx.store.find(&id)?;
    let mut given = ctx.given_passphrases()?;
    match ctx.store.load(&id, given.as_mut()) {
        Ok((stored, key)) => {
            return Ok(PublicExport {
                pem: key_file::encode_public(&key.public_key(), &stored.role),
                id: stored.id,
                role: stored.role,
                algorithm: key.algorithm(),
            })
        }
        Err(
            StoreError::Passphrase(PassphraseError::Unavailable { .. })
            | StoreError::KeyFile {
                source: KeyFileError::Passphrase(PassphraseError::Unavailable { .. }),
                ..
            },
        ) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(public) = public_key_from_trust_data(ctx, &id) {
        let pem = key_file::encode_public(&public, &stored.role);
        return Ok(PublicExport {
            id: stored.id,
            role: stored.role,
            algorithm: stored.algorithm.unwrap_or(match public.key_type() {
                signet_keys::KeyType::Ed25519 => "ed25519",
                signet_keys::KeyType::Rsa | signet_keys::KeyType::RsaX509 => "rsa",
                _ => "ecdsa",
            }),
            pem,
        });
    }
    let mut pass = ctx.passphrases()?;
    let (stored, key) = ctx.store.load(&id, pass.as_mut())?;
    let pem = key_file::encode_public(&key.public_key(), &stored.role);
    Ok(PublicExport {
        id: stored.id,
        role: stored.role,
        algorithm: key.algorithm(),
        pem,
    })
}

pub struct Rotated {
    pub gun: String,
    pub role: String,
    pub key_id: KeyId,
    pub warnings: Vec<String>,
}

impl Report for Rotated {
    fn json(&self) -> serde_json::Value {
        json!({"gun": self.gun, "role": self.role, "key_id": self.key_id.to_string()})
    }

    fn human(&self) -> String {
        format!(
            "Successfully rotated {} key for {}: new key {}",
            self.role, self.gun, self.key_id
        )
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Replaces a repository's root or targets key, or (with `server_managed`) asks the server
/// for a new snapshot or timestamp key, and publishes the new root.
pub fn rotate(
    ctx: &Context,
    image: &ImageRef,
    role: &str,
    server_managed: bool,
) -> Result<Rotated, CliError> {
    let mut ed = Editor::open_existing(ctx, &image.gun)?;
    let key_id = match (role, server_managed) {
        ("root", false) => ed.rotate_root()?,
        ("targets", false) => ed.rotate_targets()?,
        ("snapshot" | "timestamp", true) => ed.rotate_server_key(role)?,
        ("snapshot", false) => {
            return Err(CliError::Usage(
                "client-held snapshot keys are not supported: use --server-managed".into(),
            ))
        }
        (other, _) => {
            return Err(CliError::Usage(format!(
            "cannot rotate {other:?} (root, targets, or snapshot/timestamp with --server-managed)"
        )))
        }
    };
    let published = ed.publish()?;
    Ok(Rotated {
        gun: image.gun.clone(),
        role: role.to_string(),
        key_id,
        warnings: published.warnings,
    })
}
