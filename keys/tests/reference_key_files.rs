//! Every key file recorded from notary 0.7 and docker 28 decrypts, has the ID its file name
//! says, and is the key the recorded metadata lists.

use signet_keys::key_file;
use signet_keys::passphrase::FixedPassphrase;
use signet_keys::{KeyId, PublicKey};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn load(path: &Path, pass: &str) -> (key_file::KeyFile, KeyId) {
    let name = path.file_stem().unwrap().to_str().unwrap();
    let id: KeyId = name.parse().unwrap_or_else(|_| {
        "0000000000000000000000000000000000000000000000000000000000000000"
            .parse()
            .unwrap()
    });
    let bytes = std::fs::read(path).unwrap();
    let f = key_file::decode(&bytes, &id, &mut FixedPassphrase::new(pass)).unwrap();
    (f, id)
}

/// Keys listed in a metadata file's `signed.keys` (root) or `signed.delegations.keys`.
fn metadata_keys(rel: &str) -> Vec<(String, PublicKey)> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join(rel)).unwrap()).unwrap();
    let keys = v["signed"]
        .get("keys")
        .or_else(|| v["signed"]["delegations"].get("keys"))
        .unwrap()
        .as_object()
        .unwrap();
    keys.iter()
        .map(|(id, k)| {
            let pk = PublicKey::from_b64(
                k["keytype"].as_str().unwrap(),
                k["keyval"]["public"].as_str().unwrap(),
            )
            .unwrap();
            assert_eq!(&pk.id().to_string(), id, "listed ID must hash from the key");
            (id.clone(), pk)
        })
        .collect()
}

fn role_key_ids(rel: &str, role: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join(rel)).unwrap()).unwrap();
    let r = &v["signed"]["roles"][role]["keyids"];
    r.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// The metadata key whose canonical ID is `id` (cert keys resolve to their inner key).
fn find_by_canonical(keys: &[(String, PublicKey)], id: &KeyId) -> Option<String> {
    keys.iter()
        .find(|(_, k)| k.canonical_id().ok().as_ref() == Some(id))
        .map(|(listed, _)| listed.clone())
}

#[test]
fn docker_keys_decrypt_and_match_docker_metadata() {
    let dir = fixtures().join("notary-0.7/docker-keys");
    let root_meta = metadata_keys("notary-0.7/docker-signed-v1/root.json");
    let cases = [
        (
            "d5dff74b73ee3018389cb389c6906cee72c214cb9c1cab926c3ee0bc432886e8",
            "dockerroot123",
            "root",
            None,
        ),
        (
            "e7803333c8e40967be6172f0cb4d0a45f264ef564acc37f0fb8e42b186956850",
            "dockerrepo123",
            "targets",
            Some("192.0.2.1:5000/app"),
        ),
        (
            "0208334b8a8018b61ffa37cd2a653891fb2a69f411dfafc01e5e2859ed4ab38e",
            "dockerrepo123",
            "alice",
            None,
        ),
        (
            "a30f2bf88638c2d046b1f203d8a716f9048e9e97d831a7707125e5fb6d9272ea",
            "dockerrepo123",
            "bob",
            None,
        ),
    ];
    for (id, pass, role, gun) in cases {
        let (f, expect) = load(&dir.join(format!("{id}.key")), pass);
        assert_eq!(f.key.id(), expect, "file name is the key ID");
        assert_eq!(f.info.role, role);
        assert_eq!(f.info.gun.as_deref(), gun);
        assert!(f.info.encrypted);
    }
    // The root key is the root.json root role's cert; the targets key is the targets role key.
    let root_id: KeyId = cases[0].0.parse().unwrap();
    let listed = find_by_canonical(&root_meta, &root_id).expect("root key in root.json");
    assert_eq!(
        role_key_ids("notary-0.7/docker-signed-v1/root.json", "root"),
        vec![listed.clone()]
    );
    assert_ne!(
        listed,
        root_id.to_string(),
        "cert key ID differs from the file name"
    );
    assert_eq!(
        role_key_ids("notary-0.7/docker-signed-v1/root.json", "targets"),
        vec![cases[1].0.to_string()]
    );
    // alice and bob are delegation keys in targets.json.
    let deleg = metadata_keys("notary-0.7/docker-signed-v1/targets.json");
    for (id, ..) in &cases[2..] {
        assert!(deleg.iter().any(|(l, _)| l == id), "{id} delegated");
    }
}

#[test]
fn public_key_files_match_their_private_keys() {
    let dir = fixtures().join("notary-0.7/docker-keys");
    let alice =
        signet_keys::pem::parse_one(&std::fs::read(dir.join("alice.pub")).unwrap()).unwrap();
    assert_eq!(alice.label, "PUBLIC KEY");
    assert_eq!(alice.header("role"), Some("alice"));
    let (alice_priv, _) = load(
        &dir.join("0208334b8a8018b61ffa37cd2a653891fb2a69f411dfafc01e5e2859ed4ab38e.key"),
        "dockerrepo123",
    );
    assert_eq!(&alice.data[..], alice_priv.key.public_key().public_bytes());
    // Our .pub writer reproduces docker's file byte for byte.
    assert_eq!(
        key_file::encode_public(&alice_priv.key.public_key(), "alice"),
        std::fs::read_to_string(dir.join("alice.pub")).unwrap()
    );
    // bob.key is a plain OpenSSL PKCS#8 key, imported by docker as the bob key.
    let (bob, _) = load(&dir.join("bob.key"), "");
    assert_eq!(
        bob.key.id().to_string(),
        "a30f2bf88638c2d046b1f203d8a716f9048e9e97d831a7707125e5fb6d9272ea"
    );
    let bob_pub =
        signet_keys::pem::parse_one(&std::fs::read(dir.join("bob.pub")).unwrap()).unwrap();
    assert_eq!(&bob_pub.data[..], bob.key.public_key().public_bytes());
}

