//! `signet inspect`, `signet verify` and `signet status`: reading verified trust data.

use crate::context::Context;
use crate::error::CliError;
use crate::trusted_repo::{self, TrustedRepo};
use serde_json::json;
use time::OffsetDateTime;

fn fetch(ctx: &Context, gun: &str) -> Result<TrustedRepo, CliError> {
    let remote = ctx.remote(gun)?;
    let repo = trusted_repo::fetch(
        &remote,
        &ctx.trust_dir,
        gun,
        OffsetDateTime::now_utc(),
        false,
    )?
    .ok_or_else(|| CliError::NoTrustData(gun.to_string()))?;
    for w in &repo.warnings {
        eprintln!("{w}");
    }
    Ok(repo)
}

/// docker's display name of a signing role.
fn signer_name(role: &str) -> String {
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

/// The `docker trust inspect` JSON shape for one repository.
fn inspect_json(repo: &TrustedRepo, tag: Option<&str>) -> serde_json::Value {
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

pub fn inspect(ctx: &Context, gun: &str, tag: Option<&str>, pretty: bool) -> Result<(), CliError> {
    let repo = fetch(ctx, gun)?;
    let v = inspect_json(&repo, tag);
    if !pretty {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!([v])).unwrap_or_default()
        );
        return Ok(());
    }
    let tags = v["SignedTags"].as_array().cloned().unwrap_or_default();
    if tags.is_empty() {
        println!("\nNo signatures for {gun}\n");
    } else {
        println!("\nSignatures for {gun}\n");
        println!("{:<12} {:<66} SIGNERS", "SIGNED TAG", "DIGEST");
        for t in &tags {
            let signers: Vec<&str> = t["Signers"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            println!(
                "{:<12} {:<66} {}",
                t["SignedTag"].as_str().unwrap_or(""),
                t["Digest"].as_str().unwrap_or(""),
                signers.join(", ")
            );
        }
    }
    let signers = v["Signers"].as_array().cloned().unwrap_or_default();
    if !signers.is_empty() {
        println!("\nList of signers and their keys for {gun}\n");
        println!("{:<10} KEYS", "SIGNER");
        for s in &signers {
            let keys: Vec<String> = s["Keys"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k["ID"].as_str())
                        .map(|id| id[..12.min(id.len())].to_string())
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "{:<10} {}",
                s["Name"].as_str().unwrap_or(""),
                keys.join(", ")
            );
        }
    }
    println!("\nAdministrative keys for {gun}\n");
    for a in v["AdministrativeKeys"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let keys: Vec<&str> = a["Keys"]
            .as_array()
            .map(|k| k.iter().filter_map(|k| k["ID"].as_str()).collect())
            .unwrap_or_default();
        println!(
            "  {} Key:\t{}",
            a["Name"].as_str().unwrap_or(""),
            keys.join(", ")
        );
    }
    Ok(())
}

/// Prints `sha256:<digest>` of a signed tag, resolved as `docker pull` does
/// (`targets/releases` first, then `targets`).
pub fn verify(ctx: &Context, gun: &str, tag: &str) -> Result<(), CliError> {
    let repo = fetch(ctx, gun)?;
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
    if ctx.json {
        println!(
            "{}",
            json!({"gun": gun, "tag": tag, "digest": format!("sha256:{}", hex::encode(t.sha256)), "size": t.length, "signers": t.roles})
        );
    } else {
        println!("sha256:{}", hex::encode(t.sha256));
    }
    Ok(())
}

/// Expiry of every role and which local keys can sign it; warns within 30 days.
pub fn status(ctx: &Context, gun: &str) -> Result<(), CliError> {
    let repo = fetch(ctx, gun)?;
    let now = OffsetDateTime::now_utc();
    let held: std::collections::BTreeSet<String> = ctx
        .store
        .list()?
        .into_iter()
        .map(|k| k.id.to_string())
        .collect();
    let mut rows = Vec::new();
    let mut add =
        |role: &str, expires: &signet_tuf::GoTime, keys: Option<signet_tuf::RoleKeySet>| {
            let local: Vec<String> = keys
                .map(|k| {
                    key_ids(&k)
                        .into_iter()
                        .filter(|id| held.contains(id))
                        .collect()
                })
                .unwrap_or_default();
            let days = (expires.instant() - now).whole_days();
            rows.push((role.to_string(), expires.as_str().to_string(), days, local));
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
    if ctx.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(r, e, d, l)| json!({"role": r, "expires": e, "days_left": d, "local_keys": l}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        println!(
            "{:<20} {:<36} {:>9}  LOCAL KEYS",
            "ROLE", "EXPIRES", "DAYS LEFT"
        );
        for (r, e, d, l) in &rows {
            let local = if l.is_empty() {
                "-".to_string()
            } else {
                l.iter()
                    .map(|k| k[..12].to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!("{r:<20} {e:<36} {d:>9}  {local}");
        }
    }
    for (r, _, d, _) in &rows {
        // Timestamps are re-signed by the server every couple of weeks; warn about the rest.
        if *d < 30 && r != "timestamp" {
            eprintln!("warning: {gun}: {r} expires in {d} days");
        }
    }
    Ok(())
}
