//! Client-side verification like notary's client: root → timestamp → snapshot → targets →
//! delegations, every file fetched by checksum and size-limited, the root chain walked
//! through `<v>.root.json`, trust on first use of a GUN's root (certificate CN checked), and a
//! cache in `<trust dir>/tuf/<gun>/metadata/` that protects against rollback.

use crate::error::CliError;
use crate::transport::{Transport, DEFAULT_LIMIT, TIMESTAMP_LIMIT};
use signet_tuf::root_policy::validate_root;
use signet_tuf::{
    Role, Signed, SignedRoot, SignedSnapshot, SignedTargets, SignedTimestamp, TufError,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// A repository whose metadata has been verified.
pub struct TrustedRepo {
    pub gun: String,
    pub root: SignedRoot,
    pub timestamp: SignedTimestamp,
    pub snapshot: SignedSnapshot,
    pub targets: SignedTargets,
    /// Delegated roles that verified, by name (expired ones are left out with a warning).
    pub delegations: BTreeMap<String, SignedTargets>,
    /// Delegated roles whose file is not signed by enough of the keys their parent lists now
    /// (a signer was removed after signing, by this or another client). Like notary's client,
    /// they are skipped with a warning, so the holder of the targets key can still repair the
    /// repository; the version is kept so a new file can follow it.
    pub unverified: BTreeMap<String, UnverifiedRole>,
    pub warnings: Vec<String>,
}

pub fn cache_dir(trust_dir: &Path, gun: &str) -> PathBuf {
    trust_dir.join("tuf").join(gun).join("metadata")
}

fn cached(trust_dir: &Path, gun: &str, role: &str) -> Option<Vec<u8>> {
    std::fs::read(cache_dir(trust_dir, gun).join(format!("{role}.json"))).ok()
}

fn store_cache(trust_dir: &Path, gun: &str, role: &str, bytes: &[u8]) -> Result<(), CliError> {
    let path = cache_dir(trust_dir, gun).join(format!("{role}.json"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CliError::file(parent, e))?;
    }
    std::fs::write(&path, bytes).map_err(|e| CliError::file(&path, e))
}

struct Ctx<'a> {
    gun: &'a str,
}

impl Ctx<'_> {
    fn fail(&self, role: &str, e: impl std::fmt::Display) -> CliError {
        let reason = e.to_string();
        // signet-tuf errors already start with the role; say it once.
        let reason = reason
            .strip_prefix(&format!("{role}: "))
            .map(str::to_string)
            .unwrap_or(reason);
        CliError::Verification {
            gun: self.gun.to_string(),
            role: role.to_string(),
            reason,
        }
    }

    fn parse<T: Role>(&self, role: &str, raw: &[u8]) -> Result<Signed<T>, CliError> {
        Signed::<T>::from_bytes(role, raw).map_err(|e| self.fail(role, e))
    }
}

/// Fetches and verifies a repository. `Ok(None)` when the server has no trust data for it.
/// `fresh_root`: also GET `root.json` when a root is cached (done before every write).
pub fn fetch(
    transport: &dyn Transport,
    trust_dir: &Path,
    gun: &str,
    now: OffsetDateTime,
    fresh_root: bool,
) -> Result<Option<TrustedRepo>, CliError> {
    fetch_checked(transport, trust_dir, gun, now, fresh_root, false)
}

/// [`fetch`] for the handover from another server (`signet migrate`), which replaces the
/// timestamp (and a server-held snapshot): their expiry is a warning, not an error, since the
/// server that renewed them may be gone. Everything else is checked as always.
pub fn fetch_for_handover(
    transport: &dyn Transport,
    trust_dir: &Path,
    gun: &str,
    now: OffsetDateTime,
) -> Result<Option<TrustedRepo>, CliError> {
    fetch_checked(transport, trust_dir, gun, now, true, true)
}

