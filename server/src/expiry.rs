//! When each repository's metadata expires, and renewing what the server signs before it
//! does.
//!
//! Client-signed roles (root, targets, delegations, and the snapshot unless the server
//! holds its key) and the root certificate can only be renewed by their signers: expired,
//! they break every client, `notary list` included. The server can only show them coming
//! (`signet-server expiring`, the `signet_repository_expiry_timestamp_seconds` gauge). The
//! server-held timestamp and snapshot it renews itself, ahead of expiry, in a background
//! pass over every repository ([`renew_due`]) — a repository nobody reads stays valid too.

use crate::signer::Signer;
use crate::store::{Store, StoreError};
use crate::update::{self, UpdateError};
use signet_tuf::GoTime;
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};

/// When one piece of a repository's trust data expires.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    pub gun: String,
    /// A role (`root`, `targets`, `targets/releases`, `snapshot`, `timestamp`) or
    /// `root certificate`.
    pub what: String,
    /// The current version of the role (absent for the certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// The server holds the key and renews it by itself.
    pub server_signed: bool,
}

impl Expiry {
    /// What the operator or signer does about it.
    pub fn remedy(&self) -> String {
        if self.server_signed {
            return "renewed by the server".into();
        }
        match self.what.as_str() {
            "timestamp" => format!(
                "imported with another server's timestamp key, served read-only until then: the root key holder hands it over (signet migrate {} --from <old server URL>)",
                self.gun
            ),
            "root" | "root certificate" => format!(
                "the root key holder re-signs: notary key rotate {} root (or signet key rotate {} root)",
                self.gun, self.gun
            ),
            _ => format!(
                "a signer publishes a new version: sign any tag (docker trust sign, signet sign) or notary publish {}",
                self.gun
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{gun}: {what} is unreadable: {why}")]
    Unreadable {
        gun: String,
        what: String,
        why: String,
    },
}

/// `signed.expires` and `signed.version` of a metadata file.
fn expires_of(bytes: &[u8]) -> Option<(OffsetDateTime, i64)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let t = GoTime::parse(v["signed"]["expires"].as_str()?).ok()?;
    Some((t.instant(), v["signed"]["version"].as_i64()?))
}

/// Every expiry of one repository's current metadata, earliest first.
pub fn repository(store: &dyn Store, gun: &str) -> Result<Vec<Expiry>, ExpiryError> {
    let roles: BTreeSet<String> = store.versions(gun)?.into_iter().map(|f| f.role).collect();
    let unreadable = |what: &str, why: &str| ExpiryError::Unreadable {
        gun: gun.to_string(),
        what: what.to_string(),
        why: why.to_string(),
    };
    let mut out = Vec::new();
    let mut root_doc = None;
    for role in &roles {
        let Some(current) = store.latest(gun, role)? else {
            continue;
        };
        let (expires, version) =
            expires_of(&current.bytes).ok_or_else(|| unreadable(role, "no signed.expires"))?;
        if role == "root" {
            root_doc = Some(current.bytes.clone());
        }
        out.push(Expiry {
            gun: gun.to_string(),
            what: role.clone(),
            version: Some(version),
            expires,
            server_signed: false,
        });
    }
    if let Some(raw) = root_doc {
        let root = signet_tuf::SignedRoot::from_bytes("root", &raw)
            .map_err(|e| unreadable("root", &e.to_string()))?;
        let keys = root.signed.keys.clone().unwrap_or_default();
        let roles = root.signed.roles.clone().unwrap_or_default();
        // The root certificate: the earliest NotAfter in the root keys' chains.
        let not_after = roles
            .get("root")
            .map(|r| r.key_ids().to_vec())
            .unwrap_or_default()
            .iter()
            .filter_map(|id| keys.get(id))
            .filter(|k| k.0.key_type().is_x509())
            .filter_map(|k| k.0.certificate_chain().ok())
            .flatten()
            .map(|c| c.not_after())
            .min();
        if let Some(t) = not_after {
            out.push(Expiry {
                gun: gun.to_string(),
                what: "root certificate".into(),
                version: None,
                expires: t,
                server_signed: false,
            });
        }
        // Server-signed: the server holds a key the root lists for the role.
        for e in out.iter_mut() {
            if !matches!(e.what.as_str(), "timestamp" | "snapshot") {
                continue;
            }
            let listed = roles
                .get(&e.what)
                .map(|r| r.key_ids().to_vec())
                .unwrap_or_default();
            e.server_signed = store
                .keys_for(gun, &e.what)?
                .iter()
                .any(|k| listed.contains(&k.key_id));
        }
    }
    out.sort_by(|a, b| a.expires.cmp(&b.expires).then(a.what.cmp(&b.what)));
    Ok(out)
}

/// Every repository's expiries that fall before `until`, earliest first. A repository whose
/// metadata cannot be read is reported as an error entry rather than hiding the rest.
pub fn expiring(
    store: &dyn Store,
    until: OffsetDateTime,
) -> Result<(Vec<Expiry>, Vec<ExpiryError>), StoreError> {
    let mut found = Vec::new();
    let mut broken = Vec::new();
    for gun in store.guns()? {
        match repository(store, &gun) {
            Ok(list) => found.extend(list.into_iter().filter(|e| e.expires < until)),
            Err(ExpiryError::Store(e)) => return Err(e),
            Err(e) => broken.push(e),
        }
    }
    found.sort_by(|a, b| a.expires.cmp(&b.expires).then(a.gun.cmp(&b.gun)));
    Ok((found, broken))
}

/// The earliest expiry among what only the signers can renew: the client-signed roles and
/// the root certificate.
pub fn earliest_client_signed(list: &[Expiry]) -> Option<OffsetDateTime> {
    list.iter()
        .filter(|e| !e.server_signed)
        .map(|e| e.expires)
        .min()
}

/// What one renewal pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renewed {
    pub repositories: usize,
    pub renewed: Vec<String>,
    pub failed: usize,
}

/// Renews the server-held timestamp (and snapshot) of every repository that expires within
/// `ahead`. The read path renews a day ahead; running this with a wider margin keeps the two
/// from renewing the same file at the same time. A publish racing a renewal wins (the
/// renewal's version is then stale and skipped: the publish brought a fresh timestamp).
pub fn renew_due(
    store: &dyn Store,
    signer: &Signer,
    now: OffsetDateTime,
    ahead: Duration,
) -> Result<Renewed, StoreError> {
    let mut done = Renewed::default();
    for gun in store.guns()? {
        done.repositories += 1;
        match update::renew_server_signed(&gun, store, signer, now, ahead) {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => match store.update_many(&gun, &rows, now) {
                Ok(()) => done.renewed.push(gun),
                Err(StoreError::OldVersion { .. }) => {}
                Err(e) => {
                    tracing::warn!(gun, error = %e, "renewing server-signed metadata");
                    done.failed += 1;
                }
            },
            Err(UpdateError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(gun, error = %e, "renewing server-signed metadata");
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

/// The expiry of a timestamp signed by another server's key (an import awaiting its
/// handover): after it, clients refuse the repository until the handover or a reset.
pub fn foreign_timestamp(list: &[Expiry]) -> Option<OffsetDateTime> {
    list.iter()
        .find(|e| e.what == "timestamp" && !e.server_signed)
        .map(|e| e.expires)
}

fn label(gun: &str) -> String {
    // Label values escape backslash, quote and newline (Prometheus text format).
    gun.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text for the gauge of the repositories imported with another server's
/// timestamp key (one line each).
pub fn render_foreign_metrics(per_repository: &[(String, OffsetDateTime)]) -> String {
    let mut out = String::from(
        "# HELP signet_repository_foreign_timestamp_expiry_timestamp_seconds Expiry of the timestamp of a repository imported with another server's timestamp key, served read-only until its root key holder hands it over.\n# TYPE signet_repository_foreign_timestamp_expiry_timestamp_seconds gauge\n",
    );
    for (gun, t) in per_repository {
        out.push_str(&format!(
            "signet_repository_foreign_timestamp_expiry_timestamp_seconds{{gun=\"{}\"}} {}\n",
            label(gun),
            t.unix_timestamp()
        ));
    }
    out
}

/// Prometheus text for the per-repository gauge (one line per repository with trust data).
pub fn render_metrics(per_repository: &[(String, Option<OffsetDateTime>)]) -> String {
    let mut out = String::from(
        "# HELP signet_repository_expiry_timestamp_seconds Earliest expiry among a repository's client-signed roles (root, targets, delegations, a client-held snapshot) and its root certificate.\n# TYPE signet_repository_expiry_timestamp_seconds gauge\n",
    );
    for (gun, t) in per_repository {
        if let Some(t) = t {
            out.push_str(&format!(
                "signet_repository_expiry_timestamp_seconds{{gun=\"{}\"}} {}\n",
                label(gun),
                t.unix_timestamp()
            ));
        }
    }
    out
}
