//! Rough per-operation costs of the key code paths a CLI run and a server publish take.
//!
//!     cargo run --release -p signet-keys --example key_costs

use signet_keys::passphrase::FixedPassphrase;
use signet_keys::store::KeyStore;
use signet_keys::{key_file, KeyId, PrivateKey};
use std::time::Instant;

fn per_op(name: &str, n: u32, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{name:<44} {us:>10.1} µs");
}

fn main() {
    let key = PrivateKey::generate_ecdsa();
    let id: KeyId = key.id();
    let file = key_file::encode(
        &key,
        "targets",
        Some("example.com/app"),
        Some("passphrase1"),
    );
    per_op("encrypt + write PEM (PBKDF2 2048, AES)", 200, || {
        let _ = key_file::encode(
            &key,
            "targets",
            Some("example.com/app"),
            Some("passphrase1"),
        );
    });
    per_op("decrypt key file", 200, || {
        let _ = key_file::decode(
            file.as_bytes(),
            &id,
            &mut FixedPassphrase::new("passphrase1"),
        );
    });
    per_op("ECDSA P-256 sign (p256)", 500, || {
        let _ = key.sign(b"canonical bytes of a signed role");
    });
    let sig = key.sign(b"m").map(|s| s.sig).unwrap_or_default();
    let public = key.public_key();
    per_op("ECDSA P-256 verify (ring)", 500, || {
        let _ = public.verify("ecdsa", b"m", &sig);
    });
    per_op("root certificate (new_root_certificate)", 200, || {
        let _ = signet_keys::certificate::new_root_certificate(&key, "example.com/app");
    });
    let dir = std::env::temp_dir().join(format!("signet-key-costs-{}", std::process::id()));
    let store = KeyStore::new(&dir);
    for _ in 0..100 {
        let _ = store.add(
            &PrivateKey::generate_ecdsa(),
            "targets/releases",
            None,
            &mut FixedPassphrase::new("passphrase1"),
        );
    }
    per_op("list a store of 100 keys", 50, || {
        let _ = store.list();
    });
    let _ = std::fs::remove_dir_all(&dir);
}