fn fetch_checked(
    transport: &dyn Transport,
    trust_dir: &Path,
    gun: &str,
    now: OffsetDateTime,
    fresh_root: bool,
    expired_server_roles_ok: bool,
) -> Result<Option<TrustedRepo>, CliError> {
    let ctx = Ctx { gun };
    let mut warnings = Vec::new();

    // Root: the cached one is trusted; otherwise trust on first use, certificate checked.
    let trusted_root: Option<SignedRoot> = match cached(trust_dir, gun, "root") {
        Some(raw) => Some(ctx.parse("root", &raw)?),
        None => None,
    };
    let Some(ts_raw) = transport.fetch(gun, "timestamp.json", TIMESTAMP_LIMIT)? else {
        if trusted_root.is_some() {
            return Err(CliError::TrustDataGone {
                gun: gun.to_string(),
                what: "the trust server has no trust data for this repository, which this client trusted before".into(),
            });
        }
        return Ok(None);
    };
    let mut root = match trusted_root {
        // Writes start from the server's newest root, as notary's client does.
        Some(r) if fresh_root => match transport.fetch(gun, "root.json", DEFAULT_LIMIT)? {
            Some(raw) if raw != r.raw() => {
                let newest: SignedRoot = ctx.parse("root", &raw)?;
                walk_chain(transport, &ctx, r, newest, now)?
            }
            _ => r,
        },
        Some(r) => r,
        None => {
            let raw = transport
                .fetch(gun, "root.json", DEFAULT_LIMIT)?
                .ok_or_else(|| CliError::NoTrustData(gun.to_string()))?;
            let r: SignedRoot = ctx.parse("root", &raw)?;
            validate_root(&r, None, gun, now).map_err(|e| ctx.fail("root", e))?;
            r
        }
    };

    let timestamp: SignedTimestamp = ctx.parse("timestamp", &ts_raw)?;
    let snap_meta = timestamp
        .signed
        .snapshot_meta()
        .cloned()
        .ok_or_else(|| ctx.fail("timestamp", "no snapshot entry"))?;
    let snap_sha = snap_meta
        .hash("sha256")
        .map(hex::encode)
        .ok_or_else(|| ctx.fail("timestamp", "no snapshot sha256"))?;
    let snap_limit = u64::try_from(snap_meta.length)
        .unwrap_or(0)
        .min(DEFAULT_LIMIT);
    let snap_raw = transport
        .fetch(gun, &format!("snapshot.{snap_sha}.json"), snap_limit)?
        .ok_or_else(|| ctx.fail("snapshot", "the snapshot named by the timestamp is missing"))?;
    snap_meta
        .check_hashes("snapshot", &snap_raw)
        .map_err(|e| ctx.fail("snapshot", e))?;
    let snapshot: SignedSnapshot = ctx.parse("snapshot", &snap_raw)?;

    // A newer root is announced by the snapshot: walk the chain one version at a time, each
    // signed by its predecessor's keys.
    if let Some(root_meta) = snapshot.signed.meta_for("root") {
        if root_meta.check_hashes("root", root.raw()).is_err() {
            let sha = root_meta
                .hash("sha256")
                .map(hex::encode)
                .unwrap_or_default();
            let limit = u64::try_from(root_meta.length)
                .unwrap_or(0)
                .min(DEFAULT_LIMIT);
            let new_raw = transport
                .fetch(gun, &format!("root.{sha}.json"), limit)?
                .ok_or_else(|| ctx.fail("root", "the root named by the snapshot is missing"))?;
            root_meta
                .check_hashes("root", &new_raw)
                .map_err(|e| ctx.fail("root", e))?;
            let newest: SignedRoot = ctx.parse("root", &new_raw)?;
            root = walk_chain(transport, &ctx, root, newest, now)?;
        }
    }
    root.check_expiry("root", now)
        .map_err(|e| ctx.fail("root", e))?;

    // Timestamp and snapshot against the (possibly new) root; rollback against the cache.
    let role_keys = |role: &str| root.signed.role_keys(role).map_err(|e| ctx.fail(role, e));
    timestamp
        .verify_threshold(&role_keys("timestamp")?)
        .map_err(|e| ctx.fail("timestamp", e))?;
    snapshot
        .verify_threshold(&role_keys("snapshot")?)
        .map_err(|e| ctx.fail("snapshot", e))?;
    for expired in [
        timestamp
            .check_expiry("timestamp", now)
            .err()
            .map(|e| ("timestamp", e)),
        snapshot
            .check_expiry("snapshot", now)
            .err()
            .map(|e| ("snapshot", e)),
    ]
    .into_iter()
    .flatten()
    {
        let (role, e) = expired;
        if !expired_server_roles_ok {
            return Err(ctx.fail(role, e));
        }
        warnings.push(format!(
            "warning: {}; the handover publishes a fresh one",
            ctx.fail(role, e)
        ));
    }
    check_rollback(&ctx, trust_dir, "timestamp", timestamp.version())?;
    check_rollback(&ctx, trust_dir, "snapshot", snapshot.version())?;

    let targets = fetch_targets(transport, &ctx, &snapshot, "targets")?
        .ok_or_else(|| ctx.fail("targets", "not listed in the snapshot"))?;
    targets
        .verify_threshold(&role_keys("targets")?)
        .map_err(|e| ctx.fail("targets", e))?;
    targets
        .check_expiry("targets", now)
        .map_err(|e| ctx.fail("targets", e))?;
    check_rollback(&ctx, trust_dir, "targets", targets.version())?;

    // Delegations, depth first; ones missing from the snapshot are skipped like notary does.
    let mut delegations = BTreeMap::new();
    let mut unverified = BTreeMap::new();
    let mut stack: Vec<(String, SignedTargets)> = vec![("targets".into(), targets.clone())];
    while let Some((_, parent)) = stack.pop() {
        for d in parent.signed.delegated_roles() {
            let Some(file) = fetch_targets(transport, &ctx, &snapshot, &d.name)? else {
                continue;
            };
            let keys = parent
                .signed
                .delegation_keys(&d.name)
                .map_err(|e| ctx.fail(&d.name, e))?;
            check_rollback(&ctx, trust_dir, &d.name, file.version())?;
            match file.verify_threshold(&keys) {
                Ok(_) => {}
                Err(e @ (TufError::ThresholdNotMet { .. } | TufError::NoSignatures { .. })) => {
                    let reason = ctx.fail(&d.name, e).to_string();
                    warnings.push(format!(
                        "warning: {reason}; skipping it (its tags are not trusted until a current signer signs it again)"
                    ));
                    unverified.insert(
                        d.name.clone(),
                        UnverifiedRole {
                            version: file.version(),
                            reason,
                        },
                    );
                    continue;
                }
                Err(e) => return Err(ctx.fail(&d.name, e)),
            }
            if let Err(e) = file.check_expiry(&d.name, now) {
                warnings.push(format!("warning: {gun}: {e}; skipping it"));
                continue;
            }
            stack.push((d.name.clone(), file.clone()));
            delegations.insert(d.name.clone(), file);
        }
    }

    store_cache(trust_dir, gun, "root", root.raw())?;
    store_cache(trust_dir, gun, "timestamp", timestamp.raw())?;
    store_cache(trust_dir, gun, "snapshot", snapshot.raw())?;
    store_cache(trust_dir, gun, "targets", targets.raw())?;
    for (name, f) in &delegations {
        store_cache(trust_dir, gun, name, f.raw())?;
    }
    Ok(Some(TrustedRepo {
        gun: gun.to_string(),
        root,
        timestamp,
        snapshot,
        targets,
        delegations,
        unverified,
        warnings,
    }))
}

