//! The `signet` binary against Signet and against the reference notary-server, read back by
//! the docker and notary CLIs.

use signet_interop::upload;
use signet_interop::*;
use std::path::Path;
use std::process::Command;

const REPO: &str = "192.0.2.1:5000/app";
const DIGEST: &str = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

/// `signet` with docker's environment: DOCKER_CONFIG (trust dir + CA), server, passphrases.
struct Signet<'a> {
    docker: &'a DockerCli,
}

impl Signet<'_> {
    fn cmd(&self) -> Command {
        let mut c = self.docker.command();
        c.env_remove("DOCKER_HOST");
        let mut s = Command::new(env!("CARGO_BIN_EXE_signet"));
        for (k, v) in c.get_envs() {
            if let Some(v) = v {
                s.env(k, v);
            }
        }
        s.stdin(std::process::Stdio::null());
        s
    }

    fn run(&self, args: &[&str]) -> Run {
        let o = self.cmd().args(args).output().unwrap();
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }

    /// A failing run: exactly one line on stderr, naming the problem.
    fn fails(&self, args: &[&str], code: i32, needle: &str) -> String {
        let r = self.run(args);
        assert_eq!(
            r.status.code(),
            Some(code),
            "{args:?}: {} {}",
            r.stdout,
            r.stderr
        );
        assert_eq!(
            r.stderr.lines().count(),
            1,
            "{args:?}: one line: {:?}",
            r.stderr
        );
        assert!(
            r.stderr.contains(needle),
            "{args:?}: {:?} lacks {needle:?}",
            r.stderr
        );
        r.stderr
    }
}

fn sign_flow(server_url: &str, ca: &Path) -> (DockerCli, tempfile::TempDir) {
    let docker = DockerCli::new(server_url, Some(ca));
    let keys = tempfile::tempdir().unwrap();
    let s = Signet { docker: &docker };
    let gen = s
        .run(&[
            "key",
            "generate",
            "alice",
            "--dir",
            keys.path().to_str().unwrap(),
        ])
        .ok("key generate");
    assert!(gen.stdout.contains("alice.pub"));
    let pubkey = keys.path().join("alice.pub");
    s.run(&[
        "signer",
        "add",
        "alice",
        REPO,
        "--key",
        pubkey.to_str().unwrap(),
    ])
    .ok("signer add");
    let sign = s
        .run(&[
            "sign",
            &format!("{REPO}:v1"),
            "--digest",
            DIGEST,
            "--size",
            "523",
        ])
        .ok("sign");
    assert!(
        sign.stdout.contains("targets/releases") && sign.stdout.contains("targets/alice"),
        "{}",
        sign.stdout
    );
    let v = s.run(&["verify", &format!("{REPO}:v1")]).ok("verify");
    assert_eq!(v.stdout, format!("{DIGEST}\n"));
    (docker, keys)
}

