//! signet-keys and the notary 0.7 CLI share a trust directory: keys written here are listed by
//! `notary key list` with the right role and GUN and decrypted by `notary key passwd`; keys made
//! by `notary key generate` are listed and decrypted here.

mod common;

use signet_keys::passphrase::{EnvPassphrase, FixedPassphrase};
use signet_keys::store::KeyStore;
use signet_keys::{key_file, KeyId, PrivateKey};
use std::collections::{BTreeSet, HashMap};

const GUN: &str = "example.com/app";

/// notary reads these instead of prompting; the delegation one covers every non-base role.
const PASSPHRASES: [(&str, &str); 4] = [
    ("NOTARY_ROOT_PASSPHRASE", "rootpass123"),
    ("NOTARY_TARGETS_PASSPHRASE", "targetspass123"),
    ("NOTARY_SNAPSHOT_PASSPHRASE", "snapshotpass123"),
    ("NOTARY_DELEGATION_PASSPHRASE", "delegpass123"),
];

fn pass_for(role: &str) -> &'static str {
    match role {
        "root" => PASSPHRASES[0].1,
        "targets" => PASSPHRASES[1].1,
        "snapshot" => PASSPHRASES[2].1,
        _ => PASSPHRASES[3].1,
    }
}

fn env_source() -> EnvPassphrase {
    EnvPassphrase::new(
        PASSPHRASES
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

fn notary(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let d = dir.to_str().unwrap();
    let mut all = vec!["-d", d, "-s", "https://127.0.0.1:1"];
    all.extend_from_slice(args);
    common::run("notary", &all, dir, vars)
}

#[test]
fn notary_lists_and_decrypts_keys_written_by_signet() {
    if !common::have("notary", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    let keys = [
        (PrivateKey::generate_ecdsa(), "root", None),
        (PrivateKey::generate_ecdsa(), "targets", Some(GUN)),
        (PrivateKey::generate_ecdsa(), "snapshot", Some(GUN)),
        (PrivateKey::generate_ecdsa(), "targets/releases", None),
        (PrivateKey::generate_ed25519(), "targets/ed", None),
    ];
    for (key, role, gun) in &keys {
        store
            .add(key, role, *gun, &mut FixedPassphrase::new(pass_for(role)))
            .unwrap();
    }

    let out = notary(dir.path(), &["key", "list"], &[]);
    assert!(out.status.success(), "{}", common::text(&out));
    let listed: BTreeSet<_> = common::notary_key_list(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .collect();
    let expected: BTreeSet<_> = keys
        .iter()
        .map(|(k, role, gun)| {
            (
                role.to_string(),
                gun.unwrap_or("").to_string(),
                k.id().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, expected);

    for (key, role, gun) in &keys {
        let id = key.id();
        let path = dir.path().join("private").join(format!("{id}.key"));
        let before = std::fs::read(&path).unwrap();

        // A wrong passphrase: notary cannot decrypt the file and leaves it alone.
        let wrong: Vec<(&str, &str)> = PASSPHRASES
            .iter()
            .map(|(k, _)| (*k, "notthepass1"))
            .collect();
        let out = notary(dir.path(), &["key", "passwd", id.as_str()], &wrong);
        assert!(!out.status.success(), "{role}: {}", common::text(&out));
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // The right one: notary decrypts our file and re-encrypts it (new salt and IV).
        let out = notary(dir.path(), &["key", "passwd", id.as_str()], &PASSPHRASES);
        assert!(out.status.success(), "{role}: {}", common::text(&out));
        assert!(
            common::text(&out)
                .contains(&format!("Successfully updated passphrase for key ID: {id}")),
            "{}",
            common::text(&out)
        );
        let after = std::fs::read(&path).unwrap();
        assert_ne!(after, before, "{role}: notary rewrote the file");
        let (stored, back) = store.load(&id, &mut env_source()).unwrap();
        assert_eq!(back.id(), id);
        assert_eq!(stored.role, *role);
        assert_eq!(stored.gun.as_deref(), *gun);
        assert_eq!(back.algorithm(), key.algorithm());
    }
}

#[test]
fn keys_generated_by_notary_load_in_signet() {
    if !common::have("notary", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut generated = Vec::new();
    for role in ["root", "targets", "targets/releases"] {
        let out = notary(
            dir.path(),
            &["key", "generate", "ecdsa", "--role", role],
            &PASSPHRASES,
        );
        let text = common::text(&out);
        assert!(out.status.success(), "{text}");
        let id: KeyId = text
            .split("with keyID: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no key ID in {text:?}"))
            .parse()
            .unwrap();
        generated.push((role, id));
    }
    let store = KeyStore::new(dir.path());
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), generated.len());
    for (role, id) in &generated {
        let entry = listed.iter().find(|k| &k.id == id).unwrap();
        assert_eq!(entry.role, *role);
        assert_eq!(entry.gun, None, "notary generate writes no GUN");
        assert!(entry.encrypted);
        let (_, key) = store.load(id, &mut env_source()).unwrap();
        assert_eq!(&key.id(), id, "file name is the computed key ID");
        assert_eq!(key.algorithm(), "ecdsa");
        // The file header layout is the one signet-keys writes.
        let bytes = std::fs::read(&entry.path).unwrap();
        let ours = key_file::encode(&key, role, None, Some("x"));
        let header = |b: &[u8]| {
            let t = String::from_utf8_lossy(b).into_owned();
            t[..t.find("\n\n").unwrap() + 2].to_string()
        };
        assert_eq!(header(&bytes), header(ours.as_bytes()));
        assert_eq!(
            bytes.len(),
            ours.len(),
            "same PKCS#8 + PBES2 structure size"
        );
    }
    // Our view of the directory agrees with notary's own listing.
    let out = notary(dir.path(), &["key", "list"], &[]);
    let theirs: BTreeSet<_> = common::notary_key_list(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .map(|(role, _, id)| (role, id))
        .collect();
    let ours: BTreeSet<_> = listed
        .iter()
        .map(|k| (k.role.clone(), k.id.to_string()))
        .collect();
    assert_eq!(theirs, ours);
}
