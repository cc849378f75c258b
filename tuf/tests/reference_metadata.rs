//! Every metadata file recorded from notary 0.7 / docker 28 parses, verifies against the keys
//! of its parent role, has the hashes its snapshot/timestamp list, and re-emits byte-identically.

use signet_tuf::root_policy::validate_root;
use signet_tuf::{Envelope, SignedRoot, SignedSnapshot, SignedTargets, SignedTimestamp};
use std::path::{Path, PathBuf};
use time::macros::datetime;
use time::OffsetDateTime;

/// Inside every fixture's validity window (they were recorded in November 2026).
const NOW: OffsetDateTime = datetime!(2026-11-22 14:00 UTC);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Repo {
    dir: PathBuf,
    gun: &'static str,
    prefix: &'static str,
}

fn repos() -> Vec<Repo> {
    let mut v = Vec::new();
    for d in [
        "v1-initial",
        "v2-add-v1",
        "v3-server-snapshot",
        "v4-delegation",
        "v5-rotated-root",
    ] {
        v.push(Repo {
            dir: fixtures().join("notary-0.7").join(d),
            gun: "example.com/app",
            prefix: "",
        });
    }
    for d in ["docker-signed-v1", "docker-revoked-v1"] {
        v.push(Repo {
            dir: fixtures().join("notary-0.7").join(d),
            gun: "192.0.2.1:5000/app",
            prefix: "",
        });
    }
    v.push(Repo {
        dir: fixtures().join("notary-vectors"),
        gun: "example.com/org/app",
        prefix: "vec_",
    });
    v
}

#[test]
fn every_reference_repository_verifies_and_round_trips() {
    let mut files_checked = 0;
    for repo in repos() {
        let path = |role: &str| {
            repo.dir
                .join(format!("{}{}.json", repo.prefix, role.replace('/', "_")))
        };
        let root = SignedRoot::from_bytes("root", &read(&path("root"))).unwrap();
        validate_root(&root, None, repo.gun, NOW).unwrap();
        let targets = SignedTargets::from_bytes("targets", &read(&path("targets"))).unwrap();
        targets
            .verify_threshold(&root.signed.role_keys("targets").unwrap())
            .unwrap();
        let snapshot = SignedSnapshot::from_bytes("snapshot", &read(&path("snapshot"))).unwrap();
        snapshot
            .verify_threshold(&root.signed.role_keys("snapshot").unwrap())
            .unwrap();
        let timestamp =
            SignedTimestamp::from_bytes("timestamp", &read(&path("timestamp"))).unwrap();
        timestamp
            .verify_threshold(&root.signed.role_keys("timestamp").unwrap())
            .unwrap();
        for r in [root.raw(), targets.raw(), snapshot.raw(), timestamp.raw()] {
            assert!(!r.ends_with(b"\n"));
        }
        root.check_expiry("root", NOW).unwrap();
        targets.check_expiry("targets", NOW).unwrap();
        snapshot.check_expiry("snapshot", NOW).unwrap();
        timestamp.check_expiry("timestamp", NOW).unwrap();

        // The chain of hashes: timestamp → snapshot → root, targets, delegations.
        let ts_meta = timestamp.signed.snapshot_meta().unwrap();
        ts_meta.check_hashes("snapshot", snapshot.raw()).unwrap();
        ts_meta.check_length("snapshot", snapshot.raw()).unwrap();
        snapshot
            .signed
            .meta_for("root")
            .unwrap()
            .check_hashes("root", root.raw())
            .unwrap();
        snapshot
            .signed
            .meta_for("targets")
            .unwrap()
            .check_hashes("targets", targets.raw())
            .unwrap();

        assert_eq!(
            root.reserialize("root").unwrap(),
            root.raw(),
            "{}: root",
            repo.dir.display()
        );
        assert_eq!(targets.reserialize("targets").unwrap(), targets.raw());
        assert_eq!(snapshot.reserialize("snapshot").unwrap(), snapshot.raw());
        assert_eq!(timestamp.reserialize("timestamp").unwrap(), timestamp.raw());
        files_checked += 4;

        for d in targets.signed.delegated_roles() {
            let p = path(&d.name);
            if !p.exists() {
                continue; // v5 was saved without its unchanged delegation file
            }
            let raw = read(&p);
            let deleg = SignedTargets::from_bytes(&d.name, &raw).unwrap();
            deleg
                .verify_threshold(&targets.signed.delegation_keys(&d.name).unwrap())
                .unwrap();
            deleg.check_expiry(&d.name, NOW).unwrap();
            snapshot
                .signed
                .meta_for(&d.name)
                .unwrap()
                .check_hashes(&d.name, &raw)
                .unwrap();
            assert_eq!(deleg.reserialize(&d.name).unwrap(), raw);
            files_checked += 1;
        }
    }
    assert!(files_checked >= 37, "checked {files_checked}");
}

/// v5's root was rotated: signed by the old root's key and the new one.
#[test]
fn rotated_root_is_signed_by_previous_root() {
    let old = SignedRoot::from_bytes(
        "root",
        &read(&fixtures().join("notary-0.7/v4-delegation/root.json")),
    )
    .unwrap();
    let new = SignedRoot::from_bytes(
        "root",
        &read(&fixtures().join("notary-0.7/v5-rotated-root/root.json")),
    )
    .unwrap();
    assert_eq!(new.envelope.signatures().len(), 2);
    validate_root(&new, Some(&old), "example.com/app", NOW).unwrap();
    // Taken the other way round, the old root is not signed by the new key.
    let err = validate_root(&old, Some(&new), "example.com/app", NOW).unwrap_err();
    assert!(
        matches!(err, signet_tuf::TufError::RootRotation { have: 0, need: 1 }),
        "{err:?}"
    );
}

/// The forged file from the reference run (old signature, bumped version) fails threshold.
#[test]
fn forged_targets_fails_signature_check() {
    let root = SignedRoot::from_bytes(
        "root",
        &read(&fixtures().join("notary-0.7/v1-initial/root.json")),
    )
    .unwrap();
    let forged = SignedTargets::from_bytes(
        "targets",
        &read(&fixtures().join("notary-0.7/forged-targets-bad-signature.json")),
    )
    .unwrap();
    let err = forged
        .verify_threshold(&root.signed.role_keys("targets").unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        signet_tuf::TufError::ThresholdNotMet {
            role: "targets".into(),
            have: 0,
            need: 1
        }
    );
}

/// Signatures survive the HTML escaping Go adds on the wire, because verification is over
/// canonical(parse(signed)).
#[test]
fn verification_is_over_recanonicalised_signed() {
    let raw = read(&fixtures().join("notary-vectors/vec_targets.json"));
    let env = Envelope::parse("targets", &raw).unwrap();
    let canon = env.canonical_signed("targets").unwrap();
    let text = String::from_utf8(raw.clone()).unwrap();
    let start = text.find("\"signed\":").unwrap() + 9;
    // Canonical form of the wire body is the wire body with escapes undone — never the raw
    // substring itself when escapes are present.
    assert!(text[start..].starts_with('{'));
    assert!(canon.starts_with(b"{\"_type\":\"Targets\""));
}