#[test]
fn sign_inspect_verify_revoke_against_signet_read_by_docker() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let (docker, keys) = sign_flow(&srv.url, &srv.ca_path);
    let s = Signet { docker: &docker };

    // docker reads what signet signed.
    let di = docker
        .run(&["trust", "inspect", REPO])
        .ok("docker trust inspect");
    let v: serde_json::Value = serde_json::from_str(&di.stdout).unwrap();
    assert_eq!(v[0]["SignedTags"][0]["SignedTag"], "v1");
    assert_eq!(
        v[0]["SignedTags"][0]["Digest"],
        DIGEST.trim_start_matches("sha256:")
    );
    assert_eq!(v[0]["SignedTags"][0]["Signers"][0], "alice");

    // signet's own JSON has the same shape.
    let si = s.run(&["inspect", REPO]).ok("inspect");
    let sv: serde_json::Value = serde_json::from_str(&si.stdout).unwrap();
    assert_eq!(sv[0]["SignedTags"], v[0]["SignedTags"]);
    assert_eq!(sv[0]["Signers"][0]["Name"], "alice");
    // The same document as docker's, plus signet's Expiry list.
    let mut without_expiry = sv[0].clone();
    without_expiry.as_object_mut().unwrap().remove("Expiry");
    assert_eq!(without_expiry, v[0], "signet vs docker trust inspect");
    let status = s.run(&["--json", "status", REPO]).ok("status");
    let st: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(st
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["role"] == "targets/alice" && !r["local_keys"].as_array().unwrap().is_empty()));

    // A second signer, then removed for real.
    let bob = signet_keys::PrivateKey::generate_ecdsa();
    let bob_pub = keys.path().join("bob.pub");
    std::fs::write(
        &bob_pub,
        signet_keys::key_file::encode_public(&bob.public_key(), "bob"),
    )
    .unwrap();
    s.run(&[
        "signer",
        "add",
        "bob",
        REPO,
        "--key",
        bob_pub.to_str().unwrap(),
    ])
    .ok("add bob");
    s.run(&["signer", "remove", "bob", REPO, "--yes"])
        .ok("remove bob");
    let di = docker
        .run(&["trust", "inspect", REPO])
        .ok("inspect after remove");
    let v: serde_json::Value = serde_json::from_str(&di.stdout).unwrap();
    let names: Vec<&str> = v[0]["Signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alice"], "bob really removed");
    // Removing the last releases signer would leave nobody able to sign.
    s.fails(
        &["signer", "remove", "alice", REPO, "--yes"],
        1,
        "use --force",
    );

    // Revoke: the tag no longer verifies.
    s.run(&["revoke", &format!("{REPO}:v1"), "--yes"])
        .ok("revoke");
    s.fails(
        &["verify", &format!("{REPO}:v1")],
        3,
        "no signed tag \"v1\"",
    );
    let di = docker
        .run(&["trust", "inspect", "--pretty", REPO])
        .ok("inspect after revoke");
    assert!(
        di.stdout.contains("No signatures for 192.0.2.1:5000/app"),
        "{}",
        di.stdout
    );
    let sp = s
        .run(&["inspect", "--pretty", REPO])
        .ok("signet inspect --pretty after revoke");
    // The same tables as docker's, byte for byte (REPO is written as its GUN).
    assert_eq!(sp.stdout, di.stdout);

    // Clear one-line errors.
    s.fails(
        &["verify", "192.0.2.1:5000/nothing:v1"],
        3,
        "does not have trust data",
    );
    s.fails(
        &[
            "sign",
            "192.0.2.1:5000/app",
            "--digest",
            DIGEST,
            "--size",
            "1",
        ],
        2,
        "needs IMAGE:TAG",
    );
    s.fails(
        &[
            "sign",
            &format!("{REPO}:v2"),
            "--digest",
            "sha256:zz",
            "--size",
            "1",
        ],
        2,
        "is not sha256",
    );
}

#[test]
fn sign_against_the_reference_notary_server_read_by_notary() {
    if !require_binaries(&["notary", "notary-server", "notary-signer"]) {
        return;
    }
    let ns = NotaryServer::start();
    let (_docker, _keys) = sign_flow(&ns.url, &ns.ca_path);
    let notary = NotaryCli::new(&ns.url, &ns.ca_path);
    let rows = notary.list(REPO);
    let digest = DIGEST.trim_start_matches("sha256:").to_string();
    assert!(
        rows.contains(&(
            "v1".to_string(),
            digest.clone(),
            523,
            "targets/releases".to_string()
        )),
        "{rows:?}"
    );
    let alice = notary
        .run(&["list", REPO, "--roles", "targets/alice"])
        .ok("list alice");
    assert!(alice.stdout.contains(&digest), "{}", alice.stdout);
}

