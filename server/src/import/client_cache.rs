//! A client's trust cache as an import source, for when the server is gone: every docker and
//! notary client that read a repository keeps the newest files it verified in
//! `<trust dir>/tuf/<gun>/metadata/` (`root.json`, `targets.json`, `snapshot.json`,
//! `timestamp.json`, and delegations under `targets/`).

use super::chain::SourceFile;
use super::ImportError;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Largest metadata file read from a cache (a 10,000-tag targets file is about 2 MB).
const MAX_FILE_BYTES: u64 = 64 << 20;

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ImportError + '_ {
    move |e| ImportError::Source(format!("{}: {e}", path.display()))
}

/// Refuses a name that is no repository name (and could step out of a folder or URL path).
pub fn check_gun(gun: &str) -> Result<(), ImportError> {
    if gun.starts_with('/')
        || gun.split('/').any(|seg| {
            seg.is_empty() || seg == "." || seg == ".." || seg.contains(['?', '#', '%', ' '])
        })
    {
        return Err(ImportError::Usage(format!(
            "{gun:?} is not a repository name"
        )));
    }
    Ok(())
}

/// The metadata folder of `gun` under `dir`: a trust directory (`~/.docker/trust`), its
/// `tuf` folder, or the repository's `metadata` folder itself.
pub fn metadata_dir(dir: &Path, gun: &str) -> Result<PathBuf, ImportError> {
    check_gun(gun)?;
    let candidates = [
        dir.join("tuf").join(gun).join("metadata"),
        dir.join(gun).join("metadata"),
        dir.to_path_buf(),
    ];
    candidates
        .into_iter()
        .find(|c| c.join("root.json").is_file())
        .ok_or_else(|| {
            ImportError::Source(format!(
                "{}: no cached metadata for {gun} (looked for tuf/{gun}/metadata/root.json)",
                dir.display()
            ))
        })
}

/// Every GUN with cached metadata under a trust directory (or its `tuf` folder), sorted.
pub fn guns(dir: &Path) -> Result<Vec<String>, ImportError> {
    let base = if dir.join("tuf").is_dir() {
        dir.join("tuf")
    } else {
        dir.to_path_buf()
    };
    let mut out = Vec::new();
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        if d.file_name().is_some_and(|n| n == "metadata") && d.join("root.json").is_file() {
            if let Some(gun) = d
                .parent()
                .and_then(|p| p.strip_prefix(&base).ok())
                .and_then(Path::to_str)
            {
                out.push(gun.to_string());
            }
            continue;
        }
        for entry in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let entry = entry.map_err(io_err(&d))?;
            if entry.file_type().map_err(io_err(&d))?.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_role(path: &Path, role: String) -> Result<SourceFile, ImportError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ImportError::Source(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let version = signet_tuf::Envelope::parse(&role, &bytes)
        .ok()
        .and_then(|e| e.version())
        .ok_or_else(|| {
            ImportError::Source(format!(
                "{}: not TUF metadata with a version",
                path.display()
            ))
        })?;
    let created_at = meta
        .modified()
        .ok()
        .map(OffsetDateTime::from)
        .unwrap_or_else(OffsetDateTime::now_utc);
    Ok(SourceFile {
        role,
        version,
        bytes,
        recorded_sha256: None,
        created_at,
    })
}

/// The cached files of `gun`: the four base roles and every delegation the cached snapshot
/// lists (a delegation file left behind after its delegation was removed is not part of the
/// repository any more).
pub fn files(dir: &Path, gun: &str) -> Result<Vec<SourceFile>, ImportError> {
    let meta = metadata_dir(dir, gun)?;
    let mut out = Vec::new();
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let path = meta.join(format!("{role}.json"));
        if !path.is_file() {
            return Err(ImportError::Source(format!(
                "{}: missing (a cache that verified the repository has all four roles)",
                path.display()
            )));
        }
        out.push(read_role(&path, role.to_string())?);
    }
    let listed: Vec<String> = out
        .iter()
        .find(|f| f.role == "snapshot")
        .and_then(|f| signet_tuf::SignedSnapshot::from_bytes("snapshot", &f.bytes).ok())
        .map(|s| s.signed.delegation_names())
        .unwrap_or_default();
    for role in listed {
        let path = meta.join(format!("{role}.json"));
        if path.is_file() {
            out.push(read_role(&path, role)?);
        }
    }
    Ok(out)
}
