//! `signet verify IMAGE:TAG`: the digest of a signed tag if, and only if, it verifies,
//! resolved as `docker pull` does (`targets/releases` first, then `targets`).

use super::{fetch_verified, Report};
use crate::context::Context;
use crate::error::CliError;
use serde_json::json;

pub struct Verified {
    pub gun: String,
    pub tag: String,
    pub sha256: [u8; 32],
    pub size: i64,
    /// Every role that signs this digest for the tag.
    pub signers: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn verify(ctx: &Context, gun: &str, tag: &str) -> Result<Verified, CliError> {
    let repo = fetch_verified(ctx, gun)?;
    let t = repo
        .signed_tags()
        .into_iter()
        .find(|t| {
            t.name == tag
                && t.roles
                    .iter()
                    .any(|r| r == "targets/releases" || r == "targets")
        })
        .ok_or_else(|| CliError::NoSuchTag {
            gun: gun.to_string(),
            tag: tag.to_string(),
        })?;
    Ok(Verified {
        gun: gun.to_string(),
        tag: tag.to_string(),
        sha256: t.sha256,
        size: t.length,
        signers: t.roles,
        warnings: repo.warnings,
    })
}

impl Report for Verified {
    fn json(&self) -> serde_json::Value {
        json!({"gun": self.gun, "tag": self.tag, "digest": format!("sha256:{}", hex::encode(self.sha256)), "size": self.size, "signers": self.signers})
    }

    fn human(&self) -> String {
        format!("sha256:{}", hex::encode(self.sha256))
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
