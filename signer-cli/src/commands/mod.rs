//! One module per `signet` command. Each command is a function taking the [`Context`] and its
//! arguments and returning a [`Report`]: what it did, as data, so another front end (a docker
//! CLI plugin, a test) can call it and print the result its own way. Nothing here parses
//! arguments, asks for confirmation or prints results; `main.rs` does.

pub mod cosign;
pub mod forget;
pub mod inspect;
pub mod key;
mod key_backup;
pub mod migrate;
pub mod pull;
pub mod push;
pub mod revoke;
pub mod sign;
pub mod signer;
pub mod status;
pub mod verify;

use crate::context::Context;
use crate::error::CliError;
use crate::trusted_repo::{self, TrustedRepo};
use time::OffsetDateTime;

/// The result of a command, as `signet` prints it.
pub trait Report {
    /// The `--json` form.
    fn json(&self) -> serde_json::Value;
    /// The lines for a person.
    fn human(&self) -> String;
    /// Standard output: the JSON with `--json`, else the human lines.
    fn render(&self, json: bool) -> String {
        if json {
            format!("{}\n", self.json())
        } else {
            format!("{}\n", self.human())
        }
    }
    /// Warnings for standard error (expired delegations skipped, roles about to expire).
    fn warnings(&self) -> &[String] {
        &[]
    }
}

/// The verified trust data of an existing repository.
pub fn fetch_verified(ctx: &Context, gun: &str) -> Result<TrustedRepo, CliError> {
    let transport = ctx.transport(gun)?;
    trusted_repo::fetch(
        transport.as_ref(),
        &ctx.trust_dir,
        gun,
        OffsetDateTime::now_utc(),
        false,
    )?
    .ok_or_else(|| CliError::NoTrustData(gun.to_string()))
}

#[cfg(test)]
mod tests;
