//! Changing a repository the way docker does: initialise (root key reused from the store,
//! new targets key, server-managed snapshot), sign tags into every role the user can sign,
//! add and remove signers, revoke. Files are produced with signet-tuf's Go-identical producer,
//! each changed role's version goes up by one, and no timestamp or snapshot is ever sent.

use crate::context::Context;
use crate::error::CliError;
use crate::transport::Transport;
use crate::trusted_repo::{self, TrustedRepo, UnverifiedRole};
use signet_keys::{KeyId, PrivateKey, PublicKey};
use signet_tuf::{FileMeta, GoTime, Root, SignedTargets, Snapshot, Targets};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use time::{Duration, OffsetDateTime};

mod signing_keys;

const ROOT_EXPIRY: Duration = Duration::days(3650);
const TARGETS_EXPIRY: Duration = Duration::days(3 * 365);
const SNAPSHOT_EXPIRY: Duration = Duration::days(3 * 365);

/// A repository being edited.
pub struct Editor<'a> {
    ctx: &'a Context,
    pub transport: Rc<dyn Transport>,
    pub gun: String,
    now: OffsetDateTime,
    root: Root,
    root_dirty: bool,
    /// Current typed targets files by role (`targets` and delegations).
    files: BTreeMap<String, Targets>,
    /// The verified delegation files as the server holds them (their signatures decide
    /// whether a change of keys leaves them verifiable).
    signed: BTreeMap<String, SignedTargets>,
    /// Delegations whose current file does not verify: a new file continues their version.
    unverified: BTreeMap<String, UnverifiedRole>,
    dirty: BTreeSet<String>,
    pub initialized: bool,
    /// Root keys of the root being replaced (they sign a rotated root too).
    previous_root_keys: BTreeMap<String, PublicKey>,
    /// The current snapshot, extended and re-signed when we hold a snapshot key (repositories
    /// initialised by `notary init` without a server-managed snapshot).
    snapshot: Option<Snapshot>,
    new_keys: NewKeys<'a>,
    /// Private keys decrypted during this edit, by canonical ID.
    loaded: RefCell<BTreeMap<KeyId, Rc<PrivateKey>>>,
}

/// Keys this edit added to the key store: removed again unless the update is published, so a
/// command that fails leaves no stray keys behind.
struct NewKeys<'a> {
    store: &'a signet_keys::store::KeyStore,
    ids: Vec<KeyId>,
    keep: bool,
}

impl NewKeys<'_> {
    fn add(
        &mut self,
        key: &PrivateKey,
        role: &str,
        gun: Option<&str>,
        pass: &mut dyn signet_keys::passphrase::PassphraseSource,
    ) -> Result<(), CliError> {
        let stored = self.store.add(key, role, gun, pass)?;
        self.ids.push(stored.id);
        Ok(())
    }
}

impl Drop for NewKeys<'_> {
    fn drop(&mut self) {
        if !self.keep {
            for id in &self.ids {
                let _ = self.store.remove(id);
            }
        }
    }
}

fn fail(gun: &str, what: impl std::fmt::Display) -> CliError {
    CliError::Refused(format!("{gun}: {what}"))
}

