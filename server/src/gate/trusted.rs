//! A repository's stored trust data verified as a client verifies it before a pull: the root
//! chain (each root signed by its predecessor's root keys and its own, certificates naming
//! the GUN), the timestamp, snapshot and targets signed by the keys the root lists, every file
//! with the hash and length its parent names, delegations signed by the keys their parent
//! delegates, targets counted only inside the paths delegated to them, nothing expired.
//! The result answers which manifest digest a tag is signed with.

use bytes::Bytes;
use signet_tuf::file_meta::sha256;
use signet_tuf::role_name::{ROOT, SNAPSHOT, TARGETS, TIMESTAMP};
use signet_tuf::root_policy::valid_root_keys;
use signet_tuf::{
    DelegatedRole, FileMeta, SignedRoot, SignedSnapshot, SignedTargets, SignedTimestamp, TufError,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::OffsetDateTime;

/// The role docker reads a tag from first; `targets` is read when it has none.
pub const RELEASES: &str = "targets/releases";

/// The stored files a verification needs, as read through the read cache.
pub struct TrustFiles {
    /// Older root versions, oldest first (the chain up to the current root).
    pub previous_roots: Vec<Bytes>,
    pub root: Bytes,
    pub timestamp: Bytes,
    pub snapshot: Bytes,
    /// `targets` and every delegation the snapshot lists, by role name.
    pub targets: BTreeMap<String, Bytes>,
}

/// A manifest as trust data names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedManifest {
    pub sha256: [u8; 32],
    pub length: i64,
}

impl SignedManifest {
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.sha256))
    }
}

/// The verified targets of one repository.
#[derive(Debug, Default)]
pub struct TrustedTargets {
    /// Role → tag → signed manifest; only roles whose signatures verified, only targets
    /// inside the paths delegated to the role.
    roles: BTreeMap<String, BTreeMap<String, SignedManifest>>,
    /// Digest → (length, the roles that sign it under some tag).
    by_digest: HashMap<[u8; 32], (i64, BTreeSet<String>)>,
    /// Delegations that do not count and why (shown when a tag they list is refused).
    skipped: BTreeMap<String, String>,
}

/// Why a repository's trust data cannot be used at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Unverifiable(pub String);

fn role_err(role: &str, e: TufError) -> Unverifiable {
    Unverifiable(format!("{role}: {e}"))
}

fn check_file(role: &str, meta: Option<&FileMeta>, bytes: &[u8]) -> Result<(), Unverifiable> {
    let meta = meta.ok_or_else(|| Unverifiable(format!("the snapshot does not list {role}")))?;
    meta.check_length(role, bytes)
        .and_then(|()| meta.check_hashes(role, bytes))
        .map_err(|e| role_err(role, e))
}

/// Verifies the root chain: every root signed by a threshold of its predecessor's root keys
/// and of its own, the current root's certificates valid now for `gun`.
fn verify_roots(
    gun: &str,
    files: &TrustFiles,
    now: OffsetDateTime,
) -> Result<SignedRoot, Unverifiable> {
    let root = SignedRoot::from_bytes(ROOT, &files.root).map_err(|e| role_err(ROOT, e))?;
    let mut previous: Option<SignedRoot> = None;
    for raw in &files.previous_roots {
        let r = SignedRoot::from_bytes(ROOT, raw).map_err(|e| role_err(ROOT, e))?;
        check_rotation(gun, previous.as_ref(), &r, now)?;
        previous = Some(r);
    }
    check_rotation(gun, previous.as_ref(), &root, now)?;
    let own = valid_root_keys(&root, gun, now, true).map_err(|e| role_err(ROOT, e))?;
    root.verify_threshold(&own).map_err(|e| role_err(ROOT, e))?;
    root.check_expiry(ROOT, now)
        .map_err(|e| role_err(ROOT, e))?;
    Ok(root)
}

