//! `signet cosign backfill|export-key|dual-sign`, `signet verify --cosign` and the cosign half
//! of `signet sign`: the commands of the Sigstore bridge (see [`crate::cosign`]).

use super::{fetch_verified, Report};
use crate::context::Context;
use crate::cosign::{self, signature, Attached, CosignError};
use crate::error::CliError;
use crate::image_ref::ImageRef;
use crate::registry_client::{Access, RegistryClient};
use crate::trusted_repo::TrustedRepo;
use p256::ecdsa::SigningKey;
use serde_json::json;
use signet_keys::{KeyId, PrivateKey, PublicKey};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The file in the trust directory that keeps signet's own settings.
const SETTINGS_FILE: &str = "signet.json";

impl From<CosignError> for CliError {
    fn from(e: CosignError) -> Self {
        match e {
            CosignError::NotSigned { .. } => CliError::NotSigned(e.to_string()),
            CosignError::Registry(r) => r.into(),
            other => CliError::Refused(other.to_string()),
        }
    }
}

fn settings_path(ctx: &Context) -> PathBuf {
    ctx.trust_dir.join(SETTINGS_FILE)
}

fn read_settings(ctx: &Context) -> Result<serde_json::Value, CliError> {
    let path = settings_path(ctx);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| CliError::file(&path, e))?;
            if !v.is_object() {
                return Err(CliError::file(&path, "not a JSON object"));
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(CliError::file(&path, e)),
    }
}

/// Whether `signet sign` also writes cosign signatures when neither `--cosign` nor
/// `--no-cosign` is given (`signet cosign dual-sign on`).
pub fn dual_sign_enabled(ctx: &Context) -> Result<bool, CliError> {
    let v = read_settings(ctx)?;
    match &v["cosign"]["dual_sign"] {
        serde_json::Value::Null => Ok(false),
        serde_json::Value::Bool(b) => Ok(*b),
        other => Err(CliError::file(
            &settings_path(ctx),
            format!("cosign.dual_sign is {other}, not true or false"),
        )),
    }
}

pub struct DualSign {
    pub enabled: bool,
    pub settings: PathBuf,
}

impl Report for DualSign {
    fn json(&self) -> serde_json::Value {
        json!({"dual_sign": self.enabled, "settings": self.settings})
    }

    fn human(&self) -> String {
        if self.enabled {
            format!(
                "signet sign writes a cosign signature with every Notary signature (setting in {})",
                self.settings.display()
            )
        } else {
            format!(
                "signet sign writes Notary signatures only (setting in {})",
                self.settings.display()
            )
        }
    }
}

/// `signet cosign dual-sign [on|off]`: shows or changes the persistent setting.
pub fn dual_sign(ctx: &Context, state: Option<bool>) -> Result<DualSign, CliError> {
    let path = settings_path(ctx);
    let enabled = match state {
        None => dual_sign_enabled(ctx)?,
        Some(on) => {
            let mut v = read_settings(ctx)?;
            if !v["cosign"].is_object() {
                v["cosign"] = json!({});
            }
            v["cosign"]["dual_sign"] = json!(on);
            std::fs::create_dir_all(&ctx.trust_dir)
                .map_err(|e| CliError::file(&ctx.trust_dir, e))?;
            let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
            text.push('\n');
            std::fs::write(&path, text).map_err(|e| CliError::file(&path, e))?;
            on
        }
    };
    Ok(DualSign {
        enabled,
        settings: path,
    })
}

/// The registry session for `gun`.
pub fn registry(ctx: &Context, gun: &str, access: Access) -> Result<RegistryClient, CliError> {
    RegistryClient::connect(gun, access, ctx.tlscacert.as_deref(), ctx.timeout)
}

/// ECDSA keys for cosign from Notary signing keys, one per distinct key.
pub fn cosign_keys<K>(
    keys: impl IntoIterator<Item = K>,
) -> Result<Vec<(KeyId, SigningKey)>, CliError>
where
    K: std::ops::Deref<Target = PrivateKey>,
{
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for k in keys {
        let id = k.id();
        if seen.insert(id.clone()) {
            out.push((id, signature::signing_key(&k)?));
        }
    }
    Ok(out)
}

/// The registry session for a cosign signature of `digest`, opened (and the manifest's
/// presence checked) before anything is published.
pub fn prepare(ctx: &Context, gun: &str, digest: &str) -> Result<RegistryClient, CliError> {
    let mut client = registry(ctx, gun, Access::PushPull)?;
    refuse_without_push(&client, gun)?;
    if client.manifest(digest)?.is_none() {
        return Err(CliError::Refused(format!(
            "{gun}: the registry has no manifest {digest}: push the image before signing it for cosign"
        )));
    }
    Ok(client)
}

