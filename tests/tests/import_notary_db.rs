//! `signet-server import --notary-db`: repositories made by notary 0.7 against the real
//! notary-server + notary-signer on PostgreSQL, imported with their server keys; the
//! clients that used the reference then work against Signet with nothing changed.

use signet_interop::*;
use signet_keys::passphrase::FixedPassphrase;
use signet_server::store::{MetaReader, SqliteStore, Store, TenancyStore};
use std::path::Path;
use std::process::Command;

const APP: &str = "example.com/team/app";
const HUB: &str = "docker.io/library/alpine";
/// A repository docker 28 initialised (`docker trust signer add`), at an unreachable
/// registry address: the trust commands only talk to the trust server.
const DOCKER_REPO: &str = "192.0.2.1:5000/team/docker-app";
const ALIAS: &str = "importalias";
const SIGNER_PASS: &str = "reference-signer-passphrase";

/// Builds APP's history against the reference: several publishes, a delegation with a target,
/// the snapshot key moved to the server, a root rotation and a publish after it; and HUB, a
/// Docker Hub name with one publish. Returns the admin client (its cache and keys filled).
fn make_history(reference: &NotaryServer, files: &Path) -> NotaryCli {
    let admin = NotaryCli::new(&reference.url, &reference.ca_path);
    admin.run(&["init", APP]).ok("init");
    admin.run(&["publish", APP]).ok("publish initial");
    let f1 = write_file(files, "v1.bin", b"first target");
    admin
        .run(&["add", APP, "v1", f1.to_str().unwrap()])
        .ok("add v1");
    admin.run(&["publish", APP]).ok("publish v1");

    let deleg = signet_keys::PrivateKey::generate_ecdsa();
    let now = time::OffsetDateTime::now_utc();
    let cert =
        signet_keys::root_certificate(&deleg, "releases", now, now + time::Duration::days(365))
            .unwrap();
    let cert_path = write_file(files, "releases.crt", cert.public_bytes());
    signet_keys::store::KeyStore::new(admin.trust_dir.path())
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
            APP,
            "targets/releases",
            cert_path.to_str().unwrap(),
            "--all-paths",
        ])
        .ok("delegation add");
    admin.run(&["publish", APP]).ok("publish delegation");
    let fr = write_file(files, "rel.bin", b"release artefact");
    admin
        .run(&[
            "add",
            APP,
            "rel1",
            fr.to_str().unwrap(),
            "--roles",
            "targets/releases",
        ])
        .ok("add to delegation");
    admin.run(&["publish", APP]).ok("publish rel1");

    admin
        .run(&["key", "rotate", APP, "snapshot", "-r"])
        .ok("snapshot key to the server");
    let f2 = write_file(files, "v2.bin", b"second target");
    admin
        .run(&["add", APP, "v2", f2.to_str().unwrap()])
        .ok("add v2");
    admin.run(&["publish", APP]).ok("publish v2");
    admin
        .run_with_input(&["key", "rotate", APP, "root"], b"yes\n")
        .ok("rotate root");
    let f3 = write_file(files, "v3.bin", b"after the root rotation");
    admin
        .run(&["add", APP, "v3", f3.to_str().unwrap()])
        .ok("add v3");
    admin.run(&["publish", APP]).ok("publish v3");

    admin.run(&["init", HUB]).ok("init hub");
    let fa = write_file(files, "alpine.bin", b"alpine manifest");
    admin
        .run(&["add", HUB, "3.20", fa.to_str().unwrap()])
        .ok("add alpine");
    admin.run(&["publish", HUB]).ok("publish hub");
    admin
}

/// docker 28 initialises DOCKER_REPO at the reference and adds two signers (two publishes,
/// a server-managed snapshot, delegations); returns the client and its `trust inspect`.
fn docker_history(reference: &NotaryServer, files: &Path) -> (DockerCli, serde_json::Value) {
    let docker = DockerCli::new(&reference.url, Some(&reference.ca_path));
    for name in ["alice", "bob"] {
        docker
            .run(&[
                "trust",
                "key",
                "generate",
                name,
                "--dir",
                files.to_str().unwrap(),
            ])
            .ok("docker trust key generate");
        let key = files.join(format!("{name}.pub"));
        docker
            .run(&[
                "trust",
                "signer",
                "add",
                "--key",
                key.to_str().unwrap(),
                name,
                DOCKER_REPO,
            ])
            .ok("docker trust signer add");
    }
    let inspect = docker
        .run(&["trust", "inspect", DOCKER_REPO])
        .ok("docker trust inspect at the reference");
    let v = serde_json::from_str(&inspect.stdout).unwrap();
    (docker, v)
}

