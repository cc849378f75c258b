//! `signet migrate`: the handover from the reference notary-server (token auth on, its
//! tokens from a Signet acting as the hosted registry's auth service) to Signet, by the root
//! key holder. One reference serves three repositories:
//!
//! - `web` (made by docker 28: server-held snapshot), imported by the operator with
//!   `signet-server import --from`, then handed over;
//! - `api` (made by notary 0.7: client-held snapshot), imported through Signet's import
//!   endpoint by `signet migrate` run without the root key (after a caller without a
//!   delete-capable role is refused), then handed over by its root key holder;
//! - `worker` (docker 28), imported through the endpoint and handed over in one run after
//!   the reference is gone, from docker's trust cache.
//!
//! After each handover the clients that cached the reference's data, fresh clients and a
//! Connaisseur-style reader holding the old root public key verify, and the timestamp Signet
//! serves is signed by Signet's key.

use serde_json::json;
use signet_interop::admin::AdminClient;
use signet_interop::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const WEB: &str = "docker.io/acme/web";
const API: &str = "docker.io/acme/api";
const WORKER: &str = "docker.io/acme/worker";
const HUB_KEY: &str = "https://index.docker.io/v1/";
/// Signs and may delete: what the import endpoint and a server-key rotation need.
const MIGRATOR: (&str, &str) = ("migrator", "migrator-pass");
/// Signs only.
const SIGNER: (&str, &str) = ("signer", "signer-pass");
const DIGEST: &str = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

/// Registry `dockerhub` (login server docker.io) with content trust; the migrator signs and
/// deletes, the signer only signs.
fn hub_tenant(srv: &SignetServer) -> AdminClient {
    let api = AdminClient::new(srv);
    api.ok(
        "POST",
        "registries",
        json!({"name": "dockerhub", "loginServer": "docker.io", "sku": "Premium"}),
    );
    api.ok(
        "PUT",
        "registries/dockerhub/content-trust",
        json!({"status": "enabled"}),
    );
    for (who, pw) in [MIGRATOR, SIGNER] {
        api.ok("POST", "identities", json!({"name": who, "password": pw}));
    }
    for (who, role) in [
        (MIGRATOR.0, "AcrImageSigner"),
        (MIGRATOR.0, "AcrDelete"),
        (SIGNER.0, "AcrImageSigner"),
    ] {
        api.ok(
            "POST",
            "role-assignments",
            json!({"registry": "dockerhub", "identity": who, "role": role}),
        );
    }
    api
}

fn concat(dir: &Path, name: &str, files: &[&Path]) -> PathBuf {
    let mut pem = Vec::new();
    for f in files {
        pem.extend(std::fs::read(f).unwrap());
    }
    write_file(dir, name, &pem)
}

/// `signet` with a docker configuration (credentials, trust dir) and the test passphrases.
fn signet(config: &Path, trust_dir: Option<&Path>, args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    c.env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTENT_TRUST_SERVER")
        .env_remove("NOTARY_AUTH")
        .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASS)
        .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPO_PASS)
        .stdin(std::process::Stdio::null());
    if let Some(t) = trust_dir {
        c.arg("--trust-dir").arg(t);
    }
    Run::from(c.args(args).output().expect("run signet"))
}

fn parse(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// What a Connaisseur-style verifier does with a pinned root public key: the served root must
/// be signed by it, and the timestamp → snapshot → targets chain by the keys that root lists.
/// Returns the root version and its timestamp key IDs.
fn pinned_reader(
    signet: &SignetServer,
    token: &str,
    gun: &str,
    pinned: &signet_tuf::RoleKeySet,
) -> (i64, Vec<String>) {
    let agent = https_agent(&signet.ca_path);
    let get = |file: &str| -> Vec<u8> {
        let r = agent
            .get(&format!("{}/v2/{gun}/_trust/tuf/{file}", signet.url))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {file}: {e}"));
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut b).unwrap();
        b
    };
    let root_raw = get("root.json");
    let root = signet_tuf::SignedRoot::from_bytes("root", &root_raw).unwrap();
    root.verify_threshold(pinned)
        .expect("the served root is signed by the pinned root key");
    let ts_raw = get("timestamp.json");
    let ts = signet_tuf::SignedTimestamp::from_bytes("timestamp", &ts_raw).unwrap();
    let ts_keys = root.signed.role_keys("timestamp").unwrap();
    ts.verify_threshold(&ts_keys)
        .expect("timestamp signed by the root's timestamp key");
    let snap_raw = get("snapshot.json");
    ts.signed
        .snapshot_meta()
        .unwrap()
        .check_hashes("snapshot", &snap_raw)
        .unwrap();
    let snap = signet_tuf::SignedSnapshot::from_bytes("snapshot", &snap_raw).unwrap();
    snap.verify_threshold(&root.signed.role_keys("snapshot").unwrap())
        .expect("snapshot signed by the root's snapshot key");
    let targets_raw = get("targets.json");
    snap.signed
        .meta_for("targets")
        .unwrap()
        .check_hashes("targets", &targets_raw)
        .unwrap();
    let targets = signet_tuf::SignedTargets::from_bytes("targets", &targets_raw).unwrap();
    targets
        .verify_threshold(&root.signed.role_keys("targets").unwrap())
        .expect("targets signed by the root's targets key");
    (root.version(), ts_keys.keys.into_keys().collect())
}