fn check_rotation(
    gun: &str,
    previous: Option<&SignedRoot>,
    next: &SignedRoot,
    now: OffsetDateTime,
) -> Result<(), Unverifiable> {
    let who = |v: i64| format!("root version {v}");
    if let Some(prev) = previous {
        if next.version() != prev.version() + 1 {
            return Err(Unverifiable(format!(
                "root chain broken between versions {} and {}",
                prev.version(),
                next.version()
            )));
        }
        let keys = valid_root_keys(prev, gun, now, false).map_err(|e| role_err(ROOT, e))?;
        next.verify_threshold(&keys).map_err(|e| {
            Unverifiable(format!(
                "{}: not signed by the previous root: {e}",
                who(next.version())
            ))
        })?;
    }
    let own = valid_root_keys(next, gun, now, false).map_err(|e| role_err(ROOT, e))?;
    next.verify_threshold(&own)
        .map_err(|e| Unverifiable(format!("{}: {e}", who(next.version()))))?;
    Ok(())
}

/// Verifies `files` for `gun` at `now`.
pub fn verify(
    gun: &str,
    files: &TrustFiles,
    now: OffsetDateTime,
) -> Result<TrustedTargets, Unverifiable> {
    let root = verify_roots(gun, files, now)?;
    let keys = |role: &str| root.signed.role_keys(role).map_err(|e| role_err(role, e));

    let ts = SignedTimestamp::from_bytes(TIMESTAMP, &files.timestamp)
        .map_err(|e| role_err(TIMESTAMP, e))?;
    ts.verify_threshold(&keys(TIMESTAMP)?)
        .map_err(|e| role_err(TIMESTAMP, e))?;
    ts.check_expiry(TIMESTAMP, now)
        .map_err(|e| role_err(TIMESTAMP, e))?;
    check_file(SNAPSHOT, ts.signed.snapshot_meta(), &files.snapshot)?;

    let snap =
        SignedSnapshot::from_bytes(SNAPSHOT, &files.snapshot).map_err(|e| role_err(SNAPSHOT, e))?;
    snap.verify_threshold(&keys(SNAPSHOT)?)
        .map_err(|e| role_err(SNAPSHOT, e))?;
    snap.check_expiry(SNAPSHOT, now)
        .map_err(|e| role_err(SNAPSHOT, e))?;
    check_file(ROOT, snap.signed.meta_for(ROOT), &files.root)?;

    let raw_targets = files
        .targets
        .get(TARGETS)
        .ok_or_else(|| Unverifiable("no targets metadata".into()))?;
    check_file(TARGETS, snap.signed.meta_for(TARGETS), raw_targets)?;
    let targets =
        SignedTargets::from_bytes(TARGETS, raw_targets).map_err(|e| role_err(TARGETS, e))?;
    targets
        .verify_threshold(&keys(TARGETS)?)
        .map_err(|e| role_err(TARGETS, e))?;
    targets
        .check_expiry(TARGETS, now)
        .map_err(|e| role_err(TARGETS, e))?;

    let mut out = TrustedTargets::default();
    out.add_role(TARGETS, &targets, &[]);
    // Breadth first down the delegation tree; each level's targets count only inside the
    // paths of every delegation above it.
    let mut queue: Vec<(SignedTargets, Vec<Vec<String>>)> = vec![(targets, Vec::new())];
    while let Some((parent, scopes)) = queue.pop() {
        for d in parent.signed.delegated_roles() {
            match verify_delegation(&parent, d, files, &snap, now) {
                Ok(child) => {
                    let mut scopes = scopes.clone();
                    scopes.push(d.paths().to_vec());
                    out.add_role(&d.name, &child, &scopes);
                    queue.push((child, scopes));
                }
                Err(why) => {
                    out.skipped.insert(d.name.clone(), why);
                }
            }
        }
    }
    Ok(out)
}