#[test]
fn keys_move_between_docker_and_signet_and_survive_backup_restore() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let s = Signet { docker: &docker };
    let dir = tempfile::tempdir().unwrap();
    docker
        .run(&[
            "trust",
            "key",
            "generate",
            "carol",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .ok("docker key generate");
    let list = s.run(&["--json", "key", "list"]).ok("key list");
    let keys: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(keys[0]["role"], "carol");
    assert_eq!(keys[0]["encrypted"], true);
    let carol_id = keys[0]["id"].as_str().unwrap().to_string();
    // signet uses docker's key to sign.
    s.run(&[
        "signer",
        "add",
        "carol",
        REPO,
        "--key",
        dir.path().join("carol.pub").to_str().unwrap(),
    ])
    .ok("signer add");
    s.run(&[
        "sign",
        &format!("{REPO}:v1"),
        "--digest",
        DIGEST,
        "--size",
        "9",
    ])
    .ok("sign with docker's key");

    // Backup → wipe → restore → sign again.
    let archive = dir.path().join("keys.tar.gz");
    s.run(&["key", "backup", "-o", archive.to_str().unwrap()])
        .ok("backup");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&archive).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(
        names
            .lines()
            .any(|l| l == format!("private/{carol_id}.key")),
        "{names}"
    );
    let before = std::fs::read(
        docker
            .trust_dir()
            .join("private")
            .join(format!("{carol_id}.key")),
    )
    .unwrap();
    std::fs::remove_dir_all(docker.trust_dir().join("private")).unwrap();
    s.fails(
        &[
            "sign",
            &format!("{REPO}:v2"),
            "--digest",
            DIGEST,
            "--size",
            "9",
        ],
        1,
        "no valid signing keys",
    );
    let restored = s
        .run(&["key", "restore", archive.to_str().unwrap()])
        .ok("restore");
    assert!(
        restored
            .stdout
            .contains(&format!("Restored carol key {carol_id}")),
        "{}",
        restored.stdout
    );
    assert_eq!(
        std::fs::read(
            docker
                .trust_dir()
                .join("private")
                .join(format!("{carol_id}.key"))
        )
        .unwrap(),
        before
    );
    s.run(&[
        "sign",
        &format!("{REPO}:v2"),
        "--digest",
        DIGEST,
        "--size",
        "9",
    ])
    .ok("sign after restore");

    // Broken inputs: one line each.
    let corrupt = dir.path().join("corrupt.tar.gz");
    std::fs::write(&corrupt, b"\x1f\x8b\x08\x00garbage").unwrap();
    s.fails(
        &["key", "restore", corrupt.to_str().unwrap()],
        1,
        "corrupt.tar.gz",
    );
    let wrong = Command::new(env!("CARGO_BIN_EXE_signet"))
        .envs(
            s.cmd()
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env(
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
            "not-the-passphrase",
        )
        .args(["key", "export", "--public", &carol_id])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        err.contains(&format!("wrong passphrase for carol key {carol_id}")),
        "{err}"
    );
    assert!(!err.contains("not-the-passphrase"));
    s.fails(
        &[
            "key",
            "remove",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ],
        1,
        "no key with ID",
    );
}