/// Moves trust from `current` to `newest`: a newer root must be signed by its predecessor's
/// keys, each intermediate version fetched as `<v>.root.json` and checked in turn.
fn walk_chain(
    transport: &dyn Transport,
    ctx: &Ctx<'_>,
    current: SignedRoot,
    newest: SignedRoot,
    now: OffsetDateTime,
) -> Result<SignedRoot, CliError> {
    if newest.version() < current.version() {
        return Err(ctx.fail(
            "root",
            format!(
                "rollback from version {} to {}",
                current.version(),
                newest.version()
            ),
        ));
    }
    if newest.version() == current.version() {
        if newest.raw() == current.raw() {
            return Ok(current);
        }
        return Err(CliError::TrustDataGone {
            gun: ctx.gun.to_string(),
            what: format!(
                "the trust server offers a different root with the same version {} as the one this client trusts",
                current.version()
            ),
        });
    }
    let gun = ctx.gun;
    let mut current = current;
    for v in current.version() + 1..newest.version() {
        let raw = transport
            .fetch(gun, &format!("{v}.root.json"), DEFAULT_LIMIT)?
            .ok_or_else(|| {
                ctx.fail(
                    "root",
                    format!("root version {v} is missing from the chain"),
                )
            })?;
        let next: SignedRoot = ctx.parse("root", &raw)?;
        if next.version() != v {
            return Err(ctx.fail(
                "root",
                format!("{v}.root.json holds version {}", next.version()),
            ));
        }
        validate_root(&next, Some(&current), gun, now).map_err(|e| ctx.fail("root", e))?;
        current = next;
    }
    validate_root(&newest, Some(&current), gun, now).map_err(|e| ctx.fail("root", e))?;
    Ok(newest)
}