fn verify_delegation(
    parent: &SignedTargets,
    d: &DelegatedRole,
    files: &TrustFiles,
    snap: &SignedSnapshot,
    now: OffsetDateTime,
) -> Result<SignedTargets, String> {
    let raw = files
        .targets
        .get(&d.name)
        .ok_or_else(|| format!("{} has no published metadata", d.name))?;
    check_file(&d.name, snap.signed.meta_for(&d.name), raw).map_err(|e| e.0)?;
    let child = SignedTargets::from_bytes(&d.name, raw).map_err(|e| e.to_string())?;
    let keys = parent
        .signed
        .delegation_keys(&d.name)
        .map_err(|e| e.to_string())?;
    child.verify_threshold(&keys).map_err(|e| e.to_string())?;
    child
        .check_expiry(&d.name, now)
        .map_err(|e| e.to_string())?;
    Ok(child)
}

impl TrustedTargets {
    fn add_role(&mut self, role: &str, file: &SignedTargets, scopes: &[Vec<String>]) {
        let mut tags = BTreeMap::new();
        for (name, meta) in file.signed.target_map() {
            let covered = scopes
                .iter()
                .all(|paths| paths.iter().any(|p| name.starts_with(p.as_str())));
            let Some(hash) = meta.hash("sha256") else {
                continue;
            };
            let Ok(sha256) = <[u8; 32]>::try_from(hash) else {
                continue;
            };
            if !covered {
                continue;
            }
            let m = SignedManifest {
                sha256,
                length: meta.length,
            };
            tags.insert(name.clone(), m);
            self.by_digest
                .entry(sha256)
                .or_insert_with(|| (meta.length, BTreeSet::new()))
                .1
                .insert(role.to_string());
        }
        self.roles.insert(role.to_string(), tags);
    }

    /// The manifest `tag` is signed with under `signer_roles` (empty: docker's roles — the
    /// tag from `targets/releases`, else from `targets`). With named signers each must list
    /// the tag, all with the same digest.
    pub fn tag(&self, tag: &str, signer_roles: &[String]) -> Result<SignedManifest, String> {
        if signer_roles.is_empty() {
            return [RELEASES, TARGETS]
                .iter()
                .find_map(|r| self.roles.get(*r).and_then(|t| t.get(tag)).copied())
                .ok_or_else(|| self.not_signed(tag, &[RELEASES, TARGETS]));
        }
        let mut found: Option<SignedManifest> = None;
        for role in signer_roles {
            let Some(m) = self.roles.get(role).and_then(|t| t.get(tag)).copied() else {
                return Err(self.not_signed(tag, &[role.as_str()]));
            };
            if found.is_some_and(|f| f != m) {
                return Err(format!(
                    "tag {tag} is signed with different digests by the required signers"
                ));
            }
            found = Some(m);
        }
        found.ok_or_else(|| format!("tag {tag} is not signed"))
    }

    fn not_signed(&self, tag: &str, roles: &[&str]) -> String {
        let mut msg = format!("tag {tag} is not signed");
        if roles.len() == 1 {
            msg.push_str(&format!(" by {}", roles[0]));
        }
        let skipped: Vec<String> = roles
            .iter()
            .filter_map(|r| {
                self.skipped
                    .get(*r)
                    .map(|why| format!("{r} does not count: {why}"))
            })
            .collect();
        if !skipped.is_empty() {
            msg.push_str(&format!(" ({})", skipped.join("; ")));
        }
        msg
    }

    /// Every digest a tag of the counted roles is signed with.
    pub fn digests(&self, signer_roles: &[String]) -> Vec<[u8; 32]> {
        self.by_digest
            .keys()
            .filter(|d| self.digest(d, signer_roles).is_some())
            .copied()
            .collect()
    }

    /// The signed length of `digest` when a tag of the counted roles is signed with it.
    pub fn digest(&self, digest: &[u8; 32], signer_roles: &[String]) -> Option<i64> {
        let (length, roles) = self.by_digest.get(digest)?;
        let ok = if signer_roles.is_empty() {
            roles.contains(RELEASES) || roles.contains(TARGETS)
        } else {
            signer_roles.iter().all(|r| roles.contains(r))
        };
        ok.then_some(*length)
    }
}

/// SHA-256 of a body, for comparing what a registry served with what was signed.
pub fn digest_of(body: &[u8]) -> SignedManifest {
    SignedManifest {
        sha256: sha256(body),
        length: body.len() as i64,
    }
}