/// Runs `signet-server import` on a data directory; exit code, stdout, stderr.
fn import(
    bin: &Path,
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = Command::new(bin);
    cmd.arg("import")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("SIGNET_SIGNER_PASSPHRASE", "interop-signer-pass")
        .env_remove(format!("NOTARY_SIGNER_{}", ALIAS.to_uppercase()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run signet-server import");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn report<'a>(summary: &'a serde_json::Value, gun: &str) -> &'a serde_json::Value {
    summary["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["gun"] == gun)
        .unwrap_or_else(|| panic!("{gun} not in {summary}"))
}

fn open_store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("signet.sqlite")).unwrap()
}

fn root_keys(store: &SqliteStore, gun: &str, role: &str) -> Vec<String> {
    let root = store.latest(gun, "root").unwrap().unwrap();
    let root = signet_tuf::SignedRoot::from_bytes("root", &root.bytes).unwrap();
    root.signed
        .role_keys(role)
        .unwrap()
        .keys
        .into_keys()
        .collect()
}

/// Imports everything from the reference's databases into a new Signet data directory and
/// checks the result: every source version stored with the same bytes, one audit record
/// per repository, a re-run that skips, and the reference's clients moved to Signet listing
/// the same targets and publishing with the root unchanged and the timestamp signed by the
/// imported key. Returns the running Signet server.
#[allow(clippy::too_many_arguments)]
fn import_and_move(
    bin: &Path,
    server_db: &str,
    signer_db: &str,
    extra_args: &[&str],
    env: &[(&str, &str)],
    source_rows: &[Vec<String>],
    admin: &NotaryCli,
    reader: &NotaryCli,
    files: &Path,
) -> SignetServer {
    let listed_at_reference = reader.list(APP);
    let app_rows = source_rows.iter().filter(|r| r[0] == APP).count();
    // The import, the signer's alias passphrase read from a variable of our choosing.
    let signet_dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--notary-db",
        server_db,
        "--signer-db",
        signer_db,
        "--all",
        "--json",
    ];
    args.extend_from_slice(extra_args);
    let (code, out, err) = import(bin, signet_dir.path(), &args, env);
    assert_eq!(code, 0, "{out}\n{err}");
    let summary = json(&out);
    let mut guns: Vec<&str> = source_rows.iter().map(|r| r[0].as_str()).collect();
    guns.dedup();
    assert_eq!(summary["imported"], guns.len(), "{summary}");
    let app = report(&summary, APP);
    assert_eq!(app["outcome"], "imported");
    assert_eq!(app["versions_imported"], app_rows);
    let store = open_store(signet_dir.path());
    let ts_key = root_keys(&store, APP, "timestamp");
    let snap_key = root_keys(&store, APP, "snapshot");
    let mut want_keys: Vec<String> = ts_key.iter().chain(&snap_key).cloned().collect();
    want_keys.sort();
    let mut got_keys: Vec<String> = app["server_keys_imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    got_keys.sort();
    assert_eq!(
        got_keys, want_keys,
        "timestamp and (server-held) snapshot keys"
    );
    assert_eq!(
        report(&summary, HUB)["server_keys_imported"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Every version of every role: the same bytes as the source.
    for row in source_rows {
        let version: i64 = row[2].parse().unwrap();
        let stored = store
            .by_version(&row[0], &row[1], version)
            .unwrap()
            .unwrap_or_else(|| panic!("{row:?} not imported"));
        assert_eq!(sha256_hex(&stored.bytes), row[3], "{row:?}");
    }
    // One audit record per repository.
    let audit = store
        .audit_list(&signet_server::store::AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .unwrap();
    for gun in [APP, HUB] {
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.action == "trust.import" && a.target == gun)
                .count(),
            1
        );
    }

    // Re-running changes nothing and says so.
    let (code, out, err) = import(
        bin,
        signet_dir.path(),
        &["--notary-db", server_db, "--gun", APP, "--gun", HUB],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "skipped {APP}: all {app_rows} versions already imported, identical"
        )),
        "{out}"
    );
    assert!(
        out.contains("2 repositories: 0 imported, 2 skipped"),
        "{out}"
    );

    // The clients move: same caches and keys, only the server address changes.
    let old_root_version = store.latest(APP, "root").unwrap().unwrap().version;
    let old_ts_version = store.latest(APP, "timestamp").unwrap().unwrap().version;
    drop(store);
    let signet = SignetServer::start_with(signet_dir, Default::default(), vec![]);
    let moved_reader = reader.moved_to(&signet.url, &signet.ca_path);
    assert_eq!(moved_reader.list(APP), listed_at_reference);
    let moved_admin = admin.moved_to(&signet.url, &signet.ca_path);
    let f4 = write_file(files, "v4.bin", b"published through Signet");
    moved_admin
        .run(&["add", APP, "v4", f4.to_str().unwrap()])
        .ok("add v4 at Signet");
    moved_admin.run(&["publish", APP]).ok("publish at Signet");
    assert!(moved_reader
        .list(APP)
        .iter()
        .any(|r| r.0 == "v4" && r.1 == sha256_hex(b"published through Signet")));
    assert_eq!(
        moved_reader.list(HUB),
        vec![(
            "3.20".to_string(),
            sha256_hex(b"alpine manifest"),
            15,
            "targets".to_string()
        )]
    );
    let agent = https_agent(&signet.ca_path);
    let get = |path: String| {
        let (status, body) = upload::get(
            &agent,
            &format!("{}/v2/{APP}/_trust/tuf/{path}", signet.url),
        );
        assert_eq!(status, 200, "{path}");
        body
    };
    let root = signet_tuf::SignedRoot::from_bytes("root", &get("root.json".into())).unwrap();
    assert_eq!(root.version(), old_root_version, "no root change");
    let ts = signet_tuf::SignedTimestamp::from_bytes("timestamp", &get("timestamp.json".into()))
        .unwrap();
    assert!(ts.version() > old_ts_version);
    assert_eq!(
        ts.envelope
            .signatures()
            .iter()
            .map(|s| s.keyid.clone())
            .collect::<Vec<_>>(),
        ts_key,
        "Signet signs timestamps with the imported key"
    );
    ts.verify_threshold(&root.signed.role_keys("timestamp").unwrap())
        .unwrap();
    let snap =
        signet_tuf::SignedSnapshot::from_bytes("snapshot", &get("snapshot.json".into())).unwrap();
    snap.verify_threshold(&root.signed.role_keys("snapshot").unwrap())
        .expect("server-generated snapshot signed by the imported snapshot key");

    signet
}