#[test]
fn notary_cli_keys_decrypt_and_match_notary_metadata() {
    let dir = fixtures().join("notary-0.7/notary-cli-keys");
    let v1 = metadata_keys("notary-0.7/v1-initial/root.json");
    let v5 = metadata_keys("notary-0.7/v5-rotated-root/root.json");
    let roots = [
        "29259f6e24191d8510061f14f3f6db64c968775b65a4bac77f343ea56ac3c1e4",
        "6c3fcd82488910e34d0bc1f9e0c3519f4cfc45cf4f6aa39a9ae1d38305efcd4c",
    ];
    let mut found_old = false;
    for id in roots {
        let (f, expect) = load(&dir.join(format!("{id}.key")), "rootpass123");
        assert_eq!(f.key.id(), expect);
        assert_eq!(f.info.role, "root");
        if let Some(listed) = find_by_canonical(&v1, &expect) {
            assert_eq!(
                role_key_ids("notary-0.7/v1-initial/root.json", "root"),
                vec![listed]
            );
            found_old = true;
        }
        assert!(
            find_by_canonical(&v5, &expect).is_some(),
            "{id} in rotated root"
        );
    }
    assert!(found_old, "the original root key signs v1");
    let (t, tid) = load(
        &dir.join("5a48f0886fd83d0a1a550d688c8af6a99f2b60ea72b7a6ba624ba125798a9184.key"),
        "targetspass123",
    );
    assert_eq!(t.key.id(), tid);
    assert_eq!(t.info.gun.as_deref(), Some("example.com/app"));
    assert_eq!(
        role_key_ids("notary-0.7/v1-initial/root.json", "targets"),
        vec![tid.to_string()]
    );
    let (d, did) = load(
        &dir.join("6b80be1b04f017d3349e29c0af707dc08eb31fe493b6c4a4aaa8a8664a001932.key"),
        "delegpass123",
    );
    assert_eq!(d.key.id(), did);
    assert_eq!(d.info.role, "targets/releases");
    // The delegation was added from a certificate: its canonical ID is this key's ID.
    let deleg = metadata_keys("notary-0.7/v4-delegation/targets.json");
    assert!(find_by_canonical(&deleg, &did).is_some());
    let cert = signet_keys::Certificate::parse_pem_chain(
        &std::fs::read(dir.join("targets_releases.crt")).unwrap(),
    )
    .unwrap();
    assert_eq!(cert[0].public_key().id(), did);
}

#[test]
fn vector_keys_match_vector_metadata() {
    let dir = fixtures().join("notary-vectors");
    let meta = metadata_keys("notary-vectors/vec_root.json");
    let (root, _) = load(&dir.join("vec_root.key"), "pass");
    assert_eq!(
        root.key.id().to_string(),
        "6b124941e66684dbeb046a57792a3bb1f328bb927b2c250735e0156c8bf13bfc"
    );
    let listed = find_by_canonical(&meta, &root.key.id()).unwrap();
    assert!(listed.starts_with("29fc6551"));
    let root_cert = meta
        .iter()
        .find(|(l, _)| *l == listed)
        .unwrap()
        .1
        .leaf_certificate()
        .unwrap();
    assert_eq!(root_cert.cn(), "example.com/org/app");
    assert!(!root_cert.is_ca());
    assert!(!root_cert.uses_sha1());

    let (targets, _) = load(&dir.join("vec_targets_plain.key"), "");
    assert!(!targets.info.encrypted);
    assert_eq!(targets.info.role, "targets");
    assert_eq!(
        role_key_ids("notary-vectors/vec_root.json", "targets"),
        vec![targets.key.id().to_string()]
    );
    let (ts, _) = load(&dir.join("vec_ed25519_plain.key"), "");
    assert_eq!(ts.key.algorithm(), "ed25519");
    assert_eq!(
        role_key_ids("notary-vectors/vec_root.json", "timestamp"),
        vec![ts.key.id().to_string()]
    );
    // Re-encoding the plain keys reproduces notary's bytes exactly.
    assert_eq!(
        key_file::encode(&targets.key, "targets", Some("example.com/org/app"), None).as_str(),
        std::fs::read_to_string(dir.join("vec_targets_plain.key")).unwrap()
    );
    assert_eq!(
        key_file::encode(&ts.key, "timestamp", Some("example.com/org/app"), None).as_str(),
        std::fs::read_to_string(dir.join("vec_ed25519_plain.key")).unwrap()
    );
}

#[test]
fn root_certificate_like_notary() {
    let key = signet_keys::PrivateKey::generate_ecdsa();
    let now = time::OffsetDateTime::now_utc();
    let pk = signet_keys::root_certificate(
        &key,
        "example.com/app",
        now,
        now + time::Duration::days(3650),
    )
    .unwrap();
    assert_eq!(pk.key_type().as_str(), "ecdsa-x509");
    assert!(pk
        .public_bytes()
        .starts_with(b"-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(pk.canonical_id().unwrap(), key.id());
    let cert = pk.leaf_certificate().unwrap();
    assert_eq!(cert.cn(), "example.com/app");
    assert!(!cert.is_ca());
    assert!(!cert.uses_sha1());
    assert_eq!((cert.not_after() - cert.not_before()).whole_days(), 3650);
    // Signatures by the private key verify through the certificate key.
    let s = key.sign(b"root bytes").unwrap();
    pk.verify("ecdsa", b"root bytes", &s.sig).unwrap();
}