impl<'a> Editor<'a> {
    /// Opens a verified repository, or initialises a new one like `docker trust`.
    pub fn open(ctx: &'a Context, gun: &str) -> Result<Editor<'a>, CliError> {
        let transport = ctx.transport(gun)?;
        let now = OffsetDateTime::now_utc();
        match trusted_repo::fetch(transport.as_ref(), &ctx.trust_dir, gun, now, true)? {
            Some(repo) => Ok(Self::from_repo(ctx, transport, repo, now)),
            None => Self::initialise(ctx, transport, gun, now),
        }
    }

    /// Opens a repository that must already exist.
    pub fn open_existing(ctx: &'a Context, gun: &str) -> Result<Editor<'a>, CliError> {
        let transport = ctx.transport(gun)?;
        let now = OffsetDateTime::now_utc();
        let repo = trusted_repo::fetch(transport.as_ref(), &ctx.trust_dir, gun, now, true)?
            .ok_or_else(|| CliError::NoTrustData(gun.to_string()))?;
        Ok(Self::from_repo(ctx, transport, repo, now))
    }

    /// Opens an existing repository for its handover to Signet: an expired timestamp or
    /// snapshot (the old server no longer renews them) is a warning, not an error. Returns
    /// the warnings of reading it.
    pub fn open_for_handover(
        ctx: &'a Context,
        gun: &str,
    ) -> Result<(Editor<'a>, Vec<String>), CliError> {
        let transport = ctx.transport(gun)?;
        let now = OffsetDateTime::now_utc();
        let repo = trusted_repo::fetch_for_handover(transport.as_ref(), &ctx.trust_dir, gun, now)?
            .ok_or_else(|| CliError::NoTrustData(gun.to_string()))?;
        let warnings = repo.warnings.clone();
        Ok((Self::from_repo(ctx, transport, repo, now), warnings))
    }

    fn from_repo(
        ctx: &'a Context,
        transport: Rc<dyn Transport>,
        repo: TrustedRepo,
        now: OffsetDateTime,
    ) -> Editor<'a> {
        let mut files = BTreeMap::new();
        files.insert("targets".to_string(), repo.targets.signed.clone());
        for (name, f) in &repo.delegations {
            files.insert(name.clone(), f.signed.clone());
        }
        Editor {
            ctx,
            transport,
            gun: repo.gun.clone(),
            now,
            root: repo.root.signed.clone(),
            root_dirty: false,
            files,
            signed: repo.delegations.clone(),
            unverified: repo.unverified.clone(),
            dirty: BTreeSet::new(),
            initialized: false,
            previous_root_keys: BTreeMap::new(),
            snapshot: Some(repo.snapshot.signed.clone()),
            new_keys: NewKeys {
                store: &ctx.store,
                ids: Vec::new(),
                keep: false,
            },
            loaded: RefCell::new(BTreeMap::new()),
        }
    }

    fn initialise(
        ctx: &'a Context,
        transport: Rc<dyn Transport>,
        gun: &str,
        now: OffsetDateTime,
    ) -> Result<Editor<'a>, CliError> {
        // The server's keys first: a server that refuses the repository leaves no keys behind.
        let ts = transport.server_key(gun, "timestamp")?;
        let snap = transport.server_key(gun, "snapshot")?;
        let mut pass = ctx.passphrases()?;
        let mut new_keys = NewKeys {
            store: &ctx.store,
            ids: Vec::new(),
            keep: false,
        };
        // docker reuses a root key already in the store; otherwise it makes one.
        let existing_root = ctx.store.list()?.into_iter().find(|k| k.role == "root");
        let root_key = match existing_root {
            Some(k) => ctx.store.load(&k.id, pass.as_mut())?.1,
            None => {
                let k = PrivateKey::generate_ecdsa();
                new_keys.add(&k, "root", None, pass.as_mut())?;
                k
            }
        };
        let cert = signet_keys::root_certificate(&root_key, gun, now, now + ROOT_EXPIRY)
            .map_err(|e| CliError::Keys(e.to_string()))?;
        let targets_key = PrivateKey::generate_ecdsa();
        new_keys.add(&targets_key, "targets", Some(gun), pass.as_mut())?;
        let mut root = Root::new(GoTime::from_instant(now + ROOT_EXPIRY));
        root.set_role_keys("root", vec![cert], 1);
        root.set_role_keys("targets", vec![targets_key.public_key()], 1);
        root.set_role_keys("snapshot", vec![snap], 1);
        root.set_role_keys("timestamp", vec![ts], 1);
        root.version = 0;
        let mut targets = Targets::new(GoTime::from_instant(now + TARGETS_EXPIRY));
        targets.version = 0;
        let mut files = BTreeMap::new();
        files.insert("targets".to_string(), targets);
        let mut ed = Editor {
            ctx,
            transport,
            gun: gun.to_string(),
            now,
            root,
            root_dirty: false,
            files,
            signed: BTreeMap::new(),
            unverified: BTreeMap::new(),
            dirty: BTreeSet::new(),
            initialized: true,
            previous_root_keys: BTreeMap::new(),
            snapshot: None,
            new_keys,
            loaded: RefCell::new(BTreeMap::new()),
        };
        // Keys just made or unlocked sign without asking again.
        for k in [root_key, targets_key] {
            ed.loaded.borrow_mut().insert(k.id(), Rc::new(k));
        }
        ed.touch_root();
        ed.touch("targets");
        Ok(ed)
    }

    fn touch_root(&mut self) {
        if !self.root_dirty {
            self.root_dirty = true;
            self.root.version += 1;
            self.root.expires = GoTime::from_instant(self.now + ROOT_EXPIRY);
        }
    }

    fn touch(&mut self, role: &str) {
        if self.dirty.insert(role.to_string()) {
            if let Some(f) = self.files.get_mut(role) {
                f.version += 1;
                f.expires = GoTime::from_instant(self.now + TARGETS_EXPIRY);
            }
        }
    }

