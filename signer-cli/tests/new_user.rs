//! What a new user trips on (issue 16), each step with the real `signet` binary against a
//! running Signet, read back by docker 28 where the issue asks for it.

use signet_interop::*;
use std::path::Path;
use std::process::Command;

const REPO: &str = "192.0.2.1:5000/app";
const DIGEST: &str = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

/// `signet` with a docker CLI's environment (DOCKER_CONFIG, trust server, passphrases).
fn signet(docker: &DockerCli, args: &[&str]) -> Run {
    let c = docker.command();
    let mut s = Command::new(env!("CARGO_BIN_EXE_signet"));
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    s.env_remove("DOCKER_HOST")
        .stdin(std::process::Stdio::null());
    let o = s.args(args).output().expect("run signet");
    Run {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

/// Asserts the exit code and that stderr holds `needle`; returns stderr.
fn fails(r: Run, code: i32, needle: &str) -> String {
    assert_eq!(r.status.code(), Some(code), "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains(needle), "{:?} lacks {needle:?}", r.stderr);
    r.stderr
}

/// A signer's public key file whose private half is in nobody's trust directory here.
fn foreign_public_key(dir: &Path, name: &str) -> String {
    let key = signet_keys::PrivateKey::generate_ecdsa();
    let path = dir.join(format!("{name}.pub"));
    std::fs::write(
        &path,
        signet_keys::key_file::encode_public(&key.public_key(), name),
    )
    .expect("write public key");
    path.display().to_string()
}

/// `docker trust inspect`'s signers and signed tags (tag, digest, signers).
fn docker_inspect(docker: &DockerCli) -> (Vec<String>, Vec<(String, String, String)>) {
    let r = docker
        .run(&["trust", "inspect", REPO])
        .ok("docker trust inspect");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let signers = v[0]["Signers"]
        .as_array()
        .expect("signers")
        .iter()
        .map(|s| s["Name"].as_str().unwrap_or("").to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let tags = v[0]["SignedTags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["SignedTag"].as_str().unwrap_or("").to_string(),
                t["Digest"].as_str().unwrap_or("").to_string(),
                t["Signers"].to_string(),
            )
        })
        .collect();
    (signers, tags)
}

/// Item 1: removing the signer whose key signed `targets/releases` is refused before anything
/// is published; forced, the repository stays repairable by the targets key holder.
#[test]
fn signer_remove_never_breaks_a_repository_silently() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let keys = tempfile::tempdir().expect("tempdir");
    let dir = keys.path().to_str().expect("utf-8 path");
    signet(&docker, &["key", "generate", "alice", "--dir", dir]).ok("generate alice");
    let alice = format!("{dir}/alice.pub");
    signet(&docker, &["signer", "add", "alice", REPO, "--key", &alice]).ok("add alice");
    let tag = format!("{REPO}:v1");
    let sign = ["sign", tag.as_str(), "--digest", DIGEST, "--size", "523"];
    signet(&docker, &sign).ok("alice signs v1");
    let ci = foreign_public_key(keys.path(), "ci");
    signet(&docker, &["signer", "add", "ci", REPO, "--key", &ci]).ok("add ci");
    let before = docker_inspect(&docker);

    let err = fails(
        signet(&docker, &["signer", "remove", "alice", REPO, "--yes"]),
        1,
        "removing signer alice will make 192.0.2.1:5000/app unpullable/unsignable",
    );
    assert!(
        err.contains("(its tags: v1)") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // Nothing was published: docker reads the same repository, signet still verifies.
    assert_eq!(docker_inspect(&docker), before);
    assert_eq!(before.0, vec!["alice".to_string(), "ci".to_string()]);
    let v = signet(&docker, &["verify", &tag]).ok("verify after refusal");
    assert_eq!(v.stdout, format!("{DIGEST}\n"));

    // Forced: the warning names the consequence; v1 is no longer trusted, by docker either.
    let forced = signet(
        &docker,
        &["signer", "remove", "alice", REPO, "--yes", "--force"],
    )
    .ok("forced removal");
    assert!(
        forced.stderr.contains("unpullable/unsignable"),
        "{}",
        forced.stderr
    );
    assert!(forced
        .stdout
        .contains("Successfully removed alice from 192.0.2.1:5000/app"));
    let (signers, tags) = docker_inspect(&docker);
    assert_eq!(signers, vec!["ci".to_string()]);
    assert!(tags.is_empty(), "docker trusts no tag now: {tags:?}");
    fails(
        signet(&docker, &["verify", &tag]),
        3,
        "no signed tag \"v1\"",
    );

    // The holder of the targets key repairs it: a new signer, who signs v1 again.
    signet(&docker, &["key", "generate", "bob", "--dir", dir]).ok("generate bob");
    let bob = format!("{dir}/bob.pub");
    signet(&docker, &["signer", "add", "bob", REPO, "--key", &bob]).ok("add bob");
    signet(&docker, &sign).ok("bob signs v1");
    let (signers, tags) = docker_inspect(&docker);
    assert_eq!(signers, vec!["bob".to_string(), "ci".to_string()]);
    assert_eq!(
        tags,
        vec![(
            "v1".to_string(),
            DIGEST.trim_start_matches("sha256:").to_string(),
            "[\"bob\"]".to_string()
        )]
    );
    let v = signet(&docker, &["verify", &tag]).ok("verify after repair");
    assert_eq!(v.stdout, format!("{DIGEST}\n"));
}

/// Pushes a one-layer image manifest to `repo` on an HTTPS registry with a bearer token;
/// returns the manifest's digest.
fn push_manifest(agent: &ureq::Agent, base: &str, repo: &str, tag: &str, token: &str) -> String {
    let bearer = format!("Bearer {token}");
    let blob = |data: &[u8]| -> (String, usize) {
        let digest = format!("sha256:{}", sha256_hex(data));
        let r = agent
            .post(&format!("{base}/v2/{repo}/blobs/uploads/"))
            .set("Authorization", &bearer)
            .call()
            .expect("start upload");
        let location = r.header("Location").expect("upload location").to_string();
        let location = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        agent
            .put(&format!("{location}{sep}digest={digest}"))
            .set("Authorization", &bearer)
            .set("Content-Type", "application/octet-stream")
            .send_bytes(data)
            .expect("finish upload");
        (digest, data.len())
    };
    let (config, config_len) =
        blob(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let (layer, layer_len) = blob(b"not really a layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config_len, "digest": config},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer_len, "digest": layer}],
    })
    .to_string();
    agent
        .put(&format!("{base}/v2/{repo}/manifests/{tag}"))
        .set("Authorization", &bearer)
        .set(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send_string(&manifest)
        .expect("put manifest");
    format!("sha256:{}", sha256_hex(manifest.as_bytes()))
}

/// Item 2: `signet sign IMAGE:TAG` without `--digest`, with the README's setup: an HTTPS
/// registry whose tokens come from Signet (self-signed CA). The registry's CA is found in
/// `$DOCKER_CONFIG/certs.d/<host:port>/`, Signet's (the token realm) in
/// `$DOCKER_CONFIG/tls/<host:port>/`; errors name the registry, not a "trust server".
#[test]
fn sign_without_digest_trusts_the_registry_and_token_service_cas() {
    use serde_json::json;
    use signet_interop::admin::AdminClient;
    if !require_binaries(&["docker", "docker-registry"]) {
        return;
    }
    let srv = SignetServer::start();
    let api = AdminClient::new(&srv);
    let tls = TestCa::new(&[]);
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let _registry = Registry::start_tls_with_token_auth_on(
        port,
        &TokenAuth {
            realm: format!("https://127.0.0.1:{}/oauth2/token", srv.addr.port()),
            service: host.clone(),
            issuer: "signet".into(),
            root_cert_bundle: srv.data_dir.path().join("token-signing.crt"),
        },
        &tls,
    );
    api.ok(
        "POST",
        "registries",
        json!({"name": "contoso", "loginServer": host, "sku": "Premium"}),
    );
    api.ok(
        "PUT",
        "registries/contoso/content-trust",
        json!({"status": "enabled"}),
    );
    api.ok(
        "POST",
        "identities",
        json!({"name": "signer", "password": "signer-pass"}),
    );
    for role in ["AcrImageSigner", "AcrPush"] {
        api.ok(
            "POST",
            "role-assignments",
            json!({"registry": "contoso", "identity": "signer", "role": role}),
        );
    }
    let token = api.token_for(("signer", "signer-pass"), &host, "repository:app:push,pull");
    let registry_agent = https_agent(&tls.ca_cert);
    let base = format!("https://{host}");
    let digest = push_manifest(&registry_agent, &base, "app", "v1", &token);
    push_manifest(&registry_agent, &base, "app", "v2", &token);
    let repo = format!("{host}/app");

    // Without the registry's CA anywhere: the error names the registry and where CAs go.
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    docker.login(&host, "signer", "signer-pass");
    let err = fails(
        signet(&docker, &["sign", &format!("{repo}:v1")]),
        1,
        &format!("signet: registry {host}: TLS certificate of {host} not trusted (put its CA in $DOCKER_CONFIG/tls/{host}/ or $DOCKER_CONFIG/certs.d/{host}/, or pass --tlscacert)"),
    );
    assert!(!err.contains("trust server"), "{err}");

    // With --tlscacert for the registry (Signet's CA still from the tls/ folder).
    let ca = tls.ca_cert.display().to_string();
    let r = signet(
        &docker,
        &["--tlscacert", &ca, "sign", &format!("{repo}:v2")],
    )
    .ok("sign with --tlscacert");
    assert!(
        r.stdout.contains(&format!("Successfully signed {repo}:v2")),
        "{}",
        r.stdout
    );

    // With the registry's CA in $DOCKER_CONFIG/certs.d/<host:port>/ as docker keeps it.
    let certs_d = docker.config_dir.path().join("certs.d").join(&host);
    std::fs::create_dir_all(&certs_d).expect("mkdir certs.d");
    std::fs::copy(&tls.ca_cert, certs_d.join("ca.crt")).expect("copy CA");
    let r = signet(&docker, &["sign", &format!("{repo}:v1")]).ok("sign v1 by tag");
    assert!(
        r.stdout.contains(&format!("Successfully signed {repo}:v1")),
        "{}",
        r.stdout
    );
    let v = signet(&docker, &["verify", &format!("{repo}:v1")]).ok("verify");
    assert_eq!(v.stdout, format!("{digest}\n"));

    // docker 28 reads the same digest.
    let r = docker
        .run(&["trust", "inspect", &repo])
        .ok("docker trust inspect");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let tags: Vec<(String, String)> = v[0]["SignedTags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["SignedTag"].as_str().unwrap_or("").to_string(),
                t["Digest"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        tags[0],
        (
            "v1".to_string(),
            digest.trim_start_matches("sha256:").to_string()
        )
    );
    assert_eq!(tags.len(), 2);
}

/// Item 4: a mistyped registry host shows the server's answer, and the failed `signer add`
/// leaves no new keys in the trust directory.
#[test]
fn a_mistyped_registry_host_shows_the_servers_answer_and_leaves_no_keys() {
    use serde_json::json;
    use signet_interop::admin::AdminClient;
    let srv = SignetServer::start();
    let api = AdminClient::new(&srv);
    api.ok(
        "POST",
        "registries",
        json!({"name": "contoso", "loginServer": "registry.test:4922", "sku": "Premium"}),
    );
    api.ok(
        "PUT",
        "registries/contoso/content-trust",
        json!({"status": "enabled"}),
    );
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let keys = tempfile::tempdir().expect("tempdir");
    let dir = keys.path().to_str().expect("utf-8 path");
    signet(&docker, &["key", "generate", "alice", "--dir", dir]).ok("generate alice");
    let answer = "NAME_UNKNOWN: The repository's registry is not known to this trust server. (no registry has the login server \"registry.tset:4922\")";
    let err = fails(
        signet(
            &docker,
            &[
                "signer",
                "add",
                "alice",
                "registry.tset:4922/app",
                "--key",
                &format!("{dir}/alice.pub"),
            ],
        ),
        1,
        answer,
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let list = signet(&docker, &["--json", "key", "list"]).ok("key list");
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    let roles: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k["role"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(roles, vec!["alice"], "no stray root or targets key");
    fails(
        signet(&docker, &["inspect", "registry.tset:4922/app"]),
        1,
        answer,
    );
}

/// Item 5: an empty or truncated key file is listed as damaged with its file name and the
/// reason, and `sign` names the file it could not read.
#[test]
fn damaged_key_files_are_listed_and_named() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let keys = tempfile::tempdir().expect("tempdir");
    let dir = keys.path().to_str().expect("utf-8 path");
    signet(&docker, &["key", "generate", "alice", "--dir", dir]).ok("generate alice");
    let alice = format!("{dir}/alice.pub");
    signet(&docker, &["signer", "add", "alice", REPO, "--key", &alice]).ok("add alice");
    let list = signet(&docker, &["--json", "key", "list"]).ok("key list");
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    let file = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["role"] == "alice")
        .and_then(|k| k["file"].as_str())
        .expect("alice's key file")
        .to_string();
    let original = std::fs::read(&file).expect("read key");
    let tag = format!("{REPO}:v1");
    let sign = ["sign", tag.as_str(), "--digest", DIGEST, "--size", "523"];

    for (damage, reason) in [
        (Vec::new(), "the file is empty (PEM block is empty)"),
        (original[..original.len() / 2].to_vec(), "key file: "),
    ] {
        std::fs::write(&file, &damage).expect("damage key file");
        let list = signet(&docker, &["key", "list"]).ok("key list with a damaged file");
        let row = list
            .stdout
            .lines()
            .find(|l| l.starts_with("DAMAGED"))
            .unwrap_or_else(|| panic!("no DAMAGED row: {}", list.stdout));
        assert!(row.contains(&file) && row.contains(reason), "{row}");
        assert!(
            list.stderr
                .contains(&format!("warning: {file}: damaged key file")),
            "{}",
            list.stderr
        );
        let json = signet(&docker, &["--json", "key", "list"]).ok("key list --json");
        let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
        assert!(
            v.as_array()
                .expect("array")
                .iter()
                .any(|k| k["file"] == file.as_str()
                    && k["damaged"].as_str().is_some_and(|r| r.contains(reason))),
            "{v}"
        );
        let err = fails(
            signet(&docker, &sign),
            1,
            &format!("signet: {file}: cannot read this key file: {reason}"),
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    std::fs::write(&file, &original).expect("restore key file");
    signet(&docker, &sign).ok("sign with the key restored");
}

/// Item 6: after the registry's content trust is reset, `verify`/`sign`/`signer add` say
/// what happened and what to do; `signet forget` drops the cached trust data (keys stay) and
/// signing starts a new repository that docker reads.
#[test]
fn after_a_content_trust_reset_forget_lets_the_user_start_again() {
    use serde_json::json;
    use signet_interop::admin::AdminClient;
    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let api = AdminClient::new(&srv);
    api.ok(
        "POST",
        "registries",
        json!({"name": "contoso", "loginServer": "192.0.2.1:5000", "sku": "Premium"}),
    );
    let set_trust = |status: &str| {
        api.ok(
            "PUT",
            "registries/contoso/content-trust",
            json!({"status": status}),
        );
    };
    set_trust("enabled");
    api.ok(
        "POST",
        "identities",
        json!({"name": "alice", "password": "alice-password"}),
    );
    api.ok(
        "POST",
        "role-assignments",
        json!({"registry": "contoso", "identity": "alice", "role": "AcrImageSigner"}),
    );
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    docker.login("192.0.2.1:5000", "alice", "alice-password");
    let tag = format!("{REPO}:v1");
    let sign = ["sign", tag.as_str(), "--digest", DIGEST, "--size", "523"];
    signet(&docker, &sign).ok("first signing");
    let keys_before = signet(&docker, &["--json", "key", "list"])
        .ok("keys")
        .stdout;

    set_trust("disabled");
    set_trust("enabled");
    let hint =
        format!("run `signet forget {REPO}` to drop this client's copy (keys stay) and sign again");
    for args in [&["verify", tag.as_str()][..], &sign[..]] {
        let err = fails(signet(&docker, args), 3, &hint);
        assert!(
            err.contains("the trust server has no trust data for this repository, which this client trusted before"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    // Confirmation: refused without a terminal unless --yes; nothing removed.
    fails(signet(&docker, &["forget", REPO]), 2, "pass --yes");
    fails(signet(&docker, &["verify", &tag]), 3, &hint);
    let out = signet(&docker, &["forget", REPO, "--yes"]).ok("forget");
    assert!(
        out.stdout
            .starts_with(&format!("Forgot the trust data of {REPO}")),
        "{}",
        out.stdout
    );
    assert!(!docker.trust_dir().join("tuf").join(REPO).exists());
    assert_eq!(
        signet(&docker, &["--json", "key", "list"])
            .ok("keys")
            .stdout,
        keys_before,
        "keys stay"
    );
    fails(
        signet(&docker, &["forget", REPO, "--yes"]),
        1,
        "this client has no trust data for it",
    );

    // Signing again starts a new repository, read by docker.
    let r = signet(&docker, &sign).ok("signing after forget");
    assert!(
        r.stdout.contains(&format!("Initialized \"{REPO}\"")),
        "{}",
        r.stdout
    );
    let v = signet(&docker, &["verify", &tag]).ok("verify after forget");
    assert_eq!(v.stdout, format!("{DIGEST}\n"));
    let (_, tags) = docker_inspect(&docker);
    assert_eq!(tags[0].0, "v1");
    assert_eq!(tags[0].1, DIGEST.trim_start_matches("sha256:"));
}

/// Runs `signet` on a terminal (`script` gives it a pty) with `input` typed; the terminal's
/// output (both streams).
fn signet_on_terminal(
    docker: &DockerCli,
    args: &[&str],
    input: &str,
    drop_env: &[&str],
) -> (bool, String) {
    use std::io::Write;
    let line = std::iter::once(env!("CARGO_BIN_EXE_signet").to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    for (k, v) in docker.command().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    for k in drop_env {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .env_remove("DOCKER_HOST")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    for l in input.lines() {
        // One answer per prompt: wait for the program to ask before typing the next line.
        std::thread::sleep(std::time::Duration::from_millis(700));
        stdin.write_all(format!("{l}\n").as_bytes()).expect("type");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("script output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Item 7: passphrases. Without a terminal the error names the variables and
/// `--passphrase-file`; at a terminal a wrong passphrase is asked again ("Wrong passphrase,
/// try again.") and so is a new one that is too short; `key export --public` of a key the
/// trust data lists needs no passphrase.
#[test]
fn passphrase_errors_name_their_sources_and_terminals_ask_again() {
    if !require_binaries(&["docker", "script"]) {
        return;
    }
    let srv = SignetServer::start();
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let keys = tempfile::tempdir().expect("tempdir");
    let dir = keys.path().to_str().expect("utf-8 path");
    signet(&docker, &["key", "generate", "alice", "--dir", dir]).ok("generate alice");
    let alice = format!("{dir}/alice.pub");
    signet(&docker, &["signer", "add", "alice", REPO, "--key", &alice]).ok("add alice");

    // No terminal, no variable: the error says where a passphrase can come from.
    let no_pass = |args: &[&str]| {
        let c = docker.command();
        let mut s = Command::new(env!("CARGO_BIN_EXE_signet"));
        for (k, v) in c.get_envs() {
            if let Some(v) = v {
                s.env(k, v);
            }
        }
        s.env_remove("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE")
            .env_remove("DOCKER_HOST")
            .stdin(std::process::Stdio::null());
        let o = s.args(args).output().expect("run signet");
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    };
    let err = fails(
        no_pass(&["key", "generate", "carol", "--dir", dir]),
        1,
        "(not at a terminal): set DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE or NOTARY_DELEGATION_PASSPHRASE, or pass --passphrase-file FILE",
    );
    assert!(err.contains("no passphrase for carol key"), "{err}");

    // export --public: no passphrase needed for a key the trust data lists; same PEM.
    let list = signet(&docker, &["--json", "key", "list"]).ok("key list");
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    let id = |role: &str| {
        listed
            .as_array()
            .expect("array")
            .iter()
            .find(|k| k["role"] == role)
            .and_then(|k| k["id"].as_str())
            .expect("key")
            .to_string()
    };
    for role in ["alice", "targets", "root"] {
        let with = signet(&docker, &["key", "export", "--public", &id(role)]).ok("export");
        let without =
            no_pass(&["key", "export", "--public", &id(role)]).ok("export without passphrase");
        assert_eq!(with.stdout, without.stdout, "{role}");
        assert!(
            without.stdout.starts_with("-----BEGIN PUBLIC KEY-----"),
            "{}",
            without.stdout
        );
    }

    // At a terminal: a wrong passphrase is asked again, then signing goes on.
    let tag = format!("{REPO}:v1");
    let (ok, screen) = signet_on_terminal(
        &docker,
        &["sign", &tag, "--digest", DIGEST, "--size", "523"],
        &format!("not-the-passphrase\n{REPO_PASS}\n"),
        &["DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"],
    );
    assert!(ok, "{screen}");
    assert!(screen.contains("Wrong passphrase, try again."), "{screen}");
    assert!(
        screen.contains(&format!("Successfully signed {tag}")),
        "{screen}"
    );

    // A new passphrase that is too short is asked again.
    let (ok, screen) = signet_on_terminal(
        &docker,
        &["key", "generate", "dave", "--dir", dir],
        "short\nlong-enough-1\nlong-enough-1\n",
        &["DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"],
    );
    assert!(ok, "{screen}");
    assert!(
        screen.contains("passphrase for a new key must have at least 8 characters, try again."),
        "{screen}"
    );
    assert!(screen.contains("dave.pub"), "{screen}");
}

/// Item 8: a server that never answers is given up after `--timeout`; a plain-HTTP port behind
/// an https:// URL and a server URL with a path get messages that say what is wrong.
#[test]
fn network_errors_are_bounded_and_readable() {
    use std::io::{Read, Write};
    let docker = DockerCli::new("https://127.0.0.1:9", None);
    let tag = format!("{REPO}:v1");

    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for c in silent.incoming().flatten() {
            keep.lock().expect("lock").push(c);
        }
    });
    let started = std::time::Instant::now();
    let server = format!("https://{silent_addr}");
    fails(
        signet(
            &docker,
            &["--server", &server, "--timeout", "2s", "verify", &tag],
        ),
        1,
        &format!("signet: trust server {server}: no answer from {silent_addr} within 2s"),
    );
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    fails(
        signet(&docker, &["--timeout", "soon", "verify", &tag]),
        2,
        "is not a timeout",
    );

    // A plain-HTTP server behind an https:// URL.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let plain_addr = plain.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut c in plain.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let server = format!("https://{plain_addr}");
    fails(
        signet(&docker, &["--server", &server, "verify", &tag]),
        1,
        &format!("{plain_addr} does not answer in TLS: is it a plain-HTTP port?"),
    );

    // A server URL with a path.
    fails(
        signet(
            &docker,
            &["--server", "https://notary.example.com:4443/notary/", "verify", &tag],
        ),
        2,
        "trust server URL \"https://notary.example.com:4443/notary\" has a path: give only https://HOST[:PORT] (here https://notary.example.com:4443)",
    );
    drop(held);
}

/// The subcommands listed in a `--help` output's "Commands:" section, with their descriptions.
fn listed_commands(help: &str) -> Vec<(String, String)> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let l = l.trim_start();
            let (name, rest) = l.split_once(' ').unwrap_or((l, ""));
            (name != "help").then(|| (name.to_string(), rest.trim().to_string()))
        })
        .collect()
}

/// Item 10 (signet): usage errors exit 2 with clap's suggestion kept, revoking an unsigned tag
/// is "no signed tag" with verify's exit code 3, and every subcommand has a help text.
#[test]
fn usage_errors_exit_codes_and_help_texts_are_consistent() {
    let docker = DockerCli::new("https://127.0.0.1:9", None);
    let r = signet(&docker, &["verfy", "x"]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(
        r.stderr,
        "signet: unrecognized subcommand 'verfy' (a similar subcommand exists: 'verify'; see signet --help)\n"
    );
    let r = signet(&docker, &["key", "list", "--jsn"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        r.stderr.contains("a similar argument exists: '--json'"),
        "{}",
        r.stderr
    );

    // Every subcommand, nested ones too, is described.
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = signet(&docker, &args).ok("help").stdout;
        for (name, about) in listed_commands(&help) {
            assert!(!about.is_empty(), "signet {path:?} {name}: no help text");
            let mut next = path.clone();
            next.push(name);
            pending.push(next);
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} subcommands found");

    if !require_binaries(&["docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let tag = format!("{REPO}:v1");
    signet(
        &docker,
        &["sign", &tag, "--digest", DIGEST, "--size", "523"],
    )
    .ok("sign");
    let err = fails(
        signet(&docker, &["revoke", &format!("{REPO}:v9"), "--yes"]),
        3,
        &format!("signet: {REPO}: no signed tag \"v9\""),
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    fails(
        signet(&docker, &["verify", &format!("{REPO}:v9")]),
        3,
        "no signed tag \"v9\"",
    );
}

/// A reader that stops early (`signet key generate … | head -1`) closes the pipe before
/// `signet` writes: the output goes nowhere, the key is still generated and the command exits
/// with its own status, not with a panic's backtrace.
#[test]
fn output_to_a_closed_pipe_does_not_stop_the_command() {
    let config = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["key", "generate", "bob", "--dir"])
        .arg(config.path())
        .env("DOCKER_CONFIG", config.path())
        .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "a passphrase")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run signet key generate");
    // The reader goes away before the command has made the key, let alone printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait signet");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let public = std::fs::read_to_string(config.path().join("bob.pub")).expect("bob.pub");
    assert!(public.contains("role: bob"), "{public}");
    let private: Vec<_> = std::fs::read_dir(config.path().join("trust/private"))
        .expect("private keys")
        .collect();
    assert_eq!(private.len(), 1);
}