#[test]
fn key_rotation_keeps_existing_clients_working() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let (docker, _keys) = sign_flow(&srv.url, &srv.ca_path);
    let s = Signet { docker: &docker };
    // A docker client that cached the original root before the rotations.
    let watcher = DockerCli::new(&srv.url, Some(&srv.ca_path));
    watcher
        .run(&["trust", "inspect", REPO])
        .ok("watcher caches root v1");
    // signet's own cache as it was before the rotations, to be put back afterwards.
    let metadata = docker.trust_dir().join("tuf").join(REPO).join("metadata");
    let old_cache = tempfile::tempdir().unwrap();
    for role in ["root", "timestamp", "snapshot", "targets"] {
        std::fs::copy(
            metadata.join(format!("{role}.json")),
            old_cache.path().join(format!("{role}.json")),
        )
        .unwrap();
    }

    let before = signet_tuf::SignedRoot::from_bytes(
        "root",
        &upload::get(
            &https_agent(&srv.ca_path),
            &format!("{}/v2/{REPO}/_trust/tuf/root.json", srv.url),
        )
        .1,
    )
    .unwrap();
    s.run(&["key", "rotate", REPO, "root"]).ok("rotate root");
    s.run(&["key", "rotate", REPO, "targets"])
        .ok("rotate targets");
    s.run(&["key", "rotate", REPO, "snapshot", "--server-managed"])
        .ok("rotate snapshot");
    s.fails(&["key", "rotate", REPO, "snapshot"], 2, "--server-managed");
    let after = signet_tuf::SignedRoot::from_bytes(
        "root",
        &upload::get(
            &https_agent(&srv.ca_path),
            &format!("{}/v2/{REPO}/_trust/tuf/root.json", srv.url),
        )
        .1,
    )
    .unwrap();
    assert_eq!(after.version(), before.version() + 3);
    for role in ["root", "targets", "snapshot"] {
        assert_ne!(
            after.signed.role_entry(role).unwrap().keyids,
            before.signed.role_entry(role).unwrap().keyids,
            "{role} key rotated"
        );
    }
    s.run(&[
        "sign",
        &format!("{REPO}:v2"),
        "--digest",
        DIGEST,
        "--size",
        "1",
    ])
    .ok("sign after rotations");
    // The old client walks the root chain; a fresh one trusts the new root on first use.
    let seen = watcher
        .run(&["trust", "inspect", REPO])
        .ok("watcher after rotation");
    assert!(
        seen.stdout.contains("\"SignedTag\": \"v2\""),
        "{}",
        seen.stdout
    );
    // signet with the stale cache walks 1.root.json → … → newest, each signed by the last.
    for role in ["root", "timestamp", "snapshot", "targets"] {
        std::fs::copy(
            old_cache.path().join(format!("{role}.json")),
            metadata.join(format!("{role}.json")),
        )
        .unwrap();
    }
    assert_eq!(
        s.run(&["verify", &format!("{REPO}:v2")])
            .ok("verify from a stale cached root")
            .stdout,
        format!("{DIGEST}\n")
    );
    let cached = signet_tuf::SignedRoot::from_bytes(
        "root",
        &std::fs::read(metadata.join("root.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cached.version(), after.version());
    let fresh = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let fs = Signet { docker: &fresh };
    assert_eq!(
        fs.run(&["verify", &format!("{REPO}:v2")])
            .ok("fresh verify")
            .stdout,
        format!("{DIGEST}\n")
    );
}

#[test]
fn tampered_and_expired_metadata_are_refused_naming_the_role() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let (docker, _keys) = sign_flow(&srv.url, &srv.ca_path);
    drop(docker);

    // A server that serves other bytes for targets/releases than the snapshot names: the
    // stored file is altered while the server is down (a running one serves what it cached).
    let data_dir = srv.stop();
    let db = rusqlite::Connection::open(data_dir.path().join("signet.sqlite")).unwrap();
    let n = db
        .execute(
            "UPDATE tuf_files SET data = CAST(replace(CAST(data AS TEXT), '\"length\":523', '\"length\":524') AS BLOB) WHERE role = 'targets/releases'",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let srv = SignetServer::start_with(data_dir, Default::default(), vec![]);
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let s = Signet { docker: &docker };
    let fresh = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let fs = Signet { docker: &fresh };
    fs.fails(
        &["verify", &format!("{REPO}:v1")],
        3,
        "192.0.2.1:5000/app: targets/releases: sha256 hash does not match",
    );

    // Metadata that expired after it was published.
    let gun = "192.0.2.1:5000/expiring";
    let agent = https_agent(&srv.ca_path);
    let keys = upload::RepoKeys::new(gun);
    let ts = upload::server_key(&agent, &srv.url, gun, "timestamp");
    let snap = upload::server_key(&agent, &srv.url, gun, "snapshot");
    let mut t = signet_tuf::Targets::new(signet_tuf::GoTime::from_instant(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(2),
    ));
    t.targets
        .get_or_insert_with(Default::default)
        .insert("v1".into(), signet_tuf::FileMeta::from_bytes(b"x"));
    let tid = keys.targets.id();
    let targets = signet_tuf::sign_and_serialize("targets", &t, &[(&tid, &keys.targets)]).unwrap();
    let (st, body) = upload::post_update(
        &agent,
        &srv.url,
        gun,
        &[("root", &keys.root(1, &ts, &snap)), ("targets", &targets)],
    );
    assert_eq!(st, 200, "{body}");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    s.fails(
        &["verify", &format!("{gun}:v1")],
        3,
        "192.0.2.1:5000/expiring: targets: expired at",
    );
}

/// Raises the version recorded in a cached metadata file (as if the client had seen a newer one).
fn bump_cached_version(trust_dir: &Path, role: &str) -> Vec<u8> {
    let path = trust_dir
        .join("tuf")
        .join(REPO)
        .join("metadata")
        .join(format!("{role}.json"));
    let before = std::fs::read(&path).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&before).unwrap();
    v["signed"]["version"] = serde_json::json!(999);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    before
}

#[test]
fn rollback_below_the_cached_version_is_refused_naming_the_role() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let (docker, _keys) = sign_flow(&srv.url, &srv.ca_path);
    let s = Signet { docker: &docker };
    let trust = docker.trust_dir();
    for role in ["timestamp", "snapshot", "targets", "targets/releases"] {
        let before = bump_cached_version(&trust, role);
        let err = s.fails(&["verify", &format!("{REPO}:v1")], 3, "rollback");
        assert!(
            err.contains(&format!("{REPO}: {role}: rollback: server offers version"))
                && err.contains("has seen version 999"),
            "{err}"
        );
        // Nothing was written over the cache by the refused fetch.
        let path = trust
            .join("tuf")
            .join(REPO)
            .join("metadata")
            .join(format!("{role}.json"));
        let now: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(now["signed"]["version"], 999);
        std::fs::write(&path, before).unwrap();
    }
    let v = s.run(&["verify", &format!("{REPO}:v1")]).ok("verify after");
    assert_eq!(v.stdout, format!("{DIGEST}\n"));
}