    /// The file of a role, a new empty one when it has none (or only one that does not
    /// verify, whose tags are not carried over: nobody vouches for them).
    fn file_mut(&mut self, role: &str) -> &mut Targets {
        let now = self.now;
        let version = self.unverified.get(role).map_or(0, |u| u.version);
        self.files.entry(role.to_string()).or_insert_with(|| {
            let mut t = Targets::new(GoTime::from_instant(now + TARGETS_EXPIRY));
            t.version = version;
            t
        })
    }

    pub fn targets(&self) -> Option<&Targets> {
        self.files.get("targets")
    }

    /// Replaces the root key: a new key and certificate; the new root is signed by the old
    /// and the new keys, as notary does.
    pub fn rotate_root(&mut self) -> Result<KeyId, CliError> {
        let old = self
            .root
            .role_keys("root")
            .map_err(|e| fail(&self.gun, e))?;
        let key = PrivateKey::generate_ecdsa();
        let mut pass = self.ctx.passphrases()?;
        self.new_keys.add(&key, "root", None, pass.as_mut())?;
        let cert = signet_keys::root_certificate(&key, &self.gun, self.now, self.now + ROOT_EXPIRY)
            .map_err(|e| CliError::Keys(e.to_string()))?;
        self.previous_root_keys = old.keys;
        self.root.set_role_keys("root", vec![cert], 1);
        self.touch_root();
        Ok(key.id())
    }

    /// Replaces the targets key and re-signs targets with it.
    pub fn rotate_targets(&mut self) -> Result<KeyId, CliError> {
        let key = PrivateKey::generate_ecdsa();
        let mut pass = self.ctx.passphrases()?;
        let gun = self.gun.clone();
        self.new_keys
            .add(&key, "targets", Some(&gun), pass.as_mut())?;
        self.root
            .set_role_keys("targets", vec![key.public_key()], 1);
        self.touch_root();
        self.touch("targets");
        Ok(key.id())
    }

    /// Asks the server for a new snapshot key and lists it in root.
    pub fn rotate_server_key(&mut self, role: &str) -> Result<KeyId, CliError> {
        let key = self.transport.rotate_server_key(&self.gun, role)?;
        let id = key.id();
        self.root.set_role_keys(role, vec![key], 1);
        self.touch_root();
        Ok(id)
    }

    pub fn add_tag(
        &mut self,
        tag: &str,
        sha256: [u8; 32],
        size: i64,
    ) -> Result<Vec<String>, CliError> {
        let roles = self.signable_roles(Some(tag))?;
        for role in &roles {
            self.file_mut(role)
                .targets
                .get_or_insert_with(Default::default)
                .insert(tag.to_string(), FileMeta::from_sha256(sha256, size));
            self.touch(role);
        }
        Ok(roles)
    }

    /// Removes `tag` (or every tag) from the roles we can sign; returns the roles changed.
    /// A tag no role signs is "no signed tag" (exit 3), as `verify` says of it.
    pub fn revoke(&mut self, tag: Option<&str>) -> Result<Vec<String>, CliError> {
        if let Some(t) = tag {
            if !self.files.values().any(|f| f.target_map().contains_key(t)) {
                return Err(CliError::NoSuchTag {
                    gun: self.gun.clone(),
                    tag: t.to_string(),
                });
            }
        }
        let roles = self.signable_roles(tag)?;
        let mut changed = Vec::new();
        for role in roles {
            let f = self.file_mut(&role);
            let map = f.targets.get_or_insert_with(Default::default);
            let removed = match tag {
                Some(t) => map.remove(t).is_some(),
                None => {
                    let had = !map.is_empty();
                    map.clear();
                    had
                }
            };
            if removed {
                self.touch(&role);
                changed.push(role);
            }
        }
        if changed.is_empty() {
            return Err(fail(
                &self.gun,
                match tag {
                    Some(t) => format!("no signature for tag {t:?} in a role you can sign"),
                    None => "no signed tags in a role you can sign".into(),
                },
            ));
        }
        Ok(changed)
    }

    pub fn add_signer(&mut self, name: &str, keys: Vec<PublicKey>) -> Result<(), CliError> {
        let role = format!("targets/{name}");
        if name == "releases" || !signet_tuf::role_name::is_delegation(&role) || name.contains('/')
        {
            return Err(CliError::Usage(format!("signer name {name:?} is reserved or invalid (lower-case letters, digits, '-', '_')")));
        }
        let t = self.file_mut("targets");
        t.add_delegation_keys("targets/releases", keys.clone(), vec![String::new()]);
        t.add_delegation_keys(&role, keys, vec![String::new()]);
        self.touch("targets");
        Ok(())
    }

