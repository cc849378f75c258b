//! `signet key backup` and `key restore`: the trust directory's private keys as the tar file
//! docker's documentation makes (`tar -zcf … -C ~/.docker/trust private`), and back, each key
//! checked before anything is written.

use super::Report;
use crate::context::Context;
use crate::error::CliError;
use serde_json::json;
use signet_keys::{key_file, KeyId};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `tar -zcf` of `private/`, paths relative to the trust dir, file mode 0600.
pub struct Backup {
    pub archive: PathBuf,
    pub keys: usize,
}

impl Report for Backup {
    fn json(&self) -> serde_json::Value {
        json!({"archive": self.archive, "keys": self.keys})
    }

    fn human(&self) -> String {
        format!(
            "Backed up {} key(s) to {}",
            self.keys,
            self.archive.display()
        )
    }
}

pub fn backup(ctx: &Context, out: Option<PathBuf>) -> Result<Backup, CliError> {
    let private = ctx.store.private_dir();
    if !private.is_dir() {
        return Err(CliError::Refused(format!(
            "{} has no keys to back up",
            private.display()
        )));
    }
    let out = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "signet-keys-{}.tar.gz",
            time::OffsetDateTime::now_utc().date()
        ))
    });
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&out)
        .map_err(|e| CliError::file(&out, e))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let keys = ctx.store.list()?;
    // Same paths as `tar -zcf … -C <trust dir> private`: private/<id>.key (legacy subfolders kept).
    let mut progress = crate::progress::Progress::new("backing up keys", keys.len());
    for k in &keys {
        progress.step(&k.id.as_str()[..12]);
        let rel = k
            .path
            .strip_prefix(&private)
            .map_err(|e| CliError::file(&k.path, e))?;
        tar.append_path_with_name(&k.path, Path::new("private").join(rel))
            .map_err(|e| CliError::file(&out, e))?;
    }
    progress.finish();
    let gz = tar.into_inner().map_err(|e| CliError::file(&out, e))?;
    let f = gz.finish().map_err(|e| CliError::file(&out, e))?;
    f.sync_all().map_err(|e| CliError::file(&out, e))?;
    Ok(Backup {
        archive: out,
        keys: keys.len(),
    })
}

/// Restores `private/*.key` from a backup: every key must decrypt and match its file name
/// before anything is written; an existing different file for the same ID is never replaced.
pub struct Restored {
    /// Keys written: ID and role.
    pub restored: Vec<(KeyId, String)>,
    /// Keys already present with the same contents.
    pub unchanged: usize,
}

impl Report for Restored {
    fn json(&self) -> serde_json::Value {
        let restored: Vec<_> = self
            .restored
            .iter()
            .map(|(id, role)| json!({"id": id.to_string(), "role": role}))
            .collect();
        json!({"restored": restored, "unchanged": self.unchanged})
    }

    fn human(&self) -> String {
        let mut out = String::new();
        for (id, role) in &self.restored {
            out.push_str(&format!("Restored {role} key {id}\n"));
        }
        out.push_str(&format!(
            "{} key(s) restored, {} already present",
            self.restored.len(),
            self.unchanged
        ));
        out
    }
}

pub fn restore(ctx: &Context, archive: &Path) -> Result<Restored, CliError> {
    let f = std::fs::File::open(archive).map_err(|e| CliError::file(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut found: Vec<(KeyId, zeroize::Zeroizing<Vec<u8>>)> = Vec::new();
    let entries = tar
        .entries()
        .map_err(|e| CliError::file(archive, format!("not a key backup: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| CliError::file(archive, format!("corrupted archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| CliError::file(archive, e))?
            .into_owned();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".key") else {
            continue;
        };
        let Ok(id) = stem.parse::<KeyId>() else {
            continue;
        };
        if entry.size() > 64 << 10 {
            return Err(CliError::file(
                archive,
                format!("{name} is too large to be a key"),
            ));
        }
        let mut data = zeroize::Zeroizing::new(Vec::new());
        entry
            .read_to_end(&mut data)
            .map_err(|e| CliError::file(archive, format!("corrupted archive: {e}")))?;
        found.push((id, data));
    }
    if found.is_empty() {
        return Err(CliError::file(archive, "no key files in archive"));
    }
    let mut pass = ctx.passphrases()?;
    let mut to_write = Vec::new();
    let mut unchanged = 0;
    let mut progress = crate::progress::Progress::new("checking keys", found.len());
    for (id, data) in &found {
        progress.step(&id.as_str()[..12]);
        let decoded = key_file::decode(data, id, pass.as_mut())
            .map_err(|e| CliError::Keys(format!("key {id} in backup: {e}")))?;
        if &decoded.key.id() != id {
            return Err(CliError::Keys(format!(
                "key file {id}.key in backup holds key {}",
                decoded.key.id()
            )));
        }
        let existing = ctx.store.private_dir().join(format!("{id}.key"));
        if let Ok(current) = std::fs::read(&existing) {
            if current == data.as_slice() {
                unchanged += 1;
                continue;
            }
            return Err(CliError::Refused(format!(
                "{} exists with different contents; not overwriting",
                existing.display()
            )));
        }
        to_write.push((id.clone(), decoded.info.role, data));
    }
    progress.finish();
    let mut progress = crate::progress::Progress::new("restoring keys", to_write.len());
    for (id, _, data) in &to_write {
        progress.step(&id.as_str()[..12]);
        ctx.store.write_file(id, data)?;
    }
    progress.finish();
    Ok(Restored {
        restored: to_write
            .into_iter()
            .map(|(id, role, _)| (id, role))
            .collect(),
        unchanged,
    })
}