#[test]
fn signs_a_repository_whose_snapshot_key_the_client_holds() {
    if !require_binaries(&["notary", "notary-server", "notary-signer"]) {
        return;
    }
    let ns = NotaryServer::start();
    let notary = NotaryCli::new(&ns.url, &ns.ca_path);
    // notary init keeps the snapshot key on the client.
    notary.run(&["init", "-p", REPO]).ok("notary init");
    let snap_before = upload::get(
        &https_agent(&ns.ca_path),
        &format!("{}/v2/{REPO}/_trust/tuf/snapshot.json", ns.url),
    )
    .1;
    let v_before = signet_tuf::SignedSnapshot::from_bytes("snapshot", &snap_before)
        .unwrap()
        .version();

    let signet = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_signet"))
            .arg("--trust-dir")
            .arg(notary.trust_dir.path())
            .arg("--server")
            .arg(&ns.url)
            .arg("--tlscacert")
            .arg(&ns.ca_path)
            .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASS)
            .env("NOTARY_TARGETS_PASSPHRASE", REPO_PASS)
            .env("NOTARY_SNAPSHOT_PASSPHRASE", REPO_PASS)
            .env_remove("DOCKER_CONTENT_TRUST_SERVER")
            .stdin(std::process::Stdio::null())
            .args(args)
            .output()
            .unwrap();
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    };
    signet(&[
        "sign",
        &format!("{REPO}:v1"),
        "--digest",
        DIGEST,
        "--size",
        "77",
    ])
    .ok("sign with a client-held snapshot key");
    let rows = notary.list(REPO);
    assert!(
        rows.contains(&(
            "v1".to_string(),
            DIGEST.trim_start_matches("sha256:").to_string(),
            77,
            "targets".to_string()
        )),
        "{rows:?}"
    );
    // The snapshot the server holds is ours: one version up, signed by the client's key.
    let snap_after = upload::get(
        &https_agent(&ns.ca_path),
        &format!("{}/v2/{REPO}/_trust/tuf/snapshot.json", ns.url),
    )
    .1;
    let snap = signet_tuf::SignedSnapshot::from_bytes("snapshot", &snap_after).unwrap();
    assert_eq!(snap.version(), v_before + 1);
    let held: Vec<String> = signet_keys::store::KeyStore::new(notary.trust_dir.path())
        .list()
        .unwrap()
        .into_iter()
        .filter(|k| k.role == "snapshot")
        .map(|k| k.id.to_string())
        .collect();
    let signers: Vec<String> = snap
        .envelope
        .signatures()
        .iter()
        .map(|s| s.keyid.to_string())
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(signers, held);
    // notary itself can keep publishing on top of it.
    notary
        .run(&["addhash", REPO, "v2", "5", "--sha256", &DIGEST[7..], "-p"])
        .ok("notary addhash after signet");
    let v = signet(&["verify", &format!("{REPO}:v2")]).ok("verify notary's tag");
    assert_eq!(v.stdout, format!("{DIGEST}\n"));
}

