//! Writes fixtures/keys-negative/<case>/: one key file and `expected.txt` naming the error.
//! Run once; the output is committed and read by tests/negative_key_files.rs.
//!
//!     cargo run -p signet-keys --example make_negative_key_fixtures [case ...]
//!
//! With case names, only those folders are (re)written.

use signet_keys::{asn1, key_file, pem, pkcs8, PrivateKey};
use std::path::Path;

fn write(case: &str, file: &str, data: &[u8], expected: &str) {
    let only: Vec<String> = std::env::args().skip(1).collect();
    if !only.is_empty() && !only.iter().any(|c| c == case) {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/keys-negative")
        .join(case);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(file), data).expect("write");
    std::fs::write(
        dir.join("expected.txt"),
        format!("file: {file}\npassphrase: wrongpass123\nerror: {expected}\n"),
    )
    .expect("write");
}

fn main() {
    // wrong-passphrase: encrypted with "rightpass123", the test offers "wrongpass123".
    let k = PrivateKey::generate_ecdsa();
    let f = key_file::encode(&k, "targets", Some("example.com/app"), Some("rightpass123"));
    write(
        "wrong-passphrase",
        &format!("{}.key", k.id()),
        f.as_bytes(),
        "WrongPassphrase",
    );

    // truncated-pem: the file cut in the middle of the base64 body.
    let k = PrivateKey::generate_ecdsa();
    let f = key_file::encode(&k, "root", None, Some("rightpass123"));
    write(
        "truncated-pem",
        &format!("{}.key", k.id()),
        &f.as_bytes()[..f.len() / 2],
        "Unterminated",
    );

    // unknown-key-type: a well-formed PKCS#8 EC key on curve P-384 (secp384r1), unsupported.
    let p384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    let sec1 = asn1::sequence(&[
        &asn1::small_uint(1),
        &asn1::tlv(asn1::TAG_OCTET_STRING, &[7u8; 48]),
    ]);
    let alg = asn1::sequence(&[
        &asn1::tlv(asn1::TAG_OID, asn1::oid::EC_PUBLIC_KEY),
        &asn1::tlv(asn1::TAG_OID, p384),
    ]);
    let info = asn1::sequence(&[
        &asn1::small_uint(1),
        &alg,
        &asn1::tlv(asn1::TAG_OCTET_STRING, &sec1),
    ]);
    let enc = pkcs8::encrypt(&info, b"wrongpass123");
    let f = pem::encode("ENCRYPTED PRIVATE KEY", &[("role", "root")], &enc);
    write(
        "unknown-key-type",
        "0000000000000000000000000000000000000000000000000000000000000000.key",
        f.as_bytes(),
        "UnsupportedCurve",
    );

    // mismatched-key-id: a valid key file stored under another key's ID.
    let k = PrivateKey::generate_ecdsa();
    let other = PrivateKey::generate_ecdsa();
    let f = key_file::encode(&k, "targets", Some("example.com/app"), Some("wrongpass123"));
    write(
        "mismatched-key-id",
        &format!("{}.key", other.id()),
        f.as_bytes(),
        "IdMismatch",
    );
    // unknown-algorithm: a PKCS#8 key under the DSA OID 1.2.840.10040.4.1, which notary has
    // no key type for.
    let dsa: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
    let info = asn1::sequence(&[
        &asn1::small_uint(0),
        &asn1::sequence(&[&asn1::tlv(asn1::TAG_OID, dsa)]),
        &asn1::tlv(asn1::TAG_OCTET_STRING, &asn1::small_uint(12345)),
    ]);
    let enc = pkcs8::encrypt(&info, b"wrongpass123");
    let f = pem::encode(
        "ENCRYPTED PRIVATE KEY",
        &[("role", "targets/releases")],
        &enc,
    );
    write(
        "unknown-algorithm",
        "1111111111111111111111111111111111111111111111111111111111111111.key",
        f.as_bytes(),
        "UnsupportedAlgorithm",
    );

    // corrupt-base64: a complete block whose body has a character outside base64.
    let k = PrivateKey::generate_ecdsa();
    let f = key_file::encode(&k, "root", None, Some("wrongpass123"));
    let at = f.find("\n\n").expect("headers") + 10;
    let mut bytes = f.as_bytes().to_vec();
    bytes[at] = b'!';
    write(
        "corrupt-base64",
        &format!("{}.key", k.id()),
        &bytes,
        "BadBase64",
    );
    println!("negative key fixtures written");
}
