//! The real notary 0.7 CLI against Signet: the whole publishing life cycle.

use signet_interop::*;
use signet_keys::passphrase::FixedPassphrase;

const GUN: &str = "example.com/app";

#[test]
fn notary_cli_full_life_cycle() {
    if !require_binaries(&["notary"]) {
        return;
    }
    life_cycle(&SignetServer::start());
}

#[test]
fn notary_cli_full_life_cycle_on_postgres() {
    if !require_binaries(&["notary", "runuser"]) || !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    let url = pg.create_database("lifecycle");
    life_cycle(&SignetServer::start_on_postgres(&url));
}

fn life_cycle(srv: &SignetServer) {
    let admin = NotaryCli::new(&srv.url, &srv.ca_path);
    let files = tempfile::tempdir().unwrap();

    admin.run(&["init", GUN]).ok("init");
    admin.run(&["publish", GUN]).ok("publish initial");
    let reader = NotaryCli::new(&srv.url, &srv.ca_path);
    assert!(
        reader.list(GUN).is_empty(),
        "fresh repository lists no targets"
    );

    // add + publish, read back from a second, fresh trust dir.
    let v1 = b"sixteen bytes!!\n";
    let f1 = write_file(files.path(), "v1.bin", v1);
    admin
        .run(&["add", GUN, "v1", f1.to_str().unwrap()])
        .ok("add v1");
    admin.run(&["publish", GUN]).ok("publish v1");
    assert_eq!(
        reader.list(GUN),
        vec![("v1".to_string(), sha256_hex(v1), 16, "targets".to_string())]
    );
    let lookup = reader.run(&["lookup", GUN, "v1"]).ok("lookup");
    assert!(lookup.stdout.contains(&sha256_hex(v1)), "{}", lookup.stdout);
    let verify = reader
        .command()
        .args(["verify", GUN, "v1", "-i", f1.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let tampered = write_file(files.path(), "bad.bin", b"sixteen bytes??\n");
    let bad = reader.run(&["verify", GUN, "v1", "-i", tampered.to_str().unwrap()]);
    assert!(!bad.status.success(), "tampered content must not verify");

    // Server-managed snapshot from now on.
    admin
        .run(&["key", "rotate", GUN, "snapshot", "-r"])
        .ok("rotate snapshot to server");
    let v2 = b"second target";
    let f2 = write_file(files.path(), "v2.bin", v2);
    admin
        .run(&["add", GUN, "v2", f2.to_str().unwrap()])
        .ok("add v2");
    admin.run(&["publish", GUN]).ok("publish v2");
    admin.run(&["remove", GUN, "v1"]).ok("remove v1");
    admin.run(&["publish", GUN]).ok("publish removal");
    assert_eq!(
        reader.list(GUN),
        vec![(
            "v2".to_string(),
            sha256_hex(v2),
            v2.len() as u64,
            "targets".to_string()
        )]
    );

    // A delegation whose private key signet-keys wrote into notary's trust dir.
    let deleg = signet_keys::PrivateKey::generate_ecdsa();
    let now = time::OffsetDateTime::now_utc();
    let cert =
        signet_keys::root_certificate(&deleg, "releases", now, now + time::Duration::days(365))
            .unwrap();
    let cert_path = write_file(files.path(), "releases.crt", cert.public_bytes());
    let store = signet_keys::store::KeyStore::new(admin.trust_dir.path());
    store
        .add(
            &deleg,
            "targets/releases",
            None,
            &mut FixedPassphrase::new(REPO_PASS),
        )
        .unwrap();
    admin
        .run(&[
            "delegation",
            "add",
            GUN,
            "targets/releases",
            cert_path.to_str().unwrap(),
            "--all-paths",
        ])
        .ok("delegation add");
    admin.run(&["publish", GUN]).ok("publish delegation");
    let rel = b"release artefact";
    let fr = write_file(files.path(), "rel.bin", rel);
    admin
        .run(&[
            "add",
            GUN,
            "rel1",
            fr.to_str().unwrap(),
            "--roles",
            "targets/releases",
        ])
        .ok("add to delegation");
    admin
        .run(&["publish", GUN])
        .ok("publish into targets/releases");
    let listed = reader.list(GUN);
    assert!(
        listed.contains(&(
            "rel1".to_string(),
            sha256_hex(rel),
            rel.len() as u64,
            "targets/releases".to_string()
        )),
        "{listed:?}"
    );
    // The delegation file is served under its role name with a slash.
    let agent = https_agent(&srv.ca_path);
    let (status, body) = upload::get(
        &agent,
        &format!("{}/v2/{GUN}/_trust/tuf/targets/releases.json", srv.url),
    );
    assert_eq!(status, 200);
    let d = signet_tuf::SignedTargets::from_bytes("targets/releases", &body).unwrap();
    assert!(d.signed.target_map().contains_key("rel1"));

    admin.run(&["witness", GUN, "targets"]).ok("witness");
    admin.run(&["publish", GUN]).ok("publish witness");
    admin
        .run(&["delegation", "remove", GUN, "targets/releases", "-y"])
        .ok("delegation remove");
    admin
        .run(&["publish", GUN])
        .ok("publish delegation removal");
    assert!(!reader.list(GUN).iter().any(|r| r.0 == "rel1"));

    // Root rotation: the reader, still trusting the old root, follows the chain.
    let (_, old_root) = upload::get(
        &agent,
        &format!("{}/v2/{GUN}/_trust/tuf/root.json", srv.url),
    );
    // notary asks for confirmation before rotating a root key.
    admin
        .run_with_input(&["key", "rotate", GUN, "root"], b"yes\n")
        .ok("rotate root");
    let (_, new_root) = upload::get(
        &agent,
        &format!("{}/v2/{GUN}/_trust/tuf/root.json", srv.url),
    );
    let old_root = signet_tuf::SignedRoot::from_bytes("root", &old_root).unwrap();
    let new_root = signet_tuf::SignedRoot::from_bytes("root", &new_root).unwrap();
    assert_eq!(new_root.version(), old_root.version() + 1);
    assert_eq!(
        new_root.envelope.signatures().len(),
        2,
        "signed by old and new root keys"
    );
    let v3 = b"after rotation";
    let f3 = write_file(files.path(), "v3.bin", v3);
    admin
        .run(&["add", GUN, "v3", f3.to_str().unwrap()])
        .ok("add v3");
    admin
        .run(&["publish", GUN])
        .ok("publish after root rotation");
    assert!(reader
        .list(GUN)
        .iter()
        .any(|r| r.0 == "v3" && r.1 == sha256_hex(v3)));
    // Every historical root version stays fetchable.
    for v in 1..=new_root.version() {
        let (s, _) = upload::get(
            &agent,
            &format!("{}/v2/{GUN}/_trust/tuf/{v}.root.json", srv.url),
        );
        assert_eq!(s, 200, "root version {v}");
    }

    // delete --remote: the repository is gone for everyone.
    admin
        .run(&["delete", GUN, "--remote"])
        .ok("delete --remote");
    let fresh = NotaryCli::new(&srv.url, &srv.ca_path);
    let gone = fresh.run(&["list", GUN]);
    assert!(!gone.status.success());
    // notary prints its fatal errors on stdout.
    assert!(
        gone.stdout
            .contains("does not have trust data for example.com/app"),
        "{}",
        gone.stdout
    );
    let (s, body) = upload::get(
        &agent,
        &format!("{}/v2/{GUN}/_trust/tuf/root.json", srv.url),
    );
    assert_eq!(s, 404);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/notary-0.7/error-404-metadata-not-found.json"
        ))
        .unwrap()
    );
}
