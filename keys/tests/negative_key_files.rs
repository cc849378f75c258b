//! One folder per broken key file under fixtures/keys-negative/: loading it through the key
//! store fails with exactly the error its expected.txt names, and says which key failed.

use signet_keys::key_file::KeyFileError;
use signet_keys::passphrase::FixedPassphrase;
use signet_keys::pem::PemError;
use signet_keys::pkcs8::Pkcs8Error;
use signet_keys::store::{KeyStore, StoreError};
use signet_keys::KeyId;
use std::path::Path;

fn variant(e: &StoreError) -> &'static str {
    match e {
        StoreError::IdMismatch { .. } => "IdMismatch",
        StoreError::KeyFile { source, .. } => match source {
            KeyFileError::WrongPassphrase { .. } => "WrongPassphrase",
            KeyFileError::Pem(PemError::Unterminated(_)) => "Unterminated",
            KeyFileError::Pkcs8(Pkcs8Error::UnsupportedCurve(_)) => "UnsupportedCurve",
            KeyFileError::Pkcs8(Pkcs8Error::UnsupportedAlgorithm(oid)) => {
                assert_eq!(oid, "1.2.840.10040.4.1", "the error names the OID");
                "UnsupportedAlgorithm"
            }
            KeyFileError::Pem(PemError::BadBase64(_)) => "BadBase64",
            _ => "other key file error",
        },
        _ => "other",
    }
}

#[test]
fn every_broken_key_file_fails_with_its_error() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys-negative");
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
        let (file, pass, want) = (field("file"), field("passphrase"), field("error"));
        let trust = tempfile::tempdir().unwrap();
        let store = KeyStore::new(trust.path());
        std::fs::create_dir_all(store.private_dir()).unwrap();
        std::fs::copy(dir.join(&file), store.private_dir().join(&file)).unwrap();
        let id: KeyId = file.trim_end_matches(".key").parse().unwrap();
        // Every case, the truncated file included, is found by its name and fails on load.
        let err = match store.load(&id, &mut FixedPassphrase::new(pass.clone())) {
            Err(e) => e,
            Ok(_) => panic!("{}: loaded a broken key", dir.display()),
        };
        if let StoreError::KeyFile { path, .. } | StoreError::IdMismatch { path, .. } = &err {
            assert!(path.ends_with(&file), "error names the file: {path}");
        }
        assert_eq!(variant(&err), want, "{}: {err}", dir.display());
        let msg = err.to_string();
        assert!(
            !msg.contains(&"wrongpass123".to_string()),
            "passphrase leaked: {msg}"
        );
        if want == "WrongPassphrase" {
            assert!(
                msg.contains(id.as_str()) && msg.contains("targets"),
                "{msg}"
            );
        }
        cases += 1;
    }
    assert_eq!(cases, 6);
}
