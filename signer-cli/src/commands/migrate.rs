//! `signet migrate IMAGE --from URL | --from-cache DIR [--to URL]`: the handover of a
//! repository from another Notary server to Signet by its root key holder.
//!
//! 1. Unless the operator already imported it, the repository's trust data comes over as it
//!    is: every version the old server serves (or the files a client's trust cache holds),
//!    posted to Signet's import endpoint, which verifies the set and stores it verbatim. The
//!    endpoint takes only a repository Signet does not have yet, from a caller whose token
//!    covers `repository:<gun>:*` (signing plus a delete-capable role).
//! 2. The root key holder then rotates the timestamp key, and the snapshot key unless they
//!    hold it themselves, to keys Signet holds, in a new root version signed by the root key
//!    (as notary requires), and publishes it. Clients that cached the old server's data accept
//!    the new root through the chain; the root key, and so every pinned root, stays the same.
//!
//! Without the root key nothing can be rotated: the command says what happens instead (the
//! imported data is served read-only until its timestamp expires, then the repository must
//! be reset and signed under a new root) and fails.

use super::Report;
use crate::context::Context;
use crate::editor::Editor;
use crate::error::CliError;
use crate::image_ref::ImageRef;
use crate::transport::{HttpsTransport, Transport, DEFAULT_LIMIT, TIMESTAMP_LIMIT};
use serde_json::json;
use signet_tuf::history::{fetch_history, FetchedFile, HistoryError};
use std::path::{Path, PathBuf};

/// Where the repository's trust data comes from when Signet does not have it yet.
pub enum Source {
    /// The old Notary server (with its CA, when not a public one).
    Server { url: String, ca: Option<PathBuf> },
    /// A client's trust directory (`~/.docker/trust`, a notary trust dir, or the
    /// repository's `metadata` folder) that verified the repository last.
    Cache(PathBuf),
}

pub struct Migrated {
    pub gun: String,
    /// The import endpoint's report, when this command imported the repository.
    pub imported: Option<serde_json::Value>,
    /// Server roles rotated to Signet's keys, with the new key IDs.
    pub rotated: Vec<(String, String)>,
    /// The root version published (`None`: it was handed over already).
    pub root_version: Option<i64>,
    pub warnings: Vec<String>,
}

impl Report for Migrated {
    fn json(&self) -> serde_json::Value {
        json!({
            "gun": self.gun,
            "imported": self.imported,
            "rotated": self.rotated.iter().map(|(r, k)| json!({"role": r, "key_id": k})).collect::<Vec<_>>(),
            "root_version": self.root_version,
        })
    }