#[test]
fn restore_reads_docker_documented_backups_and_writes_all_or_nothing() {
    if !require_binaries(&["tar"]) {
        return;
    }
    // No server is contacted: the URL only fills the environment.
    let docker = DockerCli::new("https://127.0.0.1:9", None);
    let s = Signet { docker: &docker };
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for name in ["dave", "erin"] {
        let r = s
            .run(&[
                "--json",
                "key",
                "generate",
                name,
                "--dir",
                dir.path().to_str().unwrap(),
            ])
            .ok("key generate");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let private = docker.trust_dir().join("private");
    // docker's documented backup: `umask 077; tar -zcvf backup.tar.gz ~/.docker/trust/private`,
    // whose members are the absolute path without its leading '/'.
    let archive = dir.path().join("docker-style.tar.gz");
    let out = Command::new("tar")
        .arg("-zcf")
        .arg(&archive)
        .arg(&private)
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert!(
        listing
            .lines()
            .any(|l| l.ends_with(&format!("trust/private/{}.key", ids[0]))
                && !l.starts_with("private/")),
        "{listing}"
    );
    let originals: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| std::fs::read(private.join(format!("{id}.key"))).unwrap())
        .collect();

    // One key replaced by different bytes under the same ID, the other missing: nothing is
    // written, and the conflict is named.
    std::fs::remove_file(private.join(format!("{}.key", ids[1]))).unwrap();
    let mut changed = originals[0].clone();
    changed.extend_from_slice(b"\n");
    std::fs::write(private.join(format!("{}.key", ids[0])), &changed).unwrap();
    s.fails(
        &["key", "restore", archive.to_str().unwrap()],
        1,
        &format!(
            "{}.key exists with different contents; not overwriting",
            ids[0]
        ),
    );
    assert!(!private.join(format!("{}.key", ids[1])).exists());

    // A wrong passphrase: refused before anything is written, the passphrase not echoed.
    std::fs::write(private.join(format!("{}.key", ids[0])), &originals[0]).unwrap();
    let wrong = s
        .cmd()
        .env(
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
            "wrong-passphrase",
        )
        .args(["key", "restore", archive.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("wrong passphrase") && !err.contains("wrong-passphrase"),
        "{err}"
    );
    assert!(!private.join(format!("{}.key", ids[1])).exists());

    // The right passphrase: the missing key comes back byte for byte, mode 0600.
    let r = s
        .run(&["--json", "key", "restore", archive.to_str().unwrap()])
        .ok("restore");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["restored"][0]["id"], ids[1].as_str());
    assert_eq!(v["restored"][0]["role"], "erin");
    assert_eq!(v["unchanged"], 1);
    let restored = private.join(format!("{}.key", ids[1]));
    assert_eq!(std::fs::read(&restored).unwrap(), originals[1]);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&restored).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn long_key_operations_show_progress_only_on_a_terminal() {
    if !require_binaries(&["script"]) {
        return;
    }
    let srv = SignetServer::start();
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let s = Signet { docker: &docker };
    let dir = tempfile::tempdir().unwrap();
    for name in ["dave", "erin", "frank"] {
        s.run(&[
            "key",
            "generate",
            name,
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .ok("key generate");
    }
    let archive = dir.path().join("keys.tar.gz");
    // Piped: no progress line at all.
    let piped = s
        .run(&["key", "backup", "-o", archive.to_str().unwrap()])
        .ok("backup");
    assert!(!piped.stderr.contains("backing up"), "{}", piped.stderr);
    // On a terminal (script gives the command a pty): a counter that ends at 3/3.
    let line = format!(
        "{} key restore {}",
        env!("CARGO_BIN_EXE_signet"),
        archive.display()
    );
    let tty = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .envs(
            s.cmd()
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(text.contains("checking keys 3/3 done"), "{text}");
    assert!(
        text.contains("3 already present") || text.contains("0 key(s) restored, 3 already present"),
        "{text}"
    );
}
