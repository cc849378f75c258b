//! Validation of an update exactly as notary-server does it (protocol reference §2), and the
//! server-generated snapshot and timestamp. Nothing here writes: the caller stores the rows
//! this returns in one transaction.

use crate::foreign_keys;
use crate::signer::{ServerRole, Signer, SignerError};
use crate::store::{MetaReader, NewMeta, StoreError};
use signet_tuf::role_name::{self, ROOT, SNAPSHOT, TARGETS, TIMESTAMP};
use signet_tuf::root_policy::validate_root;
use signet_tuf::{
    GoTime, Role, Signature, Signed, SignedRoot, SignedSnapshot, SignedTargets, Snapshot,
    Timestamp, TufError,
};
use std::collections::BTreeMap;
use thiserror::Error;
use time::{Duration, OffsetDateTime};

/// Server-generated expiries (notary-server defaults).
pub const SNAPSHOT_EXPIRY: Duration = Duration::days(3 * 365);
mod renewal;

pub use crate::validated_roots::{ValidatedRoots, VALIDATED_ROOTS_CAP};
pub use renewal::{current_timestamp, renew_server_signed, TimestampState};

pub const TIMESTAMP_EXPIRY: Duration = Duration::days(14);
/// A timestamp this close to expiry is renewed on the next read, before clients see it lapse.
pub const TIMESTAMP_RENEW_MARGIN: Duration = Duration::days(1);

#[derive(Debug, Error)]
pub enum UpdateError {
    #[error("{0}")]
    BadRoot(String),
    #[error("{0}")]
    BadTargets(String),
    #[error("{0}")]
    BadSnapshot(String),
    #[error("{msg}")]
    BadHierarchy { missing: String, msg: String },
    #[error("{0}")]
    Validation(String),
    /// The stored root no longer validates (e.g. its certificate expired): every push fails.
    #[error("stored root is no longer valid: {0}")]
    StoredRootInvalid(String),
    #[error("{0}")]
    OldVersion(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("stored metadata is corrupt: {0}")]
    Corrupt(String),
}

impl UpdateError {
    /// The notary error code.
    pub fn api_code(&self) -> &'static str {
        match self {
            UpdateError::OldVersion(_) => "VERSION",
            UpdateError::Store(StoreError::OldVersion { .. }) => "VERSION",
            UpdateError::Store(_) | UpdateError::Corrupt(_) => "UPDATING",
            UpdateError::Signer(_) => "UNKNOWN",
            _ => "INVALID_UPDATE",
        }
    }

    /// The `detail` notary sends: `{"Name":<kind>,"Error":{...}}` for validation errors.
    pub fn detail(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        let named = |name: &str, msg: &str| json!({"Name": name, "Error": {"Msg": msg}});
        match self {
            UpdateError::BadRoot(m) => Some(named("ErrBadRoot", m)),
            UpdateError::BadTargets(m) => Some(named("ErrBadTargets", m)),
            UpdateError::BadSnapshot(m) => Some(named("ErrBadSnapshot", m)),
            UpdateError::Validation(m) => Some(named("ErrValidation", m)),
            UpdateError::BadHierarchy { missing, msg } => {
                Some(json!({"Name": "ErrBadHierarchy", "Error": {"Missing": missing, "Msg": msg}}))
            }
            UpdateError::OldVersion(_) | UpdateError::Store(StoreError::OldVersion { .. }) => {
                Some(json!({}))
            }
            _ => None,
        }
    }

    /// Which kind of validation failure this is, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpdateError::BadRoot(_) => "bad_root",
            UpdateError::BadTargets(_) => "bad_targets",
            UpdateError::BadSnapshot(_) => "bad_snapshot",
            UpdateError::BadHierarchy { .. } => "bad_hierarchy",
            UpdateError::Validation(_) => "validation",
            UpdateError::StoredRootInvalid(_) => "stored_root_invalid",
            UpdateError::OldVersion(_) | UpdateError::Store(StoreError::OldVersion { .. }) => {
                "version"
            }
            _ => "internal",
        }
    }
}

/// The message notary uses for a failed threshold; other errors use their own text.
fn msg(e: &TufError) -> String {
    match e {
        TufError::ThresholdNotMet { role, .. } | TufError::NoSignatures { role } => {
            format!("valid signatures did not meet threshold for {role}")
        }
        other => other.to_string(),
    }
}