    fn human(&self) -> String {
        let mut lines = Vec::new();
        match &self.imported {
            Some(r) => lines.push(format!(
                "Imported {} into Signet: {} versions, verified and stored as they were",
                self.gun, r["versions_imported"]
            )),
            None => lines.push(format!("{} is already in Signet", self.gun)),
        }
        match self.root_version {
            Some(v) => {
                for (role, key) in &self.rotated {
                    lines.push(format!("Rotated the {role} key to Signet's: {key}"));
                }
                lines.push(format!(
                    "Published root version {v}, signed by the same root key: clients that cached the old server's data accept it; point them at Signet"
                ));
            }
            None => lines
                .push("Already handed over: Signet holds the timestamp key the root lists".into()),
        }
        lines.join("\n")
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Imports (when needed) and hands over `image`'s repository.
pub fn migrate(ctx: &Context, image: &ImageRef, source: &Source) -> Result<Migrated, CliError> {
    let gun = image.gun.as_str();
    let target = ctx.transport(gun)?;
    let imported = if target
        .fetch(gun, "timestamp.json", TIMESTAMP_LIMIT)?
        .is_some()
    {
        None
    } else {
        let files = match source {
            Source::Server { url, ca } => from_server(ctx, gun, url, ca.as_deref())?,
            Source::Cache(dir) => from_cache(dir, gun)?,
        };
        let parts: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|f| (format!("{}.{}.json", f.version, f.role), f.bytes))
            .collect();
        Some(target.import(gun, &parts).map_err(|e| match e {
            CliError::Server { server, reason } if reason.starts_with("not authorized") => {
                CliError::Server {
                    server,
                    reason: format!(
                        "{reason}: importing {gun} takes signing plus a delete-capable role on it (AcrImageSigner with AcrDelete, Contributor or Owner), or the operator imports it (signet-server import --from)"
                    ),
                }
            }
            other => other,
        })?)
    };

    let (mut ed, mut warnings) = Editor::open_for_handover(ctx, gun)?;
    let held_by_signet = target.server_key(gun, "timestamp")?.id().to_string();
    if ed.listed_key_ids("timestamp").contains(&held_by_signet) {
        return Ok(Migrated {
            gun: gun.to_string(),
            imported,
            rotated: Vec::new(),
            root_version: None,
            warnings,
        });
    }
    if !ed.holds_key_for("root")? {
        let expires = target
            .fetch(gun, "timestamp.json", TIMESTAMP_LIMIT)?
            .and_then(|b| signet_tuf::SignedTimestamp::from_bytes("timestamp", &b).ok())
            .map(|t| t.signed.expires.as_str().to_string())
            .unwrap_or_else(|| "unknown".into());
        return Err(CliError::Refused(format!(
            "{gun}: {}not handed over: the root key is not in {}, and only the root key holder can move the timestamp key to Signet. Until then Signet serves the imported trust data read-only, and only until its timestamp expires ({expires}); after that every client refuses it, and the repository must be reset and signed under a new root that every client and pinned verifier must be told to trust. Run signet migrate where the root key is (or restore it with signet key restore) before then",
            if imported.is_some() { "imported into Signet but " } else { "" },
            ctx.trust_dir.join("private").display()
        )));
    }
    let mut rotated = Vec::new();
    // The snapshot moves too unless the root key holder signs it (notary's default).
    let mut roles = vec!["timestamp"];
    if !ed.holds_key_for("snapshot")? {
        let held = target.server_key(gun, "snapshot")?.id().to_string();
        if !ed.listed_key_ids("snapshot").contains(&held) {
            roles.push("snapshot");
        }
    }
    for role in roles {
        let id = ed.rotate_server_key(role)?;
        rotated.push((role.to_string(), id.to_string()));
    }
    let version = ed.root_version();
    let published = ed.publish()?;
    warnings.extend(published.warnings);
    Ok(Migrated {
        gun: gun.to_string(),
        imported,
        rotated,
        root_version: Some(version),
        warnings,
    })
}

/// Every version the old server serves.
fn from_server(
    ctx: &Context,
    gun: &str,
    url: &str,
    ca: Option<&Path>,
) -> Result<Vec<FetchedFile>, CliError> {
    let registry_host = gun.split('/').next().unwrap_or(gun);
    let source = HttpsTransport::new(url, ca, registry_host, ctx.timeout)?;
    let fetched =
        fetch_history(|file| source.fetch(gun, file, DEFAULT_LIMIT)).map_err(|e| match e {
            HistoryError::Fetch(e) => e,
            other => CliError::Server {
                server: url.to_string(),
                reason: format!("{gun}: {other}"),
            },
        })?;
    fetched.map(|h| h.files).ok_or_else(|| CliError::Server {
        server: url.to_string(),
        reason: format!("{gun}: no trust data for this repository"),
    })
}

/// The files a client's trust cache holds of `gun`: the four base roles and the delegations
/// its snapshot lists.
fn from_cache(dir: &Path, gun: &str) -> Result<Vec<FetchedFile>, CliError> {
    if gun
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(CliError::Usage(format!("{gun:?} is not a repository name")));
    }
    let meta = [
        dir.join("tuf").join(gun).join("metadata"),
        dir.join(gun).join("metadata"),
        dir.to_path_buf(),
    ]
    .into_iter()
    .find(|c| c.join("root.json").is_file())
    .ok_or_else(|| {
        CliError::file(
            dir,
            format!("no cached metadata for {gun} (looked for tuf/{gun}/metadata/root.json)"),
        )
    })?;
    let read = |role: &str| -> Result<Option<FetchedFile>, CliError> {
        let path = meta.join(format!("{role}.json"));
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(|e| CliError::file(&path, e))?;
        let version = signet_tuf::Envelope::parse(role, &bytes)
            .ok()
            .and_then(|e| e.version())
            .ok_or_else(|| CliError::file(&path, "not TUF metadata with a version"))?;
        Ok(Some(FetchedFile {
            role: role.to_string(),
            version,
            bytes,
        }))
    };
    let mut out = Vec::new();
    for role in ["root", "targets", "snapshot", "timestamp"] {
        out.push(read(role)?.ok_or_else(|| {
            CliError::file(
                &meta.join(format!("{role}.json")),
                "missing (a cache that verified the repository has all four roles)",
            )
        })?);
    }
    let delegations: Vec<String> = out
        .iter()
        .find(|f| f.role == "snapshot")
        .and_then(|f| signet_tuf::SignedSnapshot::from_bytes("snapshot", &f.bytes).ok())
        .map(|s| s.signed.delegation_names())
        .unwrap_or_default();
    for role in delegations {
        out.extend(read(&role)?);
    }
    Ok(out)
}
