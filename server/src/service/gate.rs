//! The signed-only gate's decision, without HTTP: which registry and policy a manifest read
//! falls under, what digest the registry's answer must have, and — once the answer is in —
//! whether it is served, counted and logged.
//!
//! Trust data is read through the read cache and verified once per timestamp: the verified
//! targets are kept keyed by the timestamp's SHA-256, so a warm pull costs a cache lookup and
//! a map lookup, and a publish or wipe (which changes or removes the timestamp) takes effect
//! on the next request.

use super::{ServiceError, TrustService};
use crate::clock_map::ClockMap;
use crate::gate::children::{index_children, IndexChildren};
use crate::gate::trusted::{self, TrustFiles};
use crate::gate::{GateMode, GatePolicy, Reference, SignedManifest, TrustedTargets};
use bytes::Bytes;
use signet_tuf::role_name::{is_delegation, ROOT, SNAPSHOT, TARGETS, TIMESTAMP};
use signet_tuf::{SignedSnapshot, SignedTimestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Repositories whose verified targets are kept.
const MEMO_CAP: usize = 4096;
/// Verified targets are re-verified at least this often (expiry is judged at verification).
const MEMO_TTL: Duration = Duration::seconds(60);

struct Memo {
    timestamp_sha256: [u8; 32],
    verified_at: OffsetDateTime,
    targets: Arc<TrustedTargets>,
}

/// The gate's in-memory state inside the trust service.
#[derive(Default)]
pub struct GateState {
    memo: Mutex<ClockMap<String, Memo>>,
    /// GUN → SHA-256 of a root whose whole chain verified (older roots are read once).
    chains: Mutex<ClockMap<String, [u8; 32]>>,
    children: IndexChildren,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What must hold of the registry's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateCheck {
    /// Not checked: the policy is off, or the repository is exempt (the outcome's name).
    Pass(&'static str),
    /// The answer must have this SHA-256 (and this length, when the trust data names one).
    Expect {
        sha256: [u8; 32],
        length: Option<i64>,
    },
    /// Refused whatever the registry answers, for this reason.
    Refuse(String),
}

/// The decision taken before the registry answers.
#[derive(Clone, Debug)]
pub struct GateDecision {
    /// The registry's name (`open` without registries, `unknown` for an unknown host).
    pub registry: String,
    pub mode: GateMode,
    /// The GUN whose trust data decides (empty when no registry matched).
    pub gun: String,
    pub repository: String,
    pub reference: String,
    pub check: GateCheck,
    /// For a digest no signed tag or known index names: signed manifests this instance has
    /// not read yet (`sha256:<hex>`), which may be indexes naming it (another instance may
    /// have served the index). The HTTP layer reads them ([`TrustService::gate_learn`]) and
    /// decides again.
    pub index_candidates: Vec<String>,
}

/// At most this many signed manifests are read to find a digest's index.
const INDEX_CANDIDATES: usize = 32;

/// The registry's successful answer to a manifest read.
pub struct Served<'a> {
    /// The digest the registry states (`Docker-Content-Digest`), if any.
    pub stated_digest: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// The manifest bytes (GET); `None` for HEAD.
    pub body: Option<&'a [u8]>,
    /// `Content-Length` (HEAD) or the body's length.
    pub length: Option<i64>,
}

/// Whether the answer goes to the client.
#[derive(Debug, PartialEq, Eq)]
pub enum GateOutcome {
    Serve,
    /// Refused with this message (enforce mode).
    Refuse(String),
}

/// Why a repository's verified targets are not available.
enum LoadError {
    NoTrustData,
    Unverifiable(String),
    Failed(String),
}

impl From<ServiceError> for LoadError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => LoadError::NoTrustData,
            e => LoadError::Failed(format!("{e:?}")),
        }
    }
}