/// A cosign signature is an image in the registry: a token that grants no push would only fail
/// after the Notary signature is published, so it is refused before anything is.
fn refuse_without_push(client: &RegistryClient, gun: &str) -> Result<(), CliError> {
    if client.may_push() == Some(false) {
        return Err(CliError::Refused(format!(
            "{gun}: registry {} does not let you push to {} (a cosign signature is stored as an image there; ask for push rights, e.g. AcrPush): nothing was signed",
            client.host(),
            client.repository
        )));
    }
    Ok(())
}

/// The cosign signatures of one digest by some keys.
#[derive(Clone, Debug)]
pub struct KeyOutcome {
    pub key: KeyId,
    pub outcome: Attached,
}

impl KeyOutcome {
    pub fn json(&self) -> serde_json::Value {
        json!({"key": self.key.to_string(), "signature": match self.outcome {
            Attached::Added => "added",
            Attached::Present => "present",
        }})
    }
}

/// Writes the cosign signatures of `digest` (after the Notary signature is published).
pub fn attach(
    client: &mut RegistryClient,
    gun: &str,
    digest: &str,
    keys: &[(KeyId, SigningKey)],
) -> Result<Vec<KeyOutcome>, CliError> {
    let signing: Vec<SigningKey> = keys.iter().map(|(_, k)| k.clone()).collect();
    let outcome = cosign::attach(client, gun, digest, &signing).map_err(|e| {
        CliError::Refused(format!(
            "{gun}: signed in Notary, but the cosign signature was not written: {} (retry with `signet cosign backfill {gun}`)",
            CliError::from(e)
        ))
    })?;
    Ok(keys
        .iter()
        .zip(outcome)
        .map(|((id, _), outcome)| KeyOutcome {
            key: id.clone(),
            outcome,
        })
        .collect())
}

/// The keys a role lists: root's `targets` keys, or the delegation's keys in its parent.
fn role_keys(repo: &TrustedRepo, role: &str) -> Option<BTreeMap<String, PublicKey>> {
    if role == "targets" {
        return repo.root.signed.role_keys("targets").ok().map(|k| k.keys);
    }
    let parent = signet_tuf::role_name::parent(role)?;
    let file = if parent == "targets" {
        &repo.targets.signed
    } else {
        &repo.delegations.get(parent)?.signed
    };
    file.delegation_keys(role).ok().map(|k| k.keys)
}

/// What backfill found and did for one signed digest.
pub struct BackfillRow {
    pub digest: String,
    pub tags: Vec<String>,
    pub status: BackfillStatus,
    pub keys: Vec<KeyOutcome>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackfillStatus {
    /// No local key signs a role of its tags.
    NoLocalKey,
    /// The registry no longer has the manifest.
    NotInRegistry,
    AlreadySigned,
    Signed,
    /// `--dry-run`: signatures would be added.
    WouldSign,
}

impl BackfillStatus {
    fn as_str(self) -> &'static str {
        match self {
            BackfillStatus::NoLocalKey => "no local key",
            BackfillStatus::NotInRegistry => "not in registry",
            BackfillStatus::AlreadySigned => "already signed",
            BackfillStatus::Signed => "signed",
            BackfillStatus::WouldSign => "would sign",
        }
    }
}

pub struct Backfilled {
    pub gun: String,
    pub dry_run: bool,
    pub rows: Vec<BackfillRow>,
    pub warnings: Vec<String>,
}

impl Backfilled {
    /// Signatures added (or, with `--dry-run`, that would be).
    pub fn added(&self) -> usize {
        self.rows
            .iter()
            .flat_map(|r| &r.keys)
            .filter(|k| k.outcome == Attached::Added)
            .count()
    }
}

impl Report for Backfilled {
    fn json(&self) -> serde_json::Value {
        let rows: Vec<_> = self
            .rows
            .iter()
            .map(|r| json!({"digest": r.digest, "tags": r.tags, "status": r.status.as_str(), "keys": r.keys.iter().map(KeyOutcome::json).collect::<Vec<_>>()}))
            .collect();
        json!({"gun": self.gun, "dry_run": self.dry_run, "signatures_added": if self.dry_run { 0 } else { self.added() }, "digests": rows})
    }