#[test]
fn notary_postgres_repositories_move_to_signet_with_their_keys() {
    if !require_binaries(&["notary", "notary-server", "notary-signer", "runuser"])
        || !Postgres::available()
    {
        return;
    }
    let Some(bin) = signet_server_bin() else {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
        return;
    };
    let pg = Postgres::start();
    let server_db = pg.create_database("notaryserver");
    pg.psql("notaryserver", NOTARY_SERVER_PG_SCHEMA);
    let signer_db = pg.create_database("notarysigner");
    pg.psql("notarysigner", NOTARY_SIGNER_PG_SCHEMA);
    let reference = NotaryServer::start_with_sql(
        &NotarySql::Postgres {
            server: server_db.clone(),
            signer: signer_db.clone(),
        },
        ALIAS,
        SIGNER_PASS,
    );
    let files = tempfile::tempdir().unwrap();
    let admin = make_history(&reference, files.path());
    let reader = NotaryCli::new(&reference.url, &reference.ca_path);
    let listed_at_reference = reader.list(APP);
    assert_eq!(listed_at_reference.len(), 4, "{listed_at_reference:?}");
    let docker = require_binaries(&["docker"]).then(|| docker_history(&reference, files.path()));
    let source_rows = pg.query(
        "notaryserver",
        "SELECT gun, role, version, sha256 FROM tuf_files ORDER BY gun, role, version",
    );
    let app_rows = source_rows.iter().filter(|r| r[0] == APP).count();
    assert!(app_rows >= 20, "a long history: {source_rows:?}");

    // The import, the signer's alias passphrase read from a variable of our choosing.
    let signet = import_and_move(
        &bin,
        &server_db,
        &signer_db,
        &["--signer-passphrase", &format!("{ALIAS}=OLD_SIGNER_PASS")],
        &[("OLD_SIGNER_PASS", SIGNER_PASS)],
        &source_rows,
        &admin,
        &reader,
        files.path(),
    );

    // docker 28, its cache filled against the reference, inspects and publishes at Signet.
    if let Some((docker, inspected)) = &docker {
        let moved = docker.moved_to(&signet.url, &signet.ca_path);
        let inspect = moved
            .run(&["trust", "inspect", DOCKER_REPO])
            .ok("docker trust inspect at Signet");
        let at_signet: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
        assert_eq!(&at_signet, inspected);
        let agent = https_agent(&signet.ca_path);
        let root_version = || {
            let (_, raw) = upload::get(
                &agent,
                &format!("{}/v2/{DOCKER_REPO}/_trust/tuf/root.json", signet.url),
            );
            signet_tuf::SignedRoot::from_bytes("root", &raw)
                .unwrap()
                .version()
        };
        let before = root_version();
        let carol = signet_keys::PrivateKey::generate_ecdsa();
        let carol_pub = write_file(
            files.path(),
            "carol.pub",
            signet_keys::key_file::encode_public(&carol.public_key(), "carol").as_bytes(),
        );
        moved
            .run(&[
                "trust",
                "signer",
                "add",
                "--key",
                carol_pub.to_str().unwrap(),
                "carol",
                DOCKER_REPO,
            ])
            .ok("docker trust signer add at Signet");
        assert_eq!(root_version(), before, "no root change");
        let inspect = moved
            .run(&["trust", "inspect", DOCKER_REPO])
            .ok("docker trust inspect after the publish");
        let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
        let mut signers: Vec<&str> = v[0]["Signers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Name"].as_str().unwrap())
            .collect();
        signers.sort();
        assert_eq!(signers, vec!["alice", "bob", "carol"]);
    }

    // A repository that exists in Signet with other data is refused, untouched.
    let data_dir = signet.stop();
    let (code, out, _) = import(
        &bin,
        data_dir.path(),
        &["--notary-db", &server_db, "--gun", APP],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "refused {APP}: the repository already exists in Signet with different data"
        )),
        "{out}"
    );
    let store = open_store(data_dir.path());
    let targets = store.latest(APP, "targets").unwrap().unwrap();
    assert!(String::from_utf8_lossy(&targets.bytes).contains("\"v4\""));
    drop(store);

    // Refusals leave nothing behind: a wrong signer passphrase...
    let fresh = tempfile::tempdir().unwrap();
    let (code, out, _) = import(
        &bin,
        fresh.path(),
        &[
            "--notary-db",
            &server_db,
            "--signer-db",
            &signer_db,
            "--gun",
            HUB,
            "--json",
        ],
        &[(
            &format!("NOTARY_SIGNER_{}", ALIAS.to_uppercase()),
            "not the passphrase",
        )],
    );
    assert_eq!(code, 1, "{out}");
    let r = json(&out);
    let hub = report(&r, HUB);
    assert_eq!(hub["outcome"], "refused");
    assert!(
        hub["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("the passphrase of alias \"{ALIAS}\" (from NOTARY_SIGNER_IMPORTALIAS) does not decrypt it")),
        "{hub}"
    );
    assert!(!hub.to_string().contains("not the passphrase"));
    // ...a file altered in the source database (hash column updated to match)...
    pg.psql(
        "notaryserver",
        &format!("UPDATE tuf_files SET data = convert_to(replace(convert_from(data, 'UTF8'), '\"3.20\"', '\"6.66\"'), 'UTF8') WHERE gun = '{HUB}' AND role = 'targets'; UPDATE tuf_files SET sha256 = encode(sha256(data), 'hex') WHERE gun = '{HUB}'"),
    );
    // ...and a broken root chain.
    pg.psql(
        "notaryserver",
        &format!("DELETE FROM tuf_files WHERE gun = '{APP}' AND role = 'root' AND version = 1"),
    );
    let (code, out, _) = import(
        &bin,
        fresh.path(),
        &["--notary-db", &server_db, "--all", "--json"],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    let r = json(&out);
    assert_eq!(r["refused"], 2, "{r}");
    let hub_targets = source_rows
        .iter()
        .filter(|r| r[0] == HUB && r[1] == "targets")
        .map(|r| r[2].clone())
        .next_back()
        .unwrap();
    assert_eq!(
        report(&r, HUB)["reason"],
        format!("targets version {hub_targets} is not signed by a threshold of the targets keys of any root version")
    );
    assert_eq!(
        report(&r, APP)["reason"],
        "root chain broken: version 1 is missing (the chain must run from 1 to 3)"
    );
    let store = open_store(fresh.path());
    for gun in [APP, HUB] {
        for role in ["root", "targets", "snapshot", "timestamp"] {
            assert!(store.latest(gun, role).unwrap().is_none(), "{gun} {role}");
        }
        assert!(store.keys_for(gun, "timestamp").unwrap().is_empty());
    }
    assert!(!store
        .audit_list(&signet_server::store::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .any(|a| a.target == APP || a.target == HUB));
}

/// The same move from notary-server + notary-signer on MariaDB (notary's own compose files
/// use MySQL), the alias passphrase read from `NOTARY_SIGNER_<ALIAS>` as notary-signer does.
#[test]
fn notary_mariadb_repositories_move_to_signet_with_their_keys() {
    if !require_binaries(&["notary", "notary-server", "notary-signer"]) || !Mariadb::available() {
        return;
    }
    let Some(bin) = signet_server_bin() else {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
        return;
    };
    let db = Mariadb::start();
    let (server_url, server_dsn) = db.create_database("notaryserver", NOTARY_SERVER_MYSQL_SCHEMA);
    let (signer_url, signer_dsn) = db.create_database("notarysigner", NOTARY_SIGNER_MYSQL_SCHEMA);
    let reference = NotaryServer::start_with_sql(
        &NotarySql::Mysql {
            server: server_dsn,
            signer: signer_dsn,
        },
        ALIAS,
        SIGNER_PASS,
    );
    let files = tempfile::tempdir().unwrap();
    let admin = make_history(&reference, files.path());
    let reader = NotaryCli::new(&reference.url, &reference.ca_path);
    let source_rows = db.query(
        "notaryserver",
        "SELECT gun, role, version, sha256 FROM tuf_files ORDER BY gun, role, version",
    );
    assert!(source_rows.len() >= 25, "{source_rows:?}");
    let keys = db.query(
        "notarysigner",
        "SELECT role, keywrap_alg, encryption_alg, passphrase_alias FROM private_keys WHERE gun = 'example.com/team/app' ORDER BY role",
    );
    assert!(
        keys.iter().any(|k| k[0] == "timestamp"
            && k[1] == "PBES2-HS256+A128KW"
            && k[2] == "A256GCM"
            && k[3] == ALIAS),
        "{keys:?}"
    );
    let alias_var = format!("NOTARY_SIGNER_{}", ALIAS.to_uppercase());
    let signet = import_and_move(
        &bin,
        &server_url,
        &signer_url,
        &[],
        &[(&alias_var, SIGNER_PASS)],
        &source_rows,
        &admin,
        &reader,
        files.path(),
    );
    drop(signet);
    // notary's Go DSN is refused with what to give instead.
    let (code, _, err) = import(
        &bin,
        tempfile::tempdir().unwrap().path(),
        &[
            "--notary-db",
            "mysql://notary@tcp(127.0.0.1:3306)/notaryserver",
            "--all",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "signet-server: mysql://notary@tcp(127.0.0.1:3306)/notaryserver: give a URL (mysql://user:password@host:port/database), not notary's Go DSN"
    );
}
