//! One folder per negative case under fixtures/tuf-negative/: each must fail with exactly the
//! error variant its expected.txt names.

use signet_tuf::root_policy::validate_root;
use signet_tuf::{SignedRoot, SignedTargets, TufError};
use std::path::Path;
use time::macros::datetime;

fn variant(e: &TufError) -> &'static str {
    match e {
        TufError::ThresholdNotMet { .. } => "ThresholdNotMet",
        TufError::Expired { .. } => "Expired",
        TufError::InvalidKeyId { .. } => "InvalidKeyId",
        TufError::RootCert { .. } => "RootCert",
        TufError::RootRotation { .. } => "RootRotation",
        _ => "other",
    }
}

#[test]
fn every_negative_case_fails_with_its_error() {
    let now = datetime!(2026-11-22 14:00 UTC);
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tuf-negative");
    let mut cases = 0;
    for entry in std::fs::read_dir(&base).unwrap() {
        let dir = entry.unwrap().path();
        let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
        let field = |k: &str| {
            expected
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .unwrap()
                .to_string()
        };
        let (gun, role, want) = (field("gun"), field("role"), field("error"));
        let root_raw = std::fs::read(dir.join("root.json")).unwrap();
        let subject = std::fs::read(dir.join("subject.json")).unwrap();
        let err = if role == "root" {
            let r = SignedRoot::from_bytes("root", &subject).unwrap();
            validate_root(&r, None, &gun, now).unwrap_err()
        } else {
            let root = SignedRoot::from_bytes("root", &root_raw).unwrap();
            let t = SignedTargets::from_bytes("targets", &subject).unwrap();
            let keys = root.signed.role_keys("targets").unwrap();
            t.verify_threshold(&keys)
                .and_then(|_| t.check_expiry("targets", now).map(|_| 0))
                .unwrap_err()
        };
        assert_eq!(variant(&err), want, "{}: {err}", dir.display());
        // The positive control: the trusted root itself is valid.
        if role != "root" {
            let root = SignedRoot::from_bytes("root", &root_raw).unwrap();
            validate_root(&root, None, &gun, now).unwrap();
        }
        cases += 1;
    }
    assert_eq!(cases, 8);
}

#[test]
fn duplicate_signatures_count_once() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tuf-negative/duplicate-signatures");
    let root =
        SignedRoot::from_bytes("root", &std::fs::read(dir.join("root.json")).unwrap()).unwrap();
    let t = SignedTargets::from_bytes("targets", &std::fs::read(dir.join("subject.json")).unwrap())
        .unwrap();
    assert_eq!(t.envelope.signatures().len(), 2);
    let err = t
        .verify_threshold(&root.signed.role_keys("targets").unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        TufError::ThresholdNotMet {
            role: "targets".into(),
            have: 1,
            need: 2
        }
    );
}
