//! `signet` as a docker CLI plugin, driven by the real docker 28 binary (as `docker-signet`)
//! and as Docker 29 drives `docker-trust` (metadata call, then docker's argv with global flags
//! before the plugin name), against Signet, dockerd 20.10 and distribution 2.8. Output must be
//! byte-identical to docker 28's own `docker trust inspect`.

use signet_interop::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn run(cmd: &mut Command) -> Run {
    let o = cmd.stdin(Stdio::null()).output().expect("run");
    Run {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A command with docker's test environment (config dir, trust server, passphrases).
fn with_docker_env(docker: &DockerCli, program: &Path) -> Command {
    let mut c = Command::new(program);
    for (k, v) in docker.command().get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c
}

/// `signet plugin install [--name NAME]` into the docker config's `cli-plugins`.
/// Without a name, the installed docker's version chooses it (docker 28 here: `signet`).
fn install(docker: &DockerCli, name: Option<&str>) -> PathBuf {
    let mut cmd = with_docker_env(docker, Path::new(env!("CARGO_BIN_EXE_signet")));
    cmd.args(["plugin", "install"]);
    if let Some(n) = name {
        cmd.args(["--name", n]);
    }
    let out = run(&mut cmd).ok("plugin install");
    let name = name.unwrap_or("signet");
    let path = docker
        .config_dir
        .path()
        .join("cli-plugins")
        .join(format!("docker-{name}"));
    assert_eq!(out.stdout.trim(), format!("Installed {}", path.display()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .expect("installed")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    path
}

/// `docker trust <args>` and `docker signet <args>` print the same bytes and exit alike.
fn same_as_docker(docker: &DockerCli, args: &[&str]) -> Run {
    let theirs = docker.run(&[&["trust"], args].concat());
    let ours = docker.run(&[&["signet"], args].concat());
    assert_eq!(ours.stdout, theirs.stdout, "stdout of {args:?}");
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "{args:?}: {}",
        ours.stderr
    );
    ours
}

fn pushed_digest(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.contains(": digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line in {out}"));
    line.split("digest: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn docker_signet_plugin_matches_docker_trust() {
    if !require_binaries(&["dockerd", "docker-registry", "unshare", "docker"]) {
        return;
    }
    let srv = SignetServer::start();
    let registry = Registry::start();
    let daemon = Dockerd::start(registry.port);
    let repo = format!("{REGISTRY_NAME}:{}/plugin-app", registry.port);
    let docker = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let keys = tempfile::tempdir().unwrap();
    let keydir = keys.path().to_str().unwrap();

    // docker 28 itself: a trusted push (initialises the repository), a signer, a signature.
    daemon.import_image(&format!("{repo}:v1"), b"plugin v1\n");
    let push = docker
        .run_with_daemon(&daemon, &["push", &format!("{repo}:v1")])
        .ok("docker trusted push");
    let v1 = pushed_digest(&push.stdout);
    docker
        .run(&["trust", "key", "generate", "alice", "--dir", keydir])
        .ok("docker trust key generate");
    docker
        .run(&[
            "trust",
            "signer",
            "add",
            "--key",
            &format!("{keydir}/alice.pub"),
            "alice",
            &repo,
        ])
        .ok("docker trust signer add");
    docker
        .run(&["trust", "sign", &format!("{repo}:v1")])
        .ok("docker trust sign");

    install(&docker, None);
    let listed = docker.run(&["signet", "--help"]).ok("docker signet --help");
    assert!(listed.stdout.contains("inspect"), "{}", listed.stdout);

    // Inspect: JSON and --pretty, whole repository, one tag, several, a missing one.
    let json = same_as_docker(&docker, &["inspect", &repo]);
    assert!(
        json.stdout.contains(v1.trim_start_matches("sha256:")),
        "{}",
        json.stdout
    );
    assert!(json.stdout.contains("\"alice\""), "{}", json.stdout);
    let pretty = same_as_docker(&docker, &["inspect", "--pretty", &repo]);
    assert!(
        pretty.stdout.contains("List of signers and their keys"),
        "{}",
        pretty.stdout
    );
    same_as_docker(&docker, &["inspect", &format!("{repo}:v1")]);
    same_as_docker(&docker, &["inspect", "--pretty", &format!("{repo}:v1")]);
    same_as_docker(&docker, &["inspect", &format!("{repo}:nosuchtag")]);
    let missing = format!("{REGISTRY_NAME}:{}/never-signed", registry.port);
    let both = same_as_docker(&docker, &["inspect", &repo, &missing]);
    assert_eq!(both.status.code(), Some(1));
    assert!(
        both.stderr
            .contains(&format!("no signatures or cannot access {missing}")),
        "{}",
        both.stderr
    );
    let none = same_as_docker(&docker, &["inspect", &missing]);
    assert_eq!(none.stdout, "[]\n");

    // Through the plugin: a second signer, a signature with it, a new tag pushed through the
    // daemon and signed, a revocation — and docker 28 reads the result.
    docker
        .run(&["signet", "key", "generate", "bob", "--dir", keydir])
        .ok("docker signet key generate");
    let added = docker
        .run(&[
            "signet",
            "signer",
            "add",
            "--key",
            &format!("{keydir}/bob.pub"),
            "bob",
            &repo,
        ])
        .ok("docker signet signer add");
    assert_eq!(
        added.stdout,
        format!("Adding signer \"bob\" to {repo}...\nSuccessfully added signer: bob to {repo}\n\n")
    );
    let signed = docker
        .run(&["signet", "sign", &format!("{repo}:v1")])
        .ok("docker signet sign v1");
    assert!(signed.stdout.starts_with(&format!("Signing and pushing trust metadata for {repo}:v1\nExisting signatures for tag v1 digest {} from:\nalice\n", v1.trim_start_matches("sha256:"))), "{}", signed.stdout);
    assert!(
        signed
            .stdout
            .ends_with(&format!("Successfully signed {repo}:v1\n")),
        "{}",
        signed.stdout
    );

    daemon.import_image(&format!("{repo}:v2"), b"plugin v2\n");
    let v2 = docker
        .run_with_daemon(&daemon, &["signet", "sign", &format!("{repo}:v2")])
        .ok("docker signet sign v2 (push through the daemon)");
    assert!(
        v2.stderr.contains(&format!(
            "Signing and pushing trust data for local image {repo}:v2"
        )),
        "{}",
        v2.stderr
    );
    let v2_digest = pushed_digest(&v2.stdout);

    let inspect = docker
        .run(&["trust", "inspect", &repo])
        .ok("docker trust inspect");
    let parsed: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    let tags = parsed[0]["SignedTags"].as_array().unwrap().clone();
    let find = |t: &str| tags.iter().find(|x| x["SignedTag"] == t).cloned();
    let t1 = find("v1").expect("v1 signed");
    assert_eq!(t1["Digest"], v1.trim_start_matches("sha256:"));
    assert_eq!(t1["Signers"], serde_json::json!(["alice", "bob"]));
    let t2 = find("v2").expect("v2 signed");
    assert_eq!(t2["Digest"], v2_digest.trim_start_matches("sha256:"));
    assert_eq!(
        parsed[0]["Signers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["bob", "alice"]
    );
    same_as_docker(&docker, &["inspect", &repo]);
    same_as_docker(&docker, &["inspect", "--pretty", &repo]);

    // v2 is signed only by the signers (delegations), so revoking removes it entirely; v1
    // keeps the repository key's signature from docker's own push, as with docker.
    let revoked = docker
        .run(&["signet", "revoke", &format!("{repo}:v2")])
        .ok("docker signet revoke v2");
    assert_eq!(
        revoked.stdout,
        format!("Successfully deleted signature for {repo}:v2\n")
    );
    let after = docker
        .run(&["trust", "inspect", &repo])
        .ok("docker trust inspect");
    let parsed: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    let names: Vec<&str> = parsed[0]["SignedTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["SignedTag"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v1"]);
    same_as_docker(&docker, &["inspect", "--pretty", &repo]);

    // Revoking everything without -y asks first; "n" changes nothing (docker 28: exit 0).
    let mut ask = with_docker_env(&docker, Path::new(DOCKER));
    let child = ask
        .args(["signet", "revoke", &repo])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.as_ref().unwrap().write_all(b"n\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Confirm you would like to delete all signature data for {repo}? [y/N] ")
    );
    same_as_docker(&docker, &["inspect", &repo]);

    // key load: the same lines as docker's own, into another config; group/other-readable
    // key files refused the same way.
    let other = DockerCli::new(&srv.url, Some(&srv.ca_path));
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/notary-0.7/docker-keys/bob.key");
    let keyfile = keys.path().join("dave.key");
    std::fs::copy(&fixture, &keyfile).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let k = keyfile.to_str().unwrap();
    let theirs = other.run(&["trust", "key", "load", "--name", "dave", k]);
    let ours = docker.run(&["signet", "key", "load", "--name", "dave", k]);
    assert_eq!(
        (ours.status.code(), &ours.stdout, &ours.stderr),
        (theirs.status.code(), &theirs.stdout, &theirs.stderr)
    );
    assert_eq!(ours.status.code(), Some(1));
    std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let theirs = other
        .run(&["trust", "key", "load", "--name", "dave", k])
        .ok("docker trust key load");
    let ours = docker
        .run(&["signet", "key", "load", "--name", "dave", k])
        .ok("docker signet key load");
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(
        ours.stdout,
        format!("Loading key from \"{k}\"...\nSuccessfully imported key from {k}\n")
    );
    let loaded = std::fs::read_dir(docker.trust_dir().join("private"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .any(|pem| pem.contains("role: dave"));
    assert!(loaded, "no private key with role dave in the trust dir");

    // signer remove: bob is not the last signer of targets/releases, so no question.
    let removed = docker
        .run(&["signet", "signer", "remove", "bob", &repo])
        .ok("docker signet signer remove");
    assert_eq!(
        removed.stdout,
        format!("Removing signer \"bob\" from {repo}...\nSuccessfully removed bob from {repo}\n\n")
    );
    let after = docker
        .run(&["trust", "inspect", &repo])
        .ok("docker trust inspect");
    let parsed: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(
        parsed[0]["Signers"].as_array().unwrap().len(),
        1,
        "{}",
        after.stdout
    );
    assert_eq!(parsed[0]["Signers"][0]["Name"], "alice");
    same_as_docker(&docker, &["inspect", "--pretty", &repo]);

    // Docker 29 as docker-trust: the metadata call, then docker's argv with global flags first
    // (the daemon reached only through -H, DOCKER_HOST pointing nowhere).
    let plugin = install(&docker, Some("trust"));
    let meta =
        run(with_docker_env(&docker, &plugin).arg("docker-cli-plugin-metadata")).ok("metadata");
    let m: serde_json::Value = serde_json::from_str(&meta.stdout).unwrap();
    assert_eq!(m["SchemaVersion"], "0.1.0");
    assert!(!m["Vendor"].as_str().unwrap_or("").is_empty());
    let name = plugin
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .strip_prefix("docker-")
        .unwrap();
    assert!(
        name.chars().next().unwrap().is_ascii_lowercase()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    let config = docker.config_dir.path().to_str().unwrap().to_string();
    let as29 = |args: &[&str]| {
        let mut c = with_docker_env(&docker, &plugin);
        c.env("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND", DOCKER)
            .env_remove("DOCKER_CONFIG")
            .args(["-D", "--config", &config, "-H", &daemon.host, "trust"])
            .args(args);
        run(&mut c)
    };
    for args in [
        vec!["inspect", repo.as_str()],
        vec!["inspect", "--pretty", repo.as_str()],
    ] {
        let ours = as29(&args);
        let theirs = docker.run(&[&["trust"], &args[..]].concat());
        assert_eq!(
            ours.stdout, theirs.stdout,
            "docker-trust {args:?}: {}",
            ours.stderr
        );
        assert!(ours.status.success());
    }
    daemon.import_image(&format!("{repo}:v3"), b"plugin v3\n");
    let v3 = as29(&["sign", &format!("{repo}:v3")]).ok("docker-trust trust sign v3 via -H");
    let v3_digest = pushed_digest(&v3.stdout);
    let inspect = docker
        .run(&["trust", "inspect", &format!("{repo}:v3")])
        .ok("inspect v3");
    assert!(
        inspect
            .stdout
            .contains(v3_digest.trim_start_matches("sha256:")),
        "{}",
        inspect.stdout
    );
    as29(&["key", "generate", "carol", "--dir", keydir]).ok("docker-trust key generate");
    as29(&[
        "signer",
        "add",
        "--key",
        &format!("{keydir}/carol.pub"),
        "carol",
        &repo,
    ])
    .ok("docker-trust signer add");
    as29(&["sign", &format!("{repo}:v3")]).ok("docker-trust sign v3 as carol");
    let inspect = docker
        .run(&["trust", "inspect", &format!("{repo}:v3")])
        .ok("inspect v3");
    let parsed: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(
        parsed[0]["SignedTags"][0]["Signers"],
        serde_json::json!(["alice", "carol"]),
        "{}",
        inspect.stdout
    );
    as29(&["revoke", "-y", &format!("{repo}:v3")]).ok("docker-trust revoke v3");
    as29(&["signer", "remove", "-f", "carol", &repo]).ok("docker-trust signer remove");
    let inspect = docker.run(&["trust", "inspect", &repo]).ok("inspect");
    let parsed: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    let names: Vec<&str> = parsed[0]["SignedTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["SignedTag"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v1"]);
    assert_eq!(parsed[0]["Signers"].as_array().unwrap().len(), 1);
    let unknown = as29(&["inspect", "--bogus", &repo]);
    assert_eq!(unknown.status.code(), Some(125), "{}", unknown.stderr);
    // A repository without trust data: `trust sign` first creates a signer named after the
    // registry user, as docker 28 does (same lines, the same signer key reused).
    docker.login(
        &format!("{REGISTRY_NAME}:{}", registry.port),
        "ci",
        "ci-password",
    );
    let by_docker = format!("{REGISTRY_NAME}:{}/by-docker", registry.port);
    let by_signet = format!("{REGISTRY_NAME}:{}/by-signet", registry.port);
    daemon.import_image(&format!("{by_docker}:v1"), b"first sign by docker\n");
    daemon.import_image(&format!("{by_signet}:v1"), b"first sign by signet\n");
    let mut shapes = Vec::new();
    for (cmd, repo) in [("trust", &by_docker), ("signet", &by_signet)] {
        let out = docker
            .run_with_daemon(&daemon, &[cmd, "sign", &format!("{repo}:v1")])
            .ok("first sign");
        assert!(
            out.stdout.starts_with(&format!(
                "Created signer: ci\nFinished initializing signed repository for {repo}:v1\n"
            )),
            "{cmd}: {}",
            out.stdout
        );
        assert!(
            out.stdout
                .ends_with(&format!("Successfully signed {repo}:v1\n")),
            "{cmd}: {}",
            out.stdout
        );
        let inspect = docker.run(&["trust", "inspect", repo]).ok("inspect");
        let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
        assert_eq!(
            v[0]["SignedTags"][0]["Digest"],
            pushed_digest(&out.stdout).trim_start_matches("sha256:")
        );
        // (Root key IDs are of per-repository certificates, so they differ.)
        shapes.push((
            v[0]["SignedTags"][0]["Signers"].clone(),
            v[0]["Signers"].clone(),
        ));
    }
    assert_eq!(shapes[0], shapes[1]);
    assert_eq!(shapes[1].0, serde_json::json!(["ci"]));
}

/// Bad invocations: the same standard output, standard error and exit status as docker 28's
/// own `docker trust` (no server or daemon is reached).
#[test]
fn docker_signet_refuses_like_docker_trust() {
    if !require_binaries(&["docker"]) {
        return;
    }
    let docker = DockerCli::new("https://127.0.0.1:9", None);
    install(&docker, Some("signet"));
    // --dir, and a name docker would not run.
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().join("plugins");
    let signet = Path::new(env!("CARGO_BIN_EXE_signet"));
    run(with_docker_env(&docker, signet)
        .args(["plugin", "install", "--name", "trust", "--dir"])
        .arg(&dir))
    .ok("plugin install --dir");
    let meta = run(Command::new(dir.join("docker-trust")).arg("docker-cli-plugin-metadata"))
        .ok("metadata");
    assert!(
        meta.stdout.contains("\"SchemaVersion\":\"0.1.0\""),
        "{}",
        meta.stdout
    );
    let bad = run(with_docker_env(&docker, signet)
        .args(["plugin", "install", "--name", "Trust", "--dir"])
        .arg(&dir));
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(!dir.join("docker-Trust").exists());
    let keys = tempfile::tempdir().unwrap();
    let k = keys.path().join("world-readable.key");
    std::fs::write(&k, b"not a key\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let k = k.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["inspect"],
        vec!["inspect", "--bogus", "reg.test/app"],
        vec!["sign"],
        vec!["sign", "a", "b"],
        vec!["sign", "reg.test/app"],
        vec!["revoke"],
        vec!["revoke", "-x", "reg.test/app"],
        vec!["key", "generate", "Bad"],
        vec!["key", "generate", "alice", "--dir", "/nonexistent"],
        vec!["key", "load", "--name", "Bad", "/x"],
        vec!["key", "load", "/nonexistent/key"],
        vec!["key", "load", k],
        vec!["signer", "add", "alice"],
        vec!["signer", "add", "alice", "reg.test/app"],
        vec!["signer", "add", "Alice", "reg.test/app", "--key", "/x.pub"],
        vec![
            "signer",
            "add",
            "releases",
            "reg.test/app",
            "--key",
            "/x.pub",
        ],
        vec![
            "signer",
            "add",
            "alice",
            "reg.test/app",
            "--key",
            "/nonexistent.pub",
        ],
        vec!["signer", "remove", "bob"],
        vec!["signer", "remove", "releases", "reg.test/app"],
    ];
    for args in cases {
        let theirs = docker.run(&[&["trust"], &args[..]].concat());
        let ours = docker.run(&[&["signet"], &args[..]].concat());
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{args:?}: {}",
            ours.stderr
        );
        assert_ne!(ours.status.code(), Some(0), "{args:?}");
        assert_eq!(ours.stdout, theirs.stdout, "stdout of {args:?}");
        assert_eq!(
            ours.stderr,
            theirs.stderr.replace("docker trust", "docker signet"),
            "stderr of {args:?}"
        );
    }
}
