//! The `private/` directory of a docker/notary trust dir: one key file per key, named by key ID.

use crate::key_file::{self, KeyFileError, KeyFileInfo};
use crate::key_id::KeyId;
use crate::passphrase::{PassphraseError, PassphraseRequest, PassphraseSource};
use crate::private_key::PrivateKey;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("no key with ID {0} in the trust store")]
    NotFound(String),
    #[error("key file {path} is named {named} but holds key {actual}")]
    IdMismatch {
        path: String,
        named: String,
        actual: String,
    },
    #[error("{path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: KeyFileError,
    },
    #[error("{0}")]
    Passphrase(#[from] PassphraseError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One key found in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    pub id: KeyId,
    pub role: String,
    pub gun: Option<String>,
    pub path: PathBuf,
    pub encrypted: bool,
    /// `ecdsa`, `ed25519` or `rsa` when visible without decrypting (see [`KeyFileInfo`]).
    pub algorithm: Option<&'static str>,
}

/// A file named like a key file (`<64 hex>.key`) that does not read as one: empty,
/// truncated, not PEM, not a private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedKey {
    pub id: KeyId,
    pub path: PathBuf,
    pub reason: String,
}

/// The key store of one trust directory.
#[derive(Clone, Debug)]
pub struct KeyStore {
    trust_dir: PathBuf,
}

/// docker's trust dir: `$DOCKER_CONFIG/trust`, else `~/.docker/trust`.
pub fn default_trust_dir() -> PathBuf {
    trust_dir_from(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
}

/// [`default_trust_dir`] from explicit `DOCKER_CONFIG` and `HOME` values (an empty
/// `DOCKER_CONFIG` counts as unset, as in docker).
pub fn trust_dir_from(
    docker_config: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    if let Some(cfg) = docker_config.filter(|v| !v.is_empty()) {
        return PathBuf::from(cfg).join("trust");
    }
    home.map(PathBuf::from)
        .unwrap_or_default()
        .join(".docker")
        .join("trust")
}

/// The key ID and, for the pre-0.4 layout (`<id>_<role>.key`), the role in a file name.
fn parse_file_name(path: &Path) -> Option<(KeyId, Option<String>)> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".key")?;
    let (id_part, legacy_role) = match stem.split_once('_') {
        Some((id, role)) if !role.is_empty() => (id, Some(role.to_string())),
        Some(_) => return None,
        None => (stem, None),
    };
    Some((id_part.parse().ok()?, legacy_role))
}

impl KeyStore {
    pub fn new(trust_dir: impl Into<PathBuf>) -> Self {
        KeyStore {
            trust_dir: trust_dir.into(),
        }
    }

    pub fn trust_dir(&self) -> &Path {
        &self.trust_dir
    }

    pub fn private_dir(&self) -> PathBuf {
        self.trust_dir.join("private")
    }

    /// Every key file under `private/`, current and legacy layouts. Files that are not key
    /// files are skipped; symlinks are ignored as notary does.
    pub fn list(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut out = Vec::new();
        for path in self.key_file_paths()? {
            if let Some(k) = self.describe(&path)? {
                out.push(k);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.path.cmp(&b.path)));
        Ok(out)
    }

