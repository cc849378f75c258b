//! Key files written by signet-keys are readable by OpenSSL (once the notary headers are
//! stripped, as the reference README shows), and decrypt to the same key.

use signet_keys::passphrase::FixedPassphrase;
use signet_keys::{key_file, KeyId, PrivateKey};
use std::io::Write;
use std::process::{Command, Stdio};

fn openssl_pkcs8(pem: &str, pass: &str) -> Option<String> {
    let stripped: String = {
        let mut out = String::new();
        let mut skip_blank = false;
        for line in pem.lines() {
            if line.starts_with("role:") || line.starts_with("gun:") {
                skip_blank = true;
                continue;
            }
            if skip_blank && line.is_empty() {
                skip_blank = false;
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    };
    let mut child = Command::new("openssl")
        .args(["pkcs8", "-passin", &format!("pass:{pass}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(stripped.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn openssl_decrypts_our_encrypted_keys() {
    if Command::new("openssl").arg("version").output().is_err() {
        if std::env::var("SIGNET_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("openssl missing");
        }
        eprintln!("skipping: openssl missing");
        return;
    }
    let key = PrivateKey::generate_ecdsa();
    let file = key_file::encode(
        &key,
        "targets",
        Some("example.com/app"),
        Some("opensslpass1"),
    );
    let plain = openssl_pkcs8(&file, "opensslpass1").expect("openssl decrypts the key");
    assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----"));
    let id: KeyId = key.id();
    let back = key_file::decode(plain.as_bytes(), &id, &mut FixedPassphrase::new("")).unwrap();
    assert_eq!(back.key.id(), key.id());
    assert!(
        openssl_pkcs8(&file, "not the passphrase").is_none(),
        "wrong passphrase refused by openssl too"
    );
}
