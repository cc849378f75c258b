//! Key files written by signet-keys: exact layout, round trips for every key type with and
//! without encryption, and cross-checks with the real `openssl` binary in both directions
//! (OpenSSL reads what we write; we read what OpenSSL writes, legacy encrypted PEM included).

mod common;

use signet_keys::asn1::{self, oid, Reader};
use signet_keys::key_file::{self, KeyFileError};
use signet_keys::passphrase::FixedPassphrase;
use signet_keys::pkcs8::PBKDF2_ITERATIONS;
use signet_keys::{pem, KeyId, PrivateKey};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn decode(bytes: &[u8], pass: &str) -> Result<key_file::KeyFile, KeyFileError> {
    let any_id: KeyId = "0000000000000000000000000000000000000000000000000000000000000000"
        .parse()
        .unwrap();
    key_file::decode(bytes, &any_id, &mut FixedPassphrase::new(pass))
}

/// Everything up to and including the blank line after the PEM headers.
fn header_section(file: &str) -> &str {
    &file[..file.find("\n\n").map(|i| i + 2).unwrap_or(0)]
}

#[test]
fn round_trip_every_key_type_encrypted_and_not() {
    let keys = [PrivateKey::generate_ecdsa(), PrivateKey::generate_ed25519()];
    for key in &keys {
        for (role, gun, expect_headers) in [
            ("root", Some("example.com/app"), "role: root\n\n"),
            (
                "targets",
                Some("example.com/app"),
                "gun: example.com/app\nrole: targets\n\n",
            ),
            (
                "snapshot",
                Some("example.com/app"),
                "gun: example.com/app\nrole: snapshot\n\n",
            ),
            (
                "targets/releases",
                Some("example.com/app"),
                "role: targets/releases\n\n",
            ),
            ("alice", None, "role: alice\n\n"),
        ] {
            for pass in [Some("roundtrip123"), None] {
                let file = key_file::encode(key, role, gun, pass);
                let label = if pass.is_some() {
                    "ENCRYPTED PRIVATE KEY"
                } else {
                    "PRIVATE KEY"
                };
                assert_eq!(
                    header_section(&file),
                    format!("-----BEGIN {label}-----\n{expect_headers}")
                );
                assert!(file.ends_with(&format!("\n-----END {label}-----\n")));
                // Go's pem.Encode: base64 lines of exactly 64 characters but the last.
                let body: Vec<&str> = file[header_section(&file).len()..]
                    .lines()
                    .take_while(|l| !l.starts_with("-----END"))
                    .collect();
                assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));

                let info = key_file::inspect(file.as_bytes()).unwrap();
                assert_eq!(info.role, role);
                assert_eq!(info.encrypted, pass.is_some());
                assert_eq!(
                    info.algorithm,
                    if pass.is_some() {
                        None
                    } else {
                        Some(key.algorithm())
                    }
                );
                let back = decode(file.as_bytes(), pass.unwrap_or("")).unwrap();
                assert_eq!(back.key.id(), key.id());
                let sig = back.key.sign(b"m").unwrap();
                key.public_key().verify(sig.method, b"m", &sig.sig).unwrap();
            }
        }
    }
}

/// The EncryptedPrivateKeyInfo carries exactly notary's parameters (protocol §5.3).
#[test]
fn encryption_parameters_are_notarys() {
    let key = PrivateKey::generate_ecdsa();
    let file = key_file::encode(&key, "root", None, Some("params12345"));
    let block = pem::parse_one(file.as_bytes()).unwrap();
    let mut outer = Reader::new(&block.data);
    let mut epki = outer.sequence().unwrap();
    assert!(outer.is_empty());
    let mut alg = epki.sequence().unwrap();
    assert_eq!(alg.expect(asn1::TAG_OID).unwrap(), oid::PBES2);
    let mut params = alg.sequence().unwrap();
    let mut kdf = params.sequence().unwrap();
    assert_eq!(kdf.expect(asn1::TAG_OID).unwrap(), oid::PBKDF2);
    let mut kdf_params = kdf.sequence().unwrap();
    assert_eq!(kdf_params.expect(asn1::TAG_OCTET_STRING).unwrap().len(), 8);
    assert_eq!(kdf_params.small_uint().unwrap(), 2048);
    assert_eq!(PBKDF2_ITERATIONS, 2048);
    assert!(kdf_params.is_empty(), "no keyLength and no PRF field");
    let mut enc = params.sequence().unwrap();
    assert_eq!(enc.expect(asn1::TAG_OID).unwrap(), oid::AES256_CBC);
    assert_eq!(enc.expect(asn1::TAG_OCTET_STRING).unwrap().len(), 16);
    let ct = epki.expect(asn1::TAG_OCTET_STRING).unwrap();
    // The 150-byte notary EC PrivateKeyInfo padded to whole AES blocks.
    assert_eq!(ct.len(), 160);
    assert_eq!(
        signet_keys::pkcs8::encode_notary(&key).len(),
        150,
        "version 1, no public-key field"
    );
}