    /// Removes `targets/<name>` and its keys from `targets/releases` (keys another signer
    /// still uses stay). Refuses, unless forced, to leave releases keyless or below its
    /// threshold, or to leave its current file signed by too few of the remaining keys when
    /// no remaining key is in the key store to sign it again (docker pull would then find no
    /// trusted tag, and nobody could sign). Returns warnings for what `force` let through.
    pub fn remove_signer(&mut self, name: &str, force: bool) -> Result<Vec<String>, CliError> {
        let role = format!("targets/{name}");
        let gun = self.gun.clone();
        let held = self.held_canonical_ids()?;
        let mut warnings = Vec::new();
        let releases_file = self.signed.get("targets/releases").cloned();
        let t = self.file_mut("targets");
        let Some(d) = t.delegation(&role).cloned() else {
            return Err(fail(&gun, format!("no signer {name:?}")));
        };
        t.remove_delegation(&role);
        let still_used: BTreeSet<String> = t
            .delegated_roles()
            .iter()
            .filter(|r| r.name != "targets/releases")
            .flat_map(|r| r.key_ids().iter().cloned())
            .collect();
        let drop: Vec<String> = d
            .key_ids()
            .iter()
            .filter(|k| !still_used.contains(*k))
            .cloned()
            .collect();
        let mut resign_releases = false;
        if let Some(rel) = t.delegation("targets/releases").cloned() {
            let left = rel.key_ids().iter().filter(|k| !drop.contains(k)).count();
            if (left == 0 || (left as i64) < rel.threshold) && !force {
                return Err(fail(&gun, format!(
                    "removing {name} leaves targets/releases with {left} key(s) for threshold {}: nobody could sign releases (use --force)",
                    rel.threshold
                )));
            }
            if left == 0 {
                t.remove_delegation("targets/releases");
            } else {
                t.remove_delegation_keys("targets/releases", &drop);
                let remaining = t
                    .delegation_keys("targets/releases")
                    .map_err(|e| fail(&gun, e))?;
                let still_verifies = releases_file
                    .as_ref()
                    .is_none_or(|f| f.verify_threshold(&remaining).is_ok());
                let can_resign = remaining
                    .keys
                    .values()
                    .any(|k| k.canonical_id().is_ok_and(|id| held.contains(&id)));
                if !still_verifies && can_resign {
                    resign_releases = true;
                } else if !still_verifies {
                    let tags: Vec<String> = releases_file
                        .as_ref()
                        .map(|f| f.signed.target_map().keys().cloned().collect())
                        .unwrap_or_default();
                    let tags = if tags.is_empty() {
                        String::new()
                    } else {
                        format!(" (its tags: {})", tags.join(", "))
                    };
                    let what = format!(
                        "removing signer {name} will make {gun} unpullable/unsignable: targets/releases{tags} is signed with {name}'s key and no remaining signer's key is in this trust directory to sign it again"
                    );
                    if !force {
                        return Err(CliError::Refused(format!(
                            "{what}; have a remaining signer sign the tags first, or pass --force"
                        )));
                    }
                    warnings.push(format!("warning: {what}"));
                }
            }
        }
        self.touch("targets");
        if resign_releases {
            self.touch("targets/releases");
        }
        Ok(warnings)
    }

