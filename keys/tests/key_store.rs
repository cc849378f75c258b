//! The trust-dir key store on disk: permissions, atomic writes, listing after add/remove,
//! the pre-0.4 layouts, symlinks and stray files.

use signet_keys::asn1::{self, Reader};
use signet_keys::key_file::{self, KeyFileError};
use signet_keys::passphrase::{EnvPassphrase, FixedPassphrase};
use signet_keys::pem;
use signet_keys::store::{trust_dir_from, KeyStore, StoreError};
use signet_keys::{pkcs8, PrivateKey};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// (key ID, role, GUN, encrypted, algorithm) as `list` reports a key.
type Listed = (String, String, Option<String>, bool, Option<&'static str>);

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn docker_env() -> EnvPassphrase {
    let mut vars = HashMap::new();
    vars.insert(
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE".to_string(),
        "rootpass123".to_string(),
    );
    vars.insert(
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE".to_string(),
        "repopass123".to_string(),
    );
    EnvPassphrase::new(vars)
}

#[test]
fn add_writes_0600_files_in_0700_dirs_atomically_and_list_follows_add_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::new(tmp.path().join("trust"));
    assert!(store.list().unwrap().is_empty(), "no private/ yet");
    let root = PrivateKey::generate_ecdsa();
    let targets = PrivateKey::generate_ecdsa();
    let alice = PrivateKey::generate_ed25519();
    let mut env = docker_env();
    store
        .add(&root, "root", Some("ignored/for/root"), &mut env)
        .unwrap();
    let t = store
        .add(&targets, "targets", Some("example.com/app"), &mut env)
        .unwrap();
    store.add(&alice, "alice", None, &mut env).unwrap();
    assert_eq!(
        t.path,
        store.private_dir().join(format!("{}.key", targets.id()))
    );

    assert_eq!(mode(store.trust_dir()), 0o700);
    assert_eq!(mode(&store.private_dir()), 0o700);
    let mut expected: Vec<String> = [&root, &targets, &alice]
        .iter()
        .map(|k| format!("{}.key", k.id()))
        .collect();
    expected.sort();
    // Only the renamed key files: no temp file left behind.
    assert_eq!(names(&store.private_dir()), expected);
    for name in &expected {
        assert_eq!(mode(&store.private_dir().join(name)), 0o600);
    }

    let listed: Vec<Listed> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|k| (k.id.to_string(), k.role, k.gun, k.encrypted, k.algorithm))
        .collect();
    let mut want: Vec<Listed> = vec![
        (root.id().to_string(), "root".to_string(), None, true, None),
        (
            targets.id().to_string(),
            "targets".to_string(),
            Some("example.com/app".to_string()),
            true,
            None,
        ),
        (
            alice.id().to_string(),
            "alice".to_string(),
            None,
            true,
            None,
        ),
    ];
    want.sort();
    assert_eq!(listed, want);

    // Each key decrypts with the passphrase docker would use for its role.
    for k in [&root, &targets, &alice] {
        let (stored, loaded) = store.load(&k.id(), &mut env).unwrap();
        assert_eq!(loaded.id(), k.id());
        assert_eq!(stored.id, k.id());
    }

    let removed = store.remove(&targets.id()).unwrap();
    assert_eq!(removed.role, "targets");
    let ids: Vec<_> = store.list().unwrap().into_iter().map(|k| k.id).collect();
    let mut left = vec![root.id(), alice.id()];
    left.sort();
    assert_eq!(ids, left);
    assert!(matches!(
        store.remove(&targets.id()),
        Err(StoreError::NotFound(id)) if id == targets.id().to_string()
    ));
}

#[test]
fn a_short_passphrase_for_a_new_key_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::new(tmp.path());
    let err = store
        .add(
            &PrivateKey::generate_ecdsa(),
            "root",
            None,
            &mut FixedPassphrase::new("short"),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Passphrase(signet_keys::passphrase::PassphraseError::TooShort)
    ));
    assert!(!store.private_dir().exists());
}

/// The SEC1 ECPrivateKey inside notary's PKCS#8, for writing a legacy `EC PRIVATE KEY` block.
fn sec1_of(key: &PrivateKey) -> Vec<u8> {
    let p8 = pkcs8::encode_notary(key);
    let mut outer = Reader::new(&p8);
    let mut info = outer.sequence().unwrap();
    info.small_uint().unwrap();
    info.sequence().unwrap();
    info.expect(asn1::TAG_OCTET_STRING).unwrap().to_vec()
}

fn write(path: &Path, contents: &[u8]) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    path.to_path_buf()
}

