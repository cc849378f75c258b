//! `signet sign IMAGE:TAG`: add a tag's digest to every role the user can sign, initialising
//! the repository as `docker trust sign` does when it has no trust data yet.

use super::cosign::{self as bridge, KeyOutcome};
use super::Report;
use crate::context::Context;
use crate::editor::Editor;
use crate::error::CliError;
use crate::image_ref::ImageRef;
use crate::registry;
use serde_json::json;

/// What to sign: a manifest given by digest and size, or the one the registry serves for the
/// tag.
pub enum Manifest {
    Given { sha256: [u8; 32], size: i64 },
    FromRegistry,
}

/// Whether a cosign signature is written next to the Notary one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cosign {
    /// `--cosign`
    Yes,
    /// `--no-cosign`
    No,
    /// The `signet cosign dual-sign` setting of the trust directory.
    Setting,
}

pub struct Signed {
    pub gun: String,
    pub tag: String,
    pub sha256: [u8; 32],
    pub size: i64,
    /// Roles the tag was signed into.
    pub roles: Vec<String>,
    /// The repository had no trust data and was initialised.
    pub initialized: bool,
    /// The cosign signatures, when asked for.
    pub cosign: Option<Vec<KeyOutcome>>,
    pub warnings: Vec<String>,
}

/// `sha256:<64 hex>` (or the bare hex) as bytes.
pub fn parse_digest(d: &str) -> Result<[u8; 32], CliError> {
    let hex_part = d.strip_prefix("sha256:").unwrap_or(d);
    let bytes = hex::decode(hex_part)
        .map_err(|_| CliError::Usage(format!("digest {d:?} is not sha256:<64 hex>")))?;
    bytes
        .try_into()
        .map_err(|_| CliError::Usage(format!("digest {d:?} is not sha256:<64 hex>")))
}

/// Signs as [`sign_with`] does, writing a cosign signature when the dual-sign setting is on.
pub fn sign(ctx: &Context, image: &ImageRef, manifest: Manifest) -> Result<Signed, CliError> {
    sign_with(ctx, image, manifest, Cosign::Setting)
}

pub fn sign_with(
    ctx: &Context,
    image: &ImageRef,
    manifest: Manifest,
    cosign: Cosign,
) -> Result<Signed, CliError> {
    let tag = image
        .tag
        .clone()
        .ok_or_else(|| CliError::Usage(format!("{}: sign needs IMAGE:TAG", image.gun)))?;
    let (sha256, size) = match manifest {
        Manifest::Given { size, .. } if size < 0 => {
            return Err(CliError::Usage("--size must not be negative".into()))
        }
        Manifest::Given { sha256, size } => (sha256, size),
        Manifest::FromRegistry => {
            let m = registry::resolve(&image.gun, &tag, ctx.tlscacert.as_deref(), ctx.timeout)?;
            (m.sha256, m.size)
        }
    };
    let dual = match cosign {
        Cosign::Yes => true,
        Cosign::No => false,
        Cosign::Setting => bridge::dual_sign_enabled(ctx)?,
    };
    let digest = format!("sha256:{}", hex::encode(sha256));
    let mut ed = Editor::open(ctx, &image.gun)?;
    let initialized = ed.initialized;
    let roles = ed.add_tag(&tag, sha256, size)?;
    // What the cosign signature needs is checked before the Notary one is published: keys
    // cosign can use, a registry that answers and holds the manifest.
    let cosign_session = if dual {
        let mut keys = Vec::new();
        for role in &roles {
            keys.extend(ed.held_keys(role)?);
        }
        let keys = bridge::cosign_keys(keys)?;
        Some((bridge::prepare(ctx, &image.gun, &digest)?, keys))
    } else {
        None
    };
    let published = ed.publish()?;
    let cosign = match cosign_session {
        Some((mut client, keys)) => Some(bridge::attach(&mut client, &image.gun, &digest, &keys)?),
        None => None,
    };
    Ok(Signed {
        gun: image.gun.clone(),
        tag,
        sha256,
        size,
        roles,
        initialized,
        cosign,
        warnings: published.warnings,
    })
}

impl Report for Signed {
    fn json(&self) -> serde_json::Value {
        let mut v = json!({"gun": self.gun, "tag": self.tag, "digest": format!("sha256:{}", hex::encode(self.sha256)), "roles": self.roles, "initialized": self.initialized});
        if let Some(c) = &self.cosign {
            v["cosign"] = c.iter().map(KeyOutcome::json).collect();
        }
        v
    }

    fn human(&self) -> String {
        let mut out = String::new();
        if self.initialized {
            out.push_str(&format!("Initialized \"{}\"\n", self.gun));
        }
        out.push_str(&format!(
            "Successfully signed {}:{} into {}",
            self.gun,
            self.tag,
            self.roles.join(", ")
        ));
        if let Some(c) = &self.cosign {
            let digest = format!("sha256:{}", hex::encode(self.sha256));
            let added = c
                .iter()
                .filter(|k| k.outcome == crate::cosign::Attached::Added)
                .count();
            out.push_str(&format!(
                "\ncosign signature of {digest} in {}:{} ({added} added, {} already there)",
                self.gun,
                crate::cosign::signature_image::tag(&digest),
                c.len() - added
            ));
        }
        out
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