/// One uploaded part: a validated role name and the file bytes.
#[derive(Clone, Debug)]
pub struct Upload {
    pub role: String,
    pub bytes: Vec<u8>,
}

fn load_stored<T: Role>(
    reader: &dyn MetaReader,
    gun: &str,
    role: &str,
) -> Result<Option<Signed<T>>, UpdateError> {
    match reader.latest(gun, role)? {
        None => Ok(None),
        Some(m) => Signed::<T>::from_bytes(role, &m.bytes)
            .map(Some)
            .map_err(|e| UpdateError::Corrupt(e.to_string())),
    }
}

struct LoadedTargets {
    file: SignedTargets,
    uploaded: bool,
}

/// Validates an update and returns every row to store: uploaded roles plus the generated
/// snapshot (unless uploaded) and the always-generated timestamp.
pub fn plan_update(
    gun: &str,
    reader: &dyn MetaReader,
    signer: &Signer,
    validated_roots: &ValidatedRoots,
    uploads: Vec<Upload>,
    now: OffsetDateTime,
) -> Result<Vec<NewMeta>, UpdateError> {
    // One file per role: notary-server silently keeps the last of two, and which one a
    // client meant cannot be known.
    let mut seen = std::collections::HashSet::new();
    for u in &uploads {
        if !seen.insert(u.role.as_str()) {
            return Err(UpdateError::Validation(format!(
                "{} is uploaded more than once in one update",
                u.role
            )));
        }
    }
    let mut root_upload = None;
    let mut snapshot_upload = None;
    let mut targets_uploads = Vec::new();
    for u in uploads {
        match u.role.as_str() {
            ROOT => root_upload = Some(u.bytes),
            SNAPSHOT => snapshot_upload = Some(u.bytes),
            // A client-sent timestamp is accepted and ignored: the server always makes it.
            TIMESTAMP => {}
            _ => targets_uploads.push(u),
        }
    }

    // §2.1: the stored root must still validate, certificates' expiry included.
    let stored_root: Option<SignedRoot> = load_stored(reader, gun, ROOT)?;
    if let Some(r) = &stored_root {
        validate_stored_root(validated_roots, r, gun, now)?;
    }

    // Imported with the source's timestamp key: read-only until a root rotates it to Signet's.
    if let (Some(stored), None) = (&stored_root, &root_upload) {
        if !foreign_keys::holds_timestamp_key(gun, signer, stored)? {
            return Err(foreign_keys::read_only_imported(gun, reader));
        }
    }

    // §2.2: root in the update.
    let mut rows = Vec::new();
    let root = match root_upload {
        Some(bytes) => {
            let cur = stored_root.as_ref().map(|r| r.version()).unwrap_or(1);
            let new =
                SignedRoot::from_bytes(ROOT, &bytes).map_err(|e| UpdateError::BadRoot(msg(&e)))?;
            if new.version() != cur && new.version() != cur + 1 {
                return Err(UpdateError::BadRoot(format!(
                    "Root modifications must increment the version. Current {cur}, new {}",
                    new.version()
                )));
            }
            // Validated before the version is compared, as the reference does: a root that
            // is both invalid and not newer is a bad root, not a stale one.
            validate_root(&new, stored_root.as_ref(), gun, now)
                .map_err(|e| UpdateError::BadRoot(msg(&e)))?;
            new.check_expiry(ROOT, now)
                .map_err(|e| UpdateError::BadRoot(msg(&e)))?;
            check_newer(reader, gun, ROOT, new.version())?;
            rows.push(NewMeta {
                role: ROOT.into(),
                version: new.version(),
                bytes,
            });
            new
        }
        // §2.3
        None => stored_root.ok_or_else(|| {
            UpdateError::Validation("no pre-existing root and no root provided in update.".into())
        })?,
    };

    // §2.4: targets and delegations, parents first.
    targets_uploads.sort_by(|a, b| {
        role_name::depth(&a.role)
            .cmp(&role_name::depth(&b.role))
            .then_with(|| a.role.cmp(&b.role))
    });
    let mut loaded: BTreeMap<String, LoadedTargets> = BTreeMap::new();
    for u in targets_uploads {
        let role = u.role.as_str();
        let mut chain = Vec::new();
        let mut p = role_name::parent(role);
        while let Some(anc) = p {
            chain.push(anc.to_string());
            p = role_name::parent(anc);
        }
        for anc in chain.into_iter().rev() {
            if let std::collections::btree_map::Entry::Vacant(slot) = loaded.entry(anc) {
                if let Some(f) = load_stored::<signet_tuf::Targets>(reader, gun, slot.key())? {
                    slot.insert(LoadedTargets {
                        file: f,
                        uploaded: false,
                    });
                }
            }
        }
        let file = SignedTargets::from_bytes(role, &u.bytes)
            .map_err(|e| UpdateError::BadTargets(msg(&e)))?;
        let keys = if role == TARGETS {
            root.signed
                .role_keys(TARGETS)
                .map_err(|e| UpdateError::BadTargets(msg(&e)))?
        } else {
            let parent = role_name::parent(role).unwrap_or(TARGETS);
            let listed = loaded
                .get(parent)
                .and_then(|p| p.file.signed.delegation(role).map(|_| &p.file));
            let Some(parent_file) = listed else {
                return Err(UpdateError::BadTargets(format!(
                    "{role} delegation does not exist"
                )));
            };
            parent_file
                .signed
                .delegation_keys(role)
                .map_err(|e| UpdateError::BadTargets(msg(&e)))?
        };
        file.verify_threshold(&keys)
            .map_err(|e| UpdateError::BadTargets(msg(&e)))?;
        file.check_expiry(role, now)
            .map_err(|e| UpdateError::BadTargets(msg(&e)))?;
        check_newer(reader, gun, role, file.version())?;
        rows.push(NewMeta {
            role: role.to_string(),
            version: file.version(),
            bytes: u.bytes,
        });
        loaded.insert(
            role.to_string(),
            LoadedTargets {
                file,
                uploaded: true,
            },
        );
    }
    if !loaded.contains_key(TARGETS) {
        if let Some(f) = load_stored::<signet_tuf::Targets>(reader, gun, TARGETS)? {
            loaded.insert(
                TARGETS.into(),
                LoadedTargets {
                    file: f,
                    uploaded: false,
                },
            );
        }
    }

    // §2.5: snapshot, uploaded or generated.
    let snapshot_bytes = match snapshot_upload {
        Some(bytes) => {
            let bad = |e: TufError| UpdateError::BadSnapshot(msg(&e));
            let snap = SignedSnapshot::from_bytes(SNAPSHOT, &bytes).map_err(bad)?;
            snap.verify_threshold(&root.signed.role_keys(SNAPSHOT).map_err(bad)?)
                .map_err(bad)?;
            snap.check_expiry(SNAPSHOT, now).map_err(bad)?;
            let mut files: Vec<(&str, &[u8])> = vec![(ROOT, root.raw())];
            files.extend(loaded.iter().map(|(r, l)| (r.as_str(), l.file.raw())));
            for (role, raw) in files {
                let meta = snap.signed.meta_for(role).ok_or_else(|| {
                    UpdateError::BadSnapshot(format!("snapshot is missing meta for {role}"))
                })?;
                meta.check_hashes(role, raw).map_err(bad)?;
            }
            check_newer(reader, gun, SNAPSHOT, snap.version())?;
            rows.push(NewMeta {
                role: SNAPSHOT.into(),
                version: snap.version(),
                bytes: bytes.clone(),
            });
            bytes
        }
        None => {
            let prev: Option<SignedSnapshot> = load_stored(reader, gun, SNAPSHOT)?;
            if prev.is_none() && !loaded.contains_key(TARGETS) {
                return Err(UpdateError::Validation(
                    "no targets in update or store: cannot generate a snapshot".into(),
                ));
            }
            let mut snap = match &prev {
                Some(p) => p.signed.clone(),
                None => Snapshot::new(GoTime::from_instant(now)),
            };
            snap.version = prev.as_ref().map(|p| p.version() + 1).unwrap_or(1);
            snap.expires = GoTime::from_instant(now + SNAPSHOT_EXPIRY);
            snap.set_meta(ROOT, root.raw());
            for (role, l) in &loaded {
                if l.uploaded || prev.is_none() {
                    snap.set_meta(role, l.file.raw());
                }
            }
            let bytes = server_sign(gun, signer, &root, ServerRole::Snapshot, &snap)?.ok_or_else(|| {
                UpdateError::BadHierarchy {
                    missing: SNAPSHOT.into(),
                    msg: "no snapshot was included in update and server does not hold current snapshot key for repository".into(),
                }
            })?;
            rows.push(NewMeta {
                role: SNAPSHOT.into(),
                version: snap.version,
                bytes: bytes.clone(),
            });
            bytes
        }
    };

    // §2.6: the timestamp, always generated.
    let ts_version = reader
        .latest_version(gun, TIMESTAMP)?
        .map(|v| v + 1)
        .unwrap_or(1);
    let ts = Timestamp::for_snapshot(
        GoTime::from_instant(now + TIMESTAMP_EXPIRY),
        ts_version,
        &snapshot_bytes,
    );
    let ts_bytes = match server_sign(gun, signer, &root, ServerRole::Timestamp, &ts)? {
        Some(b) => b,
        None if foreign_keys::stored_root_foreign(gun, signer, reader)? => {
            return Err(foreign_keys::read_only_imported(gun, reader))
        }
        None => {
            return Err(UpdateError::BadRoot(
                "no  timestamp keys exist on the server".into(),
            ))
        }
    };
    rows.push(NewMeta {
        role: TIMESTAMP.into(),
        version: ts_version,
        bytes: ts_bytes,
    });
    Ok(rows)
}