fn parse_stated(d: Option<&str>) -> Option<[u8; 32]> {
    match Reference::parse(d?)? {
        Reference::Digest(x) => Some(x),
        _ => None,
    }
}

impl TrustService {
    /// Decides a manifest read of `repository` at `reference` addressed to `host` (the
    /// host[:port] the client used), before the registry is asked.
    pub async fn gate_decide(
        self: &Arc<Self>,
        host: &str,
        repository: &str,
        reference: &str,
    ) -> GateDecision {
        let tenancy = self.tenancy();
        let (registry, gun_host, policy) = if tenancy.is_open() {
            ("open".to_string(), host.to_string(), GatePolicy::enforce())
        } else {
            match tenancy.registry_by_login_server(host) {
                Some(r) => (r.name.clone(), r.login_server.clone(), r.gate_policy()),
                None => {
                    return GateDecision {
                        registry: "unknown".into(),
                        mode: GateMode::Enforce,
                        gun: String::new(),
                        repository: repository.into(),
                        reference: reference.into(),
                        check: GateCheck::Refuse(format!(
                            "{host} is not the login server of any registry this gate serves"
                        )),
                        index_candidates: Vec::new(),
                    }
                }
            }
        };
        let gun = format!("{gun_host}/{repository}");
        let mut d = GateDecision {
            registry,
            mode: policy.mode,
            gun: gun.clone(),
            repository: repository.into(),
            reference: reference.into(),
            check: GateCheck::Pass("off"),
            index_candidates: Vec::new(),
        };
        if policy.mode == GateMode::Off {
            return d;
        }
        if !crate::gate::valid_repository(repository) {
            d.check = GateCheck::Refuse(format!(
                "{repository:?} is not a repository name this gate can check"
            ));
            return d;
        }
        if policy.is_exempt(repository) {
            d.check = GateCheck::Pass("exempt");
            return d;
        }
        d.check = match self.gate_check(&gun, reference, &policy).await {
            Ok(c) => c,
            Err(reason) => GateCheck::Refuse(reason),
        };
        if matches!(d.check, GateCheck::Refuse(_))
            && matches!(Reference::parse(reference), Some(Reference::Digest(_)))
        {
            if let Ok(t) = self.trusted_targets(&gun).await {
                d.index_candidates = t
                    .digests(&policy.signer_roles())
                    .into_iter()
                    .filter(|x| !self.gate.children.examined(&gun, x))
                    .take(INDEX_CANDIDATES)
                    .map(|x| format!("sha256:{}", hex::encode(x)))
                    .collect();
            }
        }
        d
    }

    /// Records a signed manifest read from the registry for `d`'s candidates: its children
    /// when it is an index. Bytes that do not hash to `digest` teach nothing.
    pub fn gate_learn(
        &self,
        d: &GateDecision,
        digest: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) {
        let Some(Reference::Digest(want)) = Reference::parse(digest) else {
            return;
        };
        if trusted::digest_of(body).sha256 != want {
            return;
        }
        let kids = index_children(content_type, body).unwrap_or_default();
        self.gate.children.record(&d.gun, want, &kids);
    }