/// Every key file written by notary or docker has the same header bytes and the same size as
/// the file signet-keys writes for the same key, role and GUN.
#[test]
fn reference_files_have_our_layout() {
    let cases: &[(&str, &str)] = &[
        ("notary-0.7/docker-keys/d5dff74b73ee3018389cb389c6906cee72c214cb9c1cab926c3ee0bc432886e8.key", "dockerroot123"),
        ("notary-0.7/docker-keys/e7803333c8e40967be6172f0cb4d0a45f264ef564acc37f0fb8e42b186956850.key", "dockerrepo123"),
        ("notary-0.7/docker-keys/0208334b8a8018b61ffa37cd2a653891fb2a69f411dfafc01e5e2859ed4ab38e.key", "dockerrepo123"),
        ("notary-0.7/notary-cli-keys/29259f6e24191d8510061f14f3f6db64c968775b65a4bac77f343ea56ac3c1e4.key", "rootpass123"),
        ("notary-0.7/notary-cli-keys/5a48f0886fd83d0a1a550d688c8af6a99f2b60ea72b7a6ba624ba125798a9184.key", "targetspass123"),
        ("notary-0.7/notary-cli-keys/6b80be1b04f017d3349e29c0af707dc08eb31fe493b6c4a4aaa8a8664a001932.key", "delegpass123"),
        ("notary-vectors/vec_root.key", "pass"),
    ];
    for (rel, pass) in cases {
        let theirs = std::fs::read_to_string(fixtures().join(rel)).unwrap();
        let f = decode(theirs.as_bytes(), pass).unwrap();
        let ours = key_file::encode(&f.key, &f.info.role, f.info.gun.as_deref(), Some(pass));
        assert_eq!(header_section(&ours), header_section(&theirs), "{rel}");
        assert_eq!(ours.len(), theirs.len(), "{rel}");
        assert_eq!(decode(ours.as_bytes(), pass).unwrap().key.id(), f.key.id());
    }
}

fn openssl(args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>) {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), out.stdout)
}