fn validate_stored_root(
    validated: &ValidatedRoots,
    root: &SignedRoot,
    gun: &str,
    now: OffsetDateTime,
) -> Result<(), UpdateError> {
    validate_stored_root_in(validated, root, gun, now)
}

fn validate_stored_root_in(
    validated: &ValidatedRoots,
    root: &SignedRoot,
    gun: &str,
    now: OffsetDateTime,
) -> Result<(), UpdateError> {
    let digest = signet_tuf::file_meta::sha256(root.raw());
    if validated.is_valid(gun, &digest, now) {
        return Ok(());
    }
    // Validated without the lock held: publishes to other repositories need not queue behind
    // this one's certificate and signature checks. Two racing validations of one root both
    // succeed or both fail; the later record wins, with the same content.
    validate_root(root, None, gun, now)
        .map_err(|e| UpdateError::StoredRootInvalid(e.to_string()))?;
    let earliest_expiry = root
        .signed
        .role_keys(ROOT)
        .ok()
        .and_then(|keys| {
            keys.keys
                .values()
                .filter_map(|k| k.leaf_certificate().ok().map(|c| c.not_after()))
                .min()
        })
        .unwrap_or(now);
    validated.record(gun, digest, earliest_expiry.min(now + Duration::minutes(1)));
    Ok(())
}