    async fn gate_check(
        self: &Arc<Self>,
        gun: &str,
        reference: &str,
        policy: &GatePolicy,
    ) -> Result<GateCheck, String> {
        let Some(parsed) = crate::gate::Reference::parse(reference) else {
            return Err(format!(
                "{reference:?} is not a tag or digest this gate can check"
            ));
        };
        let trusted = match self.trusted_targets(gun).await {
            Ok(t) => t,
            Err(LoadError::NoTrustData) => {
                return Err(format!(
                    "no trust data for the repository {gun}: sign the image (docker trust sign, signet sign) before pulling it through this gate"
                ))
            }
            Err(LoadError::Unverifiable(e)) => {
                return Err(format!("the trust data of {gun} does not verify: {e}"))
            }
            Err(LoadError::Failed(e)) => {
                return Err(format!("the trust data of {gun} could not be read: {e}"))
            }
        };
        let roles = policy.signer_roles();
        match parsed {
            Reference::Tag(tag) => {
                let m = trusted
                    .tag(&tag, &roles)
                    .map_err(|why| format!("{why} in the trust data of {gun}"))?;
                Ok(GateCheck::Expect {
                    sha256: m.sha256,
                    length: Some(m.length),
                })
            }
            Reference::Digest(d) => {
                if let Some(length) = trusted.digest(&d, &roles) {
                    return Ok(GateCheck::Expect {
                        sha256: d,
                        length: Some(length),
                    });
                }
                let parent = self.gate.children.parent(gun, &d);
                if parent.is_some_and(|p| trusted.digest(&p, &roles).is_some()) {
                    return Ok(GateCheck::Expect {
                        sha256: d,
                        length: None,
                    });
                }
                Err(format!(
                    "digest {reference} is not signed by any tag of {gun} (nor named by a signed index)"
                ))
            }
            Reference::OtherDigest(_) => Err(format!(
                "digest {reference} is not signed: trust data signs sha256 digests"
            )),
        }
    }

    /// Decides on the registry's successful answer, counts and logs the decision.
    pub fn gate_finish(&self, d: &GateDecision, served: &Served<'_>) -> GateOutcome {
        let refusal = match &d.check {
            GateCheck::Pass(outcome) => {
                self.gate_record(d, outcome, None);
                return GateOutcome::Serve;
            }
            GateCheck::Refuse(reason) => Some(reason.clone()),
            GateCheck::Expect { sha256, length } => {
                let got = match served.body {
                    Some(body) => Some(trusted::digest_of(body)),
                    None => parse_stated(served.stated_digest).map(|s| SignedManifest {
                        sha256: s,
                        length: served.length.unwrap_or(-1),
                    }),
                };
                match got {
                    Some(g) if g.sha256 == *sha256 && length.is_none_or(|l| l == g.length) => {
                        if let Some(body) = served.body {
                            let kids = index_children(served.content_type, body);
                            self.gate.children.record(&d.gun, *sha256, &kids.unwrap_or_default());
                        }
                        None
                    }
                    Some(g) => Some(format!(
                        "the registry's content for {}:{} differs from the signed digest: signed {}{}, registry served {} ({} bytes)",
                        d.repository,
                        d.reference,
                        SignedManifest { sha256: *sha256, length: 0 }.digest(),
                        length.map(|l| format!(" ({l} bytes)")).unwrap_or_default(),
                        g.digest(),
                        g.length
                    )),
                    None => Some(format!(
                        "the registry did not state the digest of {}:{}, so it cannot be checked against the signed one",
                        d.repository, d.reference
                    )),
                }
            }
        };
        match (refusal, d.mode) {
            (None, _) => {
                self.gate_record(d, "allowed", None);
                GateOutcome::Serve
            }
            (Some(reason), GateMode::Audit) => {
                self.gate_record(d, "would_deny", Some(&reason));
                GateOutcome::Serve
            }
            (Some(reason), _) => {
                self.gate_record(d, "denied", Some(&reason));
                GateOutcome::Refuse(reason)
            }
        }
    }

    /// The refusal of a request the gate cannot even parse (enforce) or `None` (audit, off).
    pub fn gate_unparsable(&self, d: &GateDecision) -> Option<String> {
        let reason = match &d.check {
            GateCheck::Refuse(r) => r.clone(),
            _ => return None,
        };
        self.gate_finish(
            d,
            &Served {
                stated_digest: None,
                content_type: None,
                body: None,
                length: None,
            },
        );
        (d.mode == GateMode::Enforce).then_some(reason)
    }

    fn gate_record(&self, d: &GateDecision, outcome: &'static str, reason: Option<&str>) {
        self.metrics.gate_decision(&d.registry, outcome);
        tracing::info!(
            target: "signet::gate",
            registry = %d.registry,
            repository = %d.repository,
            reference = %d.reference,
            outcome,
            reason = reason.unwrap_or(""),
            "gate decision"
        );
    }