    fn human(&self) -> String {
        let mut out = String::new();
        for r in &self.rows {
            out.push_str(&format!(
                "{} ({}): {}\n",
                r.digest,
                r.tags.join(", "),
                r.status.as_str()
            ));
        }
        if self.dry_run {
            out.push_str(&format!(
                "{} cosign signature(s) would be added to {}",
                self.added(),
                self.gun
            ));
        } else {
            out.push_str(&format!(
                "{} cosign signature(s) added to {}",
                self.added(),
                self.gun
            ));
        }
        out
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// `signet cosign backfill IMAGE`: every tag the verified trust data signs gets the cosign
/// signature of each local key that signs one of its roles, where it has none yet. Nothing in
/// the Notary trust data changes.
pub fn backfill(ctx: &Context, gun: &str, dry_run: bool) -> Result<Backfilled, CliError> {
    let repo = fetch_verified(ctx, gun)?;
    let held: BTreeSet<KeyId> = ctx.store.list()?.into_iter().map(|k| k.id).collect();
    // digest -> (tags, canonical IDs of the local keys that sign one of its roles)
    let mut by_digest: BTreeMap<String, (Vec<String>, BTreeSet<KeyId>)> = BTreeMap::new();
    for tag in repo.signed_tags() {
        let digest = format!("sha256:{}", hex::encode(tag.sha256));
        let entry = by_digest.entry(digest).or_default();
        entry.0.push(tag.name.clone());
        for role in &tag.roles {
            for key in role_keys(&repo, role)
                .into_iter()
                .flat_map(|m| m.into_values())
            {
                if let Ok(id) = key.canonical_id() {
                    if held.contains(&id) {
                        entry.1.insert(id);
                    }
                }
            }
        }
    }
    if by_digest.is_empty() {
        return Err(CliError::Refused(format!(
            "{gun}: the trust data signs no tag"
        )));
    }
    if by_digest.values().all(|(_, keys)| keys.is_empty()) {
        return Err(CliError::Refused(format!(
            "{gun}: no key in {} signs a role of its tags (load the signer's key with `signet key load`)",
            ctx.store.private_dir().display()
        )));
    }
    // Each key is decrypted once, and must be one cosign can use before anything is written.
    let mut pass = ctx.passphrases()?;
    let mut loaded: BTreeMap<KeyId, SigningKey> = BTreeMap::new();
    for id in by_digest.values().flat_map(|(_, keys)| keys.iter()) {
        if !loaded.contains_key(id) {
            let (_, private) = ctx.store.load(id, pass.as_mut())?;
            loaded.insert(id.clone(), signature::signing_key(&private)?);
        }
    }
    let access = if dry_run {
        Access::Pull
    } else {
        Access::PushPull
    };
    let mut client = registry(ctx, gun, access)?;
    if !dry_run {
        refuse_without_push(&client, gun)?;
    }
    let mut rows = Vec::new();
    for (digest, (tags, ids)) in by_digest {
        let mut row = BackfillRow {
            digest,
            tags,
            status: BackfillStatus::NoLocalKey,
            keys: Vec::new(),
        };
        if ids.is_empty() {
            rows.push(row);
            continue;
        }
        if client.manifest(&row.digest)?.is_none() {
            row.status = BackfillStatus::NotInRegistry;
            rows.push(row);
            continue;
        }
        let keys: Vec<(KeyId, SigningKey)> = ids
            .iter()
            .filter_map(|id| loaded.get(id).map(|k| (id.clone(), k.clone())))
            .collect();
        let outcome: Vec<Attached> = if dry_run {
            let existing = cosign::read(&mut client, &row.digest)?;
            keys.iter()
                .map(|(_, k)| {
                    let present = existing.as_ref().is_some_and(|(_, stored)| {
                        stored
                            .iter()
                            .any(|s| s.verifies(&row.digest, k.verifying_key()).is_ok())
                    });
                    if present {
                        Attached::Present
                    } else {
                        Attached::Added
                    }
                })
                .collect()
        } else {
            let signing: Vec<SigningKey> = keys.iter().map(|(_, k)| k.clone()).collect();
            cosign::attach(&mut client, gun, &row.digest, &signing)?
        };
        let added = outcome.contains(&Attached::Added);
        row.status = match (added, dry_run) {
            (false, _) => BackfillStatus::AlreadySigned,
            (true, true) => BackfillStatus::WouldSign,
            (true, false) => BackfillStatus::Signed,
        };
        row.keys = keys
            .into_iter()
            .zip(outcome)
            .map(|((key, _), outcome)| KeyOutcome { key, outcome })
            .collect();
        rows.push(row);
    }
    Ok(Backfilled {
        gun: gun.to_string(),
        dry_run,
        rows,
        warnings: repo.warnings,
    })
}

pub struct ExportedKey {
    pub signer: String,
    /// The key's canonical ID (its file name in the trust directory).
    pub key: KeyId,
    pub pem: String,
    /// Where it was written; `None` for standard output.
    pub output: Option<PathBuf>,
}

impl Report for ExportedKey {
    fn json(&self) -> serde_json::Value {
        json!({"signer": self.signer, "key": self.key.to_string(), "public_key": self.output, "pem": self.pem})
    }

    fn human(&self) -> String {
        match &self.output {
            None => self.pem.trim_end().to_string(),
            Some(path) => format!(
                "Wrote the public key of {} ({}) to {}: verify with `cosign verify --key {} --insecure-ignore-tlog IMAGE`",
                self.signer,
                &self.key.as_str()[..12.min(self.key.as_str().len())],
                path.display(),
                path.display()
            ),
        }
    }
}

/// `signet cosign export-key NAME`: the signer's public key as `cosign.pub` (PKIX PEM). From
/// the trust data of `image` when given (no private key needed), else from the local key
/// store (a key whose role is NAME, or whose ID is NAME). `output` `-` is standard output.
pub fn export_key(
    ctx: &Context,
    name: &str,
    image: Option<&ImageRef>,
    key_id: Option<&str>,
    output: &Path,
    force: bool,
) -> Result<ExportedKey, CliError> {
    let to_stdout = output == Path::new("-");
    if !to_stdout && output.exists() && !force {
        return Err(CliError::Refused(format!(
            "{} already exists (use --force to replace it)",
            output.display()
        )));
    }
    let candidates: Vec<PublicKey> = match image {
        Some(image) => {
            let repo = fetch_verified(ctx, &image.gun)?;
            role_keys(&repo, &format!("targets/{name}"))
                .ok_or_else(|| CliError::Refused(format!("{}: no signer {name:?}", image.gun)))?
                .into_values()
                .collect()
        }
        None => {
            let stored: Vec<_> = ctx
                .store
                .list()?
                .into_iter()
                .filter(|k| k.role == name || k.id.as_str() == name)
                .collect();
            let mut pass = ctx.passphrases()?;
            let mut keys = Vec::new();
            for k in stored {
                keys.push(ctx.store.load(&k.id, pass.as_mut())?.1.public_key());
            }
            keys
        }
    };
    let matching: Vec<PublicKey> = candidates
        .into_iter()
        .filter(|k| {
            key_id.is_none_or(|want| {
                k.id().as_str().starts_with(want)
                    || k.canonical_id().is_ok_and(|c| c.as_str().starts_with(want))
            })
        })
        .collect();
    let key = match matching.as_slice() {
        [one] => one,
        [] => {
            return Err(CliError::Refused(format!(
                "no key for signer {name:?}{}{}",
                key_id.map(|k| format!(" with ID {k}")).unwrap_or_default(),
                if image.is_none() {
                    " in the key store (or give --image to read it from a repository's trust data)"
                } else {
                    ""
                }
            )))
        }
        many => {
            let ids: Vec<String> = many.iter().map(|k| k.id().to_string()).collect();
            return Err(CliError::Usage(format!(
                "signer {name:?} has {} keys ({}): choose one with --key-id",
                many.len(),
                ids.join(", ")
            )));
        }
    };
    let pem = signature::public_key_pem(&signature::verifying_key(key)?)?;
    let id = key.canonical_id().unwrap_or_else(|_| key.id());
    if !to_stdout {
        std::fs::write(output, &pem).map_err(|e| CliError::file(output, e))?;
    }
    Ok(ExportedKey {
        signer: name.to_string(),
        key: id,
        pem,
        output: (!to_stdout).then(|| output.to_path_buf()),
    })
}

pub struct CosignVerified {
    pub gun: String,
    pub tag: String,
    pub digest: String,
    /// Short ID of the key that verified.
    pub key: String,
    pub signature_layer: String,
    pub docker_reference: String,
}

impl Report for CosignVerified {
    fn json(&self) -> serde_json::Value {
        json!({"gun": self.gun, "tag": self.tag, "digest": self.digest, "key": self.key, "signature_layer": self.signature_layer, "docker_reference": self.docker_reference})
    }

    fn human(&self) -> String {
        self.digest.clone()
    }
}

/// `signet verify --cosign --key F IMAGE[:TAG]`: the tag's current manifest digest if a
/// cosign signature by the key verifies for it (the Notary trust data is not consulted).
pub fn verify(
    ctx: &Context,
    image: &ImageRef,
    key_file: &Path,
) -> Result<CosignVerified, CliError> {
    let tag = image.tag.clone().unwrap_or_else(|| "latest".into());
    let pem = std::fs::read(key_file).map_err(|e| CliError::file(key_file, e))?;
    let key = signature::parse_public_key_pem(&pem).map_err(|e| CliError::file(key_file, e))?;
    let mut client = registry(ctx, &image.gun, Access::Pull)?;
    let manifest = client.manifest(&tag)?.ok_or_else(|| CliError::Registry {
        host: client.host().to_string(),
        reason: format!("no manifest for {}:{tag}", image.gun),
    })?;
    let digest = manifest.digest();
    let verified = cosign::verify(&mut client, &image.gun, &digest, &key)?;
    Ok(CosignVerified {
        gun: image.gun.clone(),
        tag,
        digest,
        key: signature::key_label(&key),
        signature_layer: verified.layer_digest,
        docker_reference: verified.docker_reference,
    })
}