    /// Signs every changed role and publishes them in one update. Nothing is sent unless
    /// every changed role could be signed; once the server accepted the update, a failure to
    /// read it back is a warning, not an error (the change is made).
    pub fn publish(mut self) -> Result<Published, CliError> {
        let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
        if self.root_dirty {
            let keys = self
                .root
                .role_keys("root")
                .map_err(|e| fail(&self.gun, e))?;
            let mut signers = self.signing_keys(&keys.keys)?;
            if signers.is_empty() {
                if let Some(e) = self.damaged_key(keys.keys.values())? {
                    return Err(e);
                }
                return Err(fail(&self.gun, "no root key in the key store"));
            }
            // A rotated root is also signed by the previous root keys, so clients that trust
            // the old root accept the new one.
            let extra = self.signing_keys(&self.previous_root_keys)?;
            for (id, k) in extra {
                if !signers.iter().any(|(i, _)| *i == id) {
                    signers.push((id, k));
                }
            }
            let refs: Vec<(&KeyId, &PrivateKey)> =
                signers.iter().map(|(i, k)| (i, k.as_ref())).collect();
            let raw = signet_tuf::sign_and_serialize("root", &self.root, &refs)
                .map_err(|e| fail(&self.gun, e))?;
            parts.push(("root".into(), raw));
        }
        // Parents before children, as the server loads them.
        let mut roles: Vec<&String> = self.dirty.iter().collect();
        roles.sort_by_key(|r| (signet_tuf::role_name::depth(r), r.to_string()));
        for role in roles {
            let Some(file) = self.files.get(role) else {
                continue;
            };
            let keys = if role == "targets" {
                self.root
                    .role_keys("targets")
                    .map_err(|e| fail(&self.gun, e))?
            } else {
                let parent = signet_tuf::role_name::parent(role).unwrap_or("targets");
                let pf = self
                    .files
                    .get(parent)
                    .ok_or_else(|| fail(&self.gun, format!("{role}: parent not loaded")))?;
                pf.delegation_keys(role).map_err(|e| fail(&self.gun, e))?
            };
            let signers = self.signing_keys(&keys.keys)?;
            if signers.is_empty() {
                if let Some(e) = self.damaged_key(keys.keys.values())? {
                    return Err(e);
                }
                return Err(fail(
                    &self.gun,
                    format!("no key in the key store can sign {role}"),
                ));
            }
            let refs: Vec<(&KeyId, &PrivateKey)> =
                signers.iter().map(|(i, k)| (i, k.as_ref())).collect();
            let raw = signet_tuf::sign_and_serialize(role, file, &refs)
                .map_err(|e| fail(&self.gun, e))?;
            parts.push((role.clone(), raw));
        }
        if parts.is_empty() {
            return Ok(Published::default());
        }
        // The snapshot goes along only when we hold its key; otherwise the server makes it.
        if let Some(prev) = &self.snapshot {
            let keys = self
                .root
                .role_keys("snapshot")
                .map_err(|e| fail(&self.gun, e))?;
            let signers = self.signing_keys(&keys.keys)?;
            if !signers.is_empty() {
                let mut snap = prev.clone();
                snap.version += 1;
                snap.expires = GoTime::from_instant(self.now + SNAPSHOT_EXPIRY);
                for (role, raw) in &parts {
                    snap.set_meta(role, raw);
                }
                let refs: Vec<(&KeyId, &PrivateKey)> =
                    signers.iter().map(|(i, k)| (i, k.as_ref())).collect();
                let raw = signet_tuf::sign_and_serialize("snapshot", &snap, &refs)
                    .map_err(|e| fail(&self.gun, e))?;
                parts.push(("snapshot".into(), raw));
            }
        }
        self.transport.publish(&self.gun, &parts)?;
        self.new_keys.keep = true;
        // Refresh the local cache from the server so later commands start from what it holds.
        let warnings = match trusted_repo::fetch(
            self.transport.as_ref(),
            &self.ctx.trust_dir,
            &self.gun,
            OffsetDateTime::now_utc(),
            false,
        ) {
            Ok(Some(repo)) => repo.warnings,
            Ok(None) => vec![format!(
                "warning: {}: published, but the server now has no trust data for it",
                self.gun
            )],
            Err(e) => vec![format!(
                "warning: published, but reading it back failed: {e}"
            )],
        };
        Ok(Published {
            roles: parts.into_iter().map(|(r, _)| r).collect(),
            warnings,
        })
    }
}

/// What an update published.
#[derive(Default)]
pub struct Published {
    /// The roles the update carried.
    pub roles: Vec<String>,
    /// Warnings from reading the repository back.
    pub warnings: Vec<String>,
}

/// Reads a signer's public key: a `PUBLIC KEY` PEM (as `docker trust key generate` writes) or
/// a certificate.
pub fn read_public_key(path: &std::path::Path) -> Result<PublicKey, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::file(path, e))?;
    let block = signet_keys::pem::parse_one(&bytes).map_err(|e| CliError::file(path, e))?;
    match block.label.as_str() {
        "PUBLIC KEY" => {
            let k = PublicKey::new(signet_keys::KeyType::Ecdsa, block.data.to_vec());
            // Reject anything that is not a usable key now rather than at signing time.
            let probe = k.verify("ecdsa", b"", &[0u8; 64]);
            if let Err(signet_keys::KeyError::MalformedPublicKey { reason, .. }) = probe {
                return Err(CliError::file(
                    path,
                    format!("not a P-256 public key: {reason}"),
                ));
            }
            Ok(k)
        }
        "CERTIFICATE" => {
            let k = PublicKey::new(signet_keys::KeyType::EcdsaX509, bytes.clone());
            k.leaf_certificate().map_err(|e| CliError::file(path, e))?;
            Ok(k)
        }
        other => Err(CliError::file(
            path,
            format!("expected a PUBLIC KEY or CERTIFICATE, found {other}"),
        )),
    }
}
