//! `signet push IMAGE:TAG`: what `DOCKER_CONTENT_TRUST=1 docker push` did, on any docker.
//! The daemon pushes; the digest and size of the manifest it stored are signed into every role
//! the user can sign, the repository initialised on first push as docker did (root key reused
//! or created, a new repository key, snapshot key held by the server).

use super::sign::{self, Manifest, Signed};
use super::Report;
use crate::context::Context;
use crate::docker_daemon::{familiar_name, DockerCli};
use crate::error::CliError;
use crate::image_ref::ImageRef;

pub struct Pushed(pub Signed);

pub fn push(ctx: &Context, docker: &DockerCli, image: &ImageRef) -> Result<Pushed, CliError> {
    let tag = image.tag.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "{}: push needs IMAGE:TAG (a signature is for one tag)",
            image.gun
        ))
    })?;
    let pushed = docker.push(&format!("{}:{tag}", familiar_name(&image.gun)), &tag)?;
    sign_pushed(ctx, image, pushed.sha256, pushed.size)
}

/// Signs what a push stored.
pub fn sign_pushed(
    ctx: &Context,
    image: &ImageRef,
    sha256: [u8; 32],
    size: i64,
) -> Result<Pushed, CliError> {
    let signed = sign::sign(ctx, image, Manifest::Given { sha256, size })?;
    Ok(Pushed(signed))
}

impl Report for Pushed {
    fn json(&self) -> serde_json::Value {
        let mut v = self.0.json();
        v["size"] = self.0.size.into();
        v
    }

    /// docker's lines after a trusted push.
    fn human(&self) -> String {
        let mut out = String::from("Signing and pushing trust metadata\n");
        if self.0.initialized {
            out.push_str(&format!("Finished initializing \"{}\"\n", self.0.gun));
        }
        out.push_str(&format!(
            "Successfully signed {}:{}",
            self.0.gun, self.0.tag
        ));
        out
    }

    fn warnings(&self) -> &[String] {
        self.0.warnings()
    }
}
