//! Writes fixtures/tuf-negative/<case>/: a trusted `root.json`, the `subject.json` under test
//! and `expected.txt` (the role checked and the error variant). Run once; the output is
//! committed and read by tests/negative_fixtures.rs.
//!
//!     cargo run -p signet-tuf --example make_negative_tuf_fixtures

use signet_keys::{root_certificate, KeyId, PrivateKey, PublicKey};
use signet_tuf::{sign_and_serialize, FileMeta, GoTime, KeyObject, Root, Targets};
use std::path::Path;
use time::macros::datetime;
use time::OffsetDateTime;

const GUN: &str = "example.com/negative";

fn far() -> GoTime {
    GoTime::from_instant(datetime!(2060-01-01 0:00 UTC))
}

struct Repo {
    root_key: PrivateKey,
    root_cert: PublicKey,
    targets_keys: Vec<PrivateKey>,
}

fn cert(key: &PrivateKey, cn: &str, from: OffsetDateTime, to: OffsetDateTime) -> PublicKey {
    root_certificate(key, cn, from, to).expect("certificate")
}

impl Repo {
    fn new(targets_keys: usize) -> Repo {
        let root_key = PrivateKey::generate_ecdsa();
        let root_cert = cert(
            &root_key,
            GUN,
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2060-01-01 0:00 UTC),
        );
        Repo {
            root_key,
            root_cert,
            targets_keys: (0..targets_keys)
                .map(|_| PrivateKey::generate_ecdsa())
                .collect(),
        }
    }

    fn root_struct(&self, targets_threshold: i64) -> Root {
        let mut r = Root::new(far());
        r.set_role_keys("root", vec![self.root_cert.clone()], 1);
        r.set_role_keys(
            "targets",
            self.targets_keys.iter().map(|k| k.public_key()).collect(),
            targets_threshold,
        );
        let other = PrivateKey::generate_ecdsa().public_key();
        r.set_role_keys("snapshot", vec![other.clone()], 1);
        r.set_role_keys("timestamp", vec![other], 1);
        r
    }

    fn sign_root(&self, r: &Root) -> Vec<u8> {
        let id = self.root_cert.id();
        sign_and_serialize("root", r, &[(&id, &self.root_key)]).expect("sign")
    }

    fn targets(&self, expires: GoTime) -> Targets {
        let mut t = Targets::new(expires);
        t.targets
            .get_or_insert_with(Default::default)
            .insert("v1".into(), FileMeta::from_bytes(b"payload"));
        t
    }
}

fn write(case: &str, root: &[u8], subject: &[u8], role: &str, error: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/tuf-negative")
        .join(case);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("root.json"), root).expect("write");
    std::fs::write(dir.join("subject.json"), subject).expect("write");
    std::fs::write(
        dir.join("expected.txt"),
        format!("gun: {GUN}\nrole: {role}\nerror: {error}\n"),
    )
    .expect("write");
}

fn signed_targets(t: &Targets, keys: &[&PrivateKey]) -> Vec<u8> {
    let ids: Vec<KeyId> = keys.iter().map(|k| k.id()).collect();
    let signers: Vec<(&KeyId, &PrivateKey)> = ids.iter().zip(keys.iter().copied()).collect();
    sign_and_serialize("targets", t, &signers).expect("sign")
}

fn main() {
    // tampered-byte: one byte of the signed body changed after signing.
    let repo = Repo::new(1);
    let root = repo.sign_root(&repo.root_struct(1));
    let good = signed_targets(&repo.targets(far()), &[&repo.targets_keys[0]]);
    let text = String::from_utf8(good).expect("utf8");
    let tampered = text.replacen("\"length\":7", "\"length\":8", 1);
    assert_ne!(text, tampered);
    write(
        "tampered-byte",
        &root,
        tampered.as_bytes(),
        "targets",
        "ThresholdNotMet",
    );

    // wrong-key: signed by a key the root does not list.
    let stranger = PrivateKey::generate_ecdsa();
    write(
        "wrong-key",
        &root,
        &signed_targets(&repo.targets(far()), &[&stranger]),
        "targets",
        "ThresholdNotMet",
    );

    // expired: correctly signed, expired in 2001.
    let old = GoTime::parse("2001-01-01T00:00:00Z").expect("time");
    write(
        "expired",
        &root,
        &signed_targets(&repo.targets(old), &[&repo.targets_keys[0]]),
        "targets",
        "Expired",
    );

    // below-threshold: threshold 2 of 2 keys, one signature.
    let repo2 = Repo::new(2);
    let root2 = repo2.sign_root(&repo2.root_struct(2));
    write(
        "below-threshold",
        &root2,
        &signed_targets(&repo2.targets(far()), &[&repo2.targets_keys[0]]),
        "targets",
        "ThresholdNotMet",
    );

    // duplicate-signatures: threshold 2, the same key signs twice.
    write(
        "duplicate-signatures",
        &root2,
        &signed_targets(
            &repo2.targets(far()),
            &[&repo2.targets_keys[0], &repo2.targets_keys[0]],
        ),
        "targets",
        "ThresholdNotMet",
    );

    // mismatched-key-id: root lists the targets key under an ID that is not its hash.
    let mut r = repo.root_struct(1);
    let real = repo.targets_keys[0].id().to_string();
    let fake = format!(
        "{}{}",
        &real[..63],
        if real.ends_with('0') { '1' } else { '0' }
    );
    if let Some(keys) = r.keys.as_mut() {
        let k = keys.remove(&real).expect("targets key");
        keys.insert(fake.clone(), KeyObject(k.0));
    }
    if let Some(roles) = r.roles.as_mut() {
        roles.insert(
            "targets".into(),
            signet_tuf::RoleKeys::new(vec![fake.clone()], 1),
        );
    }
    let root_fake = repo.sign_root(&r);
    let fake_id: KeyId = fake.parse().expect("id");
    let subject = sign_and_serialize(
        "targets",
        &repo.targets(far()),
        &[(&fake_id, &repo.targets_keys[0])],
    )
    .expect("sign");
    write(
        "mismatched-key-id",
        &root_fake,
        &subject,
        "targets",
        "InvalidKeyId",
    );

    // root-wrong-cn: the root certificate names another repository.
    let key = PrivateKey::generate_ecdsa();
    let wrong_cn = cert(
        &key,
        "example.com/other",
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2060-01-01 0:00 UTC),
    );
    let bad_root = root_with_cert(&key, wrong_cn);
    write("root-wrong-cn", &bad_root, &bad_root, "root", "RootCert");

    // expired-root-cert: the certificate lapsed in 2002.
    let key = PrivateKey::generate_ecdsa();
    let lapsed = cert(
        &key,
        GUN,
        datetime!(2001-01-01 0:00 UTC),
        datetime!(2002-01-01 0:00 UTC),
    );
    let bad_root = root_with_cert(&key, lapsed);
    write(
        "expired-root-cert",
        &bad_root,
        &bad_root,
        "root",
        "RootCert",
    );
    println!("negative fixtures written");
}

fn root_with_cert(key: &PrivateKey, cert: PublicKey) -> Vec<u8> {
    let mut r = Root::new(far());
    let other = PrivateKey::generate_ecdsa().public_key();
    r.set_role_keys("root", vec![cert.clone()], 1);
    r.set_role_keys("targets", vec![other.clone()], 1);
    r.set_role_keys("snapshot", vec![other.clone()], 1);
    r.set_role_keys("timestamp", vec![other], 1);
    let id = cert.id();
    sign_and_serialize("root", &r, &[(&id, key)]).expect("sign")
}