/// The public key Signet holds for a server role of `gun`.
fn signet_key_id(signet: &SignetServer, token: &str, gun: &str, role: &str) -> String {
    let r = https_agent(&signet.ca_path)
        .get(&format!("{}/v2/{gun}/_trust/tuf/{role}.key", signet.url))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let v = parse(&r.into_string().unwrap());
    let key = signet_keys::PublicKey::from_b64(
        v["keytype"].as_str().unwrap(),
        v["keyval"]["public"].as_str().unwrap(),
    )
    .unwrap();
    key.id().to_string()
}

#[test]
fn the_root_key_holder_hands_repositories_over_from_the_reference() {
    if !require_binaries(&["notary", "notary-server", "notary-signer", "docker"]) {
        return;
    }
    let Some(server_bin) = signet_server_bin() else {
        assert!(
            std::env::var("SIGNET_REQUIRE_INTEROP").is_err(),
            "signet-server binary not built"
        );
        eprintln!("skipping: signet-server binary not built");
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let issuer = SignetServer::start();
    hub_tenant(&issuer);
    let reference = NotaryServer::start_with_token_auth(&TokenAuth {
        realm: format!("{}/oauth2/token", issuer.url),
        service: "signet".into(),
        issuer: "signet".into(),
        root_cert_bundle: issuer.data_dir.path().join("token-signing.crt"),
    });
    // Clients trust one CA file for the reference and its token realm.
    let ref_cas = concat(
        files.path(),
        "ref-cas.pem",
        &[&reference.ca_path, &issuer.ca_path],
    );
    let ref_cas_s = ref_cas.to_str().unwrap();

    // web and worker by docker (alice signs a tag with signet), api by notary.
    let docker = DockerCli::new(&reference.url, Some(&ref_cas));
    docker.login(HUB_KEY, MIGRATOR.0, MIGRATOR.1);
    let keys = tempfile::tempdir().unwrap();
    let keys_s = keys.path().to_str().unwrap();
    docker
        .run(&["trust", "key", "generate", "alice", "--dir", keys_s])
        .ok("docker trust key generate");
    let alice = keys.path().join("alice.pub");
    for gun in [WEB, WORKER] {
        docker
            .run(&[
                "trust",
                "signer",
                "add",
                "--key",
                alice.to_str().unwrap(),
                "alice",
                gun,
            ])
            .ok("docker trust signer add");
        let out = signet(
            docker.config_dir.path(),
            None,
            &[
                "sign",
                &format!("{gun}:1.0"),
                "--digest",
                DIGEST,
                "--size",
                "528",
                "--server",
                &reference.url,
                "--tlscacert",
                ref_cas_s,
            ],
        );
        assert!(out.status.success(), "signet sign {gun}: {}", out.stderr);
    }
    let inspect = |d: &DockerCli, gun: &str| {
        parse(
            &d.run(&["trust", "inspect", gun])
                .ok("docker trust inspect")
                .stdout,
        )
    };
    let web_at_reference = inspect(&docker, WEB);
    let worker_at_reference = inspect(&docker, WORKER);
    assert_eq!(web_at_reference[0]["SignedTags"][0]["SignedTag"], "1.0");
    let owner = NotaryCli::new(&reference.url, &ref_cas).with_auth(MIGRATOR.0, MIGRATOR.1);
    owner.run(&["init", API]).ok("notary init");
    let f1 = write_file(files.path(), "api1.bin", b"api 1.0");
    owner
        .run(&["add", API, "1.0", f1.to_str().unwrap()])
        .ok("notary add");
    owner.run(&["publish", API]).ok("notary publish");
    let reader = NotaryCli::new(&reference.url, &ref_cas).with_auth(MIGRATOR.0, MIGRATOR.1);
    let web_listed = reader.list(WEB);
    let api_listed = reader.list(API);
    assert_eq!((web_listed.len(), api_listed.len()), (1, 1));
    // What a Connaisseur-style verifier pinned: the root public key of web.
    let cached_root = std::fs::read(
        reader
            .trust_dir
            .path()
            .join("tuf")
            .join(WEB)
            .join("metadata/root.json"),
    )
    .unwrap();
    let old_root = signet_tuf::SignedRoot::from_bytes("root", &cached_root).unwrap();
    let pinned = old_root.signed.role_keys("root").unwrap();
    let old_ts_keys: Vec<String> = old_root
        .signed
        .role_keys("timestamp")
        .unwrap()
        .keys
        .into_keys()
        .collect();

    // The operator imports web over HTTP; Signet restarts on the imported store.
    let target = SignetServer::start();
    hub_tenant(&target);
    let target_dir = target.stop();
    let out = Command::new(&server_bin)
        .args([
            "import",
            "--from",
            &reference.url,
            "--tlscacert",
            ref_cas_s,
            "--gun",
            WEB,
            "--data-dir",
        ])
        .arg(target_dir.path())
        .env("SIGNET_SIGNER_PASSPHRASE", "interop-signer-pass")
        .env("NOTARY_AUTH", basic_auth(MIGRATOR.0, MIGRATOR.1))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let signet_srv = SignetServer::start_with(target_dir, Default::default(), vec![]);
    let to = signet_srv.url.clone();
    let signet_ca = signet_srv.ca_path.to_str().unwrap().to_string();
    let api = AdminClient::new(&signet_srv);

    // A caller who signs but holds no delete-capable role: refused, nothing stored.
    let signer_docker = DockerCli::new(&to, None);
    signer_docker.login(HUB_KEY, SIGNER.0, SIGNER.1);
    let refused = signet(
        signer_docker.config_dir.path(),
        Some(owner.trust_dir.path()),
        &[
            "migrate",
            API,
            "--from",
            &reference.url,
            "--from-tlscacert",
            ref_cas_s,
            "--to",
            &to,
            "--tlscacert",
            &signet_ca,
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stdout);
    assert!(
        refused.stderr.contains(&format!(
            "trust server {to}: not authorized for repository:{API}:*"
        )) && refused.stderr.trim_end().ends_with(&format!(
            ": importing {API} takes signing plus a delete-capable role on it (AcrImageSigner with AcrDelete, Contributor or Owner), or the operator imports it (signet-server import --from)"
        )),
        "{}",
        refused.stderr
    );
    let token = api.token_for(MIGRATOR, "signet", &format!("repository:{API}:pull"));
    let gone = https_agent(&signet_srv.ca_path)
        .get(&format!("{to}/v2/{API}/_trust/tuf/root.json"))
        .set("Authorization", &format!("Bearer {token}"))
        .call();
    assert!(matches!(gone, Err(ureq::Error::Status(404, _))), "{gone:?}");

    // The handovers: web (imported by the operator), api (imported by signet migrate).
    let web = signet(
        docker.config_dir.path(),
        None,
        &[
            "migrate",
            WEB,
            "--from",
            &reference.url,
            "--from-tlscacert",
            ref_cas_s,
            "--to",
            &to,
            "--tlscacert",
            &signet_ca,
        ],
    );
    assert!(web.status.success(), "{}\n{}", web.stdout, web.stderr);
    assert!(
        web.stdout.starts_with(&format!(
            "{WEB} is already in Signet\nRotated the timestamp key to Signet's: "
        )),
        "{}",
        web.stdout
    );
    assert!(
        web.stdout
            .contains("\nRotated the snapshot key to Signet's: "),
        "{}",
        web.stdout
    );
    assert!(
        web.stdout
            .contains("\nPublished root version 2, signed by the same root key"),
        "{}",
        web.stdout
    );
    // Without the root key: api is imported through the endpoint, not handed over, and the
    // command says what that means.
    let keyless = tempfile::tempdir().unwrap();
    let no_key = signet(
        docker.config_dir.path(),
        Some(keyless.path()),
        &[
            "migrate",
            API,
            "--from",
            &reference.url,
            "--from-tlscacert",
            ref_cas_s,
            "--to",
            &to,
            "--tlscacert",
            &signet_ca,
        ],
    );
    assert_eq!(no_key.status.code(), Some(1), "{}", no_key.stdout);
    assert!(
        no_key.stderr.starts_with(&format!("signet: {API}: imported into Signet but not handed over: the root key is not in {}, and only the root key holder can move the timestamp key to Signet. Until then Signet serves the imported trust data read-only, and only until its timestamp expires (", keyless.path().join("private").display()))
            && no_key.stderr.contains("after that every client refuses it, and the repository must be reset and signed under a new root"),
        "{}",
        no_key.stderr
    );
    let api_run = signet(
        docker.config_dir.path(),
        Some(owner.trust_dir.path()),
        &[
            "migrate",
            API,
            "--from",
            &reference.url,
            "--from-tlscacert",
            ref_cas_s,
            "--to",
            &to,
            "--tlscacert",
            &signet_ca,
            "--json",
        ],
    );
    assert!(
        api_run.status.success(),
        "{}\n{}",
        api_run.stdout,
        api_run.stderr
    );
    let report = parse(&api_run.stdout);
    assert_eq!(
        report["imported"],
        serde_json::Value::Null,
        "imported before: {report}"
    );
    assert_eq!(
        report["rotated"].as_array().map(Vec::len),
        Some(1),
        "notary's client holds the snapshot key: {report}"
    );
    assert_eq!(report["rotated"][0]["role"], "timestamp");
    assert_eq!(report["root_version"], 2);
    // Run again: nothing left to do.
    let again = signet(
        docker.config_dir.path(),
        None,
        &[
            "migrate",
            WEB,
            "--from",
            &reference.url,
            "--from-tlscacert",
            ref_cas_s,
            "--to",
            &to,
            "--tlscacert",
            &signet_ca,
        ],
    );
    assert!(again.status.success(), "{}", again.stderr);
    assert!(
        again.stdout.contains("Already handed over"),
        "{}",
        again.stdout
    );

    // The clients that cached the reference's data, pointed at Signet.
    let signet_cas = concat(files.path(), "signet-cas.pem", &[&signet_srv.ca_path]);
    let moved_reader = reader.moved_to(&to, &signet_cas);
    assert_eq!(moved_reader.list(WEB), web_listed);
    assert_eq!(moved_reader.list(API), api_listed);
    let moved_docker = docker.moved_to(&to, &signet_srv.ca_path);
    moved_docker.login(HUB_KEY, MIGRATOR.0, MIGRATOR.1);
    assert_eq!(inspect(&moved_docker, WEB), web_at_reference);
    // The Connaisseur-style reader with the old root key; Signet's own timestamp key.
    let token = api.token_for(MIGRATOR, "signet", &format!("repository:{WEB}:push,pull"));
    let (version, ts_keys) = pinned_reader(&signet_srv, &token, WEB, &pinned);
    assert_eq!(version, old_root.version() + 1);
    assert_ne!(ts_keys, old_ts_keys);
    assert_eq!(
        ts_keys,
        vec![signet_key_id(&signet_srv, &token, WEB, "timestamp")]
    );
    // Publishing works again: the notary owner of api signs a new tag at Signet.
    let moved_owner = owner.moved_to(&to, &signet_cas);
    let f2 = write_file(files.path(), "api2.bin", b"api 2.0");
    moved_owner
        .run(&["add", API, "2.0", f2.to_str().unwrap()])
        .ok("notary add at Signet");
    moved_owner
        .run(&["publish", API])
        .ok("notary publish at Signet");
    assert_eq!(moved_reader.list(API).len(), 2);

    // worker, after the reference is gone: from docker's trust cache.
    drop(reference);
    let worker = signet(
        docker.config_dir.path(),
        None,
        &[
            "migrate",
            WORKER,
            "--from-cache",
            docker.trust_dir().to_str().unwrap(),
            "--to",
            &to,
            "--tlscacert",
            &signet_ca,
        ],
    );
    assert!(
        worker.status.success(),
        "{}\n{}",
        worker.stdout,
        worker.stderr
    );
    assert!(
        worker
            .stdout
            .starts_with(&format!("Imported {WORKER} into Signet: ")),
        "{}",
        worker.stdout
    );
    let moved_docker = docker.moved_to(&to, &signet_srv.ca_path);
    moved_docker.login(HUB_KEY, MIGRATOR.0, MIGRATOR.1);
    assert_eq!(inspect(&moved_docker, WORKER), worker_at_reference);
    let fresh = DockerCli::new(&to, Some(&signet_srv.ca_path));
    fresh.login(HUB_KEY, MIGRATOR.0, MIGRATOR.1);
    assert_eq!(inspect(&fresh, WORKER), worker_at_reference);
}
