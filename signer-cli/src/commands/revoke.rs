//! `signet revoke IMAGE[:TAG]`: remove the signature of a tag (or of every tag) from the
//! roles the user can sign.

use super::Report;
use crate::context::Context;
use crate::editor::Editor;
use crate::error::CliError;
use crate::image_ref::ImageRef;
use serde_json::json;

pub struct Revoked {
    pub gun: String,
    pub tag: Option<String>,
    /// Roles the signature was removed from.
    pub roles: Vec<String>,
    pub warnings: Vec<String>,
}

/// The question a front end asks before revoking.
pub fn question(image: &ImageRef) -> String {
    match &image.tag {
        Some(t) => format!("Revoke the signature of {}:{t}?", image.gun),
        None => format!("Revoke all signatures of {}?", image.gun),
    }
}

pub fn revoke(ctx: &Context, image: &ImageRef) -> Result<Revoked, CliError> {
    let mut ed = Editor::open_existing(ctx, &image.gun)?;
    let roles = ed.revoke(image.tag.as_deref())?;
    let published = ed.publish()?;
    Ok(Revoked {
        gun: image.gun.clone(),
        tag: image.tag.clone(),
        roles,
        warnings: published.warnings,
    })
}

impl Report for Revoked {
    fn json(&self) -> serde_json::Value {
        json!({"gun": self.gun, "tag": self.tag, "roles": self.roles})
    }

    fn human(&self) -> String {
        format!(
            "Successfully revoked signatures of {}{} from {}",
            self.gun,
            self.tag
                .as_deref()
                .map(|t| format!(":{t}"))
                .unwrap_or_default(),
            self.roles.join(", ")
        )
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