/// The README's recipe: drop the `role:`/`gun:` lines and the blank line after them.
fn strip_notary_headers(file: &str) -> String {
    let mut out = String::new();
    let mut after_begin = false;
    for line in file.lines() {
        if line.starts_with("role: ") || line.starts_with("gun: ") {
            continue;
        }
        if after_begin && line.is_empty() {
            after_begin = false;
            continue;
        }
        after_begin = line.starts_with("-----BEGIN");
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn openssl_reads_our_ecdsa_files_and_derives_the_same_public_key() {
    if !common::have("openssl", &["version"]) {
        return;
    }
    let key = PrivateKey::generate_ecdsa();
    for pass in [Some("opensslpass1"), None] {
        let file = key_file::encode(&key, "targets", Some("example.com/app"), pass);
        let stripped = strip_notary_headers(&file);
        let passin = format!("pass:{}", pass.unwrap_or(""));
        let mut args = vec!["pkey", "-pubout", "-outform", "DER", "-passin", &passin];
        if pass.is_none() {
            args.truncate(4);
        }
        let (ok, spki) = openssl(&args, stripped.as_bytes());
        assert!(ok, "openssl reads the {pass:?} file:\n{stripped}");
        assert_eq!(spki, key.public_key().public_bytes(), "same public key");
        if pass.is_some() {
            let (ok, _) = openssl(
                &["pkey", "-pubout", "-passin", "pass:not the pass"],
                stripped.as_bytes(),
            );
            assert!(!ok, "openssl refuses the wrong passphrase too");
        }
    }
}

/// Keys OpenSSL writes: standard PKCS#8 (EC version 0, RFC 8410 Ed25519, RSA with NULL
/// parameters), encrypted PKCS#8 with OpenSSL's defaults, and the legacy encrypted PEM.
#[test]
fn we_read_what_openssl_writes() {
    if !common::have("openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gen = |name: &str, args: &[&str]| -> std::path::PathBuf {
        let p = dir.path().join(name);
        let mut full: Vec<&str> = args.to_vec();
        full.extend_from_slice(&["-out", p.to_str().unwrap()]);
        let (ok, _) = openssl(&full, b"");
        assert!(ok, "openssl {args:?}");
        p
    };
    let ec = gen(
        "ec.pem",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
    );
    let ed = gen("ed.pem", &["genpkey", "-algorithm", "ed25519"]);
    let rsa = gen(
        "rsa.pem",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
    );
    let pub_der = |p: &Path| -> Vec<u8> {
        let (ok, out) = openssl(
            &[
                "pkey",
                "-in",
                p.to_str().unwrap(),
                "-pubout",
                "-outform",
                "DER",
                "-passin",
                "pass:legacypass1",
            ],
            b"",
        );
        assert!(ok);
        out
    };
    let ec_legacy = gen(
        "ec_legacy.pem",
        &[
            "ec",
            "-in",
            ec.to_str().unwrap(),
            "-aes256",
            "-passout",
            "pass:legacypass1",
        ],
    );
    let rsa_legacy = gen(
        "rsa_legacy.pem",
        &[
            "rsa",
            "-in",
            rsa.to_str().unwrap(),
            "-traditional",
            "-aes128",
            "-passout",
            "pass:legacypass1",
        ],
    );
    let ec_pkcs8_enc = gen(
        "ec_p8.pem",
        &[
            "pkcs8",
            "-topk8",
            "-in",
            ec.to_str().unwrap(),
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA1",
            "-passout",
            "pass:legacypass1",
        ],
    );

    for (path, label, pass, alg) in [
        (&ec, "PRIVATE KEY", "", "ecdsa"),
        (&ed, "PRIVATE KEY", "", "ed25519"),
        (&rsa, "PRIVATE KEY", "", "rsa"),
        (&ec_legacy, "EC PRIVATE KEY", "legacypass1", "ecdsa"),
        (&rsa_legacy, "RSA PRIVATE KEY", "legacypass1", "rsa"),
        (
            &ec_pkcs8_enc,
            "ENCRYPTED PRIVATE KEY",
            "legacypass1",
            "ecdsa",
        ),
    ] {
        let bytes = std::fs::read(path).unwrap();
        let block = pem::parse_one(&bytes).unwrap();
        assert_eq!(block.label, label, "{}", path.display());
        let f = decode(&bytes, pass).unwrap();
        assert_eq!(f.key.algorithm(), alg);
        let public = f.key.public_key();
        let expected = if alg == "ed25519" {
            // RFC 8410 SPKI = 12-byte prefix + raw key; TUF carries the raw 32 bytes.
            pub_der(path)[12..].to_vec()
        } else {
            pub_der(path)
        };
        assert_eq!(public.public_bytes(), &expected[..], "{}", path.display());
        if !pass.is_empty() {
            let err = decode(&bytes, "wrongpass99").unwrap_err();
            assert!(
                matches!(err, KeyFileError::WrongPassphrase { .. }),
                "{}: {err:?}",
                path.display()
            );
        }
    }

    // OpenSSL verifies our RSASSA-PSS (SHA-256, salt 32) signature made with its key.
    let bytes = std::fs::read(&rsa).unwrap();
    let key = decode(&bytes, "").unwrap().key;
    let sig = key.sign(b"signed bytes").unwrap();
    assert_eq!(sig.method, "rsapss");
    key.public_key()
        .verify("rsapss", b"signed bytes", &sig.sig)
        .unwrap();
    let sig_path = dir.path().join("sig");
    let msg_path = dir.path().join("msg");
    std::fs::write(&sig_path, &sig.sig).unwrap();
    std::fs::write(&msg_path, b"signed bytes").unwrap();
    let (ok, out) = openssl(
        &[
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-prverify",
            rsa.to_str().unwrap(),
            "-signature",
            sig_path.to_str().unwrap(),
            msg_path.to_str().unwrap(),
        ],
        b"",
    );
    assert!(ok, "{}", String::from_utf8_lossy(&out));
    assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK");
    // And our key file with the RSA key in notary's layout reads back.
    let file = key_file::encode(&key, "targets/rsa", None, Some("rsakeypass1"));
    assert_eq!(
        decode(file.as_bytes(), "rsakeypass1").unwrap().key.id(),
        key.id()
    );
}

/// Notary's Ed25519 form (private OID, raw 96 bytes) is not something OpenSSL reads; the
/// protocol reference says so and this keeps the claim honest.
#[test]
fn openssl_does_not_read_notarys_ed25519_form() {
    if !common::have("openssl", &["version"]) {
        return;
    }
    let key = PrivateKey::generate_ed25519();
    let file = key_file::encode(&key, "timestamp", Some("example.com/app"), None);
    let (ok, _) = openssl(&["pkey", "-noout"], strip_notary_headers(&file).as_bytes());
    assert!(!ok);
}
