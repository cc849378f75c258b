//! The trust archive: every version of chosen repositories as a tar file, for moving them
//! between Signet servers and as a per-repository backup; optionally with the server-held
//! keys, encrypted under a passphrase the operator gives.
//!
//! Layout, in this order:
//! - `signet-export.json`: `{"format":"signet-trust-archive/1","exported_at":…,
//!   "repositories":N,"server_keys":bool}`
//! - `server-keys.jwe` (with server keys only): a JWE (PBES2-HS256+A128KW with
//!   600,000 PBKDF2 iterations, A256GCM) of `[{"gun","role","key_id","pkcs8"}]`
//! - per repository `n`: `repositories/<n>/repository.json` (`{"gun",
//!   "files":[{"role","version","sha256","created_at"}]}`), then its files
//!   `repositories/<n>/<i>.json` in the order listed.

use super::chain::SourceFile;
use super::{jwe, ImportError, ServerKeySource, SourceKey};
use crate::signer::{ServerRole, Signer};
use crate::store::Store;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub const FORMAT: &str = "signet-trust-archive/1";
const MANIFEST: &str = "signet-export.json";
const KEYS: &str = "server-keys.jwe";
/// PBKDF2 iterations protecting exported keys (OWASP's figure for PBKDF2-HMAC-SHA256).
const KEY_ITERATIONS: u32 = 600_000;
/// Largest single entry read back (a 10,000-tag targets file is about 2 MB).
const MAX_ENTRY_BYTES: u64 = 64 << 20;

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    #[serde(with = "time::serde::rfc3339")]
    exported_at: OffsetDateTime,
    repositories: usize,
    server_keys: bool,
}

#[derive(Serialize, Deserialize)]
struct RepositoryEntry {
    gun: String,
    files: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    role: String,
    version: i64,
    sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    gun: String,
    role: String,
    key_id: String,
    /// Base64 of the PKCS#8 private key.
    pkcs8: String,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Exported {
    pub repositories: usize,
    pub files: usize,
    pub server_keys: usize,
}

fn io(e: std::io::Error) -> ImportError {
    ImportError::Source(format!("archive: {e}"))
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    data: &[u8],
    mtime: OffsetDateTime,
) -> Result<(), ImportError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(mtime.unix_timestamp().max(0) as u64);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data).map_err(io)
}

/// Writes `guns` (every stored version) to `out`; with `keys_passphrase`, also the keys the
/// current roots list for timestamp and snapshot that this server holds.
pub fn export(
    store: &dyn Store,
    signer: &Signer,
    guns: &[String],
    keys_passphrase: Option<&[u8]>,
    out: impl Write,
) -> Result<Exported, ImportError> {
    let store_err = |e: crate::store::StoreError| ImportError::Store(e.to_string());
    let now = OffsetDateTime::now_utc();
    let mut tar = tar::Builder::new(out);
    let manifest = Manifest {
        format: FORMAT.into(),
        exported_at: now,
        repositories: guns.len(),
        server_keys: keys_passphrase.is_some(),
    };
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| ImportError::Store(e.to_string()))?;
    append(&mut tar, MANIFEST, &manifest_json, now)?;
    let mut done = Exported::default();
    if let Some(passphrase) = keys_passphrase {
        let mut keys: Vec<KeyEntry> = Vec::new();
        for gun in guns {
            let Some(root) = store.latest(gun, "root").map_err(store_err)? else {
                continue;
            };
            let root = signet_tuf::SignedRoot::from_bytes("root", &root.bytes)
                .map_err(|e| ImportError::Store(format!("{gun}: stored root: {e}")))?;
            for role in [ServerRole::Timestamp, ServerRole::Snapshot] {
                let listed = root
                    .signed
                    .role_keys(role.as_str())
                    .map(|k| k.keys.into_keys().collect::<Vec<_>>())
                    .unwrap_or_default();
                for held in store.keys_for(gun, role.as_str()).map_err(store_err)? {
                    if !listed.contains(&held.key_id) {
                        continue;
                    }
                    let der = signer
                        .export_private(&held)
                        .map_err(|e| ImportError::Store(e.to_string()))?;
                    keys.push(KeyEntry {
                        gun: gun.clone(),
                        role: role.as_str().into(),
                        key_id: held.key_id.clone(),
                        pkcs8: B64.encode(der.as_slice()),
                    });
                }
            }
        }
        let plain = Zeroizing::new(
            serde_json::to_vec(&keys).map_err(|e| ImportError::Store(e.to_string()))?,
        );
        for k in &mut keys {
            zeroize::Zeroize::zeroize(&mut k.pkcs8);
        }
        let sealed = jwe::encrypt_with(&plain, passphrase, KEY_ITERATIONS);
        append(&mut tar, KEYS, sealed.as_bytes(), now)?;
        done.server_keys = keys.len();
    }
    for (n, gun) in guns.iter().enumerate() {
        let versions = store.versions(gun).map_err(store_err)?;
        let mut entry = RepositoryEntry {
            gun: gun.clone(),
            files: Vec::with_capacity(versions.len()),
        };
        let mut bodies = Vec::with_capacity(versions.len());
        for v in &versions {
            let Some(meta) = store
                .by_version(gun, &v.role, v.version)
                .map_err(store_err)?
            else {
                continue; // removed since listed (a concurrent gc)
            };
            entry.files.push(FileEntry {
                role: meta.role.clone(),
                version: meta.version,
                sha256: meta.sha256_hex.clone(),
                created_at: meta.created_at,
            });
            bodies.push(meta);
        }
        let json = serde_json::to_vec(&entry).map_err(|e| ImportError::Store(e.to_string()))?;
        append(
            &mut tar,
            &format!("repositories/{n}/repository.json"),
            &json,
            now,
        )?;
        for (i, meta) in bodies.iter().enumerate() {
            append(
                &mut tar,
                &format!("repositories/{n}/{i}.json"),
                &meta.bytes,
                meta.created_at,
            )?;
        }
        done.repositories += 1;
        done.files += bodies.len();
    }
    tar.into_inner().map_err(io)?.flush().map_err(io)?;
    Ok(done)
}