    /// The verified targets of `gun`, from the memo while its timestamp is unchanged.
    async fn trusted_targets(
        self: &Arc<Self>,
        gun: &str,
    ) -> Result<Arc<TrustedTargets>, LoadError> {
        let ts = self.current_file(gun, TIMESTAMP).await?;
        let now = OffsetDateTime::now_utc();
        if let Some(m) = lock(&self.gate.memo).get(gun) {
            if m.timestamp_sha256 == ts.sha256 && now - m.verified_at < MEMO_TTL {
                return Ok(m.targets.clone());
            }
        }
        let files = self.trust_files(gun, ts.bytes).await?;
        let root_sha = signet_tuf::file_meta::sha256(&files.root);
        let g = gun.to_string();
        let verified = self
            .blocking(move || Ok(trusted::verify(&g, &files, now)))
            .await?
            .map_err(|e| LoadError::Unverifiable(e.0))?;
        let verified = Arc::new(verified);
        lock(&self.gate.chains).insert_capped(gun.to_string(), root_sha, MEMO_CAP);
        let memo = Memo {
            timestamp_sha256: ts.sha256,
            verified_at: now,
            targets: verified.clone(),
        };
        drop(lock(&self.gate.memo).insert_capped(gun.to_string(), memo, MEMO_CAP));
        Ok(verified)
    }

    /// Reads the files the timestamp leads to, by checksum through the read cache; older roots
    /// only when this root's chain has not been verified yet.
    async fn trust_files(
        self: &Arc<Self>,
        gun: &str,
        timestamp: Bytes,
    ) -> Result<TrustFiles, LoadError> {
        let corrupt = |e: signet_tuf::TufError| LoadError::Unverifiable(e.to_string());
        let ts = SignedTimestamp::from_bytes(TIMESTAMP, &timestamp).map_err(corrupt)?;
        let sha_hex = |m: &signet_tuf::FileMeta| m.hash("sha256").map(hex::encode);
        let snap_sum = ts
            .signed
            .snapshot_meta()
            .and_then(sha_hex)
            .ok_or(LoadError::NoTrustData)?;
        let snapshot = self.read_checksum(gun, SNAPSHOT, &snap_sum).await?.bytes;
        let snap = SignedSnapshot::from_bytes(SNAPSHOT, &snapshot).map_err(corrupt)?;
        let mut root = None;
        let mut targets = BTreeMap::new();
        for (role, meta) in snap.signed.meta.iter().flatten() {
            let wanted = role == ROOT || role == TARGETS || is_delegation(role);
            let Some(sum) = sha_hex(meta).filter(|_| wanted) else {
                continue;
            };
            let bytes = self.read_checksum(gun, role, &sum).await?.bytes;
            if role == ROOT {
                root = Some(bytes);
            } else {
                targets.insert(role.clone(), bytes);
            }
        }
        let root = root.ok_or(LoadError::NoTrustData)?;
        let root_sha = signet_tuf::file_meta::sha256(&root);
        let mut previous_roots = Vec::new();
        let chained = lock(&self.gate.chains).get(gun) == Some(&root_sha);
        if !chained {
            let version = signet_tuf::Envelope::parse(ROOT, &root)
                .ok()
                .and_then(|e| e.version())
                .unwrap_or(1);
            // A repository imported from a client's cache may start its chain later.
            for v in (1..version).rev() {
                match self.read_version(gun, ROOT, v).await {
                    Ok(f) => previous_roots.push(f.bytes),
                    Err(ServiceError::NotFound) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            previous_roots.reverse();
        }
        Ok(TrustFiles {
            previous_roots,
            root,
            timestamp,
            snapshot,
            targets,
        })
    }
}
