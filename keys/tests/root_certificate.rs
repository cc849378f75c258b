//! Root certificates made here have the structure of the ones notary 0.7 makes: compared
//! field by field with the root certificate the notary CLI created for the recorded run.

use signet_keys::{root_certificate, PrivateKey, PublicKey};
use x509_cert::der::{Decode, Encode, Tagged};

fn notary_root_cert() -> (PublicKey, x509_cert::Certificate) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/notary-0.7/v1-initial/root.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let id = v["signed"]["roles"]["root"]["keyids"][0].as_str().unwrap();
    let k = &v["signed"]["keys"][id];
    let pk = PublicKey::from_b64(
        k["keytype"].as_str().unwrap(),
        k["keyval"]["public"].as_str().unwrap(),
    )
    .unwrap();
    let cert = x509_cert::Certificate::from_der(pk.leaf_certificate().unwrap().der()).unwrap();
    (pk, cert)
}

fn extensions(c: &x509_cert::Certificate) -> Vec<(String, bool, Vec<u8>)> {
    c.tbs_certificate
        .extensions
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e.extn_id.to_string(),
                e.critical,
                e.extn_value.as_bytes().to_vec(),
            )
        })
        .collect()
}

#[test]
fn our_root_certificate_matches_notarys_structure() {
    let (theirs_pk, theirs) = notary_root_cert();
    let gun = theirs_pk.leaf_certificate().unwrap().cn().to_string();
    assert_eq!(gun, "example.com/app");

    let key = PrivateKey::generate_ecdsa();
    let ours_pk = signet_keys::certificate::new_root_certificate(&key, &gun).unwrap();
    assert_eq!(ours_pk.key_type(), theirs_pk.key_type());
    // keyval.public is PEM text, as notary writes it.
    let pem = std::str::from_utf8(ours_pk.public_bytes()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
    let ours = x509_cert::Certificate::from_der(ours_pk.leaf_certificate().unwrap().der()).unwrap();

    // Same subject and issuer bytes (CN only, same string type), same extensions (key usage
    // critical, code signing, CA:FALSE critical) and the same signature algorithm.
    let (t, o) = (&theirs.tbs_certificate, &ours.tbs_certificate);
    assert_eq!(o.subject.to_der().unwrap(), t.subject.to_der().unwrap());
    assert_eq!(o.issuer.to_der().unwrap(), t.issuer.to_der().unwrap());
    assert_eq!(extensions(&ours), extensions(&theirs));
    assert_eq!(o.signature, t.signature);
    assert_eq!(ours.signature_algorithm, theirs.signature_algorithm);
    assert_eq!(o.version, t.version);
    // A random 128-bit serial: at most 16 bytes, plus a leading zero to keep it positive.
    let serial = o.serial_number.as_bytes();
    assert!(!serial.is_empty() && serial.len() <= 17, "{serial:02x?}");
    // Ten years of 365 days, as notary's validity period.
    let leaf = ours_pk.leaf_certificate().unwrap();
    assert_eq!((leaf.not_after() - leaf.not_before()).whole_days(), 3650);
    let notary_leaf = theirs_pk.leaf_certificate().unwrap();
    assert_eq!(
        notary_leaf.not_after() - notary_leaf.not_before(),
        leaf.not_after() - leaf.not_before()
    );
    assert!(
        (time::OffsetDateTime::now_utc() - leaf.not_before())
            .whole_seconds()
            .abs()
            < 60
    );

    // The cert key's canonical ID is the private key's ID (the key file's name), and the
    // certificate's own signature verifies with its key.
    assert_eq!(ours_pk.canonical_id().unwrap(), key.id());
    assert_ne!(ours_pk.id(), key.id());
    let tbs = ours.tbs_certificate.to_der().unwrap();
    let sig = p256::ecdsa::Signature::from_der(ours.signature.raw_bytes()).unwrap();
    key.public_key()
        .verify("ecdsa", &tbs, &sig.to_bytes())
        .unwrap();
}

#[test]
fn explicit_validity_is_kept() {
    let key = PrivateKey::generate_ecdsa();
    let start = time::macros::datetime!(2030-01-02 03:04:05 UTC);
    let end = start + time::Duration::days(30);
    let pk = root_certificate(&key, "registry.example.com:5000/team/app", start, end).unwrap();
    let leaf = pk.leaf_certificate().unwrap();
    assert_eq!(leaf.cn(), "registry.example.com:5000/team/app");
    assert_eq!((leaf.not_before(), leaf.not_after()), (start, end));
    assert!(!leaf.is_ca());
    assert!(!leaf.uses_sha1());
    assert_eq!(leaf.rsa_bits(), None);
}

#[test]
fn cn_string_type_follows_go() {
    let key = PrivateKey::generate_ecdsa();
    for (gun, tag) in [
        ("example.com/app", 0x13u8),
        ("registry:5000/team/app", 0x13),
        ("docker.io/library/my_app", 0x0c),
        ("example.com/*", 0x0c),
    ] {
        let pk = signet_keys::certificate::new_root_certificate(&key, gun).unwrap();
        let cert = x509_cert::Certificate::from_der(pk.leaf_certificate().unwrap().der()).unwrap();
        let rdn = &cert.tbs_certificate.subject.0[0].0;
        let atv = rdn.iter().next().unwrap();
        assert_eq!(atv.value.tag().octet(), tag, "{gun}");
        assert_eq!(pk.leaf_certificate().unwrap().cn(), gun);
    }
}

#[test]
fn only_ecdsa_keys_make_root_certificates() {
    let err = signet_keys::certificate::new_root_certificate(
        &PrivateKey::generate_ed25519(),
        "example.com/app",
    )
    .unwrap_err();
    assert!(matches!(err, signet_keys::CertificateError::Create(_)));
}

/// OpenSSL reads our certificate and prints the same extensions as for notary's.
#[test]
fn openssl_sees_the_same_extensions() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let show = |pem: &[u8]| -> Option<String> {
        let mut child = Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-ext",
                "keyUsage,extendedKeyUsage,basicConstraints,subjectKeyIdentifier",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(pem).ok()?;
        let out = child.wait_with_output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (theirs, _) = notary_root_cert();
    let Some(expected) = show(theirs.public_bytes()) else {
        if std::env::var("SIGNET_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("openssl is required (SIGNET_REQUIRE_INTEROP=1)");
        }
        eprintln!("skipping: openssl not available");
        return;
    };
    assert!(expected.contains("Code Signing"), "{expected}");
    let ours = signet_keys::certificate::new_root_certificate(
        &PrivateKey::generate_ecdsa(),
        "example.com/app",
    )
    .unwrap();
    assert_eq!(show(ours.public_bytes()).unwrap(), expected);
}
