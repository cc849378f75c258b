//! `signet inspect IMAGE[:TAG]`: signed tags, signers and keys of a repository after
//! verification, in `docker trust inspect`'s JSON shape or its `--pretty` tables.

use super::{fetch_verified, Report};
use crate::context::Context;
use crate::docker_format::{self, TrustInfo};
use crate::error::CliError;
use crate::trusted_repo::TrustedRepo;
use serde_json::json;

pub struct Inspection {
    pub gun: String,
    /// One repository in `docker trust inspect`'s JSON shape.
    pub repository: serde_json::Value,
    /// What docker's `trust inspect` reads, for its tables byte for byte.
    pub trust_info: TrustInfo,
    pub warnings: Vec<String>,
}

pub fn inspect(ctx: &Context, gun: &str, tag: Option<&str>) -> Result<Inspection, CliError> {
    let repo = fetch_verified(ctx, gun)?;
    Ok(Inspection {
        gun: gun.to_string(),
        repository: inspect_json(&repo, tag),
        trust_info: TrustInfo::from_repo(&repo, tag),
        warnings: repo.warnings.clone(),
    })
}

impl Inspection {
    /// `docker trust inspect`'s output: a JSON array of repositories, indented.
    pub fn docker_json(&self) -> String {
        serde_json::to_string_pretty(&json!([self.repository])).unwrap_or_default()
    }

    /// `docker trust inspect --pretty`'s tables, byte for byte (named by the GUN).
    pub fn tables(&self) -> String {
        docker_format::inspect_pretty(&self.gun, &self.trust_info)
    }
}

impl Report for Inspection {
    fn json(&self) -> serde_json::Value {
        json!([self.repository])
    }

    fn human(&self) -> String {
        self.tables()
    }

    /// JSON by default (as docker), the tables with `--pretty` (the `human` form).
    fn render(&self, _json: bool) -> String {
        format!("{}\n", self.docker_json())
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// docker's display name of a signing role.
pub fn signer_name(role: &str) -> String {
    match role {
        "targets" => "Repo Admin".into(),
        r => r.trim_start_matches("targets/").to_string(),
    }
}

/// Key IDs as the metadata lists them (for root: the certificate key IDs), as
/// `docker trust inspect` shows them.
fn listed_ids(keys: &signet_tuf::RoleKeySet) -> Vec<String> {
    let mut ids: Vec<String> = keys.keys.keys().cloned().collect();
    ids.sort();
    ids
}

/// The `docker trust inspect` JSON shape for one repository.
pub fn inspect_json(repo: &TrustedRepo, tag: Option<&str>) -> serde_json::Value {
    let tags: Vec<_> = repo
        .signed_tags()
        .into_iter()
        .filter(|t| tag.is_none_or(|x| t.name == x))
        .map(|t| {
            let mut signers: Vec<String> = t
                .roles
                .iter()
                .filter(|r| r.as_str() != "targets/releases")
                .map(|r| signer_name(r))
                .collect();
            signers.sort();
            json!({"SignedTag": t.name, "Digest": hex::encode(t.sha256), "Signers": signers})
        })
        .collect();
    let signers: Vec<_> = repo
        .targets
        .signed
        .delegated_roles()
        .iter()
        .filter(|d| d.name != "targets/releases")
        .filter_map(|d| {
            let keys = repo.targets.signed.delegation_keys(&d.name).ok()?;
            Some(json!({"Name": signer_name(&d.name), "Keys": listed_ids(&keys).into_iter().map(|id| json!({"ID": id})).collect::<Vec<_>>()}))
        })
        .collect();
    let admin = |name: &str, role: &str| {
        let ids = repo
            .root
            .signed
            .role_keys(role)
            .map(|k| listed_ids(&k))
            .unwrap_or_default();
        json!({"Name": name, "Keys": ids.into_iter().map(|id| json!({"ID": id})).collect::<Vec<_>>()})
    };
    let expiry = |r: &str, e: &signet_tuf::GoTime| json!({"Role": r, "Expires": e.as_str()});
    let mut expiries = vec![
        expiry("root", &repo.root.signed.expires),
        expiry("targets", &repo.targets.signed.expires),
        expiry("snapshot", &repo.snapshot.signed.expires),
        expiry("timestamp", &repo.timestamp.signed.expires),
    ];
    for (name, f) in &repo.delegations {
        expiries.push(expiry(name, &f.signed.expires));
    }
    json!({
        "Name": repo.gun,
        "SignedTags": tags,
        "Signers": signers,
        "AdministrativeKeys": [admin("Root", "root"), admin("Repository", "targets")],
        "Expiry": expiries,
    })
}
