//! `signet forget IMAGE`: drops this client's trust data for a repository (the cached
//! metadata under `<trust dir>/tuf/<gun>/`, which pins its root); keys stay. What a user does
//! after the repository's trust data was reset on purpose, before signing it anew.

use super::Report;
use crate::context::Context;
use crate::error::CliError;
use serde_json::json;
use std::path::PathBuf;

pub struct Forgotten {
    pub gun: String,
    /// The directory removed.
    pub dir: PathBuf,
}

/// Where the trust data of `gun` is kept.
pub fn trust_data_dir(ctx: &Context, gun: &str) -> PathBuf {
    ctx.trust_dir.join("tuf").join(gun)
}

/// The question a front end asks before forgetting.
pub fn question(ctx: &Context, gun: &str) -> String {
    format!(
        "Forget the trust data of {gun} in {} (the next command trusts whatever root the server offers; keys stay)?",
        trust_data_dir(ctx, gun).display()
    )
}

pub fn forget(ctx: &Context, gun: &str) -> Result<Forgotten, CliError> {
    let dir = trust_data_dir(ctx, gun);
    // A GUN never climbs out of tuf/ (image references have no "..", but check anyway).
    if gun
        .split('/')
        .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(CliError::Usage(format!("{gun:?} is not a repository name")));
    }
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(CliError::file(&dir, "not a directory; not removing it")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::Refused(format!(
                "{gun}: this client has no trust data for it ({} does not exist)",
                dir.display()
            )))
        }
        Err(e) => return Err(CliError::file(&dir, e)),
    }
    std::fs::remove_dir_all(&dir).map_err(|e| CliError::file(&dir, e))?;
    Ok(Forgotten {
        gun: gun.to_string(),
        dir,
    })
}

impl Report for Forgotten {
    fn json(&self) -> serde_json::Value {
        json!({"gun": self.gun, "removed": self.dir})
    }

    fn human(&self) -> String {
        format!(
            "Forgot the trust data of {} ({} removed; keys kept)",
            self.gun,
            self.dir.display()
        )
    }
}