/// A role older than the copy this client cached is a rollback (notary loads every role with
/// the cached version as its minimum).
fn check_rollback(
    ctx: &Ctx<'_>,
    trust_dir: &Path,
    role: &str,
    version: i64,
) -> Result<(), CliError> {
    let seen = cached(trust_dir, ctx.gun, role)
        .and_then(|raw| signet_tuf::Envelope::parse(role, &raw).ok())
        .and_then(|e| e.version());
    match seen {
        Some(v) if v > version => Err(ctx.fail(
            role,
            format!("rollback: server offers version {version}, this client has seen version {v}"),
        )),
        _ => Ok(()),
    }
}

fn fetch_targets(
    transport: &dyn Transport,
    ctx: &Ctx<'_>,
    snapshot: &SignedSnapshot,
    role: &str,
) -> Result<Option<SignedTargets>, CliError> {
    let Some(meta) = snapshot.signed.meta_for(role) else {
        return Ok(None);
    };
    let sha = meta
        .hash("sha256")
        .map(hex::encode)
        .ok_or_else(|| ctx.fail(role, TufError::NoSupportedHash { role: role.into() }))?;
    let limit = u64::try_from(meta.length).unwrap_or(0).min(DEFAULT_LIMIT);
    let raw = transport
        .fetch(ctx.gun, &format!("{role}.{sha}.json"), limit)?
        .ok_or_else(|| ctx.fail(role, "file named by the snapshot is missing"))?;
    meta.check_hashes(role, &raw)
        .map_err(|e| ctx.fail(role, format!("{e} (mix-and-match?)")))?;
    Ok(Some(ctx.parse(role, &raw)?))
}

/// A delegated role file left out because its signatures do not meet its threshold.
#[derive(Clone, Debug)]
pub struct UnverifiedRole {
    pub version: i64,
    pub reason: String,
}

/// A signed tag with the roles that sign that exact digest.
pub struct SignedTag {
    pub name: String,
    pub sha256: [u8; 32],
    pub length: i64,
    pub roles: Vec<String>,
}

impl TrustedRepo {
    /// Every role's targets, `targets` first.
    pub fn roles(&self) -> Vec<(&str, &SignedTargets)> {
        let mut v: Vec<(&str, &SignedTargets)> = vec![("targets", &self.targets)];
        v.extend(self.delegations.iter().map(|(k, f)| (k.as_str(), f)));
        v
    }

    /// Tags as docker resolves them: `targets/releases` wins, then `targets`, then other
    /// delegations; each listed with every role signing the same digest. Delegation entries
    /// outside the delegation's paths are ignored.
    pub fn signed_tags(&self) -> Vec<SignedTag> {
        let mut out: BTreeMap<String, SignedTag> = BTreeMap::new();
        let order = |r: &str| match r {
            "targets/releases" => 0,
            "targets" => 1,
            _ => 2,
        };
        let mut roles = self.roles();
        roles.sort_by_key(|(r, _)| order(r));
        for (role, file) in roles {
            let allowed = |name: &str| {
                role == "targets" || self.find_delegation(role).is_some_and(|d| d.covers(name))
            };
            for (name, meta) in file.signed.target_map() {
                let Some(sha) = meta
                    .hash("sha256")
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                else {
                    continue;
                };
                if !allowed(name) {
                    continue;
                }
                let entry = out.entry(name.clone()).or_insert_with(|| SignedTag {
                    name: name.clone(),
                    sha256: sha,
                    length: meta.length,
                    roles: Vec::new(),
                });
                if entry.sha256 == sha {
                    entry.roles.push(role.to_string());
                }
            }
        }
        out.into_values().collect()
    }

    pub fn find_delegation(&self, name: &str) -> Option<&signet_tuf::DelegatedRole> {
        let parent = signet_tuf::role_name::parent(name)?;
        let file = if parent == "targets" {
            &self.targets
        } else {
            self.delegations.get(parent)?
        };
        file.signed.delegation(name)
    }
}
