//! `signet pull IMAGE[:TAG]`: what `DOCKER_CONTENT_TRUST=1 docker pull` did, on any docker.
//! The tag is resolved through the verified trust data (`targets/releases`, then `targets`),
//! the registry is asked what the tag points at now, and only when that is the signed digest
//! does the daemon pull `IMAGE@sha256:…` (checking the content against it) and tag it.

use super::{verify, Report};
use crate::context::Context;
use crate::docker_daemon::{familiar_name, DockerCli};
use crate::error::CliError;
use crate::image_ref::ImageRef;
use crate::registry;
use serde_json::json;

/// A signed tag that may be pulled: verified, and still what the registry serves.
pub struct PullTarget {
    pub gun: String,
    pub tag: String,
    pub sha256: [u8; 32],
    pub warnings: Vec<String>,
}

/// Resolves `image` (tag `latest` when none is given) to the digest to pull.
pub fn resolve(ctx: &Context, image: &ImageRef) -> Result<PullTarget, CliError> {
    let tag = image.tag.clone().unwrap_or_else(|| "latest".to_string());
    let signed = verify::verify(ctx, &image.gun, &tag)?;
    // A tag pushed again without a new signature still has its old, signed manifest in the
    // registry; pulling that silently would deploy something other than what the tag now
    // names. Refuse instead, before anything is pulled.
    let current = registry::resolve(&image.gun, &tag, ctx.tlscacert.as_deref(), ctx.timeout)?;
    if current.sha256 != signed.sha256 {
        return Err(CliError::Verification {
            gun: image.gun.clone(),
            role: tag,
            reason: format!(
                "the registry's tag points at sha256:{} but the signed digest is sha256:{} (pushed again without signing?); nothing pulled",
                hex::encode(current.sha256),
                hex::encode(signed.sha256)
            ),
        });
    }
    Ok(PullTarget {
        gun: image.gun.clone(),
        tag,
        sha256: signed.sha256,
        warnings: signed.warnings,
    })
}

impl PullTarget {
    fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.sha256))
    }

    /// The line docker printed before pulling: `Pull (1 of 1): NAME:TAG@sha256:…`.
    pub fn announcement(&self) -> String {
        format!(
            "Pull (1 of 1): {}:{}@{}",
            familiar_name(&self.gun),
            self.tag,
            self.digest()
        )
    }

    /// Has the daemon pull by digest, then tags the result.
    pub fn pull(self, docker: &DockerCli) -> Result<Pulled, CliError> {
        let name = familiar_name(&self.gun).to_string();
        docker.pull_by_digest(&name, &self.sha256)?;
        let trusted = format!("{name}@{}", self.digest());
        let tagged = format!("{name}:{}", self.tag);
        docker.tag(&trusted, &tagged)?;
        Ok(Pulled {
            target: self,
            trusted,
            tagged,
        })
    }
}

pub struct Pulled {
    pub target: PullTarget,
    /// `NAME@sha256:…`, what was pulled.
    pub trusted: String,
    /// `NAME:TAG`, the local tag now naming it.
    pub tagged: String,
}

impl Report for Pulled {
    fn json(&self) -> serde_json::Value {
        json!({"gun": self.target.gun, "tag": self.target.tag, "digest": self.target.digest(), "image": self.tagged})
    }

    /// docker's closing line (it goes to standard error, as docker's does).
    fn human(&self) -> String {
        format!("Tagging {} as {}", self.trusted, self.tagged)
    }

    fn warnings(&self) -> &[String] {
        &self.target.warnings
    }
}
