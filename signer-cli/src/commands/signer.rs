//! `signet signer add|remove`: the signers (delegations `targets/<name>`, with their keys also
//! in `targets/releases`) of a repository, as `docker trust signer` manages them.

use super::Report;
use crate::context::Context;
use crate::editor::Editor;
use crate::error::CliError;
use serde_json::json;
use signet_keys::PublicKey;

pub use crate::editor::read_public_key;

pub struct SignerAdded {
    pub gun: String,
    pub signer: String,
    pub keys: Vec<PublicKey>,
    /// The repository had no trust data and was initialised.
    pub initialized: bool,
    pub warnings: Vec<String>,
}

/// Adds `name` with `keys` to one repository, initialising it if it has no trust data.
pub fn add(
    ctx: &Context,
    gun: &str,
    name: &str,
    keys: &[PublicKey],
) -> Result<SignerAdded, CliError> {
    let mut ed = Editor::open(ctx, gun)?;
    let initialized = ed.initialized;
    ed.add_signer(name, keys.to_vec())?;
    let published = ed.publish()?;
    Ok(SignerAdded {
        gun: gun.to_string(),
        signer: name.to_string(),
        keys: keys.to_vec(),
        initialized,
        warnings: published.warnings,
    })
}

impl Report for SignerAdded {
    fn json(&self) -> serde_json::Value {
        let ids: Vec<String> = self.keys.iter().map(|k| k.id().to_string()).collect();
        json!({"gun": self.gun, "signer": self.signer, "keys": ids, "initialized": self.initialized})
    }

    fn human(&self) -> String {
        let mut out = String::new();
        if self.initialized {
            out.push_str(&format!("Successfully initialized \"{}\"\n", self.gun));
        }
        out.push_str(&format!(
            "Successfully added signer: {} to {}",
            self.signer, self.gun
        ));
        out
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

pub struct SignerRemoved {
    pub gun: String,
    pub signer: String,
    /// What `--force` let through, and warnings from reading the repository back.
    pub warnings: Vec<String>,
}

/// The question a front end asks before removing a signer.
pub fn remove_question(name: &str, images: &[String]) -> String {
    format!("Remove signer {name} from {}?", images.join(", "))
}

/// Removes `name` from one repository. Refused, before anything is published, when the
/// removal would leave `targets/releases` without enough keys or signed by too few of the
/// remaining ones (its tags unpullable) — unless `force`.
pub fn remove(
    ctx: &Context,
    gun: &str,
    name: &str,
    force: bool,
) -> Result<SignerRemoved, CliError> {
    let mut ed = Editor::open_existing(ctx, gun)?;
    let mut warnings = ed.remove_signer(name, force)?;
    warnings.extend(ed.publish()?.warnings);
    Ok(SignerRemoved {
        gun: gun.to_string(),
        signer: name.to_string(),
        warnings,
    })
}

impl Report for SignerRemoved {
    fn json(&self) -> serde_json::Value {
        json!({"gun": self.gun, "signer": self.signer, "removed": true})
    }

    fn human(&self) -> String {
        format!("Successfully removed {} from {}", self.signer, self.gun)
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
