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
}

/// The key store of one trust directory.
#[derive(Clone, Debug)]
pub struct KeyStore {
    trust_dir: PathBuf,
}

/// docker's trust dir: `$DOCKER_CONFIG/trust`, else `~/.docker/trust`.
pub fn default_trust_dir() -> PathBuf {
    if let Some(cfg) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return PathBuf::from(cfg).join("trust");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".docker").join("trust")
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
        let dir = self.private_dir();
        if !dir.exists() {
            return Ok(out);
        }
        self.walk(&dir, &mut out)?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn walk(&self, dir: &Path, out: &mut Vec<StoredKey>) -> Result<(), StoreError> {
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(io_err(&path))?;
            if ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                self.walk(&path, out)?;
                continue;
            }
            if let Some(k) = self.describe(&path)? {
                out.push(k);
            }
        }
        Ok(())
    }

    /// Reads the headers of one key file; legacy names carry the role (and the GUN in the
    /// directory) instead.
    fn describe(&self, path: &Path) -> Result<Option<StoredKey>, StoreError> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Ok(None);
        };
        let Some(stem) = name.strip_suffix(".key") else {
            return Ok(None);
        };
        let (id_part, legacy_role) = match stem.split_once('_') {
            Some((id, role)) => (id, Some(role.to_string())),
            None => (stem, None),
        };
        let Ok(id) = id_part.parse::<KeyId>() else {
            return Ok(None);
        };
        let bytes = fs::read(path).map_err(io_err(path))?;
        let Ok(info) = key_file::inspect(&bytes) else {
            return Ok(None);
        };
        let KeyFileInfo {
            mut role,
            mut gun,
            encrypted,
        } = info;
        if let Some(r) = legacy_role {
            if role.is_empty() {
                role = r;
            }
            if gun.is_none() {
                gun = self.legacy_gun(path);
            }
        }
        Ok(Some(StoredKey {
            id,
            role,
            gun,
            path: path.to_path_buf(),
            encrypted,
        }))
    }

    /// `private/tuf_keys/<gun>/<id>_<role>.key`: the GUN is the path between.
    fn legacy_gun(&self, path: &Path) -> Option<String> {
        let base = self.private_dir().join("tuf_keys");
        let parent = path.parent()?.strip_prefix(&base).ok()?;
        let g = parent.to_str()?.to_string();
        (!g.is_empty()).then_some(g)
    }

    pub fn find(&self, id: &KeyId) -> Result<StoredKey, StoreError> {
        self.list()?
            .into_iter()
            .find(|k| &k.id == id)
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Decrypts a key and checks that it is the key its file name says.
    pub fn load(
        &self,
        id: &KeyId,
        passphrases: &mut dyn PassphraseSource,
    ) -> Result<(StoredKey, PrivateKey), StoreError> {
        let stored = self.find(id)?;
        let bytes = zeroize::Zeroizing::new(fs::read(&stored.path).map_err(io_err(&stored.path))?);
        let file =
            key_file::decode(&bytes, id, passphrases).map_err(|source| StoreError::KeyFile {
                path: stored.path.display().to_string(),
                source,
            })?;
        let actual = file.key.id();
        if &actual != id {
            return Err(StoreError::IdMismatch {
                path: stored.path.display().to_string(),
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
        self.write_file(&id, pem.as_bytes())?;
        self.find(&id)
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
        let tmp = dir.join(format!(".{id}.key.tmp-{}", std::process::id()));
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

    pub fn remove(&self, id: &KeyId) -> Result<StoredKey, StoreError> {
        let stored = self.find(id)?;
        fs::remove_file(&stored.path).map_err(io_err(&stored.path))?;
        Ok(stored)
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