    /// Key files [`list`](Self::list) leaves out because they do not parse, with the reason.
    pub fn damaged(&self) -> Result<Vec<DamagedKey>, StoreError> {
        let mut out = Vec::new();
        for path in self.key_file_paths()? {
            let Some((id, _)) = parse_file_name(&path) else {
                continue;
            };
            let bytes = zeroize::Zeroizing::new(fs::read(&path).map_err(io_err(&path))?);
            let reason = if bytes.iter().all(u8::is_ascii_whitespace) {
                "the file is empty (PEM block is empty)".to_string()
            } else {
                match key_file::inspect(&bytes) {
                    Ok(_) => continue,
                    Err(e) => e.to_string(),
                }
            };
            out.push(DamagedKey { id, path, reason });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Paths of every non-symlink `*.key` file under `private/` whose name holds a key ID.
    fn key_file_paths(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut out = Vec::new();
        let dir = self.private_dir();
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => walk(&dir, &mut out)?,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&dir)(e)),
        }
        Ok(out)
    }

    /// Reads the headers of one key file; legacy names carry the role (and the GUN in the
    /// directory) instead. `None` if the file does not parse as a key file.
    fn describe(&self, path: &Path) -> Result<Option<StoredKey>, StoreError> {
        let Some((id, legacy_role)) = parse_file_name(path) else {
            return Ok(None);
        };
        let bytes = zeroize::Zeroizing::new(fs::read(path).map_err(io_err(path))?);
        let Ok(info) = key_file::inspect(&bytes) else {
            return Ok(None);
        };
        Ok(Some(self.stored_key(path, id, legacy_role, info)))
    }

    fn stored_key(
        &self,
        path: &Path,
        id: KeyId,
        legacy_role: Option<String>,
        info: KeyFileInfo,
    ) -> StoredKey {
        let KeyFileInfo {
            mut role,
            mut gun,
            encrypted,
            algorithm,
        } = info;
        if let Some(r) = legacy_role {
            if role.is_empty() {
                role = r;
            }
            if gun.is_none() {
                gun = self.legacy_gun(path);
            }
        }
        StoredKey {
            id,
            role,
            gun,
            path: path.to_path_buf(),
            encrypted,
            algorithm,
        }
    }

    /// `private/tuf_keys/<gun>/<id>_<role>.key`: the GUN is the path between.
    fn legacy_gun(&self, path: &Path) -> Option<String> {
        let base = self.private_dir().join("tuf_keys");
        let parent = path.parent()?.strip_prefix(&base).ok()?;
        let g = parent.to_str()?.to_string();
        (!g.is_empty()).then_some(g)
    }

    /// The file holding key `id`: `private/<id>.key` directly, else found by walking (legacy
    /// layouts). Found by name alone, so a damaged file is still found and its error reported.
    fn locate(&self, id: &KeyId) -> Result<(PathBuf, Option<String>), StoreError> {
        let direct = self.private_dir().join(format!("{id}.key"));
        if fs::symlink_metadata(&direct).is_ok_and(|m| m.is_file()) {
            return Ok((direct, None));
        }
        self.key_file_paths()?
            .into_iter()
            .filter_map(|p| {
                let (found, role) = parse_file_name(&p)?;
                (&found == id).then_some((p, role))
            })
            .min_by(|a, b| a.0.cmp(&b.0))
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    pub fn find(&self, id: &KeyId) -> Result<StoredKey, StoreError> {
        let (path, _) = self.locate(id)?;
        self.describe(&path)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Decrypts a key and checks that it is the key its file name says.
    pub fn load(
        &self,
        id: &KeyId,
        passphrases: &mut dyn PassphraseSource,
    ) -> Result<(StoredKey, PrivateKey), StoreError> {
        let (path, legacy_role) = self.locate(id)?;
        let key_file_err = |source| StoreError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let bytes = zeroize::Zeroizing::new(fs::read(&path).map_err(io_err(&path))?);
        let info = key_file::inspect(&bytes).map_err(key_file_err)?;
        let stored = self.stored_key(&path, id.clone(), legacy_role, info);
        // Ask for the passphrase under the role the store reports (legacy files have no
        // role header; their role comes from the file name).
        let mut by_role = RoleOverride {
            role: &stored.role,
            inner: passphrases,
        };
        let file = key_file::decode(&bytes, id, &mut by_role).map_err(|e| match e {
            KeyFileError::WrongPassphrase { key_id, .. } if !stored.role.is_empty() => {
                key_file_err(KeyFileError::WrongPassphrase {
                    key_id,
                    role: stored.role.clone(),
                })
            }
            other => key_file_err(other),
        })?;
        let actual = file.key.id();
        if &actual != id {
            return Err(StoreError::IdMismatch {
                path: path.display().to_string(),
                named: id.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok((stored, file.key))
    }

    /// Encrypts and writes a new key (asking the source for a new-key passphrase).
    pub fn add(
        &self,
        key: &PrivateKey,
        role: &str,
        gun: Option<&str>,
        passphrases: &mut dyn PassphraseSource,
    ) -> Result<StoredKey, StoreError> {
        let id = key.id();
        let pass = passphrases.passphrase(&PassphraseRequest {
            key_id: &id,
            role,
            new_key: true,
            attempt: 0,
        })?;
        let pem = key_file::encode(key, role, gun, Some(&pass));
        let path = self.write_file(&id, pem.as_bytes())?;
        let info = key_file::inspect(pem.as_bytes()).map_err(|source| StoreError::KeyFile {
            path: path.display().to_string(),
            source,
        })?;
        Ok(self.stored_key(&path, id, None, info))
    }

    /// Writes raw key-file bytes as `private/<id>.key`: directory 0700, file 0600, via a temp
    /// file that is synced and renamed so a crash never leaves half a key.
    pub fn write_file(&self, id: &KeyId, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = self.private_dir();
        for d in [&self.trust_dir, &dir] {
            if !d.exists() {
                fs::create_dir_all(d).map_err(io_err(d))?;
                fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(io_err(d))?;
            }
        }
        let final_path = dir.join(format!("{id}.key"));
        // Not named `*.key`, so a reader never lists a half-written file; random so two
        // writers of the same key do not collide.
        let tmp = dir.join(format!(
            ".{id}.tmp-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &final_path)?;
            fs::File::open(&dir)?.sync_all()
        })();
        if let Err(source) = result {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Io {
                path: final_path.display().to_string(),
                source,
            });
        }
        Ok(final_path)
    }

    /// Deletes the file holding key `id` (even one that no longer parses).
    pub fn remove(&self, id: &KeyId) -> Result<StoredKey, StoreError> {
        let (path, legacy_role) = self.locate(id)?;
        let stored = match self.describe(&path)? {
            Some(k) => k,
            None => StoredKey {
                id: id.clone(),
                role: legacy_role.unwrap_or_default(),
                gun: None,
                path: path.clone(),
                encrypted: false,
                algorithm: None,
            },
        };
        fs::remove_file(&path).map_err(io_err(&path))?;
        Ok(stored)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(io_err(&path))?;
        if ft.is_symlink() {
            continue;
        }
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() && parse_file_name(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// Presents a key's store role to the passphrase source in place of its header role.
struct RoleOverride<'a> {
    role: &'a str,
    inner: &'a mut dyn PassphraseSource,
}

impl PassphraseSource for RoleOverride<'_> {
    fn passphrase(
        &mut self,
        req: &PassphraseRequest<'_>,
    ) -> Result<zeroize::Zeroizing<String>, PassphraseError> {
        let role = if self.role.is_empty() {
            req.role
        } else {
            self.role
        };
        self.inner.passphrase(&PassphraseRequest {
            role,
            ..req.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passphrase::FixedPassphrase;

    #[test]
    fn add_list_load_remove_with_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("trust"));
        let key = PrivateKey::generate_ecdsa();
        let mut pass = FixedPassphrase::new("passphrase123");
        let stored = store
            .add(&key, "targets", Some("example.com/app"), &mut pass)
            .unwrap();
        assert_eq!(stored.role, "targets");
        assert_eq!(stored.gun.as_deref(), Some("example.com/app"));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.private_dir()), 0o700);
        assert_eq!(mode(&store.trust_dir), 0o700);
        assert_eq!(mode(&stored.path), 0o600);
        let names: Vec<_> = fs::read_dir(store.private_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{}.key", key.id())]);
        let (_, loaded) = store.load(&key.id(), &mut pass).unwrap();
        assert_eq!(loaded.id(), key.id());
        store.remove(&key.id()).unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(
            store.load(&key.id(), &mut pass),
            Err(StoreError::NotFound(_))
        ));
    }
}