/// An archive read back: every repository's files, and its server keys.
pub struct Archive {
    pub repositories: BTreeMap<String, Vec<SourceFile>>,
    pub keys: ArchiveKeys,
}

/// An archive's server keys: sealed as read, usable once opened with the passphrase.
pub struct ArchiveKeys {
    sealed: Option<String>,
    keys: HashMap<String, KeyEntry>,
}

fn bad(what: impl std::fmt::Display) -> ImportError {
    ImportError::Source(format!("not a Signet trust archive: {what}"))
}

impl Archive {
    /// Reads a whole archive (the files are held in memory until imported).
    pub fn read(input: impl Read) -> Result<Archive, ImportError> {
        let mut tar = tar::Archive::new(input);
        let mut manifest: Option<Manifest> = None;
        let mut sealed_keys = None;
        let mut repositories: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
        let mut current: Option<(String, RepositoryEntry, usize)> = None;
        for entry in tar.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let path = entry
                .path()
                .map_err(io)?
                .to_str()
                .map(str::to_string)
                .ok_or_else(|| bad("a non-UTF-8 entry name"))?;
            if entry.size() > MAX_ENTRY_BYTES {
                return Err(bad(format!(
                    "{path} is larger than {MAX_ENTRY_BYTES} bytes"
                )));
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut data).map_err(io)?;
            if manifest.is_none() {
                if path != MANIFEST {
                    return Err(bad(format!("it starts with {path}, not {MANIFEST}")));
                }
                let m: Manifest = serde_json::from_slice(&data).map_err(bad)?;
                if m.format != FORMAT {
                    return Err(bad(format!("format {:?}, expected {FORMAT:?}", m.format)));
                }
                manifest = Some(m);
                continue;
            }
            if path == KEYS {
                sealed_keys = Some(String::from_utf8(data).map_err(bad)?);
                continue;
            }
            let Some(rest) = path.strip_prefix("repositories/") else {
                return Err(bad(format!("unexpected entry {path}")));
            };
            if rest.ends_with("/repository.json") {
                let repo: RepositoryEntry = serde_json::from_slice(&data).map_err(bad)?;
                let prefix = rest.trim_end_matches("repository.json").to_string();
                if repositories.contains_key(&repo.gun) {
                    return Err(bad(format!("{} appears twice", repo.gun)));
                }
                repositories.insert(repo.gun.clone(), Vec::new());
                current = Some((prefix, repo, 0));
                continue;
            }
            let Some((prefix, repo, next)) = current.as_mut() else {
                return Err(bad(format!("{path} comes before its repository.json")));
            };
            let expected = format!("{prefix}{next}.json");
            let file = repo
                .files
                .get(*next)
                .filter(|_| rest == expected)
                .ok_or_else(|| bad(format!("unexpected entry {path}")))?;
            let files = repositories.entry(repo.gun.clone()).or_default();
            files.push(SourceFile {
                role: file.role.clone(),
                version: file.version,
                bytes: data,
                recorded_sha256: Some(file.sha256.clone()),
                created_at: file.created_at,
            });
            *next += 1;
        }
        let manifest = manifest.ok_or_else(|| bad("empty"))?;
        if manifest.repositories != repositories.len() {
            return Err(bad(format!(
                "the manifest lists {} repositories, the archive holds {} (truncated?)",
                manifest.repositories,
                repositories.len()
            )));
        }
        if manifest.server_keys != sealed_keys.is_some() {
            return Err(bad("the manifest and the server keys disagree"));
        }
        Ok(Archive {
            repositories,
            keys: ArchiveKeys {
                sealed: sealed_keys,
                keys: HashMap::new(),
            },
        })
    }
}

impl ArchiveKeys {
    pub fn is_empty(&self) -> bool {
        self.sealed.is_none()
    }

    /// Decrypts the server keys with the export passphrase.
    pub fn open(&mut self, passphrase: &[u8]) -> Result<(), ImportError> {
        let Some(sealed) = &self.sealed else {
            return Ok(());
        };
        let plain = jwe::decrypt(sealed, passphrase).map_err(|e| match e {
            jwe::JweError::WrongPassphrase => ImportError::ArchivePassphrase,
            other => bad(format!("server keys: {other}")),
        })?;
        let keys: Vec<KeyEntry> = serde_json::from_slice(&plain).map_err(bad)?;
        self.keys = keys.into_iter().map(|k| (k.key_id.clone(), k)).collect();
        Ok(())
    }
}

impl ServerKeySource for ArchiveKeys {
    fn server_key(&mut self, key_id: &str) -> Result<Option<SourceKey>, ImportError> {
        let Some(k) = self.keys.get(key_id) else {
            return Ok(None);
        };
        let der = Zeroizing::new(B64.decode(&k.pkcs8).map_err(bad)?);
        let key = signet_keys::pkcs8::decode(&der).map_err(|e| ImportError::ServerKey {
            key_id: key_id.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Some(SourceKey {
            key_id: k.key_id.clone(),
            gun: k.gun.clone(),
            role: k.role.clone(),
            key,
        }))
    }
}

impl Drop for ArchiveKeys {
    fn drop(&mut self) {
        for k in self.keys.values_mut() {
            zeroize::Zeroize::zeroize(&mut k.pkcs8);
        }
    }
}