#[test]
fn pre_0_4_layouts_take_role_and_gun_from_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::new(tmp.path());
    let private = store.private_dir();
    // Old files have no role/gun headers.
    let root = PrivateKey::generate_ecdsa();
    let enc = pkcs8::encrypt(&pkcs8::encode_notary(&root), b"rootpass123");
    write(
        &private.join(format!("root_keys/{}_root.key", root.id())),
        pem::encode("ENCRYPTED PRIVATE KEY", &[], &enc).as_bytes(),
    );
    let targets = PrivateKey::generate_ecdsa();
    write(
        &private.join(format!(
            "tuf_keys/example.com/org/app/{}_targets.key",
            targets.id()
        )),
        pem::encode("EC PRIVATE KEY", &[], &sec1_of(&targets)).as_bytes(),
    );

    let listed = store.list().unwrap();
    let get = |id| listed.iter().find(|k| k.id == id).unwrap();
    let r = get(root.id());
    assert_eq!(
        (r.role.as_str(), r.gun.as_deref(), r.encrypted),
        ("root", None, true)
    );
    let t = get(targets.id());
    assert_eq!(
        (t.role.as_str(), t.gun.as_deref(), t.encrypted, t.algorithm),
        ("targets", Some("example.com/org/app"), false, Some("ecdsa"))
    );

    // The passphrase is asked for under the role from the file name (root's variable).
    let (stored, key) = store.load(&root.id(), &mut docker_env()).unwrap();
    assert_eq!((stored.role.as_str(), key.id()), ("root", root.id()));
    let (_, key) = store.load(&targets.id(), &mut docker_env()).unwrap();
    assert_eq!(key.id(), targets.id());

    // A wrong passphrase names the role from the path, not "unknown".
    let err = store
        .load(&root.id(), &mut FixedPassphrase::new("notthepass1"))
        .unwrap_err();
    match err {
        StoreError::KeyFile {
            source: KeyFileError::WrongPassphrase { key_id, role },
            ..
        } => assert_eq!((key_id, role.as_str()), (root.id().to_string(), "root")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn symlinks_and_stray_files_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::new(tmp.path().join("trust"));
    let key = PrivateKey::generate_ecdsa();
    store
        .add(
            &key,
            "targets/releases",
            None,
            &mut FixedPassphrase::new("delegpass123"),
        )
        .unwrap();

    // A real key file reachable only through symlinks (file and directory).
    let outside = PrivateKey::generate_ecdsa();
    let elsewhere = tmp.path().join("elsewhere");
    let target = write(
        &elsewhere.join(format!("{}.key", outside.id())),
        key_file::encode(&outside, "root", None, None).as_bytes(),
    );
    std::os::unix::fs::symlink(
        &target,
        store.private_dir().join(format!("{}.key", outside.id())),
    )
    .unwrap();
    std::os::unix::fs::symlink(&elsewhere, store.private_dir().join("linked_dir")).unwrap();
    // Files that are not key files by name or content.
    write(&store.private_dir().join("README"), b"notes");
    write(
        &store.private_dir().join("not-an-id.key"),
        b"-----BEGIN PRIVATE KEY-----\n",
    );
    write(
        &store.private_dir().join(format!("{}.key", "ab".repeat(32))),
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );

    let ids: Vec<_> = store.list().unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(ids, vec![key.id()]);
    assert!(matches!(
        store.load(&outside.id(), &mut FixedPassphrase::new("x")),
        Err(StoreError::NotFound(_))
    ));
    // The certificate-in-a-key-file is found by name and reported for what it is.
    let err = store
        .load(
            &"ab".repeat(32).parse().unwrap(),
            &mut FixedPassphrase::new("x"),
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::KeyFile { source: KeyFileError::NotAPrivateKey(label), .. } if label == "CERTIFICATE"
        ),
        "{err:?}"
    );
}

#[test]
fn trust_dir_follows_docker_config_then_home() {
    assert_eq!(
        trust_dir_from(Some("/cfg".into()), Some("/home/u".into())),
        PathBuf::from("/cfg/trust")
    );
    assert_eq!(
        trust_dir_from(Some("".into()), Some("/home/u".into())),
        PathBuf::from("/home/u/.docker/trust")
    );
    assert_eq!(
        trust_dir_from(None, Some("/home/u".into())),
        PathBuf::from("/home/u/.docker/trust")
    );
}

#[test]
fn a_failed_write_leaves_neither_a_temp_file_nor_a_partial_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::new(tmp.path());
    let key = PrivateKey::generate_ecdsa();
    // A directory where the key file should go makes the final rename fail.
    let blocker = store.private_dir().join(format!("{}.key", key.id()));
    fs::create_dir_all(blocker.join("occupied")).unwrap();
    let err = store
        .add(&key, "root", None, &mut FixedPassphrase::new("rootpass123"))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Io { ref path, .. } if path.ends_with(".key")),
        "{err:?}"
    );
    assert_eq!(
        names(&store.private_dir()),
        vec![format!("{}.key", key.id())]
    );
    assert!(blocker.is_dir());
}
