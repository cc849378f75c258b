//! `signet status IMAGE`: the expiry of every role and the local keys that can sign it;
//! warns about roles expiring within 30 days.

use super::{fetch_verified, Report};
use crate::context::Context;
use crate::error::CliError;
use serde_json::json;
use time::OffsetDateTime;

pub struct RoleStatus {
    pub role: String,
    pub expires: String,
    pub days_left: i64,
    /// Canonical IDs of the local keys that can sign the role.
    pub local_keys: Vec<String>,
}

pub struct Status {
    pub gun: String,
    pub roles: Vec<RoleStatus>,
    pub warnings: Vec<String>,
}

/// Canonical key IDs (the names of private key files), to match local keys.
fn key_ids(keys: &signet_tuf::RoleKeySet) -> Vec<String> {
    keys.keys
        .values()
        .map(|k| {
            k.canonical_id()
                .map(|i| i.to_string())
                .unwrap_or_else(|_| k.id().to_string())
        })
        .collect()
}

pub fn status(ctx: &Context, gun: &str) -> Result<Status, CliError> {
    let repo = fetch_verified(ctx, gun)?;
    let now = OffsetDateTime::now_utc();
    let held: std::collections::BTreeSet<String> = ctx
        .store
        .list()?
        .into_iter()
        .map(|k| k.id.to_string())
        .collect();
    let mut roles = Vec::new();
    let mut add =
        |role: &str, expires: &signet_tuf::GoTime, keys: Option<signet_tuf::RoleKeySet>| {
            let local_keys: Vec<String> = keys
                .map(|k| {
                    key_ids(&k)
                        .into_iter()
                        .filter(|id| held.contains(id))
                        .collect()
                })
                .unwrap_or_default();
            roles.push(RoleStatus {
                role: role.to_string(),
                expires: expires.as_str().to_string(),
                days_left: (expires.instant() - now).whole_days(),
                local_keys,
            });
        };
    add(
        "root",
        &repo.root.signed.expires,
        repo.root.signed.role_keys("root").ok(),
    );
    add(
        "targets",
        &repo.targets.signed.expires,
        repo.root.signed.role_keys("targets").ok(),
    );
    add(
        "snapshot",
        &repo.snapshot.signed.expires,
        repo.root.signed.role_keys("snapshot").ok(),
    );
    add(
        "timestamp",
        &repo.timestamp.signed.expires,
        repo.root.signed.role_keys("timestamp").ok(),
    );
    for (name, f) in &repo.delegations {
        add(
            name,
            &f.signed.expires,
            repo.targets.signed.delegation_keys(name).ok(),
        );
    }
    let mut warnings = repo.warnings.clone();
    for r in &roles {
        // Timestamps are re-signed by the server every couple of weeks; warn about the rest.
        if r.days_left < 30 && r.role != "timestamp" {
            warnings.push(format!(
                "warning: {gun}: {} expires in {} days",
                r.role, r.days_left
            ));
        }
    }
    Ok(Status {
        gun: gun.to_string(),
        roles,
        warnings,
    })
}

impl Report for Status {
    fn json(&self) -> serde_json::Value {
        let v: Vec<_> = self
            .roles
            .iter()
            .map(|r| json!({"role": r.role, "expires": r.expires, "days_left": r.days_left, "local_keys": r.local_keys}))
            .collect();
        serde_json::Value::Array(v)
    }

    fn human(&self) -> String {
        let mut out = format!(
            "{:<20} {:<36} {:>9}  LOCAL KEYS",
            "ROLE", "EXPIRES", "DAYS LEFT"
        );
        for r in &self.roles {
            let local = if r.local_keys.is_empty() {
                "-".to_string()
            } else {
                r.local_keys
                    .iter()
                    .map(|k| k[..12.min(k.len())].to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(
                "\n{:<20} {:<36} {:>9}  {local}",
                r.role, r.expires, r.days_left
            ));
        }
        out
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