/// Versions must be strictly greater than the stored one (checked again by the store inside
/// its transaction); checking here first avoids signing anything for a stale upload.
fn check_newer(
    reader: &dyn MetaReader,
    gun: &str,
    role: &str,
    version: i64,
) -> Result<(), UpdateError> {
    if let Some(cur) = reader.latest_version(gun, role)? {
        if cur >= version {
            return Err(UpdateError::OldVersion(format!(
                "{role} version {version} is not newer than stored version {cur}"
            )));
        }
    }
    Ok(())
}

/// Signs a server role with every key of that role in `root` the server holds. `None` when
/// it holds none.
fn server_sign<T: Role>(
    gun: &str,
    signer: &Signer,
    root: &SignedRoot,
    role: ServerRole,
    typed: &T,
) -> Result<Option<Vec<u8>>, UpdateError> {
    let ids: Vec<String> = root
        .signed
        .role_entry(role.as_str())
        .map(|r| r.key_ids().to_vec())
        .unwrap_or_default();
    let mut held = 0;
    let result = signet_tuf::serialize_with(role.as_str(), typed, |body| {
        let sigs = signer.sign(gun, role, &ids, body)?;
        held = sigs.len();
        Ok::<_, SignerError>(
            sigs.into_iter()
                .map(|(keyid, s)| Signature {
                    keyid,
                    method: s.method.to_string(),
                    sig: s.sig,
                })
                .collect::<Vec<_>>(),
        )
    })
    .map_err(|e| UpdateError::Corrupt(e.to_string()))?;
    let bytes = result?;
    Ok((held > 0).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, Store};
    use signet_keys::PrivateKey;
    use signet_tuf::{sign_and_serialize, FileMeta, Root, SignedTimestamp, Targets};
    use std::sync::Arc;

    const GUN: &str = "example.com/unit";

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<SqliteStore>,
        signer: Signer,
        root_key: PrivateKey,
        root_cert: signet_keys::PublicKey,
        targets_key: PrivateKey,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let signer = Signer::open(store.clone(), b"pass").unwrap();
        let root_key = PrivateKey::generate_ecdsa();
        let now = OffsetDateTime::now_utc();
        let root_cert = signet_keys::root_certificate(
            &root_key,
            GUN,
            now - Duration::days(30),
            now + Duration::days(3650),
        )
        .unwrap();
        Fixture {
            _dir: dir,
            store,
            signer,
            root_key,
            root_cert,
            targets_key: PrivateKey::generate_ecdsa(),
        }
    }

    impl Fixture {
        fn root(&self, version: i64) -> Vec<u8> {
            let ts = self
                .signer
                .get_or_create(GUN, ServerRole::Timestamp, &[])
                .unwrap();
            let snap = self
                .signer
                .get_or_create(GUN, ServerRole::Snapshot, &[])
                .unwrap();
            let mut r = Root::new(GoTime::from_instant(
                OffsetDateTime::now_utc() + Duration::days(365),
            ));
            r.version = version;
            r.set_role_keys(ROOT, vec![self.root_cert.clone()], 1);
            r.set_role_keys(TARGETS, vec![self.targets_key.public_key()], 1);
            r.set_role_keys(SNAPSHOT, vec![snap], 1);
            r.set_role_keys(TIMESTAMP, vec![ts], 1);
            let id = self.root_cert.id();
            sign_and_serialize(ROOT, &r, &[(&id, &self.root_key)]).unwrap()
        }

        fn targets(&self, version: i64) -> Vec<u8> {
            let mut t = Targets::new(GoTime::from_instant(
                OffsetDateTime::now_utc() + Duration::days(365),
            ));
            t.version = version;
            t.targets
                .get_or_insert_with(Default::default)
                .insert("v".into(), FileMeta::from_bytes(b"x"));
            let id = self.targets_key.id();
            sign_and_serialize(TARGETS, &t, &[(&id, &self.targets_key)]).unwrap()
        }

        fn publish(
            &self,
            uploads: Vec<Upload>,
            now: OffsetDateTime,
        ) -> Result<Vec<NewMeta>, UpdateError> {
            let rows = plan_update(
                GUN,
                self.store.as_ref(),
                &self.signer,
                &ValidatedRoots::default(),
                uploads,
                now,
            )?;
            self.store.update_many(GUN, &rows, now)?;
            Ok(rows)
        }
    }

    fn up(role: &str, bytes: Vec<u8>) -> Upload {
        Upload {
            role: role.into(),
            bytes,
        }
    }

    #[test]
    fn validated_roots_are_bounded_and_an_evicted_root_is_checked_again() {
        let f = fixture();
        let root = SignedRoot::from_bytes(ROOT, &f.root(1)).unwrap();
        let digest = signet_tuf::file_meta::sha256(root.raw());
        let now = OffsetDateTime::now_utc();
        let cache = ValidatedRoots::new(2);
        validate_stored_root_in(&cache, &root, GUN, now).unwrap();
        assert_eq!(cache.lock().len(), 1);
        let later = now + Duration::minutes(5);
        cache.record("example.com/x", [1; 32], later);
        cache.record("example.com/y", [2; 32], later);
        // The bound holds; the entry never read since it was recorded went first.
        assert_eq!(cache.lock().len(), 2);
        assert!(!cache.is_valid(GUN, &digest, now), "evicted");
        assert!(cache.is_valid("example.com/y", &[2; 32], now));
        assert!(
            !cache.is_valid("example.com/y", &[3; 32], now),
            "other bytes"
        );
        // Validated again after eviction, and cached again.
        validate_stored_root_in(&cache, &root, GUN, now).unwrap();
        assert!(cache.is_valid(GUN, &digest, now));
        assert_eq!(cache.lock().len(), 2);
        // Past the root certificate's expiry the cached entry does not vouch for it.
        let expired = now + Duration::days(3651);
        assert!(matches!(
            validate_stored_root_in(&cache, &root, GUN, expired),
            Err(UpdateError::StoredRootInvalid(_))
        ));
    }

    #[test]
    fn first_publish_generates_snapshot_and_timestamp() {
        let f = fixture();
        let rows = f
            .publish(
                vec![up(ROOT, f.root(1)), up(TARGETS, f.targets(1))],
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        let roles: Vec<&str> = rows.iter().map(|r| r.role.as_str()).collect();
        assert_eq!(roles, vec![ROOT, TARGETS, SNAPSHOT, TIMESTAMP]);
        let root = SignedRoot::from_bytes(ROOT, &rows[0].bytes).unwrap();
        let snap = SignedSnapshot::from_bytes(SNAPSHOT, &rows[2].bytes).unwrap();
        snap.verify_threshold(&root.signed.role_keys(SNAPSHOT).unwrap())
            .unwrap();
        snap.signed
            .meta_for(TARGETS)
            .unwrap()
            .check_hashes(TARGETS, &rows[1].bytes)
            .unwrap();
        let ts = SignedTimestamp::from_bytes(TIMESTAMP, &rows[3].bytes).unwrap();
        ts.verify_threshold(&root.signed.role_keys(TIMESTAMP).unwrap())
            .unwrap();
        ts.signed
            .snapshot_meta()
            .unwrap()
            .check_hashes(SNAPSHOT, &rows[2].bytes)
            .unwrap();
    }

    #[test]
    fn expired_timestamp_is_renewed_on_read_with_the_next_version() {
        let f = fixture();
        let long_ago = OffsetDateTime::now_utc() - Duration::days(20);
        f.publish(
            vec![up(ROOT, f.root(1)), up(TARGETS, f.targets(1))],
            long_ago,
        )
        .unwrap();
        let now = OffsetDateTime::now_utc();
        let state = current_timestamp(GUN, f.store.as_ref(), &f.signer, now)
            .unwrap()
            .unwrap();
        assert_eq!(state.new_rows.len(), 1, "only the timestamp is renewed");
        let ts = SignedTimestamp::from_bytes(TIMESTAMP, &state.timestamp).unwrap();
        assert_eq!(ts.version(), 2);
        assert!(ts.signed.expires.instant() > now + Duration::days(13));
        f.store.update_many(GUN, &state.new_rows, now).unwrap();
        // Fresh now: nothing more to renew.
        let again = current_timestamp(GUN, f.store.as_ref(), &f.signer, now)
            .unwrap()
            .unwrap();
        assert!(again.new_rows.is_empty());
        assert_eq!(again.timestamp, state.timestamp);
    }

    /// Signet holds the snapshot key but the timestamp key is another server's (a database
    /// import that brought only the snapshot key): an expired snapshot is not renewed, since
    /// the timestamp that would have to name the new one cannot be signed.
    #[test]
    fn a_snapshot_is_not_renewed_under_a_timestamp_the_server_cannot_sign() {
        let f = fixture();
        let foreign_ts = PrivateKey::generate_ecdsa();
        let snap_key = f
            .signer
            .get_or_create(GUN, ServerRole::Snapshot, &[])
            .unwrap();
        let mut r = Root::new(GoTime::from_instant(
            OffsetDateTime::now_utc() + Duration::days(365),
        ));
        r.set_role_keys(ROOT, vec![f.root_cert.clone()], 1);
        r.set_role_keys(TARGETS, vec![f.targets_key.public_key()], 1);
        r.set_role_keys(SNAPSHOT, vec![snap_key], 1);
        r.set_role_keys(TIMESTAMP, vec![foreign_ts.public_key()], 1);
        let root_bytes = sign_and_serialize(ROOT, &r, &[(&f.root_cert.id(), &f.root_key)]).unwrap();
        let root = SignedRoot::from_bytes(ROOT, &root_bytes).unwrap();
        let targets = f.targets(1);
        let then = OffsetDateTime::now_utc() - Duration::days(10);
        let mut snap = signet_tuf::Snapshot::new(GoTime::from_instant(then + Duration::days(1)));
        snap.set_meta(ROOT, &root_bytes);
        snap.set_meta(TARGETS, &targets);
        let snap_bytes = server_sign(GUN, &f.signer, &root, ServerRole::Snapshot, &snap)
            .unwrap()
            .expect("the server holds the snapshot key");
        let ts = Timestamp::for_snapshot(
            GoTime::from_instant(OffsetDateTime::now_utc() + Duration::days(5)),
            1,
            &snap_bytes,
        );
        let ts_bytes =
            sign_and_serialize(TIMESTAMP, &ts, &[(&foreign_ts.id(), &foreign_ts)]).unwrap();
        let rows = [
            (ROOT, root_bytes),
            (TARGETS, targets),
            (SNAPSHOT, snap_bytes.clone()),
            (TIMESTAMP, ts_bytes.clone()),
        ]
        .map(|(role, bytes)| NewMeta {
            role: role.into(),
            version: 1,
            bytes,
        });
        f.store.update_many(GUN, &rows, then).unwrap();

        let now = OffsetDateTime::now_utc();
        let state = current_timestamp(GUN, f.store.as_ref(), &f.signer, now)
            .unwrap()
            .unwrap();
        assert!(state.new_rows.is_empty(), "nothing renewed");
        assert_eq!(state.timestamp.as_ref(), ts_bytes.as_slice());
        assert_eq!(state.snapshot.as_ref(), snap_bytes.as_slice());
        let ahead =
            renew_server_signed(GUN, f.store.as_ref(), &f.signer, now, Duration::days(3)).unwrap();
        assert!(
            ahead.is_empty(),
            "the background pass renews nothing either"
        );
    }

    #[test]
    fn background_renewal_runs_ahead_of_reads_and_expiry_is_reported() {
        let f = fixture();
        // Published 11 days ago: the timestamp expires in 3 days, reads leave it alone.
        let then = OffsetDateTime::now_utc() - Duration::days(11);
        f.publish(vec![up(ROOT, f.root(1)), up(TARGETS, f.targets(1))], then)
            .unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(current_timestamp(GUN, f.store.as_ref(), &f.signer, now)
            .unwrap()
            .unwrap()
            .new_rows
            .is_empty());
        let store: &dyn Store = f.store.as_ref();
        let soon = crate::expiry::repository(store, GUN).unwrap();
        let ts = soon.iter().find(|e| e.what == "timestamp").unwrap();
        assert!(ts.server_signed);
        assert_eq!(ts.version, Some(1));
        assert!(ts.expires < now + Duration::days(4));
        // A pass with a 2-day margin renews nothing, one with 4 days renews the timestamp.
        let pass = |days| crate::expiry::renew_due(store, &f.signer, now, Duration::days(days));
        assert!(pass(2).unwrap().renewed.is_empty());
        let done = pass(4).unwrap();
        assert_eq!(done.renewed, [GUN]);
        assert_eq!((done.repositories, done.failed), (1, 0));
        let after = crate::expiry::repository(store, GUN).unwrap();
        let ts = after.iter().find(|e| e.what == "timestamp").unwrap();
        assert_eq!(ts.version, Some(2));
        assert!(ts.expires > now + Duration::days(13));
        assert!(pass(4).unwrap().renewed.is_empty(), "renewed once");
        // The gauge shows what only signers can renew: not the timestamp.
        let earliest = crate::expiry::earliest_client_signed(&after);
        assert!(
            earliest.is_some_and(|t| t > now + Duration::days(300)),
            "{earliest:?}"
        );
        let text = crate::expiry::render_metrics(&[(GUN.to_string(), earliest)]);
        assert!(text.contains(&format!(
            "signet_repository_expiry_timestamp_seconds{{gun=\"{GUN}\"}} {}\n",
            earliest.unwrap().unix_timestamp()
        )));
    }

    #[test]
    fn an_expired_stored_root_certificate_stops_every_push_despite_the_cache() {
        let mut f = fixture();
        let now = OffsetDateTime::now_utc();
        // A root certificate that lapses two seconds from now.
        f.root_cert = signet_keys::root_certificate(
            &f.root_key,
            GUN,
            now - Duration::days(1),
            now + Duration::seconds(2),
        )
        .unwrap();
        f.publish(vec![up(ROOT, f.root(1)), up(TARGETS, f.targets(1))], now)
            .unwrap();
        f.publish(vec![up(TARGETS, f.targets(2))], OffsetDateTime::now_utc())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let e = f
            .publish(vec![up(TARGETS, f.targets(3))], OffsetDateTime::now_utc())
            .unwrap_err();
        assert!(matches!(e, UpdateError::StoredRootInvalid(_)), "{e}");
        assert_eq!((e.api_code(), e.detail()), ("INVALID_UPDATE", None));
    }

    #[test]
    fn rejections_carry_notary_codes_and_change_nothing() {
        let f = fixture();
        let now = OffsetDateTime::now_utc();
        let e = f.publish(vec![up(TARGETS, f.targets(1))], now).unwrap_err();
        assert_eq!((e.api_code(), e.kind()), ("INVALID_UPDATE", "validation"));
        let e = f
            .publish(vec![up(ROOT, f.root(3)), up(TARGETS, f.targets(1))], now)
            .unwrap_err();
        assert!(e.to_string().contains("Current 1, new 3"), "{e}");
        assert_eq!(e.detail().unwrap()["Name"], "ErrBadRoot");
        f.publish(vec![up(ROOT, f.root(1)), up(TARGETS, f.targets(2))], now)
            .unwrap();
        let e = f.publish(vec![up(TARGETS, f.targets(2))], now).unwrap_err();
        assert_eq!(e.api_code(), "VERSION");
        // A snapshot whose hashes do not match what is loaded.
        let mut bogus = signet_tuf::Snapshot::new(GoTime::from_instant(now + Duration::days(30)));
        bogus.version = 9;
        bogus.set_meta(ROOT, b"not the root");
        bogus.set_meta(TARGETS, b"not the targets");
        let stranger = PrivateKey::generate_ecdsa();
        let sid = stranger.id();
        let bogus = sign_and_serialize(SNAPSHOT, &bogus, &[(&sid, &stranger)]).unwrap();
        let e = f
            .publish(vec![up(TARGETS, f.targets(3)), up(SNAPSHOT, bogus)], now)
            .unwrap_err();
        assert_eq!(e.detail().unwrap()["Name"], "ErrBadSnapshot");
        assert_eq!(
            f.store.latest(GUN, TARGETS).unwrap().unwrap().version,
            2,
            "nothing stored"
        );
    }

    #[test]
    fn a_role_uploaded_twice_is_refused_whichever_role() {
        let f = fixture();
        let now = OffsetDateTime::now_utc();
        f.publish(vec![up(ROOT, f.root(1)), up(TARGETS, f.targets(1))], now)
            .unwrap();
        let twice: Vec<(&str, Vec<Upload>)> = vec![
            (ROOT, vec![up(ROOT, f.root(1)), up(ROOT, f.root(2))]),
            (
                TARGETS,
                vec![up(TARGETS, f.targets(2)), up(TARGETS, f.targets(3))],
            ),
            (
                SNAPSHOT,
                vec![
                    up(TARGETS, f.targets(2)),
                    up(SNAPSHOT, b"{}".to_vec()),
                    up(SNAPSHOT, b"{}".to_vec()),
                ],
            ),
            (
                TIMESTAMP,
                vec![up(TIMESTAMP, b"{}".to_vec()), up(TIMESTAMP, b"{}".to_vec())],
            ),
        ];
        for (role, uploads) in twice {
            let e = f.publish(uploads, now).unwrap_err();
            assert_eq!(e.api_code(), "INVALID_UPDATE", "{role}: {e}");
            assert_eq!(
                e.detail().unwrap()["Error"]["Msg"],
                format!("{role} is uploaded more than once in one update")
            );
        }
        assert_eq!(f.store.latest(GUN, ROOT).unwrap().unwrap().version, 1);
        assert_eq!(f.store.latest(GUN, TARGETS).unwrap().unwrap().version, 1);
    }
}
